"""A Source that plays one session of a history database back into the dashboard.

Which session: ``--session ID``, or else the latest one (the one most people mean after a
recording; ``sniff-tui query DB --sessions`` lists the others). Its statistics are the
session's own: the loss counters and map fill levels it recorded at its end (or at its last
commit, for a run that was killed)."""
from __future__ import annotations

import dataclasses

import threading
import time
from typing import Callable, Optional

from probes.filters import Filters
from probes.source import SourceStats

from .query import History, QuerySpec, Session
from .schema import HistoryError

BATCH = 2_048


class DbReplaySource:
    live = False

    def __init__(self, path: str, session: Optional[int] = None, speed: float = 0.0,
                 *, clock: Callable[[], float] = time.monotonic) -> None:
        """Raises HistoryError (one line) for a database or session that cannot be used."""
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self.path = path
        self.speed = speed
        self._clock = clock
        with History(path) as history:
            if session is None:
                sessions = history.sessions()
                if not sessions:
                    raise HistoryError(f"{path}: no sessions recorded yet")
                self.session: Session = sessions[-1]
            else:
                self.session = history.session(session)
        self.watches: list[bytes] = list(self.session.watches)
        self.filters = Filters()
        self.errors: list[tuple[int, str]] = []
        self.error_count = 0
        self.finished = threading.Event()
        self._delivered = 0
        self._truncated = 0
        self._processes: dict[int, dict] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ Source protocol
    def run(self, feed, stop: threading.Event) -> None:
        try:
            self._play(feed, stop)
        finally:
            self.finished.set()

    def stats(self) -> SourceStats:
        try:
            stored = SourceStats.from_dict(self.session.stats or {})
        except ValueError:
            stored = SourceStats()
        with self._lock:
            return dataclasses.replace(stored, records=self._delivered,
                                       truncated_paths=max(stored.truncated_paths, self._truncated))

    def warnings(self) -> tuple[int, list[tuple[int, str]]]:
        return self.error_count, list(self.errors)

    def detach(self) -> None:
        # A stored session takes nothing from the kernel: the stop event alone ends it.
        pass

    def set_filters(self, filters: Filters) -> None:
        # Everything is delivered; the dashboard filters in userspace and can widen again.
        self.filters = filters

    def set_watches(self, watches: list[bytes]) -> None:
        self.watches = list(watches)

    def process_info(self, pid: int) -> dict:
        with self._lock:
            return dict(self._processes.get(pid, {}))

    # ------------------------------------------------------------------ reading
    def _play(self, feed, stop: threading.Event) -> None:
        # Its own connection: this runs on the source's worker thread.
        spec = QuerySpec(filters=Filters(all_types=True), session=self.session.id)
        pending = []
        start_ts = start_clock = None
        with History(self.path) as history:
            for rec in history.records(spec):
                if stop.is_set():
                    return
                if self.speed > 0:
                    if start_ts is None:
                        start_ts, start_clock = rec.ts, self._clock()
                    wait = start_clock + (rec.ts - start_ts) / self.speed - self._clock()
                    if wait > 0.02:
                        self._flush(feed, pending, stop)
                        if stop.wait(wait):
                            return
                if rec.truncated:
                    self._truncated += 1
                with self._lock:
                    if rec.pid not in self._processes:
                        self._processes[rec.pid] = {"ppid": rec.ppid, "comm": rec.comm}
                pending.append(rec)
                if len(pending) >= BATCH:
                    self._flush(feed, pending, stop)
            self._flush(feed, pending, stop)

    def _flush(self, feed, pending: list, stop: threading.Event) -> None:
        """Never overflow the feed: a recording has no reason to lose records."""
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
