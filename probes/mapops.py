"""Map operations BCC's tables lack: taking a hash map element (its value, and deleting it, in one
step: BPF_MAP_LOOKUP_AND_DELETE_ELEM, hash maps from kernel 5.14), so that an increment the
kernel makes between a read and a delete cannot be lost."""
from __future__ import annotations

import ctypes
import errno
from typing import Optional

from . import bpfsys

_LOOKUP_AND_DELETE_ELEM = 21
_ENOTSUPP = 524        # the kernel's own "not supported" (not in errno)


class Taker:
    """take(key bytes) -> the element's value (the table's Leaf) or None when absent. On kernels
    without the one-step operation for hash maps (before 5.14: EINVAL), a lookup then a delete:
    an increment between the two is lost, as before."""

    def __init__(self, table) -> None:
        self.table = table
        self.one_step = True

    def take(self, key: bytes):
        table = self.table
        k = table.Key.from_buffer_copy(key)
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
