"""From kernel records to Records: names reassembled, string paths resolved, scope decided.

A record about an open file arrives already placed: the kernel walked the struct file's dentry
chain up to a watched directory, so its path is that directory's canonical path plus the names
below it. A record about a path the process passed as a string (failed open, unlink, rename,
truncate) arrives as the string plus the directory it is relative to, placed the same way; here
the two are joined, symlinks in the directory part resolved, and scope decided by comparing the
(device, inode) of the directory's ancestors with the watched directories', as the kernel does.
"""
from __future__ import annotations

import errno
import os
import stat
import time
from dataclasses import dataclass
from typing import Callable, Optional

from . import abi
from .record import Record

C = abi.C
_TYPE_NAMES = {
    stat.S_IFREG: "file", stat.S_IFDIR: "dir", stat.S_IFIFO: "fifo", stat.S_IFSOCK: "socket",
    stat.S_IFCHR: "chr", stat.S_IFBLK: "blk", stat.S_IFLNK: "symlink",
}


def file_type(mode: int) -> str:
    return _TYPE_NAMES.get(stat.S_IFMT(mode), "unknown")


def kernel_dev(major: int, minor: int) -> int:
    """The kernel's internal dev_t (what super_block.s_dev holds)."""
    return (major << 20) | minor


def dev_text(kdev: int) -> str:
    return f"{kdev >> 20}:{kdev & 0xFFFFF}"


@dataclass(frozen=True)
class Watch:
    id: int
    path: bytes            # canonical (symlinks resolved)
    st_dev: int            # as stat() reports it
    ino: int
    kdev: int              # as the kernel's super_block reports it


class Watches:
    """The watched directories, by id (the kernel's map value) and by identity."""

    def __init__(self) -> None:
        self.by_id: dict[int, Watch] = {}
        self._next = 1

    def add(self, path: bytes, kdev: int, st: os.stat_result) -> Watch:
        for w in self.by_id.values():
            if (w.st_dev, w.ino) == (st.st_dev, st.st_ino):
                return w
        w = Watch(self._next, path, st.st_dev, st.st_ino, kdev)
        self._next += 1
        self.by_id[w.id] = w
        return w

    def remove(self, path: bytes) -> Optional[Watch]:
        for wid, w in list(self.by_id.items()):
            if w.path == path:
                return self.by_id.pop(wid)
        return None

    def paths(self) -> list[bytes]:
        return [w.path for w in self.by_id.values()]

    def by_identity(self) -> dict[tuple[int, int], Watch]:
        return {(w.st_dev, w.ino): w for w in self.by_id.values()}


def join(base: bytes, rel: bytes) -> bytes:
    if not rel:
        return base
    return base.rstrip(b"/") + b"/" + rel if base != b"/" else b"/" + rel


def walk_components(walk: bytes) -> bytes:
    """Leaf-first NUL-terminated names -> 'a/b/c' (root-first)."""
    names = walk.split(b"\0")[:-1]
    return b"/".join(reversed(names))


def normalize(path: bytes) -> bytes:
    """Lexical clean-up ('.', '..', '//') of an absolute path."""
    out: list[bytes] = []
    for part in path.split(b"/"):
        if part in (b"", b"."):
            continue
        if part == b"..":
            if out:
                out.pop()
            continue
        out.append(part)
    return b"/" + b"/".join(out)


class ScopeResolver:
    """Decides whether a path given as a string lies under a watched directory, by identity.

    Directory identities are cached briefly: a burst of failed opens in one directory (an
    import search, say) costs one stat per ancestor, not one per record."""

    def __init__(self, watches: Watches, ttl: float = 1.0) -> None:
        self.watches = watches
        self.ttl = ttl
        self._cache: dict[bytes, tuple[float, Optional[tuple[int, int]]]] = {}

    def _identity(self, path: bytes, now: float) -> Optional[tuple[int, int]]:
        hit = self._cache.get(path)
        if hit and now - hit[0] < self.ttl:
            return hit[1]
        try:
            st = os.stat(path)
            ident = (st.st_dev, st.st_ino)
        except OSError:
            ident = None
        if len(self._cache) > 4096:
            self._cache.clear()
        self._cache[path] = (now, ident)
        return ident

    def place(self, path: bytes) -> Optional[tuple[Watch, bytes]]:
        """(watch, canonical path under it) or None when out of scope."""
        for w in self.watches.by_id.values():
            if path == w.path:       # the watched directory itself (e.g. removed)
                return w, path
        parent, _, leaf = path.rpartition(b"/")
        real_parent = os.path.realpath(parent or b"/")
        ids = self.watches.by_identity()
        now = time.monotonic()
        below: list[bytes] = [leaf] if leaf else []
        current = real_parent
        while True:
            ident = self._identity(current, now)
            if ident is not None and ident in ids:
                w = ids[ident]
                return w, join(w.path, b"/".join(reversed(below)))
            if current == b"/":
                return None
            current, _, name = current.rpartition(b"/")
            current = current or b"/"
            below.append(name)


@dataclass
class Flush:
    """A coalescing counter's final totals (see probes/coalesce.py)."""
    key: tuple[int, int, str]
    serial: int
    count: int
    bytes: int
    ts: float


@dataclass
class ProcEvent:
    op: str               # fork exec exit
    pid: int
    ppid: int
    comm: bytes
    ts: float


class Decoder:
    """Turns one ring-buffer record (BCC ctypes view + its size) into a Record, a ProcEvent, or
    None (out of scope)."""

    def __init__(self, watches: Watches, all_types: Callable[[], bool] = lambda: False) -> None:
        self.watches = watches
        self.scope = ScopeResolver(watches)
        self.all_types = all_types
        # ktime (CLOCK_MONOTONIC) to Unix time, fixed at start.
        self.mono_offset = time.time() - time.clock_gettime(time.CLOCK_MONOTONIC)

    def wall(self, ktime_ns: int) -> float:
        return self.mono_offset + ktime_ns / 1e9

    def decode(self, ev, data: bytes) -> Optional[Record | ProcEvent | Flush]:
        op = ev.op
        ts = self.wall(ev.ts)
        comm = bytes(ev.comm).split(b"\0", 1)[0]
        if op in abi.PROC_OPS:
            return ProcEvent(abi.PROC_OPS[op], ev.pid, ev.ppid, comm, ts)
        name = abi.OP_NAMES.get(op)
        if name is None:
            return None
        if ev.flags & C["SNIFF_EV_FLUSH"]:
            return Flush((ev.pid, ev.file, name), ev.serial, ev.count, ev.ret, ts)
        names = [ev.names[0], ev.names[1]]
        parts = self._split(names, data)
        rec = Record(ts=ts, op=name, pid=ev.pid, tid=ev.tid, ppid=ev.ppid, uid=ev.uid, comm=comm,
                     path=b"", fd=ev.fd if ev.fd >= 0 else None)
        if ev.ret < 0:
            rec.err = errno.errorcode.get(-ev.ret, str(-ev.ret))
        if names[0].str_len == 0 and names[0].watch:
            # About an open file: placed by the kernel.
            w = self.watches.by_id.get(names[0].watch)
            if w is None:
                return None      # a watch removed while this record was in flight
            rec.path = join(w.path, walk_components(parts[0][1]))
            rec.watch = w.path
            rec.truncated = bool(names[0].flags & C["SNIFF_NAME_TRUNCATED"])
            rec.file_type = file_type(ev.mode)
            rec.dev, rec.ino = dev_text(ev.dev), ev.ino
            if name in ("read", "write"):
                rec.bytes = ev.ret
                rec.count = ev.count
            return rec
        return self._named(rec, ev, names, parts)

    @staticmethod
    def _split(names, data: bytes) -> list[tuple[bytes, bytes]]:
        out, pos = [], 0
        for nm in names:
            s = data[pos:pos + nm.str_len]
            pos += nm.str_len
            w = data[pos:pos + nm.walk_len]
            pos += nm.walk_len
            out.append((s, w))
        return out

    def _base(self, nm, walk: bytes) -> Optional[bytes]:
        rel = walk_components(walk)
        if nm.watch:
            w = self.watches.by_id.get(nm.watch)
            return join(w.path, rel) if w else None
        if nm.flags & C["SNIFF_NAME_AT_ROOT"]:
            return b"/" + rel
        return None

    def _resolve(self, nm, part: tuple[bytes, bytes]) -> tuple[Optional[bytes], bool]:
        string, walk = part
        truncated = bool(nm.flags & (C["SNIFF_NAME_TRUNCATED"] | C["SNIFF_NAME_STR_TRUNCATED"]))
        base = self._base(nm, walk)
        if base is None:
            if string.startswith(b"/"):
                base = b"/"
            else:
                return None, True
        # An absolute string was placed relative to the task's root, so joining is right for both.
        return normalize(join(base, string)), truncated

    def _named(self, rec: Record, ev, names, parts) -> Optional[Record]:
        old, trunc_old = self._resolve(names[0], parts[0])
        placed_old = self.scope.place(old) if old else None
        placed_new = None
        if rec.op == "rename":
            new, trunc_new = self._resolve(names[1], parts[1])
            placed_new = self.scope.place(new) if new else None
            if placed_old is None and placed_new is None:
                return None
            rec.path = placed_old[1] if placed_old else old or b""
            rec.new_path = placed_new[1] if placed_new else new
            rec.watch = (placed_old or placed_new)[0].path
            rec.truncated = trunc_old or trunc_new
            if not rec.err and rec.new_path:
                self._stat_into(rec, rec.new_path)
            if rec.file_type not in ("file", "dir") and not self.all_types():
                return None
            return rec
        if placed_old is None:
            return None
        rec.watch, rec.path = placed_old[0].path, placed_old[1]
        rec.truncated = trunc_old
        rec.file_type = "dir" if ev.flags & C["SNIFF_EV_DIR"] else "file"
        return rec

    @staticmethod
    def _stat_into(rec: Record, path: bytes) -> None:
        try:
            st = os.lstat(path)
        except OSError:
            return
        rec.file_type = file_type(st.st_mode)
        rec.dev = dev_text(kernel_dev(os.major(st.st_dev), os.minor(st.st_dev)))
        rec.ino = st.st_ino
