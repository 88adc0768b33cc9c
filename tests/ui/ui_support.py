"""Shared pieces of the dashboard tests: the demo recording, a fake source, a spying replay,
and `settle`, which waits for a replay to end and folds everything into the view.

(A uniquely named module rather than conftest.py so tests import it plainly.)"""
from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Optional

from sniff_tui.core.filters import Filters
from sniff_tui.core.record import Record
from records import rec  # noqa: F401  (the UI tests' factory too)
from sniff_tui.core.source import MapHealth, SourceStats
from sniff_tui.tui.app import SniffApp
from sniff_tui.core.replay import ReplaySource

DATA = Path(__file__).resolve().parent / "data"
DEMO = DATA / "demo.jsonl"
WATCH = b"/home/dev/proj"
SIZE = (160, 48)


class SpyReplay(ReplaySource):
    """A ReplaySource that remembers the commands the dashboard sent it."""

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self.filter_calls: list[Filters] = []
        self.watch_calls: list[list[bytes]] = []

    def set_filters(self, filters: Filters) -> None:
        self.filter_calls.append(filters)
        super().set_filters(filters)

    def set_watches(self, watches: list[bytes]) -> None:
        self.watch_calls.append(list(watches))
        super().set_watches(watches)


class FakeSource:
    """A source driven by the test: ``emit`` hands records to the worker thread, which pushes
    them into the feed; ``fail`` makes ``run`` raise; ``refuse`` makes set_filters raise."""

    def __init__(self, watches: list[bytes] = [b"/w"], live: bool = True) -> None:
        self.watches = list(watches)
        self.live = live
        self.filter_calls: list[Filters] = []
        self.watch_calls: list[list[bytes]] = []
        self.processes: dict[int, dict] = {}
        self.map_health = [MapHealth("counters", 10, 100)]
        self.fail: Optional[BaseException] = None
        self.refuse: Optional[Exception] = None
        self._pending: list[list[Record]] = []
        self._lock = threading.Lock()
        self.delivered = 0
        self.missing: list[str] = []     # what the kernel cannot follow, as a live source says
        self.loading: list[str] = []     # features still loading (mmap, close_range, io_uring)

    def emit(self, records: list[Record]) -> None:
        with self._lock:
            self._pending.append(list(records))

    def run(self, feed, stop: threading.Event) -> None:
        while not stop.is_set():
            if self.fail is not None:
                raise self.fail
            with self._lock:
                batches, self._pending = self._pending, []
            for batch in batches:
                feed.push_many(batch)
                self.delivered += len(batch)
            stop.wait(0.005)

    def stats(self) -> SourceStats:
        return SourceStats(records=self.delivered, maps=list(self.map_health), missing=list(self.missing),
                           loading=list(self.loading))

    def detach(self) -> None:
        self.detached = True

    def warnings(self):
        return 0, []

    def set_filters(self, filters: Filters) -> None:
        if self.refuse is not None:
            raise self.refuse
        self.filter_calls.append(filters)

    def set_watches(self, watches: list[bytes]) -> None:
        self.watch_calls.append(list(watches))
        self.watches = list(watches)

    def process_info(self, pid: int) -> dict:
        return dict(self.processes.get(pid, {}))

    @property
    def idle(self) -> bool:
        with self._lock:
            return not self._pending


async def settle(app: SniffApp, pilot, timeout: float = 10.0) -> None:
    """Wait until the source has nothing more to give, then fold and draw everything."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        src = app.source
        done = (not app.source_running) if not isinstance(src, FakeSource) else src.idle
        if done:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.02)       # a FakeSource push in flight
    app.drain_and_refresh()
    await pilot.pause()


class SpyApp(SniffApp):
    """The dashboard, remembering its notifications: (severity, message), newest last."""

    def __init__(self, *args, **kw) -> None:
        kw.setdefault("utc", True)              # snapshots must not depend on the time zone
        kw.setdefault("own_usage", False)       # nor on this machine's CPU and memory
        super().__init__(*args, **kw)
        self.notices: list[tuple[str, str]] = []

    def notify(self, message, *, severity="information", **kw) -> None:
        self.notices.append((severity, str(message)))
        super().notify(message, severity=severity, **kw)


def demo_app(tmp_path: Path, filters: Filters = Filters(), **kw) -> SniffApp:
    source = SpyReplay(str(DEMO), speed=0, watches=[WATCH])
    return SpyApp(source, filters, [WATCH], spool_dir=str(tmp_path), **kw)
