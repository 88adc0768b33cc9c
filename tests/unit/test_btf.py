"""probes.btf: synthetic BTF blobs for the format corners, the running kernel's BTF (checked
against bpftool's decoding of it) for the offsets the BPF programs actually use."""
from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess

import pytest

from sniff_tui.probes.btf import KERNEL_OFFSETS, OPTIONAL_OFFSETS, VMLINUX_BTF, BTF, BTFError, cflags, kernel_offsets

INT, PTR, ARRAY, STRUCT, UNION, ENUM, FWD, TYPEDEF = 1, 2, 3, 4, 5, 6, 7, 8
VOLATILE, CONST, RESTRICT, FUNC, FUNC_PROTO, VAR, DATASEC = 9, 10, 11, 12, 13, 14, 15
FLOAT, DECL_TAG, TYPE_TAG, ENUM64 = 16, 17, 18, 19


class Blob:
    """Encodes BTF types; each method appends one type and returns its id."""

    def __init__(self):
        self.types: list[list[int]] = []
        self.strings = bytearray(b"\0")

    def string(self, name: str) -> int:
        if not name:
            return 0
        off = len(self.strings)
        self.strings += name.encode() + b"\0"
        return off

    def add(self, kind, name="", vlen=0, size_or_type=0, tail=(), kflag=0) -> int:
        info = (kflag << 31) | (kind << 24) | vlen
        self.types.append([self.string(name), info, size_or_type, *tail])
        return len(self.types)

    def next_id(self, ahead=0) -> int:
        return len(self.types) + 1 + ahead

    def int(self, name="int", size=4, bits=None, bit_offset=0):
        return self.add(INT, name, 0, size, [(bit_offset << 16) | (bits or size * 8)])

    def ptr(self, to):
        return self.add(PTR, size_or_type=to)

    def typedef(self, name, to):
        return self.add(TYPEDEF, name, size_or_type=to)

    def const(self, to):
        return self.add(CONST, size_or_type=to)

    def volatile(self, to):
        return self.add(VOLATILE, size_or_type=to)

    def struct(self, name, size, members, kind=STRUCT, kflag=0):
        """members: (name, type id, bit offset[, bitfield size])"""
        tail = []
        for m in members:
            mname, mtype, bits, bitsize = (*m, 0) if len(m) == 3 else m
            tail += [self.string(mname), mtype, (bitsize << 24) | bits if kflag else bits]
        return self.add(kind, name, len(members), size, tail, kflag)

    def union(self, name, size, members):
        return self.struct(name, size, members, kind=UNION)

    def build(self, order="<", magic=0xEB9F, version=1) -> bytes:
        words = [w for t in self.types for w in t]
        types = struct.pack(f"{order}{len(words)}I", *words)
        header = struct.pack(order + "HBBIIIII", magic, version, 0, 24,
                             0, len(types), len(types), len(self.strings))
        return header + types + bytes(self.strings)


def every_kind(b: Blob) -> None:
    """One type of every kind, with vlen > 1 where there is a vlen, for the walk to skip."""
    i = b.int("long", 8)
    b.ptr(i)
    b.add(ARRAY, tail=[i, i, 4])
    b.struct("pair", 16, [("a", i, 0), ("b", i, 64)])
    b.union("either", 8, [("a", i, 0), ("b", i, 0)])
    b.add(ENUM, "colour", 3, 4, [b.string("RED"), 0, b.string("GREEN"), 1, b.string("BLUE"), 2])
    b.add(FWD, "later")
    b.typedef("long_t", i)
    b.volatile(i)
    b.const(i)
    b.add(RESTRICT, size_or_type=i)
    proto = b.add(FUNC_PROTO, "", 2, i, [b.string("x"), i, b.string("y"), i])
    b.add(FUNC, "f", 1, proto)
    var = b.add(VAR, "v", 0, i, [1])
    b.add(DATASEC, ".data", 2, 16, [var, 0, 8, var, 8, 8])
    b.add(FLOAT, "double", 0, 8)
    b.add(DECL_TAG, "tag", 0, var, [0xFFFFFFFF])
    b.add(TYPE_TAG, "user", 0, i)
    b.add(ENUM64, "big", 2, 8, [b.string("A"), 1, 0, b.string("B"), 0, 1])


def kernelish(b: Blob) -> None:
    """file/path/dentry/qstr laid out the way recent kernels do it: f_path in an anonymous
    union, qstr.len in an anonymous struct inside an anonymous union."""
    u32, u64 = b.int("unsigned int", 4), b.int("long long unsigned int", 8)
    char = b.int("char", 1)
    void_ptr = b.ptr(0)
    path = b.struct("path", 16, [("mnt", void_ptr, 0), ("dentry", void_ptr, 64)])
    const_path = b.const(b.typedef("path_t", b.volatile(path)))
    f_path_union = b.union("", 16, [("f_path", const_path, 0), ("__f_path", path, 0)])
    b.struct("file", 184, [("f_lock", u32, 0), ("f_inode", void_ptr, 256),
                           ("", f_path_union, 512), ("f_pos", u64, 896)])
    hash_len = b.struct("", 8, [("hash", u32, 0), ("len", u32, 32)])
    anon = b.union("", 8, [("", hash_len, 0), ("hash_len", u64, 0)])
    qstr = b.struct("qstr", 16, [("", anon, 0), ("name", b.const(b.ptr(char)), 64)])
    b.struct("dentry", 192, [("d_flags", u32, 0), ("d_parent", void_ptr, 192),
                             ("d_name", qstr, 256)])


def kernelish_btf(order="<") -> BTF:
    b = Blob()
    kernelish(b)
    return BTF.from_bytes(b.build(order))


def test_plain_members_and_sizes():
    b = Blob()
    i, ptr = b.int("int", 4), b.ptr(0)
    b.struct("task", 40, [("pid", i, 0), ("tgid", i, 32), ("files", ptr, 256)])
    btf = BTF.from_bytes(b.build())
    assert btf.offsetof("task", "pid") == 0
    assert btf.offsetof("task", "tgid") == 4
    assert btf.offsetof("task", "files") == 32
    assert btf.sizeof("task") == 40


@pytest.mark.parametrize("order", ["<", ">"])
def test_nested_and_anonymous_members(order):
    btf = kernelish_btf(order)
    assert btf.offsetof("file", "f_path") == 64
    assert btf.offsetof("file", "f_path.mnt") == 64     # through const, typedef, volatile
    assert btf.offsetof("file", "f_path.dentry") == 72
    assert btf.offsetof("file", "__f_path.dentry") == 72
    assert btf.offsetof("file", "f_pos") == 112
    assert btf.offsetof("dentry", "d_name.len") == 36   # anonymous struct in anonymous union
    assert btf.offsetof("dentry", "d_name.hash") == 32
    assert btf.offsetof("dentry", "d_name.hash_len") == 32
    assert btf.offsetof("dentry", "d_name.name") == 40
    assert btf.offsetof("qstr", "len") == 4
    assert btf.sizeof("file") == 184 and btf.sizeof("qstr") == 16
    assert btf.has_member("file", "f_path.dentry")


def test_anonymous_member_at_an_offset_adds_up():
    b = Blob()
    i = b.int()
    inner = b.struct("", 8, [("x", i, 0), ("y", i, 32)])
    middle = b.union("", 8, [("", inner, 0)])
    b.struct("outer", 24, [("a", i, 0), ("", middle, 64), ("z", i, 128)])
    btf = BTF.from_bytes(b.build())
    assert btf.offsetof("outer", "y") == 12
    assert btf.offsetof("outer", "z") == 16


@pytest.mark.parametrize("order", ["<", ">"])
def test_every_kind_is_skipped(order):
    b = Blob()
    every_kind(b)
    i, p = b.int(), b.ptr(0)
    later = b.next_id(ahead=1)  # a member whose type comes after the struct
    b.struct("target", 24, [("p", p, 0), ("late", later, 64)])
    assert b.struct("late_t", 16, [("q", i, 0), ("r", i, 96)]) == later
    every_kind(b)
    b.struct("last", 4, [("only", 1, 0)])
    btf = BTF.from_bytes(b.build(order))
    assert btf.offsetof("target", "late.r") == 20
    assert btf.offsetof("last", "only") == 0
    assert btf.sizeof("pair") == 16 and btf.offsetof("pair", "b") == 8
    assert btf.sizeof("either") == 8 and btf.sizeof("last") == 4


def test_kind_flag_bitfields():
    b = Blob()
    u32 = b.int("unsigned int")
    b.struct("flags", 24, [("a", u32, 0, 3), ("b", u32, 3, 5), ("c", u32, 32),
                           ("d", u32, 64, 8), ("e", u32, 96, 0)], kflag=1)
    btf = BTF.from_bytes(b.build())
    assert btf.offsetof("flags", "c") == 4
    assert btf.offsetof("flags", "e") == 12  # the size byte is not part of the offset
    for name in ("a", "b", "d"):  # d is byte-aligned, but still a bitfield
        with pytest.raises(BTFError, match=f"flags.{name} is a bitfield"):
            btf.offsetof("flags", name)
        assert btf.has_member("flags", name)


def test_without_kind_flag_the_offset_is_all_32_bits():
    b = Blob()
    b.struct("huge", 1 << 22, [("far", b.int(), (1 << 24) + 64)])
    assert BTF.from_bytes(b.build()).offsetof("huge", "far") == (1 << 21) + 8


def test_legacy_int_bitfield():
    b = Blob()
    three_bits = b.int("unsigned int", 4, bits=3)
    b.struct("old", 4, [("mode", three_bits, 0), ("whole", b.int(), 32)])
    btf = BTF.from_bytes(b.build())
    with pytest.raises(BTFError, match="bitfield"):
        btf.offsetof("old", "mode")
    assert btf.offsetof("old", "whole") == 4


def test_first_struct_with_members_wins_over_fwd_and_empty():
    b = Blob()
    i = b.int()
    b.add(FWD, "path")
    b.struct("path", 0, [])
    b.struct("path", 16, [("mnt", i, 0)])
    b.struct("path", 99, [("other", i, 0)])
    b.struct("empty", 0, [])
    b.add(FWD, "opaque")
    btf = BTF.from_bytes(b.build())
    assert btf.sizeof("path") == 16
    assert not btf.has_member("path", "other")
    assert btf.sizeof("empty") == 0
    with pytest.raises(BTFError, match="struct opaque not found"):
        btf.sizeof("opaque")


def test_missing_things_are_named():
    btf = kernelish_btf()
    with pytest.raises(BTFError) as e:
        btf.offsetof("file", "f_nope")
    assert "file" in str(e.value) and "f_nope" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(BTFError, match=r"file has no member f_path\.nope \(no nope in f_path\)"):
        btf.offsetof("file", "f_path.nope")
    with pytest.raises(BTFError, match=r"file\.f_inode is not a struct or union"):
        btf.offsetof("file", "f_inode.i_mode")
    with pytest.raises(BTFError, match="struct inode not found"):
        btf.offsetof("inode", "i_mode")
    assert not btf.has_member("file", "f_nope")
    assert not btf.has_member("inode", "i_mode")
    assert not btf.has_member("file", "f_inode.i_mode")


@pytest.mark.parametrize("data, message", [
    (b"\x7fELF" + bytes(40), "not BTF: bad magic"),
    (b"\x9f\xeb\x01", "not BTF: only 3 bytes"),
    (struct.pack("<HBBIIIII", 0xEB9F, 2, 0, 24, 0, 0, 0, 1) + b"\0", "unsupported BTF version 2"),
    (struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, 12, 12, 100), "bad section offsets"),
    (struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, 6, 8, 1) + bytes(9), "bad section offsets"),
])
def test_not_btf(data, message):
    with pytest.raises(BTFError, match=message):
        BTF.from_bytes(data)


def test_corrupt_types_are_reported_when_reached():
    b = Blob()
    b.struct("early", 4, [("x", b.int(), 0)])
    b.add(25, "weird")
    b.struct("late", 4, [("x", 1, 0)])
    btf = BTF.from_bytes(b.build())
    assert btf.offsetof("early", "x") == 0  # the walk stops before the bad type
    for _ in range(2):
        with pytest.raises(BTFError, match="type 3 has unknown kind 25"):
            btf.sizeof("late")

    b = Blob()
    b.add(0, "void?")  # kind 0 is only ever the implicit type 0
    with pytest.raises(BTFError, match="type 1 has unknown kind 0"):
        BTF.from_bytes(b.build()).sizeof("anything")

    b = Blob()
    b.int()
    b.add(STRUCT, "cut", 5, 4, [0, 1, 0])  # claims 5 members, has 1
    with pytest.raises(BTFError, match="type 2 has a truncated record"):
        BTF.from_bytes(b.build()).sizeof("anything")

    b = Blob()
    b.int()
    b.types.append([0])  # a lone word: not even a header
    with pytest.raises(BTFError, match="type 2 has a truncated record"):
        BTF.from_bytes(b.build()).sizeof("anything")

    b = Blob()
    b.struct("dangling", 4, [("x", 42, 0)])
    b.struct("s", 4, [("", 42, 0)])
    btf = BTF.from_bytes(b.build())
    with pytest.raises(BTFError, match="missing type 42"):
        btf.offsetof("dangling", "x.y")
    with pytest.raises(BTFError, match="missing type 42"):
        btf.offsetof("s", "x")


def test_reads_a_file(tmp_path):
    b = Blob()
    b.struct("vfsmount", 32, [("mnt_root", b.ptr(0), 0), ("mnt_sb", 2, 64)])
    path = tmp_path / "vmlinux"
    path.write_bytes(b.build())
    btf = BTF(path)
    assert btf.offsetof("vfsmount", "mnt_sb") == 8
    assert btf.source == str(path)


def test_no_file(tmp_path):
    with pytest.raises(BTFError,
                       match=r"^no BTF at .*/absent: the kernel needs CONFIG_DEBUG_INFO_BTF=y$"):
        BTF(tmp_path / "absent")
    with pytest.raises(BTFError, match="cannot read BTF at"):
        BTF(tmp_path)  # a directory


def all_kernel_structs(b: Blob) -> dict[str, int]:
    """Structs holding every KERNEL_OFFSETS member (nested paths become nested structs),
    each member 8 bytes after the previous one; returns the expected offsets."""
    ptr = b.ptr(0)
    tree: dict[str, dict] = {}
    for struct_name, path in KERNEL_OFFSETS.values():
        node = tree.setdefault(struct_name, {})
        for part in path.split("."):
            node = node.setdefault(part, {})

    def emit(name, node) -> tuple[int, dict[str, int]]:
        members, offsets = [], {}
        for n, (member, sub) in enumerate(node.items()):
            if sub:
                type_id, inner = emit("", sub)
                offsets.update({f"{member}.{k}": 8 * n + v for k, v in inner.items()})
            else:
                type_id = ptr
            members.append((member, type_id, 64 * n))
            offsets[member] = 8 * n
        return b.struct(name, 8 * len(members), members), offsets

    expected = {}
    for struct_name, node in tree.items():
        _, offsets = emit(struct_name, node)
        expected.update({f"{struct_name}:{k}": v for k, v in offsets.items()})
    return {"OFF_" + macro: expected[f"{s}:{p}"] for macro, (s, p) in KERNEL_OFFSETS.items()}


def test_kernel_offsets_and_cflags_from_a_synthetic_kernel():
    b = Blob()
    expected = all_kernel_structs(b)
    offsets = kernel_offsets(BTF.from_bytes(b.build()))
    assert offsets == expected
    assert list(offsets) == ["OFF_" + m for m in KERNEL_OFFSETS]
    assert offsets["OFF_FILE_PATH_DENTRY"] == expected["OFF_FILE_PATH_MNT"] + 8
    flags = cflags(offsets)
    assert flags[0] == f"-DOFF_TASK_FILES={offsets['OFF_TASK_FILES']}"
    assert len(flags) == len(KERNEL_OFFSETS)
    assert cflags({"OFF_X": 7, "OFF_Y": 0}) == ["-DOFF_X=7", "-DOFF_Y=0"]


def test_kernel_offsets_lists_every_missing_field():
    b = Blob()
    ptr = b.ptr(0)
    b.struct("vfsmount", 16, [("mnt_root", ptr, 0), ("mnt_sb", ptr, 64)])
    b.struct("dentry", 8, [("d_parent", ptr, 0), ("d_name", b.int(), 32, 8)], kflag=1)
    with pytest.raises(BTFError) as e:
        kernel_offsets(BTF.from_bytes(b.build(), source="test.btf"))
    message = str(e.value)
    assert message.startswith(
        "kernel BTF (test.btf) lacks fields the probes read: task_struct.files, ")
    assert "\n" not in message
    assert "vfsmount" not in message and "d_parent" not in message
    assert "dentry.d_name.len" in message and "mount.mnt_parent" in message
    missing = message.split(": ", 1)[1].split(", ")
    assert len(missing) == len(KERNEL_OFFSETS) - 3  # mnt_root, mnt_sb, d_parent are there


# -- the running kernel ------------------------------------------------------------------------

needs_kernel_btf = pytest.mark.skipif(not os.path.exists(VMLINUX_BTF), reason=f"no {VMLINUX_BTF}")


@needs_kernel_btf
def test_real_kernel_offsets():
    offsets = kernel_offsets()
    required = {"OFF_" + m for m in KERNEL_OFFSETS}
    optional = {"OFF_" + m for m in OPTIONAL_OFFSETS}
    assert required <= set(offsets) <= required | optional
    assert all(isinstance(v, int) and 0 <= v < 8192 for v in offsets.values())
    assert offsets["OFF_FILE_PATH_DENTRY"] == offsets["OFF_FILE_PATH_MNT"] + 8
    assert offsets["OFF_DENTRY_NAME_PTR"] == offsets["OFF_DENTRY_NAME_LEN"] + 4


def bpftool_path() -> str | None:
    candidates = ("/usr/sbin/bpftool", "/usr/local/sbin/bpftool")
    return shutil.which("bpftool") or next((p for p in candidates if os.access(p, os.X_OK)), None)


@pytest.fixture(scope="module")
def bpftool_types() -> dict[int | str, dict]:
    """bpftool's own decoding of the kernel BTF: id -> kind, name, size, members; and
    name -> the first STRUCT of that name with members."""
    tool = bpftool_path()
    if not os.path.exists(VMLINUX_BTF) or tool is None:
        pytest.skip("needs the kernel BTF and bpftool")
    out = subprocess.run([tool, "btf", "dump", "file", VMLINUX_BTF, "format", "raw"],
                         capture_output=True, text=True, check=True).stdout
    types: dict[int, dict] = {}
    head = re.compile(r"\[(\d+)\] (\w+) '([^']*)'(.*)")
    member = re.compile(r"\t'([^']*)' type_id=(\d+) bits_offset=(\d+)")
    for line in out.splitlines():
        if line.startswith("["):
            tid, kind, name, rest = head.match(line).groups()
            current = types[int(tid)] = {"kind": kind, "name": name, "members": [],
                                         **dict(re.findall(r"(\w+)=(\S+)", rest))}
        elif current["kind"] in ("STRUCT", "UNION"):
            name, type_id, bits = member.match(line).groups()
            current["members"].append((name, int(type_id), int(bits)))
    for t in list(types.values()):
        if t["kind"] == "STRUCT" and t["members"]:
            types.setdefault(t["name"], t)
    return types


def bpftool_offsetof(types: dict[int | str, dict], struct_name: str, path: str) -> int:
    """The byte offset summed along the chain, anonymous members included, as bpftool sees it."""
    tid = struct_name

    def find(tid, name):  # -> (bits, type id) or None
        for mname, mtype, bits in types[tid]["members"]:
            if mname == name:
                return bits, mtype
            if mname == "(anon)":
                inner = find(mtype, name)
                if inner:
                    return bits + inner[0], inner[1]
        return None

    total = 0
    for part in path.split("."):
        bits, tid = find(tid, part)
        total += bits
        while types[tid]["kind"] in ("TYPEDEF", "CONST", "VOLATILE", "RESTRICT", "TYPE_TAG"):
            tid = int(types[tid]["type_id"])
    assert total % 8 == 0
    return total // 8


def test_bpftool_decoder_sees_file_f_path_in_an_anonymous_union(bpftool_types):
    direct = [name for name, _, _ in bpftool_types["file"]["members"]]
    if "f_path" not in direct:  # recent kernels: f_path sits in an anonymous union
        assert "(anon)" in direct
    assert bpftool_offsetof(bpftool_types, "file", "f_path.dentry") == \
        bpftool_offsetof(bpftool_types, "file", "f_path") + 8


def test_real_offsets_match_bpftool(bpftool_types):
    btf = BTF()
    offsets = kernel_offsets(btf)
    for macro, (struct_name, path) in KERNEL_OFFSETS.items():
        assert offsets["OFF_" + macro] == bpftool_offsetof(bpftool_types, struct_name, path), macro
    for struct_name in {s for s, _ in KERNEL_OFFSETS.values()}:
        assert btf.sizeof(struct_name) == int(bpftool_types[struct_name]["size"]), struct_name
