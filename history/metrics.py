"""Prometheus metrics for `stream --metrics`: what the records say, and what the probes say
about themselves, served at /metrics by the official prometheus-client.

Record metrics are folded on the thread that drains the feed (``observe``); probe health comes
from the stats dict the stream already builds (``set_stats``); a scrape only reads both under
a lock, so it never touches the BPF maps itself.

Bounded cardinality: labels are ``op`` (7 values), ``watch`` (the watched directories the user
gave) and ``comm``. The first ``names_limit`` process names to be seen get a ``comm`` label of
their own (busiest first within a batch) and keep it for the life of the process; every later
name is counted under ``comm="other"``. Admission is never undone: moving a name into
``other`` later, or out of it, would make counters jump backwards or count twice, and every
series here is an exact, monotonic total since sniff-tui started.
"""
from __future__ import annotations

import ipaddress
import threading
from typing import Iterable, Optional

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import start_http_server

from sniff_tui.core.record import Record, encode_name

from sniff_tui.core.record import SourceStats

from .query import LOSS_COUNTERS

OTHER = "other"
DEFAULT_ADDR = "127.0.0.1"


class MetricsAddressError(ValueError):
    """A --metrics value that cannot be used; one line for the user."""


def parse_address(text: str) -> tuple[str, int]:
    """``PORT``, ``ADDR:PORT`` or ``[IPV6]:PORT`` -> (addr, port); loopback unless told."""
    spec = text.strip()
    host = DEFAULT_ADDR
    if spec.startswith("["):
        close = spec.find("]")
        if close < 0 or not spec[close + 1:].startswith(":"):
            raise MetricsAddressError(f"--metrics: not [ADDR]:PORT: {text!r}")
        host, port_text = spec[1:close], spec[close + 2:]
    elif ":" in spec:
        host, _, port_text = spec.rpartition(":")
        if not host or ":" in host:
            raise MetricsAddressError(f"--metrics: write an IPv6 address as [ADDR]:PORT: {text!r}")
    else:
        port_text = spec
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise MetricsAddressError(f"--metrics: not a port number: {port_text!r}")
    if spec.startswith("["):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise MetricsAddressError(f"--metrics: not an IPv6 address: {host!r}") from None
    return host, int(port_text)


def watch_of(path: bytes, watches: list[bytes]) -> Optional[bytes]:
    """The deepest watched directory holding ``path``."""
    best = None
    for root in watches:
        base = root.rstrip(b"/") or b"/"
        if path == base or path.startswith(base if base == b"/" else base + b"/"):
            if best is None or len(base) > len(best):
                best = base
    return best


class StreamMetrics:
    """The collector. ``observe`` and ``set_stats`` are called by the stream loop; ``collect``
    by prometheus-client on its HTTP thread."""

    def __init__(self, watches: list[bytes], names_limit: int = 50) -> None:
        self.set_watches(watches)
        self.names_limit = names_limit
        self._lock = threading.Lock()
        self._ops: dict[tuple[str, str, str], list[int]] = {}   # (op, watch, comm) -> [count, bytes]
        self._records: dict[str, int] = {}
        self._labelled: dict[bytes, str] = {}
        self._stats: dict = {}
        self._store: Optional[dict] = None

    # ------------------------------------------------------------------ producer side
    def set_watches(self, watches: list[bytes]) -> None:
        self.watches = [w.rstrip(b"/") or b"/" for w in watches]
        self._watch_text = {w: encode_name(w)[0] for w in self.watches}

    def observe(self, batch: list[Record]) -> None:
        if not batch:
            return
        single = len(self.watches) == 1
        local: dict[tuple[str, bytes, bytes], list[int]] = {}
        for r in batch:
            if single:          # every record is under the one watched directory
                w = self.watches[0]
            else:
                w = watch_of(r.path, self.watches) or b""
            key = (r.op, w, r.comm)
            cell = local.get(key)
            if cell is None:
                local[key] = [r.count, r.bytes or 0, 1]
            else:
                cell[0] += r.count
                cell[1] += r.bytes or 0
                cell[2] += 1
        with self._lock:
            self._admit(local)
            for (op, w, comm), (count, nbytes, nrec) in local.items():
                label = (op, self._watch_text.get(w, ""), self._labelled.get(comm, OTHER))
                cell = self._ops.get(label)
                if cell is None:
                    self._ops[label] = [count, nbytes]
                else:
                    cell[0] += count
                    cell[1] += nbytes
                self._records[op] = self._records.get(op, 0) + nrec

    def _admit(self, local: dict[tuple[str, bytes, bytes], list[int]]) -> None:
        free = self.names_limit - len(self._labelled)
        if free <= 0:
            return
        totals: dict[bytes, int] = {}
        for (_, _, comm), cell in local.items():
            if comm not in self._labelled:
                totals[comm] = totals.get(comm, 0) + cell[0]
        for comm in sorted(totals, key=lambda c: (-totals[c], c))[:free]:
            self._labelled[comm] = encode_name(comm)[0]

    def set_stats(self, stats: dict) -> None:
        with self._lock:
            self._stats = stats

    def set_store(self, stored: int, dropped: int, pending: int) -> None:
        with self._lock:
            self._store = {"stored": stored, "dropped": dropped, "pending": pending}

    # ------------------------------------------------------------------ prometheus side
    def describe(self) -> Iterable:
        return []        # the families depend on what was seen: collect() at registration

    def collect(self) -> Iterable:
        with self._lock:
            ops = {k: list(v) for k, v in self._ops.items()}
            records = dict(self._records)
            stats = self._stats
            store = dict(self._store) if self._store else None
        labels = ["op", "watch", "comm"]
        calls = CounterMetricFamily("sniff_tui_operations", "Syscalls recorded (sum of the "
                                    "records' count), by op, watched directory and process name",
                                    labels=labels)
        nbytes = CounterMetricFamily("sniff_tui_bytes", "Bytes read or written, by op, watched "
                                     "directory and process name", labels=labels)
        for (op, watch, comm), (count, b) in sorted(ops.items()):
            calls.add_metric([op, watch, comm], count)
            if op in ("read", "write"):
                nbytes.add_metric([op, watch, comm], b)
        yield calls
        yield nbytes
        recs = CounterMetricFamily("sniff_tui_records", "Records delivered (one record may "
                                   "stand for many syscalls), by op", labels=["op"])
        for op, n in sorted(records.items()):
            recs.add_metric([op], n)
        yield recs
        info = GaugeMetricFamily("sniff_tui_watch_info", "Watched directories (value 1)",
                                 labels=["watch"])
        for w in self.watches:
            info.add_metric([self._watch_text[w]], 1)
        yield info
        yield from self._collect_stats(stats, store)

    def _collect_stats(self, stats: dict, store: Optional[dict]) -> Iterable:
        counters = stats.get("counters") or {}
        lost = CounterMetricFamily("sniff_tui_lost", "Things not seen or not stored: kernel "
                                   "loss counters, records dropped between threads or by the "
                                   "history store", labels=["kind"])
        events = CounterMetricFamily("sniff_tui_kernel_events", "The probes' other counters "
                                     "(records submitted, path walks, coalescing fallbacks)",
                                     labels=["counter"])
        for name, value in sorted(counters.items()):
            if not isinstance(value, int):
                continue
            (lost if name in LOSS_COUNTERS else events).add_metric([name], value)
        if isinstance(stats.get("feed_dropped"), int):
            lost.add_metric(["feed_dropped"], stats["feed_dropped"])
        if store is not None:
            lost.add_metric(["store_dropped"], store["dropped"])
        yield lost
        yield events
        if isinstance(stats.get("filtered_out"), int):
            yield CounterMetricFamily("sniff_tui_filtered_out", "Records dropped by userspace "
                                      "filters (comm globs, excluded names)",
                                      value=stats["filtered_out"])
        entries = GaugeMetricFamily("sniff_tui_map_entries", "Entries in a BPF map", labels=["map"])
        capacity = GaugeMetricFamily("sniff_tui_map_capacity", "max_entries of a BPF map",
                                     labels=["map"])
        util = GaugeMetricFamily("sniff_tui_map_utilization", "Fill level of a BPF map (0..1)",
                                 labels=["map"])
        try:
            maps = SourceStats.from_dict(stats).maps     # either shape of the stats line
        except ValueError:
            maps = []
        for m in sorted(maps, key=lambda m: m.name):
            entries.add_metric([m.name], m.entries)
            capacity.add_metric([m.name], m.max_entries)
            util.add_metric([m.name], m.entries / m.max_entries if m.max_entries else 0.0)
        yield entries
        yield capacity
        yield util
        runs = CounterMetricFamily("sniff_tui_probe_runs", "Runs of each BPF program "
                                   "(kernel.bpf_stats_enabled)", labels=["program"])
        secs = CounterMetricFamily("sniff_tui_probe_run_seconds", "Time spent in each BPF "
                                   "program", labels=["program"])
        for name, p in sorted((stats.get("programs") or {}).items()):
            n = int(p.get("runs", 0))
            runs.add_metric([name], n)
            secs.add_metric([name], n * float(p.get("ns_per_run", 0.0)) / 1e9)
        yield runs
        yield secs
        if store is not None:
            yield CounterMetricFamily("sniff_tui_store_records", "Records committed to the "
                                      "history database", value=store["stored"])
            yield GaugeMetricFamily("sniff_tui_store_pending", "Records queued for the history "
                                    "writer", value=store["pending"])


class MetricsServer:
    """The HTTP endpoint. Binding happens in the constructor, so a bad address is reported
    before the probes load. Raises MetricsAddressError."""

    def __init__(self, metrics: StreamMetrics, addr: str, port: int) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(metrics)
        ProcessCollector(registry=self.registry)     # our own CPU and memory
        try:
            self._httpd, self._thread = start_http_server(port, addr=addr, registry=self.registry)
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise MetricsAddressError(f"--metrics: cannot serve on {addr}:{port}: {reason}") from None
        self.addr = addr
        self.port = self._httpd.server_port

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
