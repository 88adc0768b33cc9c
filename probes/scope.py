"""Where a path given as a string lies: the watched directories (by identity), and the
resolver that decides whether a path is under one of them, as the kernel does (by comparing
(device, inode) of its ancestors, never string prefixes)."""
from __future__ import annotations

import functools
import os
import stat
import time
from dataclasses import dataclass
from typing import Optional

_TYPE_NAMES = {
    stat.S_IFREG: "file", stat.S_IFDIR: "dir", stat.S_IFIFO: "fifo", stat.S_IFSOCK: "socket",
    stat.S_IFCHR: "chr", stat.S_IFBLK: "blk", stat.S_IFLNK: "symlink",
}


def file_type(mode: int) -> str:
    return _TYPE_NAMES.get(stat.S_IFMT(mode), "unknown")


def kernel_dev(major: int, minor: int) -> int:
    """The kernel's internal dev_t (what super_block.s_dev holds)."""
    return (major << 20) | minor


@functools.lru_cache(maxsize=256)
def dev_text(kdev: int) -> str:
    # One string per device, shared by every cached placement on it (there are tens of
    # thousands of those in a long session).
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
        # Excluded directories ((st_dev, ino) -> path): the kernel's map holds them with the
        # value SNIFF_WATCH_EXCLUDED, and a placement stops at them as at a watch, out of scope.
        self.excluded: dict[tuple[int, int], bytes] = {}
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

    def set_excluded(self, excluded: dict[tuple[int, int], bytes]) -> None:
        if excluded != self.excluded:
            self.excluded = dict(excluded)
            self.version += 1

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


def canonical(path: bytes) -> Optional[bytes]:
    """os.path.realpath of an absolute path that exists, in three syscalls whatever its depth
    (realpath costs an lstat and some Python per component); None when it does not exist."""
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return None if not os.path.lexists(path) else os.path.realpath(path)   # a dangling link
    except OSError:
        return os.path.realpath(path)
    try:
        real = os.readlink(b"/proc/self/fd/%d" % fd)
    except OSError:
        real = b""
    finally:
        os.close(fd)
    if not real.startswith(b"/") or real.endswith(b" (deleted)"):
        return os.path.realpath(path)      # no /proc, or gone meanwhile
    return real


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
        real = canonical(path)
        if real is None:       # not there (a failed open's search path): its parent's, and the name
            parent, _, name = path.rpartition(b"/")
            real = join(self._realpath(parent or b"/", now), name) if name else os.path.realpath(path)
        self._real[path] = (now, real)
        return real

    def place(self, path: bytes, root: bytes = b"") -> Optional[tuple[Watch, bytes]]:
        """(watch, canonical path under it) or None when out of scope. root: where the path's
        '/' is for us (b"/proc/PID/root" for a process in another mount namespace)."""
        return self.place_since(path, root)[0]

    def place_since(self, path: bytes, root: bytes = b"") -> tuple[Optional[tuple[Watch, bytes]], float]:
        """place(), and the monotonic time the placement was made (it holds for ttl from then:
        a caller caching it keeps the same bound)."""
        now = time.monotonic()
        if not root:
            for w in self.watches.by_id.values():
                if path == w.path:       # the watched directory itself (e.g. removed)
                    return (w, path), now
        parent, _, leaf = path.rpartition(b"/")
        placed, since = self._place_dir(parent or b"/", now, root)
        if placed is None:
            return None, since
        w, rel = placed
        return (w, join(w.path, join(rel, leaf) if rel else leaf)), since

    def _place_dir(self, directory: bytes, now: float, root: bytes = b""):
        """((watch, the directory's path below it) or None, when that was decided). Cached per
        directory for ttl: a storm of renames or failed opens in one directory is placed once,
        not once per record."""
        hit = self._dirs.get(root + directory)
        if hit and now - hit[0] < self.ttl and hit[1] == self.watches.version:
            return hit[2], hit[0]
        if len(self._dirs) > 4096:
            self._dirs.clear()
        ids = self.watches.by_identity()
        excluded = self.watches.excluded
        below: list[bytes] = []
        # Under /proc/PID/root, realpath would follow that magic link to our own '/': the
        # ancestors are looked at one by one through it instead.
        current = normalize(directory) if root else self._realpath(directory, now)
        placed = None
        while True:
            ident = self._identity(root + current if root else current, now)
            if ident is not None and ident in ids:
                placed = (ids[ident], b"/".join(reversed(below)))
                break
            if ident is not None and ident in excluded:
                break           # the nearest of a watch and an exclusion wins, as in the kernel
            if current == b"/":
                break
            current, _, name = current.rpartition(b"/")
            current = current or b"/"
            below.append(name)
        self._dirs[root + directory] = (now, self.watches.version, placed)
        return placed, now
