"""`sniff-tui --db FILE`: the dashboard's records into the history store.

The dashboard drains its Feed on the UI thread; ``TeeFeed.drain`` hands each drained batch to
the store as well (a queue append: the store writes from its own thread), so the history holds
exactly what the source delivered to the dashboard, whatever the dashboard's view filters."""
from __future__ import annotations

from typing import Optional

from sniff_tui.core.exits import EXIT_FAIL, fail, say
from sniff_tui.core.feed import Feed
from sniff_tui.core.filters import Filters

from .schema import HistoryError
from .store import HistoryStore


class TeeFeed(Feed):
    def __init__(self, store: HistoryStore, maxsize: int = 200_000) -> None:
        super().__init__(maxsize)
        self.store = store

    def drain(self, limit: int = 50_000) -> list:
        batch = super().drain(limit)
        if batch:
            self.store.add(batch)
        return batch


class DashboardStore:
    def __init__(self, store: HistoryStore, filters: Filters) -> None:
        self.store = store
        self.filters = filters
        self._feed: Optional[TeeFeed] = None

    def feed(self, source) -> TeeFeed:
        self.store.begin_session(list(source.watches), self.filters, "dashboard")
        self._feed = TeeFeed(self.store)
        return self._feed

    def close(self, source) -> int:
        """After the dashboard quit, before the probes are freed (their counters go into the
        session row). Returns 1 if the store failed, after saying so."""
        stats = None
        try:
            stats = source.stats_dict()
            if self._feed is not None:
                stats["feed_dropped"] = self._feed.dropped
        except Exception:
            pass
        error = self.store.close(stats)
        if error is not None:
            say(f"history: {error}")
        if self.store.dropped:
            say(f"history: {self.store.dropped} records were not stored in {self.store.path}")
        return EXIT_FAIL if error is not None else 0


def open_dashboard_store(args, filters: Filters) -> tuple[Optional[DashboardStore], int]:
    """(None, 0) without --db; (None, 1) after one line when the file cannot be used."""
    db = getattr(args, "db", None)
    if db is None:
        return None, 0
    try:
        return DashboardStore(HistoryStore(db), filters), 0
    except HistoryError as exc:
        return None, fail(str(exc))
