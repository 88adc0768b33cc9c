"""Paths the kernel knows Python has (its announced map), by file identity: a record may then
name its file by (device, inode, path hash) alone (SNIFF_EV_NAME_BY_ID), as close_range does."""
from __future__ import annotations

from typing import Optional


class PathsById:
    """Placed paths by (dev, ino, path hash), most recently used last, bounded at more entries
    than the kernel's LRU map holds, so that what the kernel counts as announced is here."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        # By (dev, ino, path hash) as one int: a third of a tuple's memory, at 16,384 entries.
        self._paths: dict[int, tuple] = {}
        self.unnamed = 0           # syscalls in records named by identity we could not name

    def remember(self, dev: int, ino: int, path_hash: int, placed: tuple) -> None:
        key = (dev << 64 | ino) << 64 | path_hash
        paths = self._paths
        if paths.pop(key, None) is None and len(paths) >= self.limit:
            del paths[next(iter(paths))]
        paths[key] = placed

    def place(self, dev: int, ino: int, path_hash: int, count: int) -> Optional[tuple]:
        placed = self._paths.get((dev << 64 | ino) << 64 | path_hash)
        if placed is None:
            self.unnamed += count      # not expected: we keep more paths than the kernel
            return None
        self.remember(dev, ino, path_hash, placed)
        return placed

    def clear(self) -> None:
        self._paths.clear()
