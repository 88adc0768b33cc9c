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
from .cgroups import CgroupResolver
from .layout import layout
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
        self.version = 0           # bumped on every change: cached placements are then stale

    def add(self, path: bytes, kdev: int, st: os.stat_result) -> Watch:
        for w in self.by_id.values():
            if (w.st_dev, w.ino) == (st.st_dev, st.st_ino):
                return w
        w = Watch(self._next, path, st.st_dev, st.st_ino, kdev)
        self._next += 1
        self.version += 1
        self.by_id[w.id] = w
        return w

    def remove(self, path: bytes) -> Optional[Watch]:
        for wid, w in list(self.by_id.items()):
            if w.path == path:
                self.version += 1
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
        self._real: dict[bytes, tuple[float, bytes]] = {}
        self._dirs: dict[bytes, tuple[float, int, Optional[tuple[Watch, bytes]]]] = {}

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

    def _realpath(self, path: bytes, now: float) -> bytes:
        # A storm of renames or failed opens in one directory resolves it once per ttl, not
        # once per record (realpath costs a syscall per component).
        hit = self._real.get(path)
        if hit and now - hit[0] < self.ttl:
            return hit[1]
        if len(self._real) > 4096:
            self._real.clear()
        real = os.path.realpath(path)
        self._real[path] = (now, real)
        return real

    def place(self, path: bytes) -> Optional[tuple[Watch, bytes]]:
        """(watch, canonical path under it) or None when out of scope."""
        for w in self.watches.by_id.values():
            if path == w.path:       # the watched directory itself (e.g. removed)
                return w, path
        parent, _, leaf = path.rpartition(b"/")
        now = time.monotonic()
        placed = self._place_dir(parent or b"/", now)
        if placed is None:
            return None
        w, rel = placed
        return w, join(w.path, join(rel, leaf) if rel else leaf)

    def _place_dir(self, directory: bytes, now: float) -> Optional[tuple[Watch, bytes]]:
        """(watch, the directory's path below it) or None. Cached per directory for ttl: a storm
        of renames or failed opens in one directory is placed once, not once per record."""
        hit = self._dirs.get(directory)
        if hit and now - hit[0] < self.ttl and hit[1] == self.watches.version:
            return hit[2]
        if len(self._dirs) > 4096:
            self._dirs.clear()
        ids = self.watches.by_identity()
        below: list[bytes] = []
        current = self._realpath(directory, now)
        placed = None
        while True:
            ident = self._identity(current, now)
            if ident is not None and ident in ids:
                placed = (ids[ident], b"/".join(reversed(below)))
                break
            if current == b"/":
                break
            current, _, name = current.rpartition(b"/")
            current = current or b"/"
            below.append(name)
        self._dirs[directory] = (now, self.watches.version, placed)
        return placed


@dataclass
class Named:
    """A record that names a coalescing counter (see probes/coalesce.py): the counter's first
    syscall (rename False; rec carries it), or a change of its path (rename True; rec is the
    new template and carries no syscall; count/bytes are the counter's totals before it).
    rec is None when the name lies outside every watched directory."""
    key: bytes            # the kernel's struct sniff_agg_key, as raw bytes
    tgid: int
    serial: int
    rec: Optional[Record]
    rename: bool = False
    count: int = 0
    bytes: int = 0


@dataclass
class ProcEvent:
    op: str               # fork exec exit
    pid: int
    ppid: int
    comm: bytes
    ts: float


_HEADER_FIELDS = ("ts", "ino", "ret", "op", "pid", "tid", "ppid", "uid", "fd", "dev", "count", "serial",
                  "cgroup", "key.tgid", "mode", "flags", "data_len", "comm",
                  "names.0.watch", "names.0.str_len", "names.0.walk_len", "names.0.flags",
                  "names.1.watch", "names.1.str_len", "names.1.walk_len", "names.1.flags")
_EVENT = layout("sniff_event")
_HEADER = _EVENT.reader(_HEADER_FIELDS)
_KEY_AT = _EVENT.offset("key.id")
_KEY_SIZE = layout("sniff_agg_key").size
_DATA_AT = _EVENT.offset("data")
_OP_NAMES = abi.OP_NAMES
_PROC_OPS = abi.PROC_OPS
_EV_AGG_NAME = C["SNIFF_EV_AGG_NAME"]
_EV_AGG_RENAME = C["SNIFF_EV_AGG_RENAME"]
_EV_DIR = C["SNIFF_EV_DIR"]
_NAME_TRUNCATED = C["SNIFF_NAME_TRUNCATED"]
_STR_TRUNCATED = C["SNIFF_NAME_STR_TRUNCATED"]
_AT_ROOT = C["SNIFF_NAME_AT_ROOT"]
_ERRNO = errno.errorcode


class _Name:
    """One sniff_name of a record, with its string and walk bytes."""
    __slots__ = ("watch", "flags", "string", "walk")

    def __init__(self, watch: int, flags: int, string: bytes, walk: bytes) -> None:
        self.watch, self.flags, self.string, self.walk = watch, flags, string, walk


class Decoder:
    """Turns one ring-buffer record (its bytes) into a Record, a Named, a ProcEvent, or None
    (out of scope, or not ours)."""

    def __init__(self, watches: Watches, all_types: Callable[[], bool] = lambda: False,
                 cgroups: Optional[CgroupResolver] = None) -> None:
        self.watches = watches
        self.cgroups = cgroups if cgroups is not None else CgroupResolver()
        # (cgroup id, pid) -> names, as one int (pids < 2**22): the flood path is one look-up.
        # Per pid because on a hybrid host a v1 hierarchy may name a process's container.
        self._cg: dict[int, tuple] = {}
        self.scope = ScopeResolver(watches)
        self.all_types = all_types
        # ktime (CLOCK_MONOTONIC) to Unix time, fixed at start.
        self.mono_offset = time.time() - time.clock_gettime(time.CLOCK_MONOTONIC)
        # The same file is named again and again under --no-coalesce: its reassembled path
        # is kept by (watch, walk bytes). Bounded: cleared when full.
        self._paths: dict[tuple, tuple] = {}
        self._paths_version = watches.version

    def wall(self, ktime_ns: int) -> float:
        return self.mono_offset + ktime_ns / 1e9

    def decode(self, buf, off: int = 0, length: Optional[int] = None):
        """buf[off:off+length] is one struct sniff_event as the kernel sent it (its data cut to
        data_len). Never raises on bad input: a record that does not parse is None."""
        if length is None:
            length = len(buf) - off
        if length < _DATA_AT:
            return None
        (ts, ino, ret, op, pid, tid, ppid, uid, fd, dev, count, serial, cgid, key_tgid, mode, flags,
         data_len, comm, w0, s0, k0, f0, w1, s1, k1, f1) = _HEADER.unpack_from(buf, off)
        if comm[-1] == 0:    # the kernel pads the name with NULs
            comm = comm[:comm.find(b"\0")]
        ts = self.mono_offset + ts / 1e9
        if op in _PROC_OPS:
            return ProcEvent(_PROC_OPS[op], pid, ppid, comm, ts)
        name = _OP_NAMES.get(op)
        if name is None:
            return None
        start = off + _DATA_AT
        end = start + min(data_len, length - _DATA_AT)
        if s0 == 0 and w0:
            # About an open file: placed by the kernel. The flood path: everything it needs
            # about the file (path, watch, type, device) is cached by its walk bytes.
            placed = self._place_walk(w0, f0, buf[start:min(end, start + k0)], mode, dev)
            if placed is None:
                return None
            path, watch, truncated, ftype, devtext = placed
            cgp, cgc, cgu = self._cg.get(cgid << 22 | pid) or self._cgroup(cgid, pid)
            rec = Record(ts, name, pid, tid, ppid, uid, comm, path, None,
                         ret if name == "read" or name == "write" else None, count,
                         fd if fd >= 0 else None, ftype, devtext, ino, truncated,
                         _ERRNO.get(-ret, str(-ret)) if ret < 0 else None, watch, cgp, cgc, cgu)
        else:
            data = bytes(buf[start:end])
            rec = Record(ts=ts, op=name, pid=pid, tid=tid, ppid=ppid, uid=uid, comm=comm, path=b"",
                         fd=fd if fd >= 0 else None, count=count)
            if ret < 0:
                rec.err = _ERRNO.get(-ret, str(-ret))
            n0 = _Name(w0, f0, data[:s0], data[s0:s0 + k0])
            rest = data[s0 + k0:]
            n1 = _Name(w1, f1, rest[:s1], rest[s1:s1 + k1])
            rec = self._named(rec, flags, n0, n1)
            if rec is not None:      # in scope: worth naming its cgroup
                rec.cgroup, rec.container, rec.unit = self._cg.get(cgid << 22 | pid) or self._cgroup(cgid, pid)
        if flags & (_EV_AGG_NAME | _EV_AGG_RENAME):
            key = bytes(buf[off + _KEY_AT:off + _KEY_AT + _KEY_SIZE])
            if flags & _EV_AGG_RENAME:
                return Named(key, key_tgid, serial, rec, True, count, ret)
            return Named(key, key_tgid, serial, rec)
        return rec

    def expire_cgroups(self, pid: int = 0) -> None:
        """A process exited (its pid may come back), or an interval passed (a process may have
        moved in a v1 hierarchy alone): names are looked up again (from the resolver's cache)."""
        if pid:
            self.cgroups.forget(pid)
        self._cg.clear()

    def _cgroup(self, cgid: int, pid: int) -> tuple:
        """(path, container, unit) of a record's cgroup; Nones when unknown (no cgroup v2, or a
        cgroup removed before we could name it)."""
        info = self.cgroups.lookup(cgid, pid)
        if info is None:
            if self.cgroups.available:
                return (None, None, None)      # not kept: the resolver decides when to look again
            info = (None, None, None)
        if len(self._cg) >= 16384:
            self._cg.clear()
        self._cg[cgid << 22 | pid] = info
        return info

    def _place_walk(self, watch: int, flags: int, walk: bytes, mode: int, dev: int):
        """(path, watch path, truncated, file type, device text) of a placed record, or None
        when its watch is gone (removed while the record was in flight)."""
        if self._paths_version != self.watches.version:
            self._paths.clear()
            self._paths_version = self.watches.version
        cache_key = (watch, walk, flags, mode, dev)
        hit = self._paths.get(cache_key)
        if hit is not None:
            return hit
        w = self.watches.by_id.get(watch)
        if w is None:
            return None
        if len(self._paths) >= 4096:
            self._paths.clear()
        hit = self._paths[cache_key] = (join(w.path, walk_components(walk)), w.path,
                                        bool(flags & _NAME_TRUNCATED), file_type(mode), dev_text(dev))
        return hit

    def _base(self, nm: _Name) -> Optional[bytes]:
        rel = walk_components(nm.walk)
        if nm.watch:
            w = self.watches.by_id.get(nm.watch)
            return join(w.path, rel) if w else None
        if nm.flags & _AT_ROOT:
            return b"/" + rel
        return None

    def _resolve(self, nm: _Name) -> tuple[Optional[bytes], bool]:
        truncated = bool(nm.flags & (_NAME_TRUNCATED | _STR_TRUNCATED))
        base = self._base(nm)
        if base is None:
            if nm.string.startswith(b"/"):
                base = b"/"
            else:
                return None, True
        # An absolute string was placed relative to the task's root, so joining is right for both.
        return normalize(join(base, nm.string)), truncated

    def _named(self, rec: Record, flags: int, n0: _Name, n1: _Name) -> Optional[Record]:
        old, trunc_old = self._resolve(n0)
        placed_old = self.scope.place(old) if old else None
        placed_new = None
        if rec.op == "rename":
            new, trunc_new = self._resolve(n1)
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
        rec.file_type = "dir" if flags & _EV_DIR else "file"
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
