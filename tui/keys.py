"""Every key of the dashboard, defined once: the bindings, the footer, the help screen and the
command palette are all built from ``KEYMAP``."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Key:
    key: str                    # Textual key name
    shown: str                  # as the user types it
    action: str
    title: str                  # short: footer and command palette
    help: str                   # long: help screen and palette
    footer: bool = False
    priority: bool = False      # over the focused pane's own bindings (space in a Tree)


OP_KEYS = (("r", "read", "read"), ("w", "write", "write"), ("o", "open,close", "open/close"),
           ("n", "rename", "rename"), ("u", "unlink", "unlink"),
           ("t", "truncate,fallocate", "truncate/fallocate"), ("M", "mmap,mmap_write", "mmap"))
PANE_NAMES = ((1, "events"), (2, "processes"), (3, "top files"), (4, "BPF maps"), (5, "losses"))

KEYMAP: tuple[Key, ...] = (
    Key("q", "q", "app.quit", "Quit", "Quit sniff-tui", footer=True),
    Key("space", "space", "app.toggle_pause", "Pause", "Pause or resume the view (counting goes on)",
        footer=True, priority=True),
    Key("slash", "/", "app.text_filter", "Search",
        "Filter by text in the path (old or new name), the process name or the pid (empty clears)",
        footer=True),
    *(Key(k, k, f"app.toggle_op('{ops}')", f"Toggle {label}", f"Show or hide {label} events")
      for k, ops, label in OP_KEYS),
    Key("a", "a", "app.toggle_types", "File types",
        "Regular files and directories only / all file types (pipes, sockets, devices)"),
    Key("p", "p", "app.filter_process", "This process",
        "Only the process selected in pane 2"),
    Key("P", "P", "app.filter_tree", "This tree", "Only the selected process and its descendants"),
    Key("C", "C", "app.filter_cgroup", "This container",
        "Only the container (else the systemd unit, else the cgroup) of the selected process or "
        "group in pane 2; again: every cgroup"),
    Key("x", "x", "app.exclude", "Exclude",
        "Exclude paths by a gitignore pattern (offered: the directory of the file selected in "
        "pane 3); a directory is then dropped in the kernel"),
    Key("X", "X", "app.exclusions", "Exclusions", "List the exclusions and remove one"),
    Key("g", "g", "app.toggle_grouping", "Group",
        "Processes pane: group by container/unit (with totals) / nest by parent process"),
    Key("c", "c", "app.clear_filters", "Clear", "Clear all filters", footer=True),
    Key("d", "d", "app.watch_dir", "Watch",
        "Watch another directory, in a fresh view (prefix + to add one to this view)", footer=True),
    Key("s", "s", "app.cycle_sort", "Sort",
        "Cycle the sort column of the processes (pane 2 focused) or of the top files", footer=True),
    Key("D", "D", "app.show_changes", "Changes",
        "--content: the versions of the file selected in Top files, each with its diff"),
    Key("e", "e", "app.export", "Export",
        "Export the session so far (JSONL) and a screenshot (SVG) to the current directory",
        footer=True),
    *(Key(str(n), str(n), f"app.focus_pane({n})", f"Pane {n}", f"Focus pane {n}: {name}")
      for n, name in PANE_NAMES),
    Key("m", "m", "app.toggle_maximize", "Maximize", "Maximize or restore the focused pane"),
    Key("question_mark", "?", "app.help", "Help", "Show this help", footer=True),
)
HELP_NOTES = (
    "In the event pane: ↑/PgUp/Home scroll back (stops following), End or f follows again.",
    "In the process tree: enter opens a group (×N) or folds a process. In the top files: "
    "↑/↓/PgUp/PgDn select a file.",
    "A row marked ≈ is partial: the session's bound was reached (see the Losses pane).",
    "ctrl+p opens the command palette: every key above is a command there too.",
    "Filters apply in the kernel on a live source and to what is already on screen.",
    "Exclusions (x, --exclude, --gitignore): an excluded directory stops the kernel's walk (nothing "
    "below it is sent); name patterns (*.swp) are decided after coalescing, totals exact.",
)
