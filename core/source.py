"""The contract between whatever produces records (live probes, a replayed recording) and their
consumers (the stream writer, the dashboard). A source runs in a worker thread and pushes into
a Feed; it never touches the UI."""
from __future__ import annotations

import threading
from typing import Protocol

from .filters import Filters
from .record import MapHealth, SourceStats  # noqa: F401  (part of the source contract)


# The stats line is one of the JSONL line kinds: defined with the others in record.py.


class Source(Protocol):
    watches: list[bytes]              # canonical watched directories
    live: bool                        # False for a replay

    def run(self, feed, stop: threading.Event) -> None:
        """Push Records into ``feed`` until ``stop`` is set or the source ends. Worker thread."""

    def stats(self) -> SourceStats: ...

    def warnings(self) -> tuple[int, list[tuple[int, str]]]:
        """(how many input problems so far, the first ones kept as (line, reason)): a replay's
        skipped lines; a live source has none."""

    def detach(self) -> None:
        """Take nothing new from now on (what was taken is still delivered by run). Any
        thread; idempotent. A stop calls it first, so that a stop under a flood is quick."""

    def set_filters(self, filters: Filters) -> None:
        """Apply filters where they are cheapest (kernel maps for a live source)."""

    def set_watches(self, watches: list[bytes]) -> None: ...

    def process_info(self, pid: int) -> dict:
        """{'ppid', 'comm', 'cmdline', 'user'} as far as known; {} when unknown."""
