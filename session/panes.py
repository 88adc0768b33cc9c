"""What each pane may read of the session: a narrow read-only protocol per pane.

``SessionState`` satisfies every one of them as it is (no copy per refresh: the pull model and
its version stamps stay as fast as they were), but a pane is handed, and type-checked against,
only its own view; tests/unit/test_pane_views.py checks that a pane reads nothing else. The app
changes the session through SessionState's methods, never through these."""
from __future__ import annotations

from typing import Optional, Protocol, Sequence

from sniff_tui.core.filters import Filters
from sniff_tui.core.record import Record, SourceStats

from .entries import Cell, FileEntry, ProcEntry


class Stamped(Protocol):
    @property
    def version(self) -> int: ...        # bumped on every batch that matched something
    @property
    def filter_gen(self) -> int: ...     # bumped whenever the filters re-decide the cells


class EventsView(Stamped, Protocol):
    @property
    def watches(self) -> Sequence[bytes]: ...
    @property
    def paused(self) -> bool: ...
    @property
    def new_since_pause(self) -> int: ...
    @property
    def recent_shift(self) -> int: ...
    def stream_rows(self) -> list[Record]: ...


class FilesView(Stamped, Protocol):
    @property
    def watches(self) -> Sequence[bytes]: ...
    def sorted_files(self, key: str = ...) -> list[FileEntry]: ...
    def file_touches(self, path: bytes) -> list[Cell]: ...


class ProcessesView(Stamped, Protocol):
    """Also what session.views' process_forest and cgroup_forest read."""
    def process(self, pid: int) -> Optional[ProcEntry]: ...
    def active_processes(self) -> dict[int, ProcEntry]: ...
    def display_parent(self, pid: int, active: dict[int, ProcEntry]) -> int: ...


class HeaderView(Protocol):
    @property
    def watches(self) -> Sequence[bytes]: ...
    @property
    def filters(self) -> Filters: ...
    @property
    def received(self) -> int: ...
    def rate_history(self) -> list[int]: ...
    @property
    def recording(self): ...             # session.spool.SessionRecording or None
    @property
    def content(self): ...               # session.versions.ContentHistory or None (--content)
    def current_rate(self) -> int: ...


class LossesView(Protocol):
    def losses(self) -> list[tuple[str, int]]: ...


class MapsView(Protocol):
    @property
    def source_stats(self) -> SourceStats: ...
