"""The bpf(2) system call through ctypes: creating maps, loading and attaching programs, and
reading and writing map entries, with no BCC (hence no LLVM) in the running process.

ctypes releases the GIL for the call, so programs loaded from several threads are verified by
the kernel in parallel.
"""
from __future__ import annotations

import ctypes
import errno
import os

NR_BPF = {"x86_64": 321, "aarch64": 280, "riscv64": 280, "ppc64le": 361, "s390x": 351}
# commands (include/uapi/linux/bpf.h)
MAP_CREATE, MAP_LOOKUP_ELEM, MAP_UPDATE_ELEM, MAP_DELETE_ELEM, MAP_GET_NEXT_KEY = 0, 1, 2, 3, 4
PROG_LOAD, RAW_TRACEPOINT_OPEN, MAP_LOOKUP_BATCH, MAP_DELETE_BATCH = 5, 17, 24, 27
PROG_TYPE_RAW_TRACEPOINT = 17
LOG_SIZE = 16 << 20        # the verifier log of a refused program (its tail on kernels >= 6.4)

_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long
_syscall.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_uint]


class BPFError(OSError):
    pass


class _MapCreate(ctypes.Structure):
    _fields_ = [("map_type", ctypes.c_uint32), ("key_size", ctypes.c_uint32),
                ("value_size", ctypes.c_uint32), ("max_entries", ctypes.c_uint32),
                ("map_flags", ctypes.c_uint32), ("inner_map_fd", ctypes.c_uint32),
                ("numa_node", ctypes.c_uint32), ("map_name", ctypes.c_char * 16)]


class _Elem(ctypes.Structure):
    _fields_ = [("map_fd", ctypes.c_uint32), ("key", ctypes.c_uint64),
                ("value", ctypes.c_uint64), ("flags", ctypes.c_uint64)]


class _Batch(ctypes.Structure):
    _fields_ = [("in_batch", ctypes.c_uint64), ("out_batch", ctypes.c_uint64),
                ("keys", ctypes.c_uint64), ("values", ctypes.c_uint64),
                ("count", ctypes.c_uint32), ("map_fd", ctypes.c_uint32),
                ("elem_flags", ctypes.c_uint64), ("flags", ctypes.c_uint64)]


class _ProgLoad(ctypes.Structure):
    _fields_ = [("prog_type", ctypes.c_uint32), ("insn_cnt", ctypes.c_uint32),
                ("insns", ctypes.c_uint64), ("license", ctypes.c_uint64),
                ("log_level", ctypes.c_uint32), ("log_size", ctypes.c_uint32),
                ("log_buf", ctypes.c_uint64), ("kern_version", ctypes.c_uint32),
                ("prog_flags", ctypes.c_uint32), ("prog_name", ctypes.c_char * 16),
                ("prog_ifindex", ctypes.c_uint32), ("expected_attach_type", ctypes.c_uint32)]


class _RawTpOpen(ctypes.Structure):
    _fields_ = [("name", ctypes.c_uint64), ("prog_fd", ctypes.c_uint32), ("pad", ctypes.c_uint32)]


def _nr() -> int:
    machine = os.uname().machine
    if machine not in NR_BPF:
        raise BPFError(errno.ENOSYS, f"no bpf syscall number known for {machine}")
    return NR_BPF[machine]


def bpf(cmd: int, attr: ctypes.Structure) -> int:
    ret = _syscall(_nr(), cmd, ctypes.addressof(attr), ctypes.sizeof(attr))
    if ret < 0:
        err = ctypes.get_errno()
        raise BPFError(err, os.strerror(err))
    return ret


def map_create(map_type: int, key_size: int, value_size: int, max_entries: int, flags: int,
               name: str) -> int:
    attr = _MapCreate(map_type, key_size, value_size, max_entries, flags, 0, 0,
                      name.encode()[:15])
    return bpf(MAP_CREATE, attr)


def prog_load(name: str, insns: bytes, license: bytes = b"GPL", log: bool = False) -> tuple[int, str]:
    """(fd, "") or, refused, (-errno, the verifier's log when log=True)."""
    code = ctypes.create_string_buffer(insns, len(insns))
    lic = ctypes.create_string_buffer(license)
    buf = ctypes.create_string_buffer(LOG_SIZE) if log else None
    attr = _ProgLoad(PROG_TYPE_RAW_TRACEPOINT, len(insns) // 8, ctypes.addressof(code),
                     ctypes.addressof(lic), 1 if log else 0, LOG_SIZE if log else 0,
                     ctypes.addressof(buf) if log else 0, 0, 0, name.encode()[:15])
    try:
        return bpf(PROG_LOAD, attr), ""
    except BPFError as exc:
        return -exc.errno, buf.value.decode("utf-8", "replace") if log else ""


def raw_tracepoint_open(tp: str, prog_fd: int) -> int:
    name = ctypes.create_string_buffer(tp.encode())
    return bpf(RAW_TRACEPOINT_OPEN, _RawTpOpen(ctypes.addressof(name), prog_fd))


def possible_cpus() -> int:
    try:
        with open("/sys/devices/system/cpu/possible") as f:
            text = f.read().strip()
        return max(int(part.split("-")[-1]) for part in text.split(",")) + 1
    except (OSError, ValueError):
        return os.cpu_count() or 1


# ---- BCC's key/leaf descriptions (JSON) turned into ctypes types ---------------------------

SCALARS = {"_Bool": ctypes.c_bool, "char": ctypes.c_char, "unsigned char": ctypes.c_ubyte,
           "signed char": ctypes.c_byte, "short": ctypes.c_short, "unsigned short": ctypes.c_ushort,
           "int": ctypes.c_int, "unsigned int": ctypes.c_uint, "long": ctypes.c_long,
           "unsigned long": ctypes.c_ulong, "long long": ctypes.c_longlong,
           "unsigned long long": ctypes.c_ulonglong, "float": ctypes.c_float,
           "double": ctypes.c_double, "__int128": ctypes.c_int64 * 2,
           "unsigned __int128": ctypes.c_uint64 * 2}


def ctype_of(desc):
    """A description is a scalar's name, or [name, [[field, type], [field, type, [n]] (array),
    [field, type, bits], [field, [..], "struct"|"union"|"struct_packed"] ...], kind]."""
    if isinstance(desc, str):
        return SCALARS[desc]
    fields, anon = [], []
    for f in desc[1]:
        if len(f) == 2:
            fields.append((f[0], ctype_of(f[1])))
        elif isinstance(f[2], list):
            fields.append((f[0], ctype_of(f[1]) * f[2][0]))
        elif isinstance(f[2], int):
            fields.append((f[0], ctype_of(f[1]), f[2]))
        elif f[2] in ("struct", "union", "struct_packed"):
            name = f[0] or f"__anon{len(anon)}"
            if not f[0]:
                anon.append(name)
            fields.append((name, ctype_of(f)))
        else:
            raise ValueError(f"unknown type description {f!r}")
    kind = desc[2] if len(desc) > 2 else "struct"
    body = {"_anonymous_": anon, "_fields_": fields}
    if kind == "struct_packed":
        body["_pack_"] = 1
    return type(str(desc[0]), (ctypes.Union if kind == "union" else ctypes.Structure,), body)
