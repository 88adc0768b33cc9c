"""Content capture (--content): the kernel's struct sniff_content records turned into
ContentRecords, and the capture's settings and counters in the kernel's maps.

A content record names its file by identity (device, inode, path hash), as close_range's do:
the write it belongs to went out just before it, named in full (its counter's first record, or
one sent since), and the decoder keeps those paths (PathsById). Only regular files under the
watched directories are captured; the kernel decides that before copying anything.
"""
from __future__ import annotations

import ctypes
from typing import Optional

from . import abi
from .layout import layout
from .record import ContentRecord

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
    cgroup, container, unit = decoder._cgroup(cgid, pid)
    return ContentRecord(decoder.wall(ts), pid, tid, comm, placed[0], offset, ret, data,
                         n < ret, cgroup, container, unit, uid=uid)


class ContentCapture:
    """LiveSource's content capture: switched on and off in the kernel, records filtered."""
    content_max = 0      # bytes copied per write (0: no capture); set before open() or after

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
            self._out.append(rec)    # kept with the writes, in the kernel's order
        else:
            self.filtered_out += 1


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
