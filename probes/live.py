"""The live source: loaded probes, the ring-buffer worker, and the filter/watch/stats API that
the stream command and the dashboard call. Filters are BPF map updates: nothing is reloaded."""
from __future__ import annotations

import ctypes
import os
import threading
from pathlib import Path
from typing import Optional

from . import abi, loader
from .decode import Decoder, ProcEvent, Watches, kernel_dev
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
    if not os.path.exists(real):
        raise WatchError(f"{shown}: no such directory")
    if not os.path.isdir(real):
        raise WatchError(f"{shown}: not a directory")
    if not os.access(real, os.R_OK | os.X_OK):
        raise WatchError(f"{shown}: cannot read this directory")
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

    def __init__(self, dirs: list[str | bytes], filters: Filters = Filters(), ringbuf_pages: int = 2048) -> None:
        self.filters = filters
        self.ringbuf_pages = ringbuf_pages
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

    def close(self) -> None:
        if self.probes is not None:
            self.probes.close()
            self.probes = None

    def __enter__(self) -> "LiveSource":
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- worker ------------------------------------------------------------------------

    def run(self, feed, stop: threading.Event) -> None:
        self._feed = feed
        bpf = self.probes.bpf
        while not stop.is_set():
            bpf.ring_buffer_poll(100)
        bpf.ring_buffer_consume()    # what the kernel handed over before we were told to stop

    def _on_event(self, _ctx, data, size) -> None:
        ev = ctypes.cast(data, self._event_ptr).contents
        raw = ctypes.string_at(data + self._data_offset, min(ev.data_len, size - self._data_offset))
        out = self.decoder.decode(ev, raw)
        if out is None:
            return
        if isinstance(out, ProcEvent):
            getattr(self.procs, out.op)(out.pid, out.ppid, out.comm) if out.op != "exit" \
                else self.procs.exit(out.pid)
            return
        self.procs.seen(out.pid, out.ppid, out.comm)
        if not self.filters.matches(out, self.procs.is_descendant):
            self.filtered_out += 1
            return
        self.records += 1
        self._feed.push(out)

    # ---- the probes API ----------------------------------------------------------------

    @property
    def watches(self) -> list[bytes]:
        return self.watch_set.paths()

    def set_filters(self, filters: Filters) -> None:
        self.filters = filters
        if self.probes is None:
            return
        table = self.probes["config"]
        cfg = table.Leaf()
        cfg.self_tgid = os.getpid()
        cfg.ops_mask = abi.ops_mask(filters.ops)
        cfg.pid = filters.pid or 0
        cfg.uid = filters.uid if filters.uid is not None else 0xFFFFFFFF
        cfg.all_types = int(filters.all_types)
        exact = filters.comm is not None and not is_glob(filters.comm)
        cfg.use_comm = int(exact)
        if exact:
            name = filters.comm.encode()[:C["SNIFF_COMM_LEN"] - 1]
            ctypes.memmove(ctypes.addressof(cfg.comm), name, len(name))
        table[table.Key(0)] = cfg

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

    def process_info(self, pid: int) -> dict:
        return self.procs.info(pid)

    def counters(self) -> dict[str, int]:
        table = self.probes["counters"]
        out = {}
        for name, slot in C.items():
            if name.startswith("SNIFF_CNT_") and name != "SNIFF_CNT_MAX":
                out[name[len("SNIFF_CNT_"):].lower()] = sum(table[table.Key(slot)])
        return out

    def stats(self) -> SourceStats:
        counters = self.counters()
        maps = []
        for name in ("watched", "pending"):
            table = self.probes[name]
            maps.append(MapHealth(name, len(table), table.max_entries))
        return SourceStats(records=self.records, ringbuf_drops=counters["ringbuf_drops"],
                           truncated_paths=counters["truncated"], maps=maps)

