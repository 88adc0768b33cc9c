"""The live source: loaded probes, the ring-buffer worker, and the filter/watch/stats API that
the stream command and the dashboard call. Filters are BPF map updates: nothing is reloaded."""
from __future__ import annotations

import ctypes
import os
import stat
import threading
from pathlib import Path
from typing import Optional

import time

from . import abi, loader
from .coalesce import Coalescer
from .decode import Decoder, Flush, ProcEvent, Watches, kernel_dev
from .filters import Filters, is_glob
from .proctable import ProcessTable
from .record import Record
from .source import MapHealth, SourceStats

C = abi.C


class WatchError(ValueError):
    """A directory that cannot be watched; the message is one line for the user."""


def canonical_dir(path: str | bytes) -> bytes:
    raw = os.fsencode(path)
    real = os.path.realpath(raw)
    shown = os.fsdecode(raw)
    try:
        st = os.stat(real)
    except FileNotFoundError:
        raise WatchError(f"{shown}: no such directory") from None
    except PermissionError:
        raise WatchError(f"{shown}: cannot read this directory (permission denied)") from None
    except OSError as exc:
        raise WatchError(f"{shown}: {exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise WatchError(f"{shown}: not a directory")
    if not os.access(real, os.R_OK | os.X_OK):
        raise WatchError(f"{shown}: cannot read this directory (permission denied)")
    return real


def mount_kdev(path: bytes) -> Optional[int]:
    """The kernel dev_t of the filesystem holding path, from mountinfo (what super_block.s_dev
    holds; differs from stat()'s st_dev on btrfs subvolumes)."""
    best, best_len = None, -1
    try:
        lines = Path("/proc/self/mountinfo").read_bytes().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split(b" ")
        if len(fields) < 5:
            continue
        mnt = fields[4].replace(b"\\040", b" ").replace(b"\\011", b"\t").replace(b"\\012", b"\n") \
                       .replace(b"\\134", b"\\")
        inside = path == mnt or path.startswith(mnt.rstrip(b"/") + b"/")
        if inside and len(mnt) >= best_len:
            major, minor = fields[2].split(b":")
            best, best_len = kernel_dev(int(major), int(minor)), len(mnt)
    return best


class LiveSource:
    live = True

    def __init__(self, dirs: list[str | bytes], filters: Filters = Filters(), ringbuf_pages: int = 2048,
                 coalesce: bool = True, interval: float = 1.0, rate_limit: int = 100_000) -> None:
        self.filters = filters
        self.ringbuf_pages = ringbuf_pages
        self.coalesce = coalesce
        self.interval = interval
        self.rate_limit = rate_limit
        self.coalescer = Coalescer()
        self.proc_listeners: list = []   # called (worker thread) with every fork/exec/exit
        self._worker_done: Optional[threading.Event] = None
        self.debug = 0                   # -v level: 2 records kept, 3 every record, 4 maps
        self.log = lambda line: None
        self._gone: set[int] = set()     # exited processes whose counters are still in the map
        self.watch_set = Watches()
        self.procs = ProcessTable()
        self.decoder = Decoder(self.watch_set, all_types=lambda: self.filters.all_types)
        self.probes: Optional[loader.Probes] = None
        self._lock = threading.Lock()
        self._dirs = [canonical_dir(d) for d in dirs]
        self.records = 0
        self.filtered_out = 0

    # ---- lifecycle ---------------------------------------------------------------------

    def open(self) -> None:
        """Load and attach the probes and apply filters and watches. Raises loader.LoadError."""
        self.probes = loader.load(self.ringbuf_pages)
        self.set_filters(self.filters)
        self.set_watches(self._dirs)
        # The record's ctypes layout is BCC's rendering of struct sniff_event (via the scratch
        # map's value type): the C header stays the only definition.
        event_class = self.probes["scratch"].Leaf
        self._event_ptr = ctypes.POINTER(event_class)
        self._data_offset = event_class.data.offset
        self.probes["events"].open_ring_buffer(self._on_event)

    def close(self, timeout: float = 60.0) -> None:
        """Free the probes, once the worker (if any) has left BCC: freeing them under a
        running ring_buffer_poll crashes the process. A worker that does not finish in time
        keeps them; the kernel frees them when the process exits."""
        if self._worker_done is not None and not self._worker_done.wait(timeout):
            self.log("probe worker did not stop; leaving the probes to process exit")
            return
        if self.probes is not None:
            self.probes.close()
            self.probes = None

    def stop_and_drain(self) -> None:
        """Detach every program, then deliver what is still in the ring buffer and in the
        counters: nothing recorded is lost on the way out."""
        if self.probes is None:
            return
        self.probes.detach()
        self.probes.bpf.ring_buffer_consume()
        self.harvest(final=True)

    def __enter__(self) -> "LiveSource":
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- worker ------------------------------------------------------------------------

    def run(self, feed, stop: threading.Event) -> None:
        self._worker_done = threading.Event()
        try:
            self._run(feed, stop)
        finally:
            self._worker_done.set()

    def _run(self, feed, stop: threading.Event) -> None:
        if self.probes is None:     # closed before the worker got going
            return
        self._feed = feed
        bpf = self.probes.bpf
        next_harvest = time.monotonic() + self.interval
        self._refresh_stats()
        while not stop.is_set():
            bpf.ring_buffer_poll(100)
            if time.monotonic() >= next_harvest:
                self.harvest()
                self._refresh_stats()
                next_harvest = time.monotonic() + self.interval
        self.stop_and_drain()

    def _agg_entries(self):
        table = self.probes["agg"]
        try:
            items = table.items_lookup_batch()
        except Exception:  # kernels without batch map operations
            items = table.items()
        for k, v in items:
            op = abi.OP_NAMES.get(k.op)
            if op:
                yield (k.tgid, k.file, op), v.serial, v.count, v.bytes, self.decoder.wall(v.last_ts), v.tid

    def harvest(self, final: bool = False) -> None:
        """Emit what the counters gained since the last harvest; drop the counters of
        processes that are gone (all of them when final)."""
        if self.probes is None:
            return
        entries = list(self._agg_entries())
        gone = {key[0] for key, *_ in entries} if final else self._gone
        records, delete = self.coalescer.harvest(entries, gone)
        for rec in records:
            self._deliver(rec)
        table = self.probes["agg"]
        for tgid, file, op in delete:
            try:
                del table[table.Key(file=file, tgid=tgid, op=abi.OP_CODES[op])]
            except KeyError:
                pass
        live_tgids = {key[0] for key, *_ in entries}
        for tgid in list(self._gone):
            if tgid not in live_tgids or tgid in gone:
                self._gone.discard(tgid)
                self.coalescer.forget_process(tgid)

    def _on_event(self, _ctx, data, size) -> None:
        ev = ctypes.cast(data, self._event_ptr).contents
        raw = ctypes.string_at(data + self._data_offset, min(ev.data_len, size - self._data_offset))
        out = self.decoder.decode(ev, raw)
        if out is None:
            return
        if isinstance(out, ProcEvent):
            if out.op == "exit":
                self.procs.exit(out.pid)
                self._gone.add(out.pid)
            else:
                getattr(self.procs, out.op)(out.pid, out.ppid, out.comm)
            for listener in self.proc_listeners:
                listener(out)
            return
        if isinstance(out, Flush):
            rec = self.coalescer.flush(out.key, out.serial, out.count, out.bytes, out.ts)
            if rec is not None:
                self._deliver(rec)
            return
        if ev.flags & C["SNIFF_EV_AGG_NAME"]:
            self.coalescer.named((out.pid, ev.file, out.op), ev.serial, out)
        self.procs.seen(out.pid, out.ppid, out.comm)
        self._deliver(out)

    def _deliver(self, out: Record) -> None:
        if self.debug >= 3:
            self.log(f"record: {out.to_json()}")
        if not self.filters.matches(out, self.procs.is_descendant):
            self.filtered_out += 1
            return
        self.records += 1
        if self.debug >= 2:
            info = self.procs.info(out.pid)
            self.log(f"kept: {out.op} pid={out.pid} ppid={out.ppid} user={info.get('user', '')!r} "
                     f"cmdline={info.get('cmdline', '')!r} path={out.path!r}")
        self._feed.push(out)

    # ---- the probes API ----------------------------------------------------------------

    @property
    def watches(self) -> list[bytes]:
        return self.watch_set.paths()

    def _bump_scope_generation(self) -> None:
        table = self.probes["gens"]
        key = table.Key(C["SNIFF_GEN_USER"])
        table[key] = ctypes.c_uint64(table[key].value + 1)

    def set_filters(self, filters: Filters) -> None:
        previous, self.filters = self.filters, filters
        if self.probes is None:
            return
        if previous.all_types != filters.all_types:
            self._bump_scope_generation()    # cached verdicts depend on the type filter
        self._set_pidset(filters.tree)
        table = self.probes["config"]
        cfg = table.Leaf()
        cfg.self_tgid = os.getpid()
        cfg.ops_mask = abi.ops_mask(filters.ops)
        cfg.pid = filters.pid or 0
        cfg.uid = filters.uid if filters.uid is not None else 0xFFFFFFFF
        cfg.all_types = int(filters.all_types)
        cfg.use_pidset = int(filters.tree is not None)
        cfg.coalesce = int(self.coalesce)
        cfg.rate_limit = self.rate_limit
        exact = filters.comm is not None and not is_glob(filters.comm)
        cfg.use_comm = int(exact)
        if exact:
            cfg.comm = filters.comm.encode()[:C["SNIFF_COMM_LEN"] - 1]
        table[table.Key(0)] = cfg

    def _set_pidset(self, root: Optional[int]) -> None:
        """--tree: the root and its known descendants; the kernel adds children at fork."""
        table = self.probes["pidset"]
        table.clear()
        if root is None:
            return
        self.procs.refresh_children()
        for pid in self.procs.descendants(root):
            table[table.Key(pid)] = ctypes.c_uint8(1)

    def set_watches(self, dirs: list[str | bytes]) -> None:
        wanted = [canonical_dir(d) for d in dirs]
        with self._lock:
            table = self.probes["watched"] if self.probes else None
            for path in [p for p in self.watch_set.paths() if p not in wanted]:
                w = self.watch_set.remove(path)
                if table is not None and w is not None:
                    del table[table.Key(dev=w.kdev, pad=0, ino=w.ino)]
            for path in wanted:
                st = os.stat(path)
                kdev = mount_kdev(path)
                if kdev is None:
                    kdev = kernel_dev(os.major(st.st_dev), os.minor(st.st_dev))
                w = self.watch_set.add(path, kdev, st)
                if table is not None:
                    table[table.Key(dev=w.kdev, pad=0, ino=w.ino)] = ctypes.c_uint32(w.id)
            if table is not None:
                self._bump_scope_generation()

    def process_info(self, pid: int) -> dict:
        return self.procs.info(pid)

    def counters(self) -> dict[str, int]:
        table = self.probes["counters"]
        out = {}
        for name, slot in C.items():
            if name.startswith("SNIFF_CNT_") and name != "SNIFF_CNT_MAX":
                out[name[len("SNIFF_CNT_"):].lower()] = sum(table[table.Key(slot)])
        return out

    # Hash maps whose fill level matters (arrays are always full by construction).
    HEALTH_MAPS = ("watched", "pending", "rw_pending", "agg", "pidset")

    def program_fds(self) -> dict[str, int]:
        return {name.decode() if isinstance(name, bytes) else name: fn.fd
                for name, fn in self.probes.bpf.funcs.items()}

    def stats_dict(self) -> dict:
        """Everything --stats reports: map fill levels, loss counters, program costs."""
        from .selfcost import program_costs
        st = self.stats()
        counters = self.counters()
        return {
            "maps": {m.name: {"entries": m.entries, "max": m.max_entries,
                              "utilization": round(m.entries / m.max_entries, 4)} for m in st.maps},
            "counters": counters,
            "records": self.records,
            "filtered_out": self.filtered_out,
            "unnamed_counters": self.coalescer.unnamed,
            "programs": program_costs(self.program_fds()),
        }

    def dump_maps(self) -> dict:
        """-vvvv: the contents of the small maps (the big ones are summarized by size)."""
        out = {}
        for name in ("watched", "pidset"):
            out[name] = [(str(k), str(v)) for k, v in self.probes[name].items()]
        out["config"] = {f: getattr(self.probes["config"][0], f) for f, _ in
                         self.probes["config"].Leaf._fields_ if f != "comm"}
        return out

    def _refresh_stats(self) -> None:
        """Map sizes cost a syscall per entry: measured here, in the worker, once an interval,
        so that the UI thread's stats() is a read of the last snapshot."""
        self._stats_snapshot = self._measure_stats()

    def stats(self) -> SourceStats:
        snapshot = getattr(self, "_stats_snapshot", None)
        return snapshot if snapshot is not None else self._measure_stats()

    def _measure_stats(self) -> SourceStats:
        counters = self.counters()
        maps = []
        for name in self.HEALTH_MAPS:
            table = self.probes[name]
            maps.append(MapHealth(name, len(table), table.max_entries,
                                  evictions=counters["agg_full"] if name == "agg" else 0))
        return SourceStats(records=self.records, ringbuf_drops=counters["ringbuf_drops"],
                           truncated_paths=counters["truncated"], evictions=counters["agg_full"],
                           maps=maps)

