"""What `stream --db` and `stream --metrics` add to the stream loop, behind three calls:

    sinks, code = open_sinks(args, filters)   # before the probes load: bad file/address -> exit
    sinks.take(batch, source, feed)            # every drained batch (may be empty)
    status = sinks.close(source, feed, status) # at the end, before the probes are freed

The stream loop owns the feed and the writer; the sinks only read what it drained. ``take``
never waits for the disk (the store has its own writer thread) and reads the probes' stats
dict at most every ``STATS_SECONDS`` (``STORE_STATS_SECONDS`` without --metrics), on the
loop's thread, as ``--stats`` does.
"""
from __future__ import annotations

import os
import time
from typing import Optional

from sniff_tui.probes.content import without_content

from sniff_tui.core.exits import EXIT_FAIL, EXIT_USAGE, say
from sniff_tui.core.filters import Filters

from sniff_tui.history.metrics import MetricsAddressError, MetricsServer, StreamMetrics, parse_address
from sniff_tui.history.schema import HistoryError
from sniff_tui.history.store import HistoryStore

STATS_SECONDS = 2.0          # with --metrics: how fresh the health figures are
STORE_STATS_SECONDS = 10.0   # --db alone: how stale a killed session's counters can be

class NullWriter:
    """The stream writer when the database is the only output (`--db` without `-o`). Records
    go nowhere; `--stats` reports still reach the user, on stderr (they are also kept in the
    session row)."""

    def write(self, record) -> None:
        pass

    def write_many(self, records) -> None:
        pass

    def write_stats(self, stats) -> None:
        import json
        say("stats: " + json.dumps(stats, separators=(",", ":"), default=str))

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


class StreamSinks:
    def __init__(self, args, filters: Filters, store: Optional[HistoryStore],
                 metrics: Optional[StreamMetrics], server: Optional[MetricsServer]) -> None:
        self.args = args
        self.filters = filters
        self.store = store
        self.metrics = metrics
        self.server = server
        self._started = False
        self._next_stats = 0.0
        self._bpf_stats = None
        self._error_shown = False

    @property
    def replaces_stdout(self) -> bool:
        """`--db FILE` without `-o`: the database is the output, stdout stays quiet."""
        return self.store is not None and not getattr(self.args, "output", None)

    def writer(self, writer):
        return NullWriter() if self.replaces_stdout else writer

    def _start(self, source) -> None:
        self._started = True
        if self.store is not None:
            self.store.begin_session(list(source.watches), self.filters, "stream")
        if self.metrics is not None:
            self.metrics.set_watches(list(source.watches))
            # Probe cost needs the kernel's bpf_stats switched on (restored at close).
            from sniff_tui.probes.selfcost import BpfStats
            self._bpf_stats = BpfStats()
            self._bpf_stats.enable()

    def take(self, batch: list, source, feed) -> None:
        if self.store is None and self.metrics is None:
            return           # neither option given: the stream must not pay (nor run bpftool)
        if not self._started:
            self._start(source)
        if self.store is not None:
            self.store.add(batch)
            if self.store.error is not None and not self._error_shown:
                self._error_shown = True
                say(f"history: {self.store.error}; no further records are stored "
                     f"(earlier ones are intact)")
        if self.metrics is not None:
            self.metrics.observe(without_content(batch))
        now = time.monotonic()
        if now >= self._next_stats:
            # stats_dict() runs bpftool for the probe cost: not more often than needed.
            self._next_stats = now + (STATS_SECONDS if self.metrics else STORE_STATS_SECONDS)
            self._poll(source, feed)

    def _poll(self, source, feed) -> Optional[dict]:
        try:
            stats = source.stats_dict()
        except Exception as exc:        # the probes are the lead's; a bad read costs one line
            say(f"history: could not read the probes' statistics: {exc}")
            return None
        stats["feed_dropped"] = feed.dropped
        if self.store is not None:
            self.store.update_stats(stats)
        if self.metrics is not None:
            self.metrics.set_stats(stats)
            if self.store is not None:
                self.metrics.set_store(self.store.stored, self.store.dropped, self.store.pending)
        return stats

    def close(self, source, feed, status: int = 0) -> int:
        """Final stats into the session row, the store flushed and closed, the server
        stopped. Returns the exit status (1 if the store failed: a full disk, an I/O error)."""
        stats = self._poll(source, feed) if self._started else None
        if self.server is not None:
            self.server.close()
        if self._bpf_stats is not None:
            self._bpf_stats.restore()
        if self.store is not None:
            error = self.store.close(stats)
            if error is not None:
                if not self._error_shown:
                    say(f"history: {error}")
                status = status or EXIT_FAIL
            if self.store.dropped:
                # Counted and said, like the feed's drops; only a failed store fails the run.
                say(f"history: {self.store.dropped} records were not stored in {self.store.path} "
                     f"({self.store.stored} were)")
        return status


def open_sinks(args, filters: Filters) -> tuple[Optional[StreamSinks], int]:
    """The sinks --db and --metrics ask for, or (None, exit code) after one line saying why
    not. With neither option the sinks do nothing."""
    db = getattr(args, "db", None)
    metrics_spec = getattr(args, "metrics", None)
    store = server = metrics = None
    if metrics_spec is not None:
        try:
            addr, port = parse_address(metrics_spec)
        except MetricsAddressError as exc:
            say(str(exc))
            return None, EXIT_USAGE
    if db is not None:
        if getattr(args, "output", None) and os.path.abspath(args.output) == os.path.abspath(db):
            say("--db and -o must be different files")
            return None, EXIT_USAGE
        try:
            store = HistoryStore(db)
        except HistoryError as exc:
            say(str(exc))
            return None, EXIT_FAIL
    if metrics_spec is not None:
        dirs = getattr(args, "dirs", None) or [os.getcwd()]
        metrics = StreamMetrics([os.fsencode(os.path.realpath(d)) for d in dirs],
                                names_limit=getattr(args, "metrics_names", 50))
        try:
            server = MetricsServer(metrics, addr, port)
        except MetricsAddressError as exc:
            say(str(exc))
            if store is not None:
                store.close()
            return None, EXIT_FAIL
        if port == 0:
            say(f"metrics at http://{addr}:{server.port}/metrics")
    return StreamSinks(args, filters, store, metrics, server), 0
