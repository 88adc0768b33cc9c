"""Byte layouts of the structs the kernel sends and Python reads, computed from sniff.h.

sniff.h stays the one definition: its structs use only fixed-size integer types, char arrays
and nested sniff structs (arrays of them too), laid out with the C rules for natural
alignment, which is what this module computes. At load, the live source checks the result
against the layout BCC compiled (its debug info), so the two can never silently disagree.
Decoding then reads a record with one precompiled ``struct.Struct`` per layout, with no ctypes
object per record.
"""
from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from functools import lru_cache

from . import abi

_SCALARS = {"u8": "B", "s8": "b", "u16": "H", "s16": "h", "u32": "I", "s32": "i", "u64": "Q",
            "s64": "q", "char": "c"}
_STRUCT = re.compile(r"struct\s+(\w+)\s*\{(.*?)\n\};", re.S)
_MEMBER = re.compile(r"^\s*(struct\s+\w+|\w+)\s+(\w+)(?:\[(\w+)\])?\s*;", re.M)


@dataclass(frozen=True)
class Field:
    name: str        # dotted for nested members: "names.1.watch", "key.id"
    offset: int
    code: str        # struct module code; "Ns" for char arrays
    size: int


@dataclass(frozen=True)
class Layout:
    name: str
    size: int
    align: int
    fields: tuple[Field, ...]

    def offset(self, name: str) -> int:
        return self.field(name).offset

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def reader(self, names: tuple[str, ...]) -> struct.Struct:
        """One Struct that unpacks the named fields, in that order, from the start of a record
        (names must be given in increasing offset order)."""
        fmt, pos = "<", 0
        for name in names:
            f = self.field(name)
            if f.offset < pos:
                raise ValueError(f"{name} is not after the previous field")
            fmt += f"{f.offset - pos}x" if f.offset > pos else ""
            fmt += f.code
            pos = f.offset + f.size
        return struct.Struct(fmt)


    def pack(self, values: dict) -> bytearray:
        """A zeroed struct with the named fields set (the inverse of reader(); tests build
        kernel records with it)."""
        out = bytearray(self.size)
        for name, value in values.items():
            f = self.field(name)
            struct.pack_into("<" + f.code, out, f.offset, value)
        return out


def _strip_comments(text: str) -> str:
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


@lru_cache(maxsize=None)
def _bodies() -> dict[str, str]:
    text = _strip_comments(abi.HEADER.read_text())
    return {name: body for name, body in _STRUCT.findall(text)}


@lru_cache(maxsize=None)
def layout(name: str) -> Layout:
    """The layout of ``struct <name>`` in sniff.h."""
    body = _bodies()[name]
    fields: list[Field] = []
    pos, align = 0, 1
    for typ, member, count in _MEMBER.findall(body):
        n = abi.C[count] if count and not count.isdigit() else int(count or 1)
        if typ.startswith("struct"):
            inner = layout(typ.split()[1])
            pos = -(-pos // inner.align) * inner.align
            for i in range(n):
                base = pos + i * inner.size
                prefix = f"{member}.{i}." if count else f"{member}."
                fields += [Field(prefix + f.name, base + f.offset, f.code, f.size) for f in inner.fields]
            pos += n * inner.size
            align = max(align, inner.align)
            continue
        code = _SCALARS[typ]
        size = struct.calcsize(code)
        pos = -(-pos // size) * size
        if code == "c":
            fields.append(Field(member, pos, f"{n}s", n))
        else:
            fields += [Field(f"{member}.{i}" if count else member, pos + i * size, code, size)
                       for i in range(n)]
        pos += n * size
        align = max(align, size)
    size = -(-pos // align) * align
    return Layout(name, size, align, tuple(fields))


def check_against(lay: Layout, ctypes_class) -> list[str]:
    """Differences between our layout and a ctypes class's (BCC's rendering of the same struct,
    from the compiled program); empty when they agree."""
    import ctypes
    theirs: dict[str, int] = {}

    def walk(cls, base: int, prefix: str) -> None:
        for fname, ftype in cls._fields_:
            if fname.startswith("__pad"):
                continue
            off = base + getattr(cls, fname).offset
            if isinstance(ftype, type) and issubclass(ftype, ctypes.Structure):
                walk(ftype, off, f"{prefix}{fname}.")
            elif (issubclass(ftype, ctypes.Array) and isinstance(ftype._type_, type)
                  and issubclass(ftype._type_, ctypes.Structure)):
                for i in range(ftype._length_):
                    walk(ftype._type_, off + i * ctypes.sizeof(ftype._type_), f"{prefix}{fname}.{i}.")
            else:
                theirs[prefix + fname] = off
    walk(ctypes_class, 0, "")
    ours = {f.name: f.offset for f in lay.fields}
    # char arrays are one field for both; integer arrays (pad[3]) are split on our side only
    ours = {k: v for k, v in ours.items() if not re.search(r"\.\d+$", k) or k.rsplit(".", 1)[0] not in theirs}
    problems = [f"{k}: sniff.h {ours.get(k)} vs compiled {theirs.get(k)}"
                for k in sorted(set(ours) | set(theirs))
                if ours.get(k) != theirs.get(k) and not k.startswith("pad") and ".pad" not in k]
    return problems
