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
import time
from dataclasses import dataclass
from typing import Callable, Optional

from . import abi, content
from .cgroups import CgroupResolver
from .layout import layout
from .opargs import put_args as _put_args
from .pathcache import PathsById
from sniff_tui.core.record import Record
from .scope import ScopeResolver, Watches, dev_text, file_type, join, kernel_dev, normalize, walk_components

C = abi.C
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


_HEADER_FIELDS = ("ts", "ino", "ret", "op", "pid", "tid", "ppid", "uid", "fd", "dev", "mntns", "count", "serial",
                  "cgroup", "path_hash", "key.tgid", "mode", "flags", "data_len", "comm",
                  "names.0.watch", "names.0.str_len", "names.0.walk_len", "names.0.flags",
                  "names.1.watch", "names.1.str_len", "names.1.walk_len", "names.1.flags")
_EVENT = layout("sniff_event")
_HEADER = _EVENT.reader(_HEADER_FIELDS)
_KEY_AT = _EVENT.offset("key.id")
_KEY_SIZE = layout("sniff_agg_key").size
_DATA_AT = _EVENT.offset("data")
_ARGS = _EVENT.reader(("args.off", "args.len", "args.how"))
_OP_NAMES = abi.OP_NAMES
_OP_CONTENT = C["SNIFF_OP_CONTENT"]
_OP_AT = _EVENT.offset("op")       # struct sniff_content's op sits here too
# Ops whose result is bytes moved (mmap_write: the pages'), ops that carry struct sniff_args.
_RET_IS_BYTES = frozenset(("read", "write", "mmap_write"))
_ARG_OPS = frozenset(("mmap", "fallocate", "truncate"))
_PROC_OPS = abi.PROC_OPS
_EV_AGG_NAME = C["SNIFF_EV_AGG_NAME"]
_EV_AGG_RENAME = C["SNIFF_EV_AGG_RENAME"]
_EV_DIR = C["SNIFF_EV_DIR"]
_EV_NAME_BY_ID = C["SNIFF_EV_NAME_BY_ID"]
_BY_ID_MAX = 4 * C["SNIFF_ANNOUNCED_MAX"]
_EV_URING = C["SNIFF_EV_URING"]
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
        self._names: dict[tuple, tuple] = {}      # see _place_name
        self._names_ttl = self.scope.ttl
        self.all_types = all_types
        # ktime (CLOCK_MONOTONIC) to Unix time, fixed at start.
        self.mono_offset = time.time() - time.clock_gettime(time.CLOCK_MONOTONIC)
        # The same file is named again and again under --no-coalesce: its reassembled path
        # is kept by (watch, walk bytes). Bounded: cleared when full.
        self._paths: dict[tuple, tuple] = {}
        self._paths_version = watches.version
        # Processes in another mount namespace (containers): their names resolve through
        # /proc/PID/root (see _root_of). The kernel says which namespace; ours is compared by
        # the nsfs inode number, which is what it sends.
        self._roots: dict[int, tuple[float, bytes]] = {}     # by pid << 32 | mntns
        try:
            self._own_mntns = os.stat("/proc/self/ns/mnt").st_ino
        except OSError:
            self._own_mntns = 0
        self.ns_unresolved = 0
        self.content_unnamed = 0     # captured writes whose path was not known (not delivered)
        self.paths_by_id = PathsById(_BY_ID_MAX)
        # Called when a rename in scope may have moved a directory: the kernel then drops the
        # placements close_range keeps across renames of regular files (SNIFF_GEN_USER).
        self.on_dir_rename: Callable[[], None] = lambda: None

    def wall(self, ktime_ns: int) -> float:
        return self.mono_offset + ktime_ns / 1e9

    def decode(self, buf, off: int = 0, length: Optional[int] = None):
        """buf[off:off+length] is one struct sniff_event as the kernel sent it (its data cut to
        data_len). Never raises on bad input: a record that does not parse is None."""
        if length is None:
            length = len(buf) - off
        if length < _DATA_AT:
            return self._content(buf, off, length)
        (ts, ino, ret, op, pid, tid, ppid, uid, fd, dev, mntns, count, serial, cgid, path_hash, key_tgid,
         mode, flags, data_len, comm, w0, s0, k0, f0, w1, s1, k1, f1) = _HEADER.unpack_from(buf, off)
        if comm[-1] == 0:    # the kernel pads the name with NULs
            comm = comm[:comm.find(b"\0")]
        ts = self.mono_offset + ts / 1e9
        if op in _PROC_OPS:
            return ProcEvent(_PROC_OPS[op], pid, ppid, comm, ts)
        name = _OP_NAMES.get(op)
        if name is None:
            return self._content(buf, off, length) if op == _OP_CONTENT else None
        start = off + _DATA_AT
        end = start + min(data_len, length - _DATA_AT)
        if s0 == 0 and w0:
            # About an open file: placed by the kernel. The flood path: everything it needs
            # about the file (path, watch, type, device) is cached by its walk bytes.
            if flags & _EV_NAME_BY_ID:
                placed = self.paths_by_id.place(dev, ino, path_hash, count)
            else:
                placed = self._place_walk(w0, f0, buf[start:min(end, start + k0)], mode, dev)
                if path_hash and placed is not None and not placed[2]:
                    self.paths_by_id.remember(dev, ino, path_hash, placed)
            if placed is None:
                return None
            path, watch, truncated, ftype, devtext = placed
            cgp, cgc, cgu = self._cg.get(cgid << 22 | pid) or self._cgroup(cgid, pid)
            rec = Record(ts, name, pid, tid, ppid, uid, comm, path, None,
                         ret if name in _RET_IS_BYTES else None, count,
                         fd if fd >= 0 else None, ftype, devtext, ino, truncated,
                         _ERRNO.get(-ret, str(-ret)) if ret < 0 else None, watch, cgp, cgc, cgu)
            if name in _ARG_OPS:
                _put_args(rec, *_ARGS.unpack_from(buf, off), ret)
        elif name != "rename" and (w0 or not f0 & _AT_ROOT or mntns == self._own_mntns != 0):
            # A path given as a string, in our mount namespace (the common case, and the bulk
            # of a busy machine's records: every failed open anywhere). Its placement depends
            # only on its name's bytes: cached for as long as the scope resolver's own.
            n0 = bytes(buf[start:start + s0 + k0])
            placed = self._place_name(w0, f0, n0, s0)
            if placed is None:
                rec = None
            else:
                watch, path, truncated = placed
                rec = Record(ts, name, pid, tid, ppid, uid, comm, path, None, None, count,
                             fd if fd >= 0 else None, "dir" if flags & _EV_DIR else "file",
                             truncated=truncated, err=_ERRNO.get(-ret, str(-ret)) if ret < 0 else None,
                             watch=watch)
                rec.cgroup, rec.container, rec.unit = self._cg.get(cgid << 22 | pid) or self._cgroup(cgid, pid)
        else:
            data = bytes(buf[start:end])
            rec = Record(ts=ts, op=name, pid=pid, tid=tid, ppid=ppid, uid=uid, comm=comm, path=b"",
                         fd=fd if fd >= 0 else None, count=count)
            if ret < 0:
                rec.err = _ERRNO.get(-ret, str(-ret))
            n0 = _Name(w0, f0, data[:s0], data[s0:s0 + k0])
            rest = data[s0 + k0:]
            n1 = _Name(w1, f1, rest[:s1], rest[s1:s1 + k1])
            rec = self._named(rec, flags, n0, n1, mntns)
            if rec is not None:      # in scope: worth naming its cgroup
                rec.cgroup, rec.container, rec.unit = self._cg.get(cgid << 22 | pid) or self._cgroup(cgid, pid)
        if flags & _EV_URING and rec is not None:
            rec.via = "io_uring"
        if flags & (_EV_AGG_NAME | _EV_AGG_RENAME):
            key = bytes(buf[off + _KEY_AT:off + _KEY_AT + _KEY_SIZE])
            if flags & _EV_AGG_RENAME:
                return Named(key, key_tgid, serial, rec, True, count, ret)
            return Named(key, key_tgid, serial, rec)
        return rec

    def _content(self, buf, off: int, length: int):
        """A struct sniff_content (--content): its op sits where a sniff_event's does."""
        if length < _OP_AT + 4 or int.from_bytes(buf[off + _OP_AT:off + _OP_AT + 4], "little") != _OP_CONTENT:
            return None
        return content.decode(self, buf, off, length)

    def forget_paths(self) -> None:
        """Watches changed: paths placed under the old ones are stale (the kernel's announced
        map is cleared at the same time)."""
        self.paths_by_id.clear()

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

    def _root_of(self, nm: _Name, pid: int, mntns: int) -> bytes:
        """Where a name that the kernel walked to its namespace's root starts for us: b"" (our
        '/') unless the process lives in another mount namespace (mntns, from the kernel), then
        its /proc/PID/root while it lives (counted when it is already gone). mntns 0 (the task
        had already dropped its namespaces): asked of /proc."""
        if nm.watch or not nm.flags & _AT_ROOT or (mntns and mntns == self._own_mntns):
            return b""
        now = time.monotonic()
        slot = pid << 32 | mntns
        hit = self._roots.get(slot)
        if hit is not None and now - hit[0] < 1.0:
            return hit[1]
        if len(self._roots) > 4096:
            self._roots.clear()
        try:
            if mntns:
                # Another namespace: its root is reachable only while the process lives (a
                # recycled pid would answer for another process: its namespace must match).
                if os.stat(f"/proc/{pid}/ns/mnt").st_ino != mntns:
                    raise OSError
                root = f"/proc/{pid}/root".encode()
            else:
                foreign = os.stat(f"/proc/{pid}/ns/mnt").st_ino != self._own_mntns
                root = f"/proc/{pid}/root".encode() if foreign else b""
        except OSError:
            self.ns_unresolved += 1
            return b""
        self._roots[slot] = (now, root)
        return root

    def _place_name(self, watch: int, flags: int, raw: bytes, str_len: int):
        """(watch path, path, truncated) of a name in our namespace (raw: its string then its
        walk), or None when out of scope; cached while the placement it came from holds."""
        now = time.monotonic()
        key = (watch, flags, str_len, raw)
        hit = self._names.get(key)
        if hit is not None and now - hit[0] < self._names_ttl and hit[1] == self.watches.version:
            return hit[2]
        path, truncated = self._resolve(_Name(watch, flags, raw[:str_len], raw[str_len:]))
        placed, since = self.scope.place_since(path) if path else (None, now)
        out = (placed[0].path, placed[1], truncated) if placed is not None else None
        if len(self._names) >= 4096:
            self._names.clear()
        self._names[key] = (since, self.watches.version, out)
        return out

    def _named(self, rec: Record, flags: int, n0: _Name, n1: _Name, mntns: int = 0) -> Optional[Record]:
        old, trunc_old = self._resolve(n0)
        placed_old = self.scope.place(old, self._root_of(n0, rec.pid, mntns)) if old else None
        placed_new = None
        if rec.op == "rename":
            new, trunc_new = self._resolve(n1)
            placed_new = self.scope.place(new, self._root_of(n1, rec.pid, mntns)) if new else None
            if placed_old is None and placed_new is None:
                return None
            rec.path = placed_old[1] if placed_old else old or b""
            rec.new_path = placed_new[1] if placed_new else new
            rec.watch = (placed_old or placed_new)[0].path
            rec.truncated = trunc_old or trunc_new
            if not rec.err and (not rec.new_path or not self._stat_into(rec, rec.new_path)
                                or rec.file_type != "file"):
                self.on_dir_rename()     # a directory, or gone already: maybe one
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
    def _stat_into(rec: Record, path: bytes) -> bool:
        try:
            st = os.lstat(path)
        except OSError:
            return False
        rec.file_type = file_type(st.st_mode)
        rec.dev = dev_text(kernel_dev(os.major(st.st_dev), os.minor(st.st_dev)))
        rec.ino = st.st_ino
        return True
