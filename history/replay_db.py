"""A Source that plays one session of a history database back into the dashboard.

Which session: ``--session ID``, or else the latest one (the one most people mean after a
recording; ``sniff-tui query DB --sessions`` lists the others). Its statistics are the
session's own: the loss counters and map fill levels it recorded at its end (or at its last
commit, for a run that was killed)."""
from __future__ import annotations

import dataclasses
import threading
import time
from typing import Callable, Iterator, Optional

from sniff_tui.core.filters import Filters
from sniff_tui.core.record import Record, SourceStats
from sniff_tui.core.recorded import RecordedSource

from .query import History, QuerySpec, Session
from .schema import HistoryError

class DbReplaySource(RecordedSource):
    def __init__(self, path: str, session: Optional[int] = None, speed: float = 0.0,
                 *, clock: Callable[[], float] = time.monotonic) -> None:
        """Raises HistoryError (one line) for a database or session that cannot be used."""
        super().__init__(path, speed, clock=clock)
        with History(path) as history:
            if session is None:
                sessions = history.sessions()
                if not sessions:
                    raise HistoryError(f"{path}: no sessions recorded yet")
                self.session: Session = sessions[-1]
            else:
                self.session = history.session(session)
        self.watches = list(self.session.watches)

    def stats(self) -> SourceStats:
        try:
            stored = SourceStats.from_dict(self.session.stats or {})
        except ValueError:
            stored = SourceStats()
        with self._lock:
            return dataclasses.replace(stored, records=self._delivered,
                                       truncated_paths=max(stored.truncated_paths, self._truncated))

    def _records(self, stop: threading.Event) -> Iterator[Record]:
        # Its own connection: this runs on the source's worker thread.
        spec = QuerySpec(filters=Filters(all_types=True), session=self.session.id)
        with History(self.path) as history:
            for rec in history.records(spec):
                with self._lock:
                    if rec.pid not in self._processes:
                        self._processes[rec.pid] = {"ppid": rec.ppid, "comm": rec.comm}
                yield rec
