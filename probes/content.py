"""Content capture (--content): the kernel's struct sniff_content records turned into
ContentRecords, and the capture's settings and counters in the kernel's maps.

A content record names its file by identity (device, inode, path hash), as close_range's do:
the write it belongs to went out just before it, named in full (its counter's first record, or
one sent since), and the decoder keeps those paths (PathsById). Only regular files under the
watched directories are captured; the kernel decides that before copying anything.
"""
from __future__ import annotations

import ctypes
import time
from typing import Optional

from . import abi
from .layout import layout
from sniff_tui.core.record import ContentRecord

C = abi.C
OP = C["SNIFF_OP_CONTENT"]
MAX = C["SNIFF_CONTENT_MAX"]           # --content-max's ceiling
DEFAULT_MAX = 4096
_LAYOUT = layout("sniff_content")
_HEADER = _LAYOUT.reader(("ts", "ino", "ret", "op", "pid", "tid", "uid", "offset", "cgroup",
                          "path_hash", "dev", "fd", "data_len", "mode", "flags", "comm"))
DATA_AT = _LAYOUT.offset("data")
COUNTERS = {name[len("SNIFF_CC_"):].lower(): slot for name, slot in C.items()
            if name.startswith("SNIFF_CC_") and name != "SNIFF_CC_MAX"}


def decode(decoder, buf, off: int, length: int) -> Optional[ContentRecord]:
    """A ContentRecord from buf[off:off+length], or None (malformed, or a file whose path is not
    known: counted in decoder.content_unnamed)."""
    if length < DATA_AT:
        return None
    (ts, ino, ret, op, pid, tid, uid, offset, cgid, path_hash, dev, fd, data_len, mode, flags,
     comm) = _HEADER.unpack_from(buf, off)
    if op != OP or ret < 0:
        return None
    placed = decoder.paths_by_id.place(dev, ino, path_hash, 0)
    if placed is None:
        decoder.content_unnamed += 1
        return None
    if comm[-1] == 0:
        comm = comm[:comm.find(b"\0")]
    n = min(data_len, length - DATA_AT, ret)
    data = bytes(buf[off + DATA_AT:off + DATA_AT + n])
    cgroup, container, unit = decoder._cg.get(cgid << 22 | pid) or decoder._cgroup(cgid, pid)
    return ContentRecord(decoder.wall(ts), pid, tid, comm, placed[0], offset, ret, data,
                         n < ret, cgroup, container, unit, uid=uid)


BASE_MAX = 1 << 20                     # bytes of a file read as the base of its diffs
BASES_HELD = 64 << 20                  # bases read and not yet sent, in all


class ContentCapture:
    """LiveSource's content capture: switched on and off in the kernel, records filtered, and
    the base of each file's diffs: its content when first seen opened, read then, and sent
    (a content line with base) only before the first write or rename over it, so that files
    that are only read never reach the output."""
    content_max = 0      # bytes copied per write (0: no capture); set before open() or after
    _bases: Optional[dict] = None      # path -> the base read and not yet sent
    _bases_read: Optional[set] = None  # paths read once already
    _bases_bytes = 0

    def set_content(self, max_bytes: int) -> None:
        """Capture on (bytes copied per write) or off (0), without reloading. LoadError when
        asked for on a kernel that refused capture_write (the probes are closed)."""
        from .loader import LoadError
        self.content_max = max_bytes
        if max_bytes and self.probes is not None and not self.probes.content:
            why = next((m for m in self.probes.missing if "content" in m), "capture is not available")
            self.close()
            raise LoadError(f"--content: {why}")
        configure(self.probes, max_bytes)

    def _on_content(self, rec: ContentRecord) -> None:
        if self.filters.matches_content(rec, self.procs.is_descendant):
            self._send_base(rec.path)
            self._out.append(rec)    # kept with the writes, in the kernel's order
        else:
            self.filtered_out += 1

    def _keep(self, rec) -> None:
        """A counted record on its way out (LiveSource._deliver)."""
        if self.content_max:
            if rec.op == "open" and rec.err is None and rec.file_type == "file":
                self._read_base(rec)
            elif rec.op == "rename" and rec.new_path is not None:
                self._send_base(rec.new_path)
        self._out.append(rec)

    def _read_base(self, opened) -> None:
        if self._bases is None:
            self._bases, self._bases_read = {}, set()
        if opened.path in self._bases_read:
            return
        if len(self._bases_read) >= 65536:
            self._bases_read.clear()
        self._bases_read.add(opened.path)
        try:
            with open(opened.path, "rb") as fh:
                data = fh.read(BASE_MAX + 1)
        except OSError:
            return
        ts = self.decoder.wall(time.clock_gettime_ns(time.CLOCK_MONOTONIC))
        base = ContentRecord(ts, opened.pid, opened.tid, opened.comm, opened.path, 0, len(data),
                             data[:BASE_MAX], len(data) > BASE_MAX, opened.cgroup, opened.container,
                             opened.unit, base=True, uid=opened.uid)
        self._bases[opened.path] = base
        self._bases_bytes += len(base.data)
        while self._bases_bytes > BASES_HELD:
            oldest = self._bases.pop(next(iter(self._bases)))
            self._bases_bytes -= len(oldest.data)

    def _send_base(self, path: bytes) -> None:
        base = self._bases.pop(path, None) if self._bases else None
        if base is not None:
            self._bases_bytes -= len(base.data)
            self._out.append(base)


def configure(probes, max_bytes: int) -> None:
    """Capture on (max_bytes > 0: bytes copied per write) or off (0)."""
    if probes is None or not probes.content:
        return
    table = probes["content_cfg"]
    cfg = table.Leaf()
    cfg.on = int(max_bytes > 0)
    cfg.max = min(max(max_bytes, 0), MAX)
    table[table.Key(0)] = cfg


def counters(probes) -> dict[str, int]:
    """The capture's kernel counters, as content_<name>."""
    if not probes.content:
        return {}
    table = probes["content_counters"]
    return {f"content_{name}": sum(table[ctypes.c_int(slot)]) for name, slot in COUNTERS.items()}


def stats_fields(counters: dict[str, int], decoder) -> dict[str, int]:
    """SourceStats' content fields."""
    return {"content_drops": counters.get("content_drops", 0),
            "content_lost_bytes": counters.get("content_dropped_bytes", 0),
            "content_unnamed": decoder.content_unnamed}


def without_content(batch: list) -> list:
    """The batch without captured writes: what counts (metrics) takes only counted records."""
    if not any(r.__class__ is ContentRecord for r in batch):
        return batch
    return [r for r in batch if r.__class__ is not ContentRecord]
