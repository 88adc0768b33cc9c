"""Pane 2: the processes with activity under the current filters, nested by parent, with their
read/write totals; the selected process's full command line shows below the tree.

A process whose parent did nothing with files hangs under its nearest active ancestor (or at
the top). Nodes are added and relabelled in place between filter changes, so the cursor and
the folds survive a refresh; the whole tree is rebuilt only when the nesting changed.
"""
from __future__ import annotations

from typing import Optional

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static, Tree
from textual.widgets.tree import TreeNode

from probes.record import OPS
from tui.state import ProcEntry, SessionState
from tui.text import visible
from widgets.format import OP_STYLES, human_bytes, human_count



def process_label(proc: ProcEntry) -> Text:
    ops = sum(proc.ops.values())
    return Text.assemble(
        (visible(proc.comm), "bold"), (f" {proc.pid}", "dim"),
        ("  R ", "dim"), (human_bytes(proc.read_bytes), OP_STYLES["read"]),
        ("  W ", "dim"), (human_bytes(proc.write_bytes), OP_STYLES["write"]),
        ("  ops ", "dim"), human_count(ops),
        no_wrap=True,
    )


def process_details(proc: Optional[ProcEntry]) -> Text:
    if proc is None:
        return Text("Select a process to see its command line.", style="dim")
    who = f"pid {proc.pid}  ppid {proc.ppid}  uid {proc.uid}"
    if proc.user:
        who += f" ({visible(proc.user)})"
    cmdline = visible(proc.cmdline) if proc.cmdline else "(command line unknown)"
    counts = " · ".join(f"{op} {human_count(proc.ops[op])}" for op in OPS if proc.ops.get(op))
    return Text.assemble(
        (visible(proc.comm), "bold"), "  ", (who, "dim"), "\n",
        ("$ ", "dim"), cmdline, "\n",
        ("read ", "dim"), (human_bytes(proc.read_bytes), OP_STYLES["read"]),
        ("  written ", "dim"), (human_bytes(proc.write_bytes), OP_STYLES["write"]),
        ("  ", ""), (counts or "no operations", "dim"),
    )


class ProcessTree(Tree[int]):
    """Tree of pids (node data). Space belongs to the dashboard (pause); enter folds a node."""


class ProcessTreePane(Vertical):
    ALLOW_MAXIMIZE = True

    DEFAULT_CSS = """
    ProcessTreePane > ProcessTree { height: 1fr; }
    ProcessTreePane > #proc-details { height: auto; max-height: 5; border-top: solid $primary-muted; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "2 Processes"
        self._node_of: dict[int, TreeNode[int]] = {}
        self._parent_of: dict[int, int] = {}      # pid -> displayed parent pid (0: top)
        self._labelled: dict[int, int] = {}       # pid -> ProcEntry.version shown
        self.shown_filter_gen = -1
        self._state: Optional[SessionState] = None

    def compose(self) -> ComposeResult:
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
        return node.data if node is not None and node.data is not None else None

    def update_from(self, state: SessionState, force: bool = False) -> None:
        self._state = state
        active = state.active_processes()
        parent_of = {pid: state.display_parent(pid, active) for pid in active}
        same_nesting = all(self._parent_of.get(pid, parent) == parent
                           for pid, parent in parent_of.items())
        gone = any(pid not in active for pid in self._node_of)
        # A filter change alone only relabels (same processes, same nesting): cheaper, and
        # the cursor and folds stay where the user left them.
        if gone or not same_nesting:
            self._rebuild(active, parent_of)
        else:
            self._add_new(active, parent_of)
            for pid, proc in active.items():
                if self._labelled.get(pid) != proc.version:
                    self._node_of[pid].set_label(process_label(proc))
                    self._labelled[pid] = proc.version
        self.shown_filter_gen = state.filter_gen
        self.border_subtitle = f"{len(active):,} processes"
        self._show_details()

    def _rebuild(self, active: dict[int, ProcEntry], parent_of: dict[int, int]) -> None:
        tree = self.tree
        keep = self.selected_pid
        tree.clear()
        self._node_of.clear()
        self._parent_of.clear()
        self._labelled.clear()
        self._add_new(active, parent_of)
        tree.root.expand_all()
        if keep in self._node_of:
            tree.move_cursor(self._node_of[keep])

    def _add_new(self, active: dict[int, ProcEntry], parent_of: dict[int, int]) -> None:
        # First-activity order: independent of how records were batched, so a replay always
        # draws the same tree; parents precede children (they were active first or are
        # placed when their turn comes, below).
        new = sorted((p for p in active if p not in self._node_of), key=lambda p: active[p].first_seq)
        pending = list(new)
        while pending:
            progressed = []
            for pid in pending:
                parent = parent_of[pid]
                if parent and parent not in self._node_of:
                    continue
                anchor = self._node_of[parent] if parent else self.tree.root
                if parent:
                    anchor.allow_expand = True      # no fold arrow on leaves
                proc = active[pid]
                node = anchor.add(process_label(proc), data=pid, expand=True, allow_expand=False)
                self._node_of[pid] = node
                self._parent_of[pid] = parent
                self._labelled[pid] = proc.version
                progressed.append(pid)
            if not progressed:          # a parent link loop: put the rest at the top
                for pid in pending:
                    parent_of[pid] = 0
                continue
            pending = [p for p in pending if p not in self._node_of]

    def _show_details(self) -> None:
        pid = self.selected_pid
        proc = self._state.process(pid) if (self._state is not None and pid is not None) else None
        self.query_one("#proc-details", Static).update(process_details(proc))

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted) -> None:
        event.stop()
        self._show_details()
