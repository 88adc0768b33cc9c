"""Bounds of every collection the session keeps, and the sort keys of the ranked panes."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Totals are exact below these bounds. Past one, what cannot be itemised is still counted
    (per file and operation), the rows it touches are marked partial, and the Losses pane says
    how much; nothing is silently forgotten. Tests shrink them to reach the bounds."""
    recent: int = 5_000            # Events pane rows (a history view, not a total)
    files: int = 200_000           # files with totals
    cells: int = 400_000           # (file, process, operation, name) totals, about 250 B each
    processes: int = 100_000
    parents: int = 65_536          # pid -> ppid links for the tree filter and the process tree
    rate_window: int = 60          # seconds of event-rate history
    info_lookups_per_batch: int = 64   # process_info calls per apply (they may read /proc)


# (key, column title) of the Top files pane, in the order `s` cycles them.
FILE_SORT_KEYS = (("bytes_written", "written"), ("writes", "writes"), ("bytes_read", "read"),
                  ("reads", "reads"), ("last_ts", "last activity"), ("path", "file"))
# (key, title) of the Processes pane.
PROC_SORT_KEYS = (("write_bytes", "written"), ("read_bytes", "read"), ("op_count", "ops"),
                  ("name", "name"), ("pid", "pid"))
