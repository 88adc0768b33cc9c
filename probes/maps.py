"""Python handles on the BPF maps: what the source, the tests and the tools use of BCC's tables
(`t[k]`, `t[k] = v`, `del t[k]`, keys/items, batch reads, clear, len), over the bpf syscall."""
from __future__ import annotations

import ctypes
import errno
import os

from . import bpfsys
from .bpfsys import BPFError

HASH, ARRAY, PROG_ARRAY, PERCPU_HASH, PERCPU_ARRAY = 1, 2, 3, 5, 6
LRU_HASH, LRU_PERCPU_HASH, RINGBUF = 9, 10, 27
PERCPU = (PERCPU_HASH, PERCPU_ARRAY, LRU_PERCPU_HASH)
ARRAYS = (ARRAY, PROG_ARRAY, PERCPU_ARRAY)


class Map:
    def __init__(self, spec: dict, fd: int) -> None:
        self.name = spec["name"]
        self.map_type = spec["type"]
        self.key_size, self.value_size = spec["key_size"], spec["value_size"]
        self.max_entries = spec["max_entries"]
        self.map_fd = fd
        self.Key = bpfsys.ctype_of(spec["key"]) if spec.get("key") else ctypes.c_uint32
        self.Leaf = bpfsys.ctype_of(spec["leaf"]) if spec.get("leaf") else ctypes.c_uint32
        self.percpu = self.map_type in PERCPU
        self.ncpu = bpfsys.possible_cpus() if self.percpu else 1
        # per-CPU values are laid out one per possible CPU, each rounded up to 8 bytes
        self._stride = (self.value_size + 7) // 8 * 8 if self.percpu else self.value_size

    # ---- helpers ----
    def _key(self, key):
        if isinstance(key, int):
            key = self.Key(key)
        return key

    def _leaf_buf(self):
        return ctypes.create_string_buffer(self._stride * self.ncpu)

    def _elem(self, cmd: int, key, value=None, flags: int = 0) -> None:
        attr = bpfsys._Elem(self.map_fd, ctypes.addressof(key),
                            ctypes.addressof(value) if value is not None else 0, flags)
        bpfsys.bpf(cmd, attr)

    def _value(self, buf):
        if not self.percpu:
            return self.Leaf.from_buffer_copy(buf)
        out = [self.Leaf.from_buffer_copy(buf, i * self._stride) for i in range(self.ncpu)]
        return [v.value for v in out] if hasattr(out[0], "value") else out

    # ---- the table API ----
    def __getitem__(self, key):
        key = self._key(key)
        buf = self._leaf_buf()
        try:
            self._elem(bpfsys.MAP_LOOKUP_ELEM, key, buf)
        except BPFError as exc:
            if exc.errno == errno.ENOENT:
                raise KeyError(key) from None
            raise
        return self._value(buf)

    def __setitem__(self, key, value) -> None:
        key = self._key(key)
        if self.percpu and isinstance(value, (list, tuple)):
            buf = self._leaf_buf()
            for i, v in enumerate(value):
                v = v if isinstance(v, ctypes._SimpleCData) or isinstance(v, ctypes.Structure) else self.Leaf(v)
                ctypes.memmove(ctypes.addressof(buf) + i * self._stride, ctypes.addressof(v), ctypes.sizeof(v))
            value = buf
        self._elem(bpfsys.MAP_UPDATE_ELEM, key, value)

    def __delitem__(self, key) -> None:
        key = self._key(key)
        if self.map_type in ARRAYS and self.map_type != PROG_ARRAY:
            self[key] = self._leaf_buf() if self.percpu else self.Leaf()   # arrays are zeroed
            return
        try:
            self._elem(bpfsys.MAP_DELETE_ELEM, key)
        except BPFError as exc:
            if exc.errno == errno.ENOENT:
                raise KeyError(key) from None
            raise

    def keys(self):
        if self.map_type in ARRAYS:
            yield from (self.Key(i) for i in range(self.max_entries))
            return
        prev, first = None, True
        while True:
            nxt = self.Key()
            attr = bpfsys._Elem(self.map_fd, 0 if first else ctypes.addressof(prev), ctypes.addressof(nxt), 0)
            try:
                bpfsys.bpf(bpfsys.MAP_GET_NEXT_KEY, attr)
            except BPFError as exc:
                if exc.errno == errno.ENOENT:
                    return
                raise
            yield nxt
            prev, first = nxt, False

    __iter__ = keys

    def items(self):
        out = []
        for k in self.keys():
            try:
                out.append((k, self[k]))
            except KeyError:
                continue      # deleted meanwhile
        return out

    def values(self):
        return [v for _, v in self.items()]

    def items_lookup_batch(self):
        """All entries in a few syscalls (kernel >= 5.6); raises BPFError where unsupported."""
        out, ksize, size = [], self.key_size, self._stride * self.ncpu
        for n, keys, vals in self.lookup_batch_raw():
            out.extend((self.Key.from_buffer_copy(keys, i * ksize), self._value(vals[i * size:(i + 1) * size]))
                       for i in range(n))
        return out

    def lookup_batch_raw(self, chunk: int = 4096):
        """All entries as raw bytes, chunk by chunk: (n, keys, values), n keys of key_size bytes
        then n values (per-CPU: ncpu slots each) in the same order. A few syscalls and no object
        per entry (kernel >= 5.6); raises BPFError where unsupported."""
        chunk = max(1, min(self.max_entries, chunk))
        keys = ctypes.create_string_buffer(self.key_size * chunk)
        vsize = self._stride * self.ncpu
        vals = ctypes.create_string_buffer(vsize * chunk)
        token = ctypes.create_string_buffer(max(8, self.key_size))
        first = True
        while True:
            attr = bpfsys._Batch(0 if first else ctypes.addressof(token), ctypes.addressof(token),
                                 ctypes.addressof(keys), ctypes.addressof(vals), chunk, self.map_fd, 0, 0)
            done = False
            try:
                bpfsys.bpf(bpfsys.MAP_LOOKUP_BATCH, attr)
            except BPFError as exc:
                if exc.errno != errno.ENOENT:
                    raise
                done = True
            n = attr.count
            if n:      # copied once per chunk (ctypes' .raw copies the whole buffer each time)
                yield n, ctypes.string_at(keys, n * self.key_size), ctypes.string_at(vals, n * vsize)
            if done:
                return
            first = False

    def items_delete_batch(self, keys) -> None:
        """Delete keys (a ctypes array of Key) in one syscall (kernel >= 5.6). Raises BPFError
        where unsupported, or at the first key already gone (the caller then goes one by one)."""
        attr = bpfsys._Batch(0, 0, ctypes.addressof(keys), 0, len(keys), self.map_fd, 0, 0)
        bpfsys.bpf(bpfsys.MAP_DELETE_BATCH, attr)

    def clear(self) -> None:
        for k in list(self.keys()):
            try:
                del self[k]
            except KeyError:
                pass

    def __len__(self) -> int:
        if self.map_type in ARRAYS:
            return self.max_entries
        return sum(1 for _ in self.keys())

    def close(self) -> None:
        fd, self.map_fd = self.map_fd, -1
        if fd >= 0:
            os.close(fd)
