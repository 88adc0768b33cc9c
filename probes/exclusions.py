"""Excluded directories in the kernel: the `watched` map holds them by identity (device, inode)
with the value SNIFF_WATCH_EXCLUDED, so the walk that places a file stops at the nearest of a
watch and an exclusion. What the map cannot hold (full) is still decided in userspace by the
rules (probes.pathrules): the kernel's part only saves records, it decides nothing alone."""
from __future__ import annotations

import ctypes
import os
import stat
import threading
import time
from typing import Callable, Optional

from . import abi
from .scope import Watches, kernel_dev
from .watchdirs import mount_kdev

EXCLUDED = abi.C["SNIFF_WATCH_EXCLUDED"]
_TRIED_MAX = 65_536


class KernelExclusions:
    def __init__(self, watches: Watches, bump: Callable[[], None]) -> None:
        self.watches = watches
        self._bump = bump                 # the scope generation: cached verdicts are stale
        self.table = None                 # the `watched` map, once loaded
        self.rules = None
        self._in_map: dict[tuple[int, int], tuple[int, bytes]] = {}   # (st_dev, ino) -> (kdev, path)
        self._kdevs: dict[int, int] = {}
        self._tried: dict[bytes, float] = {}   # directories a record named: looked at once a second
        self.added_later = 0              # directories put in the map after the start
        self.over_capacity = 0            # excluded directories the map had no room for
        self._lock = threading.Lock()     # sync: the UI thread; seen: the worker
        self.log: Callable[[str], None] = lambda line: None

    def _kdev(self, path: bytes, st: os.stat_result) -> int:
        kdev = self._kdevs.get(st.st_dev)
        if kdev is None:
            kdev = mount_kdev(path)
            if kdev is None:
                kdev = kernel_dev(os.major(st.st_dev), os.minor(st.st_dev))
            self._kdevs[st.st_dev] = kdev
        return kdev

    def _key(self, kdev: int, ino: int):
        return self.table.Key(dev=kdev, pad=0, ino=ino)

    def sync(self, table, rules) -> None:
        """Make the map hold the excluded directories rules' scan found."""
        with self._lock:
            self._sync(table, rules)

    def _sync(self, table, rules) -> None:
        self.table, self.rules = table, rules
        self._tried.clear()
        wanted: dict[tuple[int, int], tuple[bytes, os.stat_result]] = {}
        if rules is not None:
            for path, st in rules.scanned.excluded:
                wanted[(st.st_dev, st.st_ino)] = (path, st)
        watch_ids = set(self.watches.by_identity())
        changed = False
        for ident in [i for i in self._in_map if i not in wanted or i in watch_ids]:
            kdev, _ = self._in_map.pop(ident)
            # Watched since (`d`): the map's entry is now the watch's, and stays.
            if table is not None and ident not in watch_ids:
                try:
                    del table[self._key(kdev, ident[1])]
                except KeyError:
                    pass
            changed = True
        for ident, (path, st) in wanted.items():
            if ident not in self._in_map and ident not in watch_ids:
                changed |= self._put(ident, path, st)
        if changed:
            self._changed()
        if rules is not None:
            scanned = rules.scanned
            self.log(f"exclusions: {len(self._in_map)} directories in the kernel; {scanned.dirs} "
                     f"directories scanned, {scanned.unscanned} left to Python, "
                     f"{self.over_capacity} over the map's capacity")

    def _put(self, ident: tuple[int, int], path: bytes, st: os.stat_result) -> bool:
        if self.table is None:
            return False
        if len(self.watches.by_id) + len(self._in_map) >= self.table.max_entries:
            self.over_capacity += 1
            return False
        kdev = self._kdev(path, st)
        self.table[self._key(kdev, st.st_ino)] = ctypes.c_uint32(EXCLUDED)
        self._in_map[ident] = (kdev, path)
        return True

    def _changed(self) -> None:
        self.watches.set_excluded({i: p for i, (_, p) in self._in_map.items()})
        if self.table is not None:
            self._bump()

    def seen(self, rec) -> None:
        """A record the rules dropped: when it lies under an excluded directory the map does
        not hold yet (made after the start), put that directory in, so the kernel stops
        sending what happens below it."""
        rules = self.rules
        if rules is None:
            return
        for path in (rec.path, rec.new_path):
            if path is None:
                continue
            directory = rules.excluded_dir_of(path)
            now = time.monotonic()
            if directory is None or now - self._tried.get(directory, -2.0) < 1.0:
                continue
            if len(self._tried) >= _TRIED_MAX:
                self._tried.clear()
            self._tried[directory] = now
            try:
                st = os.lstat(directory)
            except OSError:
                continue
            ident = (st.st_dev, st.st_ino)
            if not stat.S_ISDIR(st.st_mode) or ident in self._in_map \
                    or ident in self.watches.by_identity():
                continue
            with self._lock:
                if rules is self.rules and ident not in self._in_map and self._put(ident, directory, st):
                    self.added_later += 1
                    self._changed()

    def paths(self) -> list[bytes]:
        return sorted(p for _, p in self._in_map.values())

    def count(self) -> Optional[int]:
        return len(self._in_map)
