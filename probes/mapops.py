"""Map operations BCC's tables lack: taking a counter from a hash map (its value, and deleting it)
so that no increment the kernel makes meanwhile is lost.

One step (BPF_MAP_LOOKUP_AND_DELETE_ELEM, hash maps from kernel 5.14) is not enough: the kernel
finds the element, then adds to it, and a take between the two loses the add. With a guard
(Guard: the kernel side is account_by's, see struct sniff_agg_busy in sniff.h), the key is first
marked as being taken, then every add that may not have seen the mark is waited for, then the
element is taken: nobody adds to it any more, so a lookup then a delete (kernels before 5.14)
loses nothing either."""
from __future__ import annotations

import ctypes
import errno
import time
from typing import Optional

from . import bpfsys

_LOOKUP_AND_DELETE_ELEM = 21
_ENOTSUPP = 524        # the kernel's own "not supported" (not in errno)


class Guard:
    """The userspace side of the kernel's guard of a counter map: busy (per-CPU enter/leave
    counts), retiring (keys being taken) and retire_n (how many; the kernel looks at retiring
    only when it is not 0). Assumes, as the kernel's per-CPU scratch does, that the guarded
    section never nests on a CPU: a CPU whose leave count reached the enter count read after the
    mark has finished every section that could have missed it."""

    WAIT_S = 1.0      # a section is microseconds long; past this something is wrong: counted

    def __init__(self, busy, retiring, retire_n) -> None:
        self.busy, self.retiring, self.retire_n = busy, retiring, retire_n
        self.batch = retiring.max_entries    # keys marked at once (take_many's step)
        self.waits_over = 0          # takes that went ahead after WAIT_S (not expected)

    @classmethod
    def of(cls, maps) -> Optional["Guard"]:
        """The guard of sniff.bpf.c's agg map, from the loaded maps (None without them)."""
        try:
            return cls(maps["agg_busy"], maps["agg_retiring"], maps["agg_retire_n"])
        except KeyError:
            return None

    def mark(self, ks) -> None:
        """Mark keys ks as being taken, then wait until no add that missed the marks is running."""
        for k in ks:
            self.retiring[self.retiring.Key.from_buffer_copy(bytes(k))] = self.retiring.Leaf(1)
        self.retire_n[self.retire_n.Key(0)] = self.retire_n.Leaf(1)
        # Each CPU's adds that started before the mark was visible have counted themselves in.
        now = self.busy[self.busy.Key(0)]
        entered = [b.enter for b in now]
        deadline = time.monotonic() + self.WAIT_S
        while True:
            if all(b.leave >= e for b, e in zip(now, entered)):
                return
            if time.monotonic() > deadline:
                self.waits_over += 1
                return
            time.sleep(0)
            now = self.busy[self.busy.Key(0)]

    def unmark(self, ks) -> None:
        self.retire_n[self.retire_n.Key(0)] = self.retire_n.Leaf(0)
        for k in ks:
            try:
                del self.retiring[self.retiring.Key.from_buffer_copy(bytes(k))]
            except KeyError:
                pass


class Taker:
    """take(key bytes) -> the element's value (the table's Leaf) or None when absent. Guarded
    (see Guard), no increment is lost, in one step or two. Without a guard: in one step, an
    increment between the kernel's lookup and its add is lost; on kernels without the one-step
    operation for hash maps (before 5.14: EINVAL), a lookup then a delete, which loses more."""

    def __init__(self, table, guard: Optional[Guard] = None) -> None:
        self.table = table
        self.guard = guard
        self.one_step = True

    def take(self, key: bytes):
        return self.take_many([key])[0]

    def take_many(self, keys: list[bytes], guarded: bool = True) -> list:
        """The values of keys (None where absent), each taken in one step. The guard's marks and
        its wait are shared by the batch; guarded=False for counters nothing can add to any more
        (their process has exited, or the programs are detached)."""
        ks = [self.table.Key.from_buffer_copy(key) for key in keys]
        if self.guard is None or not guarded or not ks:
            return [self._take(k) for k in ks]
        values = []
        step = self.guard.batch      # the kernel's retiring map holds this many marks
        for i in range(0, len(ks), step):
            part = ks[i:i + step]
            self.guard.mark(part)
            try:
                values += [self._take(k) for k in part]
            finally:
                self.guard.unmark(part)
        return values

    def _take(self, k):
        table = self.table
        if self.one_step:
            value = table.Leaf()
            attr = bpfsys._Elem(table.map_fd, ctypes.addressof(k), ctypes.addressof(value), 0)
            try:
                bpfsys.bpf(_LOOKUP_AND_DELETE_ELEM, attr)
                return value
            except bpfsys.BPFError as exc:
                if exc.errno == errno.ENOENT:
                    return None
                if exc.errno not in (errno.EINVAL, _ENOTSUPP, errno.ENOSYS):   # ENOSYS: no syscall number here
                    raise
            self.one_step = False
        return self._two_steps(k)

    def drop(self, keys: list[bytes]) -> None:
        """Delete counters whose increments nobody needs (out of scope), in one syscall when the
        kernel has batch operations (5.6+); one by one otherwise, or when one was gone already."""
        table = self.table
        if not keys:
            return
        try:
            table.items_delete_batch((table.Key * len(keys))(*(table.Key.from_buffer_copy(k) for k in keys)))
            return
        except Exception:  # no batch ops, a key the kernel dropped already, another handle type
            pass
        for key in keys:
            try:
                del table[table.Key.from_buffer_copy(key)]
            except KeyError:
                pass

    def _two_steps(self, k) -> Optional[object]:
        try:
            value = self.table[k]
            del self.table[k]
        except KeyError:
            return None
        return value
