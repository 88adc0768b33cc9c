"""How a filter decides a cell (or a record): ``Filters.matches`` for everything but the text,
which the dashboard also matches against the rename destination, and the path patterns
(decided per path, cached by the rules)."""
from __future__ import annotations

from typing import Callable, Optional

from sniff_tui.core.filters import Filters


def only_ops_and_types(filters: Filters) -> bool:
    """Whether ``filters`` decides by operation, file type and path patterns alone (overflow
    cells carry nothing else but their file's path)."""
    return (filters.pid is None and filters.tree is None and filters.uid is None
            and filters.comm is None and not filters.exclude_comm and not filters.text
            and not filters.by_cgroup)


def make_matcher(filters: Filters, is_descendant: Optional[Callable[[int, int], bool]]):
    """A cell (or record) -> bool under ``filters``. Without the text the decision ignores the
    path (a unit test fails if Filters grows a field this does not know), so cells of the same
    process, operation and name share one memoized decision: a rebuild costs a dict look-up
    per cell."""
    needle = filters.text.lower()
    rules = filters.rules if filters.by_path else None
    base = filters.with_(text="", rules=None) if needle or rules else filters
    memo: dict[tuple, bool] = {}

    def match(cell) -> bool:
        key = (cell.op, cell.pid, cell.uid, cell.comm, cell.file_type, cell.cgroup, cell.container,
               cell.unit)
        hit = memo.get(key)
        if hit is None:
            hit = memo[key] = base.matches(cell, is_descendant)
        if hit and rules is not None and not rules.keeps(cell):
            return False
        if hit and needle:
            return text_matches(needle, cell)
        return hit
    return match


def text_matches(needle: str, rec) -> bool:
    """The `/` filter: ``needle`` (lower case) in the path, the rename destination, the
    process name, or equal to the pid."""
    if needle in rec.path.decode("utf-8", "replace").lower():
        return True
    new_path = rec.new_path
    if new_path is not None and needle in new_path.decode("utf-8", "replace").lower():
        return True
    return needle in rec.comm.decode("utf-8", "replace").lower() or needle == str(rec.pid)
