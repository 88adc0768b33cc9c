"""Struct member offsets from the running kernel's BTF (/sys/kernel/btf/vmlinux).

The BPF programs read kernel structs at fixed offsets, and the installed kernel headers often
do not match the running kernel, so the offsets have to come from the kernel's own type
information. Parsing ``bpftool btf dump`` text (all ~130k types) takes most of a second; this
reader walks the binary format only as far as the structs it is asked about, and decodes the
members of those structs only.

Format reference: https://docs.kernel.org/bpf/btf.html
"""
from __future__ import annotations

import array
import os
import struct
import sys
from typing import NamedTuple

VMLINUX_BTF = "/sys/kernel/btf/vmlinux"

_MAGIC = 0xEB9F
_HEADER = "HBBIIIII"  # magic, version, flags, hdr_len, type_off, type_len, str_off, str_len
_HEADER_SIZE = struct.calcsize("<" + _HEADER)

# Kinds (the numbering is part of the format).
_INT, _PTR, _ARRAY, _STRUCT, _UNION, _ENUM, _FWD, _TYPEDEF = 1, 2, 3, 4, 5, 6, 7, 8
_VOLATILE, _CONST, _RESTRICT, _FUNC, _FUNC_PROTO, _VAR, _DATASEC = 9, 10, 11, 12, 13, 14, 15
_FLOAT, _DECL_TAG, _TYPE_TAG, _ENUM64 = 16, 17, 18, 19
_MAX_KIND = _ENUM64

# Every type is a 3-word header followed by a kind-specific tail; the walk only needs the
# tail's length in 32-bit words: a fixed part plus a part per vlen entry.
# An unknown kind gets a length that runs past the end, so the walk loop needs no extra test.
_BAD = 1 << 62
_FIXED_WORDS = [_BAD] * 32
_VLEN_WORDS = [0] * 32
for _kind in range(1, _MAX_KIND + 1):
    _FIXED_WORDS[_kind] = 0
_FIXED_WORDS[_INT] = _FIXED_WORDS[_VAR] = _FIXED_WORDS[_DECL_TAG] = 1
_FIXED_WORDS[_ARRAY] = 3
_VLEN_WORDS[_STRUCT] = _VLEN_WORDS[_UNION] = _VLEN_WORDS[_DATASEC] = _VLEN_WORDS[_ENUM64] = 3
_VLEN_WORDS[_ENUM] = _VLEN_WORDS[_FUNC_PROTO] = 2

# Qualifiers that sit between a member and the struct it names.
_TRANSPARENT = frozenset({_TYPEDEF, _VOLATILE, _CONST, _RESTRICT, _TYPE_TAG})


class BTFError(Exception):
    """BTF that is missing, unreadable or lacks what we need; the message is one line."""


class _Unusable(BTFError):
    """A field that cannot be read at a byte offset (kernel_offsets collects these)."""


class _Missing(_Unusable):
    """A struct or member that is not there (has_member answers False instead of raising)."""


class _Member(NamedTuple):
    name: bytes
    type_id: int
    bit_offset: int
    bitfield_size: int


class BTF:
    """Kernel type information, indexed lazily: types are walked in order only as far as a
    lookup needs (most core structs come early), and members are decoded per struct."""

    def __init__(self, path: str | os.PathLike = VMLINUX_BTF):
        path = os.fspath(path)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise BTFError(f"no BTF at {path}: the kernel needs CONFIG_DEBUG_INFO_BTF=y") from None
        except OSError as e:
            raise BTFError(f"cannot read BTF at {path}: {e.strerror or e}") from None
        self._parse(data, path)

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "<bytes>") -> BTF:
        self = cls.__new__(cls)
        self._parse(bytes(data), source)
        return self

    def _parse(self, data: bytes, source: str) -> None:
        self.source = source
        if len(data) < _HEADER_SIZE:
            raise BTFError(f"{source} is not BTF: only {len(data)} bytes")
        if data[:2] == _MAGIC.to_bytes(2, "little"):
            order = "little"
        elif data[:2] == _MAGIC.to_bytes(2, "big"):
            order = "big"
        else:
            raise BTFError(f"{source} is not BTF: bad magic 0x{data[0]:02x}{data[1]:02x}")
        prefix = "<" if order == "little" else ">"
        _, version, _, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(
            prefix + _HEADER, data)
        if version != 1:
            raise BTFError(f"{source}: unsupported BTF version {version}")
        types_at, self._str_at = hdr_len + type_off, hdr_len + str_off
        self._str_end = self._str_at + str_len
        if (hdr_len < _HEADER_SIZE or type_len % 4 or types_at + type_len > len(data)
                or self._str_end > len(data)):
            raise BTFError(f"{source} is corrupt BTF: bad section offsets or lengths")
        self._data = data
        view = memoryview(data)[types_at:types_at + type_len]
        if order == sys.byteorder:
            self._words = view.cast("I")  # zero-copy
        else:
            self._words = array.array("I")
            self._words.frombytes(view)
            self._words.byteswap()
        self._offsets = [-1]        # word index of each type id; id 0 is void
        self._pos = 0               # word index where the walk resumes
        self._structs: dict[bytes, int] = {}   # name -> first STRUCT/UNION with members
        self._empty: dict[bytes, int] = {}     # name -> first memberless STRUCT/UNION
        self._members: dict[int, tuple[_Member, ...]] = {}

    # -- the walk -------------------------------------------------------------------------

    def _walk(self, until_id: int = sys.maxsize, until_name: bytes | None = None) -> None:
        """Index further types until type ``until_id`` or a struct named ``until_name`` is
        indexed, or the types run out. This loop is nearly the whole cost of a lookup."""
        w, data, s0, s1 = self._words, self._data, self._str_at, self._str_end
        offsets, structs, empty = self._offsets, self._structs, self._empty
        fixed, per_vlen = _FIXED_WORDS, _VLEN_WORDS
        i, n, tid = self._pos, len(w), len(offsets)
        try:
            while i < n and tid <= until_id:
                at = i
                offsets.append(at)
                info = w[at + 1]
                kind = (info >> 24) & 0x1F
                vlen = info & 0xFFFF
                i = at + 3 + fixed[kind] + per_vlen[kind] * vlen
                if (kind == _STRUCT or kind == _UNION) and w[at] and i <= n:
                    start = s0 + w[at]
                    name = data[start:data.find(b"\0", start, s1)]
                    if not vlen:
                        empty.setdefault(name, tid)
                    elif name not in structs:
                        structs[name] = tid
                        if name == until_name:
                            break
                tid += 1
        except IndexError:  # a header cut off by the end of the section
            i = n + 1
        if i > n:
            self._pos = offsets.pop()  # stay on the bad type so every later walk reports it
            what = "a truncated record"
            if self._pos + 1 < n and fixed[(w[self._pos + 1] >> 24) & 0x1F] == _BAD:
                what = f"unknown kind {(w[self._pos + 1] >> 24) & 0x1F}"
            raise BTFError(f"{self.source} is corrupt BTF: type {len(offsets)} has {what}")
        self._pos = i

    def _type(self, tid: int) -> tuple[int, int, int]:
        """(word index, kind, vlen) of type ``tid``."""
        if tid >= len(self._offsets):
            self._walk(until_id=tid)
            if tid >= len(self._offsets):
                raise BTFError(f"{self.source} is corrupt BTF: reference to missing type {tid}")
        at = self._offsets[tid]
        if at < 0:
            return at, 0, 0  # void
        info = self._words[at + 1]
        return at, (info >> 24) & 0x1F, info & 0xFFFF

    def _name(self, off: int) -> bytes:
        start = self._str_at + off
        end = self._data.find(b"\0", start, self._str_end)
        if end < 0:
            raise BTFError(f"{self.source} is corrupt BTF: bad string offset {off}")
        return self._data[start:end]

    def _struct_id(self, name: str) -> int:
        key = name.encode()
        if key not in self._structs:
            self._walk(until_name=key)
        tid = self._structs.get(key, self._empty.get(key))
        if tid is None:
            raise _Missing(f"struct {name} not found in {self.source}")
        return tid

    def _resolve(self, tid: int) -> tuple[int, int, int, int]:
        """Follow typedefs and qualifiers to the real type: (type id, word index, kind, vlen)."""
        for _ in range(64):  # a bound, because corrupt data can loop
            at, kind, vlen = self._type(tid)
            if kind not in _TRANSPARENT:
                return tid, at, kind, vlen
            tid = self._words[at + 2]
        raise BTFError(f"{self.source} is corrupt BTF: type {tid} is a loop of typedefs")

    def _members_of(self, tid: int) -> tuple[_Member, ...]:
        members = self._members.get(tid)
        if members is None:
            at, kind, vlen = self._type(tid)
            w = self._words
            bitfields = w[at + 1] >> 31  # kind_flag: offsets carry a bitfield size in the top byte
            members = []
            for m in range(at + 3, at + 3 + 3 * vlen, 3):
                offset = w[m + 2]
                size = offset >> 24 if bitfields else 0
                members.append(_Member(self._name(w[m]), w[m + 1],
                                       offset & 0xFFFFFF if bitfields else offset, size))
            members = self._members[tid] = tuple(members)
        return members

    def _find(self, tid: int, name: bytes) -> _Member | None:
        """The member ``name`` of struct/union ``tid``, looking inside anonymous members the
        way C does; its bit_offset is relative to ``tid``."""
        for member in self._members_of(tid):
            if member.name == name:
                return member
            if not member.name:
                inner, _, kind, _ = self._resolve(member.type_id)
                if kind == _STRUCT or kind == _UNION:
                    found = self._find(inner, name)
                    if found:
                        return found._replace(bit_offset=member.bit_offset + found.bit_offset)
        return None

    def _locate(self, struct_name: str, member_path: str) -> tuple[int, _Member]:
        """(bit offset from the start of the struct, the last member) of a dotted path."""
        tid, bits, member = self._struct_id(struct_name), 0, None
        parts = member_path.split(".")
        for depth, part in enumerate(parts):
            if member is not None:
                tid, _, kind, _ = self._resolve(member.type_id)
                if kind != _STRUCT and kind != _UNION:
                    raise _Missing(f"{struct_name}.{'.'.join(parts[:depth])} is not a struct or "
                                   f"union, so it has no member {part}")
            member = self._find(tid, part.encode())
            if member is None:
                where = "" if depth == 0 else f" (no {part} in {'.'.join(parts[:depth])})"
                raise _Missing(f"struct {struct_name} has no member {member_path}{where}")
            bits += member.bit_offset
        return bits, member

    # -- the API ----------------------------------------------------------------------------

    def offsetof(self, struct_name: str, member_path: str) -> int:
        """Byte offset of ``member_path`` (dotted, e.g. ``f_path.dentry``) in ``struct_name``."""
        bits, member = self._locate(struct_name, member_path)
        bitfield = member.bitfield_size
        _, at, kind, _ = self._resolve(member.type_id)
        if kind == _INT and not bitfield:
            # Without kind_flag, a bitfield is an INT narrower than its storage or offset in it.
            encoding, size = self._words[at + 3], self._words[at + 2]
            bitfield = encoding & 0xFF != size * 8 or (encoding >> 16) & 0xFF
        if bits % 8 or bitfield:
            raise _Unusable(f"{struct_name}.{member_path} is a bitfield; it has no byte offset")
        return bits // 8

    def sizeof(self, struct_name: str) -> int:
        """Size in bytes of the struct or union ``struct_name``."""
        return self._words[self._offsets[self._struct_id(struct_name)] + 2]

    def enumerator(self, name: str) -> int:
        """Value of the enumerator ``name``, in whichever enum (named or not) defines it."""
        needle = b"\0" + name.encode() + b"\0"
        found = self._data.find(needle, self._str_at, self._str_end)
        if found < 0:
            raise _Missing(f"enumerator {name} not found in {self.source}")
        name_off = found + 1 - self._str_at    # BTF strings are deduplicated: one offset
        w, tid = self._words, 1
        while True:
            if tid >= len(self._offsets):
                known = len(self._offsets)
                self._walk(until_id=known + 4096)
                if len(self._offsets) == known:
                    raise _Missing(f"enumerator {name} not found in {self.source}")
                continue
            at, kind, vlen = self._type(tid)
            step = 2 if kind == _ENUM else 3 if kind == _ENUM64 else 0
            for m in range(at + 3, at + 3 + step * vlen, step or 1):
                if w[m] == name_off:
                    value = w[m + 1] if kind == _ENUM else w[m + 1] | w[m + 2] << 32
                    signed = w[at + 1] >> 31    # kind_flag: a signed enum
                    bits = 32 if kind == _ENUM else 64
                    return value - (1 << bits) if signed and value >> (bits - 1) else value
            tid += 1

    def has_member(self, struct_name: str, member_path: str) -> bool:
        """Whether the struct exists and has the member (bitfields included)."""
        try:
            self._locate(struct_name, member_path)
        except _Missing:
            return False
        return True


# Offsets the BPF programs read, as C macro name (without the OFF_ prefix) -> (struct, member).
KERNEL_OFFSETS = {
    "TASK_FILES": ("task_struct", "files"),
    "TASK_FS": ("task_struct", "fs"),
    "TASK_REAL_PARENT": ("task_struct", "real_parent"),
    "TASK_TGID": ("task_struct", "tgid"),
    "TASK_PID": ("task_struct", "pid"),
    "TASK_NSPROXY": ("task_struct", "nsproxy"),
    "NSPROXY_MNT_NS": ("nsproxy", "mnt_ns"),
    "MNT_NS_INUM": ("mnt_namespace", "ns.inum"),
    "FILES_FDT": ("files_struct", "fdt"),
    "FDT_MAX_FDS": ("fdtable", "max_fds"),
    "FDT_FD": ("fdtable", "fd"),
    "FDT_OPEN_FDS": ("fdtable", "open_fds"),
    "FILE_PATH_MNT": ("file", "f_path.mnt"),
    "FILE_PATH_DENTRY": ("file", "f_path.dentry"),
    "FILE_INODE": ("file", "f_inode"),
    "FILE_POS": ("file", "f_pos"),            # content capture: where a write landed
    "FILE_FLAGS": ("file", "f_flags"),
    "INODE_SIZE": ("inode", "i_size"),
    "FS_PWD_MNT": ("fs_struct", "pwd.mnt"),
    "FS_PWD_DENTRY": ("fs_struct", "pwd.dentry"),
    "FS_ROOT_MNT": ("fs_struct", "root.mnt"),
    "FS_ROOT_DENTRY": ("fs_struct", "root.dentry"),
    "DENTRY_PARENT": ("dentry", "d_parent"),
    "DENTRY_NAME_LEN": ("dentry", "d_name.len"),
    "DENTRY_NAME_HASH": ("dentry", "d_name.hash"),
    "DENTRY_NAME_PTR": ("dentry", "d_name.name"),
    "DENTRY_INODE": ("dentry", "d_inode"),
    "DENTRY_SB": ("dentry", "d_sb"),
    "INODE_MODE": ("inode", "i_mode"),
    "INODE_INO": ("inode", "i_ino"),
    "INODE_SB": ("inode", "i_sb"),
    "SB_DEV": ("super_block", "s_dev"),
    "MOUNT_MNT": ("mount", "mnt"),
    "MOUNT_PARENT": ("mount", "mnt_parent"),
    "MOUNT_MOUNTPOINT": ("mount", "mnt_mountpoint"),
    "VFSMOUNT_ROOT": ("vfsmount", "mnt_root"),
    "VFSMOUNT_SB": ("vfsmount", "mnt_sb"),
    "MAPPING_HOST": ("address_space", "host"),
}
# Offsets the programs can do without (the C side tests #ifdef OFF_...): a large folio's order
# (kernels >= 5.16; without them a dirtied folio counts as one page).
OPTIONAL_OFFSETS = {
    "FOLIO_FLAGS_1": ("folio", "_flags_1"),
    "FOLIO_HEAD_1": ("folio", "_head_1"),
}


def kernel_offsets(btf: BTF | None = None) -> dict[str, int]:
    """``{"OFF_TASK_FILES": 1824, ...}`` for every entry of KERNEL_OFFSETS; BTFError names
    every field that cannot be located, not just the first."""
    if btf is None:
        btf = BTF()
    offsets, missing = {}, []
    for macro, (struct_name, member_path) in KERNEL_OFFSETS.items():
        try:
            offsets["OFF_" + macro] = btf.offsetof(struct_name, member_path)
        except _Unusable as e:
            why = "" if isinstance(e, _Missing) else " (bitfield)"
            missing.append(f"{struct_name}.{member_path}{why}")
    if missing:
        raise BTFError(f"kernel BTF ({btf.source}) lacks fields the probes read: "
                       + ", ".join(missing))
    for macro, (struct_name, member_path) in OPTIONAL_OFFSETS.items():
        try:
            offsets["OFF_" + macro] = btf.offsetof(struct_name, member_path)
        except _Unusable:
            pass
    return offsets


def cflags(offsets: dict[str, int]) -> list[str]:
    """Compiler flags defining each offset as a macro, e.g. ``-DOFF_TASK_FILES=1824``."""
    return [f"-D{name}={value}" for name, value in offsets.items()]
