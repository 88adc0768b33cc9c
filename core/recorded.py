"""What every recorded source shares (a JSONL recording, core/replay.py; a history database's
session, history/replay_db.py): the Source protocol's quiet half (nothing to detach, filters
kept for the dashboard to apply), pacing at ``speed``, and a feed never overflowed."""
from __future__ import annotations

import threading
import time
from typing import Callable, Iterator, Optional

from .filters import Filters
from .record import Record

BATCH = 2_048                 # records per Feed.push_many


class RecordedSource:
    live = False

    def __init__(self, path: str, speed: float = 0.0, *, max_gap: Optional[float] = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``speed``: 0 plays as fast as the dashboard takes it (no record is dropped: the
        replay waits when the feed is nearly full), 1 is real time from the ts deltas, 2 twice
        as fast... ``max_gap`` caps one wait (seconds of recording) so a recording with an
        idle hour does not stall."""
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self.path = path
        self.speed = speed
        self.max_gap = max_gap
        self._clock = clock
        self.watches: list[bytes] = []
        self.filters = Filters()
        self.errors: list[tuple[int, str]] = []
        self.error_count = 0
        self.finished = threading.Event()
        self._delivered = 0
        self._truncated = 0
        self._processes: dict[int, dict] = {}
        self._lock = threading.Lock()

    def _records(self, stop: threading.Event) -> Iterator[Record]:
        """The recording's records in order (worker thread)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ Source protocol
    def run(self, feed, stop: threading.Event) -> None:
        try:
            self._play(feed, stop)
        finally:
            self.finished.set()

    def warnings(self) -> tuple[int, list[tuple[int, str]]]:
        return self.error_count, list(self.errors)

    def detach(self) -> None:
        # A recording takes nothing from the kernel: the stop event alone ends the replay.
        pass

    def set_filters(self, filters: Filters) -> None:
        # Nothing to push down: the dashboard filters replayed records in userspace, and
        # delivering everything lets it widen a filter again over what was already read.
        self.filters = filters

    def set_watches(self, watches: list[bytes]) -> None:
        # A recording cannot be re-captured elsewhere; the new list only changes how paths
        # are shown relative to it.
        self.watches = list(watches)

    def process_info(self, pid: int) -> dict:
        with self._lock:
            return dict(self._processes.get(pid, {}))

    # ------------------------------------------------------------------ playing
    def _play(self, feed, stop: threading.Event) -> None:
        pending: list[Record] = []
        start_clock: Optional[float] = None
        start_ts: Optional[float] = None
        for rec in self._records(stop):
            if stop.is_set():
                break
            if getattr(rec, "truncated", False):     # a content line has no path to cut
                self._truncated += 1
            if self.speed > 0:
                if start_ts is None:
                    start_ts, start_clock = rec.ts, self._clock()
                wait = start_clock + (rec.ts - start_ts) / self.speed - self._clock()
                if wait > 0.02:            # batch what is due within 20 ms
                    self._flush(feed, pending, stop)
                    if self.max_gap is not None and wait > self.max_gap:
                        # Move the origin so the rest of the recording keeps its pace.
                        start_clock -= wait - self.max_gap
                        wait = self.max_gap
                    if stop.wait(wait):
                        break
            pending.append(rec)
            if len(pending) >= BATCH:
                self._flush(feed, pending, stop)
        self._flush(feed, pending, stop)

    def _flush(self, feed, pending: list[Record], stop: threading.Event) -> None:
        """Hand ``pending`` over without ever overflowing the feed: a recording has no reason
        to lose records, so the replay waits for the dashboard instead."""
        while pending and not stop.is_set():
            room = feed.maxsize - len(feed)
            if room <= 0:
                stop.wait(0.01)
                continue
            chunk = pending[:room]
            feed.push_many(chunk)
            with self._lock:
                self._delivered += len(chunk)
            del pending[:room]
