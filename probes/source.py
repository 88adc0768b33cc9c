"""The contract between whatever produces records (live probes, a replayed recording) and their
consumers (the stream writer, the dashboard). A source runs in a worker thread and pushes into
a Feed; it never touches the UI."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Protocol

from .filters import Filters


@dataclass
class MapHealth:
    name: str
    entries: int
    max_entries: int
    evictions: int = 0


@dataclass
class SourceStats:
    """A snapshot, safe to hand to another thread."""
    records: int = 0                  # records delivered to the feed
    ringbuf_drops: int = 0            # records the kernel could not reserve
    truncated_paths: int = 0
    evictions: int = 0                # un-harvested counters evicted (aggregation)
    maps: list[MapHealth] = field(default_factory=list)


class Source(Protocol):
    watches: list[bytes]              # canonical watched directories
    live: bool                        # False for a replay

    def run(self, feed, stop: threading.Event) -> None:
        """Push Records into ``feed`` until ``stop`` is set or the source ends. Worker thread."""

    def stats(self) -> SourceStats: ...

    def set_filters(self, filters: Filters) -> None:
        """Apply filters where they are cheapest (kernel maps for a live source)."""

    def set_watches(self, watches: list[bytes]) -> None: ...

    def process_info(self, pid: int) -> dict:
        """{'ppid', 'comm', 'cmdline', 'user'} as far as known; {} when unknown."""
