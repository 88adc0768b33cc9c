"""Pane 2: the processes with activity under the current filters, nested by parent, siblings
sorted by the chosen column (`s` while this pane has focus), exited processes dimmed with their
exit time, and look-alike short-lived siblings grouped (``session.views``). The selected
process's command line shows below the tree.

The tree is rebuilt from the session's forest when what it shows changed; the cursor (by pid
or group) and the groups the user opened survive the rebuild.
"""
from __future__ import annotations

from typing import Optional

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static, Tree
from textual.widgets.tree import TreeNode

from sniff_tui.session import (OPS, PROC_SORT_KEYS, CgroupGroup, ProcEntry, ProcGroup, cgroup_forest,
                     process_forest)
from sniff_tui.session.panes import ProcessesView
from sniff_tui.core.textfmt import OP_STYLES, cgroup_text, clock, human_bytes, human_count, plural, visible

SORT_TITLES = dict(PROC_SORT_KEYS)


def _figures(read: int, written: int, ops: int) -> list:
    return [("  W ", "dim"), (human_bytes(written), OP_STYLES["write"]),
            ("  R ", "dim"), (human_bytes(read), OP_STYLES["read"]),
            ("  ops ", "dim"), human_count(ops)]


def process_label(proc: ProcEntry, utc: bool = False) -> Text:
    exited = proc.exit_ts is not None
    text = Text.assemble((visible(proc.comm), "bold"), (f" {proc.pid}", "dim"),
                         *_figures(proc.read_bytes, proc.write_bytes, proc.op_count),
                         no_wrap=True)
    if proc.partial:
        text.append(" ≈", "bold yellow")
    if exited:
        text.append(f"  exited {clock(proc.exit_ts, utc, digits=0)}", "italic")
        text.stylize("dim")
    return text


def group_label(group: ProcGroup) -> Text:
    running = f"{group.running:,} running" if group.running else "all exited"
    text = Text.assemble((visible(group.comm), "bold"), (f" ×{human_count(len(group.members))}", "bold cyan"),
                         *_figures(group.read_bytes, group.write_bytes, group.op_count),
                         (f"  ({running})", "dim"), no_wrap=True)
    if not group.running:
        text.stylize("dim")
    return text


KIND_TITLES = {"container": "container", "unit": "unit", "cgroup": "cgroup", "none": "no cgroup"}


def cgroup_group_label(group: CgroupGroup) -> Text:
    running = f"{group.running:,} running" if group.running else "all exited"
    return Text.assemble((f"▣ {KIND_TITLES[group.kind]} ", "bold magenta"),
                         (visible(group.name), "bold"), (f"  {plural(group.procs, 'process', 'processes')}", "dim"),
                         *_figures(group.read_bytes, group.write_bytes, group.op_count),
                         (f"  ({running})", "dim"), no_wrap=True)


def process_details(proc: Optional[ProcEntry], utc: bool = False) -> Text:
    if proc is None:
        return Text("Select a process to see its command line.", style="dim")
    who = f"pid {proc.pid}  ppid {proc.ppid}  uid {proc.uid}"
    if proc.user:
        who += f" ({visible(proc.user)})"
    if proc.exit_ts is not None:
        who += f"  exited {clock(proc.exit_ts, utc, digits=0)}"
    where = cgroup_text(proc.container, proc.unit, proc.cgroup)
    if where:
        who += "  " + where
    cmdline = visible(proc.cmdline) if proc.cmdline else "(command line unknown)"
    counts = " · ".join(f"{op} {human_count(proc.ops[op])}" for op in OPS if proc.ops.get(op))
    return Text.assemble(
        (visible(proc.comm), "bold"), "  ", (who, "dim"), "\n",
        ("$ ", "dim"), cmdline, "\n",
        ("read ", "dim"), (human_bytes(proc.read_bytes), OP_STYLES["read"]),
        ("  written ", "dim"), (human_bytes(proc.write_bytes), OP_STYLES["write"]),
        ("  ", ""), (counts or "no operations", "dim"),
    )


def sort_line(sort_key: str) -> Text:
    text = Text("sort: ", style="dim", no_wrap=True)
    for i, (key, title) in enumerate(PROC_SORT_KEYS):
        if i:
            text.append(" · ", "dim")
        if key == sort_key:
            text.append(f"{title} {'▲' if key in ('name', 'pid') else '▼'}", "bold")
        else:
            text.append(title, "dim")
    return text


def _quiet(bindings) -> list[Binding]:
    """The same bindings, kept out of the footer: the footer stays the same whatever pane has
    focus."""
    out = []
    for b in bindings:
        if isinstance(b, Binding):
            out.append(Binding(b.key, b.action, b.description, show=False, priority=b.priority))
        else:
            out.append(Binding(*b[:3], show=False) if len(b) >= 3 else Binding(b[0], b[1], show=False))
    return out


def _below(item) -> list:
    return item.members if isinstance(item, (ProcGroup, CgroupGroup)) else item.children


def _walk(items: list):
    for item in items:
        yield item
        yield from _walk(_below(item))


def _shape(forest: list, opened: set) -> tuple:
    """What the tree's structure depends on: every row's key and depth, in order."""
    out = []

    def visit(items: list, depth: int) -> None:
        for item in items:
            out.append((item.key, depth))
            visit(_below(item), depth + 1)
    visit(forest, 0)
    return tuple(out)


class ProcessTree(Tree[str]):
    """Tree of process and group keys (node data). Space belongs to the dashboard (pause)."""
    BINDINGS = _quiet(b for b in Tree.BINDINGS
                      if (b.key if isinstance(b, Binding) else b[0]) != "space")


class ProcessTreePane(Vertical):
    ALLOW_MAXIMIZE = True

    DEFAULT_CSS = """
    ProcessTreePane > #proc-sort { height: 1; }
    ProcessTreePane > ProcessTree { height: 1fr; }
    ProcessTreePane > #proc-details { height: auto; max-height: 5; border-top: solid $primary-muted; }
    """

    def __init__(self, *, utc: bool = False, id: Optional[str] = None, classes: Optional[str] = None) -> None:
        super().__init__(id=id, classes=classes)
        self.utc = utc
        self.border_title = "2 Processes"
        self.sort_key = PROC_SORT_KEYS[0][0]
        self.by_cgroup = False               # g: grouped by container/unit, not only by parent
        self._group_of: dict[str, CgroupGroup] = {}
        self.opened: set[str] = set()        # group keys the user expanded
        self._shown: tuple = ()
        self._pid_of: dict[str, int] = {}
        self._node_of_key: dict[str, TreeNode[str]] = {}
        self._label_of_key: dict[str, tuple] = {}
        self._shape: tuple = ()
        self.shown_filter_gen = -1
        self._state: Optional[ProcessesView] = None

    def compose(self) -> ComposeResult:
        yield Static(sort_line(self.sort_key), id="proc-sort")
        tree = ProcessTree("processes", id="proc-tree")
        tree.show_root = False
        tree.guide_depth = 2
        yield tree
        yield Static(process_details(None), id="proc-details")

    @property
    def tree(self) -> ProcessTree:
        return self.query_one(ProcessTree)

    @property
    def selected_pid(self) -> Optional[int]:
        node = self.tree.cursor_node
        return self._pid_of.get(node.data) if node is not None and node.data else None

    @property
    def selected_group(self) -> Optional[CgroupGroup]:
        """The container/unit group under the cursor, or the one holding the selected row."""
        node = self.tree.cursor_node
        while node is not None:
            if node.data in self._group_of:
                return self._group_of[node.data]
            node = node.parent
        return None

    def forget_opened(self) -> None:
        """Other directories watched: the groups the user opened are other groups now."""
        self.opened.clear()

    def toggle_grouping(self) -> bool:
        self.by_cgroup = not self.by_cgroup
        return self.by_cgroup

    def cycle_sort(self) -> str:
        keys = [k for k, _ in PROC_SORT_KEYS]
        self.sort_key = keys[(keys.index(self.sort_key) + 1) % len(keys)]
        self.query_one("#proc-sort", Static).update(sort_line(self.sort_key))
        return self.sort_key

    def update_from(self, state: ProcessesView, force: bool = False) -> None:
        self._state = state
        shown = (state.version, state.filter_gen, self.sort_key, frozenset(self.opened), self.by_cgroup)
        if shown == self._shown and not force:
            return
        self._shown = shown
        forest = cgroup_forest(state, self.sort_key) if self.by_cgroup else process_forest(state, self.sort_key)
        shape = _shape(forest, self.opened)
        if shape == self._shape:
            self._relabel(forest)       # same rows in the same order: labels only
        else:
            self._shape = shape
            self._rebuild(forest)
        self.shown_filter_gen = state.filter_gen
        count = len(self._pid_of)
        grouped = f" in {plural(len(forest), 'group', 'groups')}" if self.by_cgroup else ""
        self.border_subtitle = (f"{plural(count, 'process', 'processes')}{grouped} · "
                                f"by {SORT_TITLES[self.sort_key]} (s)")
        self._show_details()

    def _rebuild(self, forest: list) -> None:
        tree = self.tree
        cursor = tree.cursor_node
        keep = cursor.data if cursor is not None else None
        tree.clear()
        self._pid_of = {}
        self._group_of = {}
        nodes: dict[str, TreeNode[str]] = {}

        def add(anchor: TreeNode[str], items: list) -> None:
            for item in items:
                if isinstance(item, CgroupGroup):
                    node = anchor.add(cgroup_group_label(item), data=item.key, expand=True,
                                      allow_expand=True)
                    nodes[item.key] = node
                    self._group_of[item.key] = item
                    add(node, item.members)
                elif isinstance(item, ProcGroup):
                    node = anchor.add(group_label(item), data=item.key,
                                      expand=item.key in self.opened, allow_expand=True)
                    nodes[item.key] = node
                    add(node, item.members)
                else:
                    proc = item.proc
                    node = anchor.add(process_label(proc, self.utc), data=item.key, expand=True,
                                      allow_expand=bool(item.children))
                    nodes[item.key] = node
                    self._pid_of[item.key] = proc.pid
                    add(node, item.children)

        add(tree.root, forest)
        tree.root.expand()
        self._node_of_key = nodes
        self._label_of_key = {}          # key -> the figures its label shows (see _relabel)
        if keep in nodes:
            tree.move_cursor(nodes[keep])

    def _relabel(self, forest: list) -> None:
        # A label is built only for a row whose figures moved (building ~0.1 ms each).
        for item in _walk(forest):
            if isinstance(item, CgroupGroup):
                self._group_of[item.key] = item
                stamp = (item.write_bytes, item.read_bytes, item.op_count, item.running, item.procs)
            elif isinstance(item, ProcGroup):
                stamp = (item.write_bytes, item.read_bytes, item.op_count, item.running,
                         len(item.members))
            else:
                proc = item.proc
                stamp = (proc.version, proc.exit_ts, proc.partial, proc.comm)
            if self._label_of_key.get(item.key) == stamp:
                continue
            self._label_of_key[item.key] = stamp
            label = (cgroup_group_label(item) if isinstance(item, CgroupGroup) else group_label(item)
                     if isinstance(item, ProcGroup) else process_label(item.proc, self.utc))
            self._node_of_key[item.key].set_label(label)

    def _show_details(self) -> None:
        pid = self.selected_pid
        proc = self._state.process(pid) if (self._state is not None and pid is not None) else None
        self.query_one("#proc-details", Static).update(process_details(proc, self.utc))

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted) -> None:
        event.stop()
        self._show_details()

    def on_tree_node_expanded(self, event: Tree.NodeExpanded) -> None:
        event.stop()
        if event.node.data and event.node.data.startswith("g"):
            self.opened.add(event.node.data)

    def on_tree_node_collapsed(self, event: Tree.NodeCollapsed) -> None:
        event.stop()
        if event.node.data and event.node.data.startswith("g"):
            self.opened.discard(event.node.data)
