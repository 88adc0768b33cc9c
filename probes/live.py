"""The live source: loaded probes, the ring-buffer worker, and the filter/watch/stats API that
the stream command and the dashboard call. Filters are BPF map updates: nothing is reloaded."""
from __future__ import annotations

import ctypes
import mmap
import os
import threading
import time
from typing import Optional

from . import abi, content, exclusions, loader
from .coalesce import Coalescer
from .decode import Decoder, Named, ProcEvent
from .selfcost import restore_abandoned
from .scope import Watches, kernel_dev
from .layout import check_against, layout
from .harvest import CounterHarvest
from .mapops import Guard
from .cgroups import load_cgset
from sniff_tui.core.filters import Filters, is_glob
from .proctable import ProcessTable
from .watchdirs import WatchError, canonical_dir, mount_kdev  # noqa: F401  (the probes API)
from sniff_tui.core.record import ContentRecord, MapHealth, Record, SourceStats
from .ringbuf import RingBuffer

C = abi.C


class LiveSource(content.ContentCapture):
    live = True
    BATCH = 4096                     # records consumed from the ring buffer per step

    def __init__(self, dirs: list[str | bytes], filters: Filters = Filters(), ringbuf_pages: int = 1024,
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
        self.watch_set = Watches()
        self.exclusions = exclusions.KernelExclusions(self.watch_set, self._bump_scope_generation)
        self.procs = ProcessTable()
        self.decoder = Decoder(self.watch_set, all_types=lambda: self.filters.all_types)
        self.decoder.on_dir_rename = self._dir_renamed
        self._dir_rename_seen = False
        self.probes: Optional[loader.Probes] = None
        self.ring: Optional[RingBuffer] = None
        self._lock = threading.Lock()
        self._cg_lock = threading.Lock()     # the UI's set_filters and the worker's refresh
        self._dirs = [canonical_dir(d) for d in dirs]
        self.records = self.filtered_out = 0
        self.truncated = 0               # delivered records whose path could not be completed
        self._out: list[Record] = []     # records of the step in progress
        self._harvest_asked, self._harvest_done = threading.Event(), threading.Event()
        self.stopped_at: Optional[float] = None   # monotonic time the probes were detached
        self._last_seen = 0              # pid of the last record (the process table knows it)
        self.use_cache = True            # --no-cache: compile, and keep nothing
        self.phased = True               # mmap, close_range, io_uring load after the rest

    # ---- lifecycle ---------------------------------------------------------------------

    def open(self) -> None:
        """Load and attach the probes and apply filters and watches. Raises loader.LoadError."""
        restore_abandoned()     # a run killed with bpf_stats switched on left it so
        self.probes = loader.load(self.ringbuf_pages, use_cache=self.use_cache, phased=self.phased,
                                  log=self.log if self.debug else None)
        self.counters_harvest = CounterHarvest(self.probes["agg"], self.coalescer, self.decoder.wall,
                                               self._deliver, self.interval, Guard.of(self.probes))
        problems = check_against(layout("sniff_event"), self.probes["scratch"].Leaf)
        if problems:
            self.close()
            raise loader.LoadError("record layout of sniff.h and the compiled program differ: "
                                   + "; ".join(problems[:3]))
        if self.debug:
            for line in self.probes.missing:
                self.log(line)
        self.set_filters(self.filters)
        self.set_watches(self._dirs)
        self.set_content(self.content_max)   # LoadError when --content cannot be had
        self.ring = RingBuffer(self.probes["events"].map_fd, self.ringbuf_pages * mmap.PAGESIZE)

    def close(self, timeout: float = 60.0) -> None:
        """Free the probes, once the worker (if any) is done with them. A worker that does not
        finish in time keeps them; the kernel frees them when the process exits."""
        if self._worker_done is not None and not self._worker_done.wait(timeout):
            self.log("probe worker did not stop; leaving the probes to process exit")
            return
        if self.ring is not None:
            self.ring.close()
            self.ring = None
        if self.probes is not None:
            self.probes.close()
            self.probes = None

    def __enter__(self) -> "LiveSource":
        return self.open() or self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- worker ------------------------------------------------------------------------

    # The ring buffer's reader before the work it watches, so that a machine whose cores are all
    # busy does not leave the ring to fill. Insurance: the soak's drops once blamed on the reader's
    # priority were the consumer position written in two steps (see ringbuf.py), and with that
    # fixed nice 0 and -10 both held the soak beside stress-ng without a drop. Linux applies a
    # thread id's nice value to that thread alone.
    READER_NICE = -10

    def run(self, feed, stop: threading.Event) -> None:
        self._worker_done = threading.Event()
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.READER_NICE)
        except OSError:
            pass         # not root (replays and tests of the source's API): the default priority
        try:
            self._run(feed, stop)
        finally:
            self._worker_done.set()

    def _run(self, feed, stop: threading.Event) -> None:
        if self.probes is None:     # closed before the worker got going
            return
        self._feed = feed
        next_harvest = time.monotonic() + self.interval
        self._refresh_stats()
        ring = self.ring
        while not stop.is_set():
            ring.wait(0.05)
            while not stop.is_set() and ring.consume(self._on_record, self.BATCH):
                self._deliver_step()
                if time.monotonic() >= next_harvest:
                    break
            self._deliver_step()
            if time.monotonic() >= next_harvest or self._harvest_asked.is_set():
                asked = self._harvest_asked.is_set()
                self.harvest()
                self._deliver_step()
                self._refresh_stats()
                self.decoder.expire_cgroups()
                if self.filters.container is not None or self.filters.unit is not None:
                    self._refresh_cgset()    # a container started, a unit restarted
                next_harvest = time.monotonic() + self.interval
                if asked:
                    self._harvest_asked.clear()
                    self._harvest_done.set()
        self.stop_and_drain()

    def warnings(self) -> tuple[int, list[tuple[int, str]]]:
        return 0, []      # what the kernel could not deliver is in stats(), counted

    def detach(self) -> None:
        """Stop the probes from taking anything new; what they took stays to be delivered.
        Safe from any thread (a signal handler calls it), and more than once."""
        with self._lock:
            if self.probes is not None and self.stopped_at is None:
                self.probes.detach()
                self.stopped_at = time.monotonic()

    def stop_and_drain(self) -> None:
        """Detach every program first (nothing new is taken after a stop), then deliver what
        the ring buffer and the counters still hold: nothing recorded is lost on the way out."""
        if self.probes is None:
            return
        self.detach()
        while self.ring.consume(self._on_record, self.BATCH):
            self._deliver_step()
        self._deliver_step()
        self.harvest(final=True)
        self._deliver_step()
        self._refresh_stats()

    def harvest_now(self, timeout: float = 10.0) -> bool:
        """Ask the worker for a harvest and wait until it is delivered (tests, exports)."""
        self._harvest_done.clear()
        self._harvest_asked.set()
        return self._harvest_done.wait(timeout)

    def _deliver_step(self) -> None:
        if self._dir_rename_seen:    # once per step, not once per rename (two syscalls each)
            self._dir_rename_seen = False
            self._bump_scope_generation()
        out, self._out = self._out, []
        if out:
            self._feed.push_many(out)

    def harvest(self, final: bool = False) -> None:
        """Emit what the counters gained since the last harvest (see probes/harvest.py)."""
        if self.probes is not None:
            self.counters_harvest.harvest(final)

    def _on_record(self, buf, off: int, length: int) -> None:
        out = self.decoder.decode(buf, off, length)
        if out is None:
            return
        cls = out.__class__
        if cls is Record:
            if out.pid != self._last_seen:
                self._last_seen = out.pid
                self.procs.seen(out.pid, out.ppid, out.comm)
            self._deliver(out)
        elif cls is Named:
            self._on_named(out)
        elif cls is ContentRecord:
            self._on_content(out)
        elif cls is ProcEvent:
            if out.op == "exit":
                self.procs.exit(out.pid)
                self.decoder.expire_cgroups(out.pid)
                self.counters_harvest.process_exited(out.pid)
            else:
                getattr(self.procs, out.op)(out.pid, out.ppid, out.comm)
            for listener in self.proc_listeners:
                listener(out)

    def _on_named(self, named: Named) -> None:
        rec = named.rec
        if named.rename:
            before = self.coalescer.renamed(named.key, named.serial, rec, named.count, named.bytes,
                                            rec.ts if rec is not None else time.time())
            if before is not None:
                self._deliver(before)
            return
        self.coalescer.named(named.key, named.tgid, named.serial, rec)
        if rec is not None:
            self.procs.seen(rec.pid, rec.ppid, rec.comm)
            self._deliver(rec)

    def _deliver(self, out: Record) -> None:
        if self.debug >= 3:
            self.log(f"record: {out.to_json()}")
        f = self.filters
        # The kernel applied ops, pid, uid, exact comm, tree, types, excluded dirs; only what it
        # cannot (globs, exclusions, text, path names) and counters older than a filter need more.
        if (f.pid is not None and out.pid != f.pid) or out.op not in f.ops or (
                f.comm is not None or f.exclude_comm or f.text or f.tree is not None or f.uid is not None
                or f.by_cgroup or f.by_path) and not f.matches(out, self.procs.is_descendant):
            self.filtered_out += 1
            self.exclusions.seen(out)    # a directory made since the start: into the kernel
            return
        self.records += 1
        if out.truncated:
            self.truncated += 1
        if self.debug >= 2:
            info = self.procs.info(out.pid)
            self.log(f"kept: {out.op} pid={out.pid} ppid={out.ppid} user={info.get('user', '')!r} "
                     f"cmdline={info.get('cmdline', '')!r} path={out.path!r}")
        self._keep(out)       # content.ContentCapture: the bases of diffs

    # ---- the probes API ----------------------------------------------------------------

    @property
    def watches(self) -> list[bytes]:
        return self.watch_set.paths()

    def _dir_renamed(self) -> None:
        self._dir_rename_seen = True

    def _bump_scope_generation(self) -> None:
        table = self.probes["gens"]
        key = table.Key(C["SNIFF_GEN_USER"])
        table[key] = ctypes.c_uint64(table[key].value + 1)

    def set_filters(self, filters: Filters) -> None:
        with self._cg_lock:
            self._set_filters(filters)

    def _refresh_cgset(self) -> None:
        with self._cg_lock:
            table = self.probes["config"]
            cfg = table[table.Key(0)]
            load_cgset(self.probes["cgset"], cfg, self._cg_targets(self.filters))
            table[table.Key(0)] = cfg

    def _set_filters(self, filters: Filters) -> None:
        targets = self._cg_targets(filters) if self.probes is not None else None  # may refuse
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
        load_cgset(self.probes["cgset"], cfg, targets)
        table[table.Key(0)] = cfg
        self.exclusions.sync(self.probes["watched"], filters.rules if filters.by_path else None)

    def _cg_targets(self, filters: Filters):
        targets = self.decoder.cgroups.targets(filters.cgroup, filters.container, filters.unit)
        return targets if self.probes.cgroup_filter else None   # else userspace decides

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
                # Paths are relative to the watches: named by identity, they would be stale.
                self.probes["announced"].clear()
                self.decoder.forget_paths()

    def process_info(self, pid: int) -> dict:
        return self.procs.info(pid)

    def counters(self) -> dict[str, int]:
        table = self.probes["counters"]
        out = {}
        for name, slot in C.items():
            if name.startswith("SNIFF_CNT_") and name != "SNIFF_CNT_MAX":
                out[name[len("SNIFF_CNT_"):].lower()] = sum(table[table.Key(slot)])
        guard = self.counters_harvest.taker.guard
        # a take that stopped waiting for the kernel's adds (not expected): one may be missing
        out["take_waits_over"] = guard.waits_over if guard else 0
        return {**out, **content.counters(self.probes)}

    # Hash maps whose fill level matters (arrays are always full by construction).
    HEALTH_MAPS = ("watched", "pending", "rw_pending", "agg", "pidset", "cgset")

    def stats_dict(self, programs: bool = True) -> dict:
        """Everything --stats reports, as the stats line kind (record.SourceStats): map fill
        levels, losses, and (programs) the probes' cost."""
        from .selfcost import program_costs
        stats = self._measure_stats()
        if programs:
            stats.programs = program_costs(dict(self.probes.programs))
        return stats.to_dict()

    def dump_maps(self) -> dict:
        """-vvvv: the contents of the small maps (the big ones are summarized by size)."""
        out = {name: [(str(k), str(v)) for k, v in self.probes[name].items()] for name in ("watched", "pidset")}
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
            # The counter map can hold tens of thousands of entries: counted during the harvest
            # (one batch read) rather than one syscall per entry here.
            entries = self.counters_harvest.entries_seen if name == "agg" else len(table)
            maps.append(MapHealth(name, entries, table.max_entries,
                                  evictions=counters["agg_full"] if name == "agg" else 0))
        feed = getattr(self, "_feed", None)
        return SourceStats(records=self.records, ringbuf_drops=counters["ringbuf_drops"],
                           lost_calls=counters["lost_calls"], proc_drops=counters["proc_drops"],
                           name_drops=counters["name_drops"], truncated_paths=self.truncated,
                           evictions=counters["agg_full"], unplaced=counters["unplaced"],
                           feed_dropped=feed.dropped if feed is not None else 0,
                           filtered_out=self.filtered_out, ns_unresolved=self.decoder.ns_unresolved,
                           unnamed=self.decoder.paths_by_id.unnamed, loading=list(self.probes.loading),
                           missing=[*self.probes.missing, *self.probes.late],
                           maps=maps, counters=counters, **content.stats_fields(counters, self.decoder))
