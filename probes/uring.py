"""What the io_uring probes (probes/bpf/uring.h) need from the running kernel, read from its BTF:
the offsets of the io_kiocb fields and of each op's part of it, the request flag bits, and the
IORING_OP_* codes. An op whose struct this kernel lays out otherwise is left out and named (an
op it does not have at all needs nothing); without io_uring at all, the rest of the probes load
as before.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import abi
from .btf import BTF, BTFError

C = abi.C

# IORING_OP_* -> (sniff op, shape of its completion, the op's struct in the io_kiocb or None)
OPS = {
    "IORING_OP_READV": ("read", "SNIFF_SHAPE_FD", None),
    "IORING_OP_READ_FIXED": ("read", "SNIFF_SHAPE_FD", None),
    "IORING_OP_READ": ("read", "SNIFF_SHAPE_FD", None),
    "IORING_OP_READV_FIXED": ("read", "SNIFF_SHAPE_FD", None),
    "IORING_OP_WRITEV": ("write", "SNIFF_SHAPE_FD", None),
    "IORING_OP_WRITE_FIXED": ("write", "SNIFF_SHAPE_FD", None),
    "IORING_OP_WRITE": ("write", "SNIFF_SHAPE_FD", None),
    "IORING_OP_WRITEV_FIXED": ("write", "SNIFF_SHAPE_FD", None),
    "IORING_OP_OPENAT": ("open", "SNIFF_SHAPE_OPEN", "io_open"),
    "IORING_OP_OPENAT2": ("open", "SNIFF_SHAPE_OPEN", "io_open"),
    "IORING_OP_CLOSE": ("close", "SNIFF_SHAPE_FD", "io_close"),
    "IORING_OP_RENAMEAT": ("rename", "SNIFF_SHAPE_RENAME", "io_rename"),
    "IORING_OP_UNLINKAT": ("unlink", "SNIFF_SHAPE_PATH", "io_unlink"),
    "IORING_OP_FALLOCATE": ("fallocate", "SNIFF_SHAPE_FD", "io_sync"),
    "IORING_OP_FTRUNCATE": ("truncate", "SNIFF_SHAPE_FD", None),
    "IORING_OP_SPLICE": ("write", "SNIFF_SHAPE_FD_PAIR", "io_splice"),
}

# Fields of the request itself, as C macro name (without OFF_) -> member of struct io_kiocb.
REQUEST = {
    "URING_REQ_OPCODE": "opcode",
    "URING_REQ_FLAGS": "flags",
    "URING_REQ_FILE": "file",
    "URING_REQ_FD": "cqe.fd",            # the SQE's fd, until the completion reuses the field
    "URING_REQ_RES": "cqe.res",
    "URING_REQ_USER_DATA": "cqe.user_data",
}
# Fields of the submitting task: a ring's submission thread (SQPOLL) names its process.
TASK = {"URING_TASK_FLAGS": "flags", "URING_TASK_GROUP_LEADER": "group_leader", "URING_TASK_COMM": "comm"}
# Each op's own fields, in the union that starts the io_kiocb (io_kiocb.cmd).
OP_FIELDS = {
    "io_open": {"URING_OPEN_DFD": "dfd", "URING_OPEN_FILE_SLOT": "file_slot",
                "URING_OPEN_FILENAME": "filename"},
    "io_close": {"URING_CLOSE_FD": "fd", "URING_CLOSE_FILE_SLOT": "file_slot"},
    "io_rename": {"URING_RENAME_OLD_DFD": "old_dfd", "URING_RENAME_NEW_DFD": "new_dfd",
                  "URING_RENAME_OLDPATH": "oldpath", "URING_RENAME_NEWPATH": "newpath"},
    "io_unlink": {"URING_UNLINK_DFD": "dfd", "URING_UNLINK_FLAGS": "flags",
                  "URING_UNLINK_FILENAME": "filename"},
    "io_sync": {"URING_SYNC_OFF": "off", "URING_SYNC_LEN": "len", "URING_SYNC_MODE": "mode"},
    "io_splice": {"URING_SPLICE_FD_IN": "splice_fd_in", "URING_SPLICE_FLAGS": "flags"},
}
# --content: the write ops whose bytes are captured, by where the completion finds them, and the
# fields of their part of the io_kiocb (struct io_rw) it reads. Without them, io_uring writes
# are still counted, only not captured (said in missing).
CONTENT_KINDS = {"IORING_OP_WRITE": "SNIFF_CK_URING", "IORING_OP_WRITE_FIXED": "SNIFF_CK_URING",
                 "IORING_OP_WRITEV": "SNIFF_CK_URING_V", "IORING_OP_WRITEV_FIXED": "SNIFF_CK_URING_V"}
RW_FIELDS = {"URING_RW_ADDR": "addr", "URING_RW_LEN": "len", "URING_RW_POS": "kiocb.ki_pos"}
# Request flag bits (an unnamed kernel enum of REQ_F_*_BIT) -> C macro of the mask.
FLAG_BITS = {"SNIFF_REQ_F_FIXED_FILE": "REQ_F_FIXED_FILE_BIT", "SNIFF_REQ_F_CQE_SKIP": "REQ_F_CQE_SKIP_BIT"}
TRACEPOINTS = {"io_uring_submit_req": "uring_submit", "io_uring_complete": "uring_complete"}
# enum sniff_shape -> the completion program that finishes it
PROGRAMS = {"SNIFF_SHAPE_FD": "uring_file", "SNIFF_SHAPE_FD_PAIR": "uring_file",
            "SNIFF_SHAPE_OPEN": "uring_file", "SNIFF_SHAPE_NAME_COUNTED": "uring_name",
            "SNIFF_SHAPE_PATH": "uring_path", "SNIFF_SHAPE_RENAME": "uring_rename"}
RESUME = {"SNIFF_RESUME_URING_SUBMIT": "uring_submit", "SNIFF_RESUME_URING_FILE": "uring_file"}


@dataclass
class Plan:
    """What to compile and fill in: enabled is False when the kernel has no usable io_uring."""
    enabled: bool = False
    defines: dict[str, int] = field(default_factory=dict)
    opcodes: dict[int, int] = field(default_factory=dict)     # IORING_OP_* -> op | shape << 8
    content: dict[int, int] = field(default_factory=dict)     # IORING_OP_* -> enum sniff_content_kind
    missing: list[str] = field(default_factory=list)          # one line each, for -v and --stats

    def cflags(self) -> list[str]:
        return [f"-D{name}={value}" for name, value in self.defines.items()]


def plan(btf: BTF) -> Plan:
    out = Plan()
    try:
        defines = {"OFF_" + macro: btf.offsetof("io_kiocb", member) for macro, member in REQUEST.items()}
        defines["OFF_URING_FILENAME_NAME"] = btf.offsetof("filename", "name")
        for macro, member in TASK.items():
            defines["OFF_" + macro] = btf.offsetof("task_struct", member)
        for macro, bit in FLAG_BITS.items():
            defines[macro] = 1 << btf.enumerator(bit)
        cmd = btf.offsetof("io_kiocb", "cmd")
    except BTFError as exc:
        out.missing.append(f"io_uring is not followed: {exc}")
        return out
    usable = {}
    for struct_name, fields in OP_FIELDS.items():
        try:
            usable[struct_name] = {"OFF_" + m: cmd + btf.offsetof(struct_name, f) for m, f in fields.items()}
        except BTFError as exc:
            usable[struct_name] = None
            out.missing.append(f"io_uring: {exc}")
        # Ops this kernel cannot place are never dispatched; their offsets only need to exist.
        defines.update(usable[struct_name] or {"OFF_" + m: 0 for m in fields})
    try:
        defines.update({"OFF_" + m: cmd + btf.offsetof("io_rw", f) for m, f in RW_FIELDS.items()})
        rw = True
    except BTFError as exc:
        defines.update({"OFF_" + m: 0 for m in RW_FIELDS})
        rw = False
        out.missing.append(f"io_uring writes are not captured (--content): {exc}")
    for name, (op, shape, struct_name) in OPS.items():
        try:
            code = btf.enumerator(name)
        except BTFError:
            continue    # an op this kernel does not have cannot be submitted: nothing is missed
        if struct_name is not None and usable.get(struct_name) is None:
            continue
        if 0 <= code < C["SNIFF_URING_OPS"]:
            out.opcodes[code] = C["SNIFF_OP_" + op.upper()] | C[shape] << 8
            if rw and name in CONTENT_KINDS:
                out.content[code] = C[CONTENT_KINDS[name]]
    out.defines = {"SNIFF_URING": 1, **defines}
    out.enabled = True
    return out
