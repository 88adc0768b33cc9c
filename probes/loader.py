"""Compiling, loading and attaching the BPF programs with BCC, and the maps' Python handles.

The syscall tables below are the one place that says which syscall feeds which program. Only
raw tracepoints are attached, so no tracefs is needed.
"""
from __future__ import annotations

import ctypes
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from . import abi, uring
from .btf import BTF, VMLINUX_BTF, BTFError, cflags as btf_cflags, kernel_offsets


# Every file syscall enters through the raw sys_enter tracepoint and leaves through raw
# sys_exit (see the top of sniff.bpf.c for why). Dispatch is by syscall number, which is per
# architecture: a syscall this architecture lacks (open, rename... on arm64) has no number here.
SYSCALL_NUMBERS = {
    "x86_64": {
        "read": 0, "write": 1, "pread64": 17, "pwrite64": 18, "readv": 19, "writev": 20,
        "preadv": 295, "pwritev": 296, "preadv2": 327, "pwritev2": 328,
        "open": 2, "close": 3, "creat": 85, "openat": 257, "openat2": 437, "ftruncate": 77,
        "truncate": 76, "sendfile": 40, "copy_file_range": 326, "splice": 275,
        "close_range": 436, "rename": 82, "renameat": 264, "renameat2": 316, "unlink": 87,
        "unlinkat": 263, "rmdir": 84, "dup2": 33, "dup3": 292, "fallocate": 285, "mmap": 9,
    },
    "aarch64": {
        "read": 63, "write": 64, "readv": 65, "writev": 66, "pread64": 67, "pwrite64": 68,
        "preadv": 69, "pwritev": 70, "preadv2": 286, "pwritev2": 287,
        "close": 57, "openat": 56, "openat2": 437, "ftruncate": 46, "truncate": 45,
        "sendfile": 71, "copy_file_range": 285, "splice": 76, "close_range": 436,
        "renameat": 38, "renameat2": 276, "unlinkat": 35, "dup3": 24, "fallocate": 47,
        "mmap": 222,
    },
}
# The first six syscall arguments in struct pt_regs: (member, index within it).
ARG_REGS = {
    "x86_64": [("di", 0), ("si", 0), ("dx", 0), ("r10", 0), ("r8", 0), ("r9", 0)],
    "aarch64": [("regs", i) for i in range(6)],
}
READS = ("read", "pread64", "readv", "preadv", "preadv2")
WRITES = ("write", "pwrite64", "writev", "pwritev", "pwritev2")
# The other file syscalls: syscall -> the program its enter tail-calls into.
ENTER_PROGRAMS = {
    "ftruncate": "enter_ftruncate", "sendfile": "enter_sendfile", "copy_file_range": "enter_copy",
    "splice": "enter_copy", "open": "enter_open", "creat": "enter_open", "openat": "enter_openat",
    "openat2": "enter_openat", "close": "enter_close", "close_range": "enter_close_range",
    "rename": "enter_rename", "renameat": "enter_renameat", "renameat2": "enter_renameat",
    "unlink": "enter_unlink", "unlinkat": "enter_unlinkat", "rmdir": "enter_rmdir",
    "truncate": "enter_truncate", "dup2": "enter_dup", "dup3": "enter_dup",
    "fallocate": "enter_fallocate", "mmap": "enter_mmap",
}
# enum sniff_shape -> the exit program that finishes it
EXIT_PROGRAMS = {"SNIFF_SHAPE_FD": "exit_fd", "SNIFF_SHAPE_FD_PAIR": "exit_pair",
                 "SNIFF_SHAPE_OPEN": "exit_open", "SNIFF_SHAPE_PATH": "exit_path",
                 "SNIFF_SHAPE_RENAME": "exit_rename", "SNIFF_SHAPE_NAME_COUNTED": "exit_name_counted"}
# The path walk that places an open file, and the programs it runs again once it has.
RESUME_PROGRAMS = {"SNIFF_RESUME_WALKER": "verdict_walk", "SNIFF_RESUME_RAW_ENTER": "raw_enter",
                   "SNIFF_RESUME_CLOSE": "enter_close", "SNIFF_RESUME_CLOSE_RANGE": "close_range_step",
                   "SNIFF_RESUME_EXIT_OPEN": "exit_open", "SNIFF_RESUME_EXIT_FD": "exit_fd",
                   "SNIFF_RESUME_EXIT_PAIR": "exit_pair"}
# Content capture (--content): the write syscalls it copies from, by how their bytes are found.
CONTENT_KINDS = {"write": "SNIFF_CK_WRITE", "pwrite64": "SNIFF_CK_PWRITE", "writev": "SNIFF_CK_WRITEV",
                 "pwritev": "SNIFF_CK_PWRITEV", "pwritev2": "SNIFF_CK_PWRITEV2"}
SCHED = {"sched_process_fork": "on_fork", "sched_process_exec": "on_exec", "sched_process_exit": "on_exit"}
# Pages dirtied through shared mappings: the folio tracepoint, or its older page twin.
DIRTY_TRACEPOINTS = ("writeback_dirty_folio", "writeback_dirty_page")

# Clang 14 warns a lot about recent kernel headers; none of it is ours to fix.
QUIET_CFLAGS = ["-Wno-everything", "-w"]


class LoadError(Exception):
    """Something that stops the probes from loading; the message is one line for the user."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail     # e.g. the verifier log, shown with -v


def import_bcc():
    try:
        import bcc  # noqa: F401
        return bcc
    except ImportError:
        raise LoadError("BCC's Python module is missing: install the OS package python3-bpfcc "
                        "(Debian/Ubuntu) or python3-bcc (Fedora), or run scripts/setup.sh") from None


@dataclass
class Probes:
    """The loaded programs and their maps."""
    bpf: object
    attached: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)     # facilities this kernel lacks, one line each
    content: bool = False            # capture_write loaded: --content can capture
    uring_plan: Optional[uring.Plan] = None
    dirty_tracepoint: Optional[str] = None
    cgroup_filter: bool = True       # the kernel can keep tasks by cgroup (see cgroup_cflags)

    def __getitem__(self, name: str):
        return self.bpf[name]

    def detach(self) -> None:
        """Stop every program from running; the maps stay readable until close()."""
        if self.bpf is None:
            return
        for tp in ("sys_enter", "sys_exit", *SCHED, *uring.TRACEPOINTS,
                   *([self.dirty_tracepoint] if self.dirty_tracepoint else [])):
            try:
                self.bpf.detach_raw_tracepoint(tp=tp)
            except Exception:
                pass

    def close(self) -> None:
        bpf, self.bpf = self.bpf, None
        if bpf is not None:
            bpf.cleanup()


def possible_cpus() -> int:
    try:
        text = Path("/sys/devices/system/cpu/possible").read_text().strip()
        return max(int(part.split("-")[-1]) for part in text.split(",")) + 1
    except (OSError, ValueError):
        return os.cpu_count() or 1


def arch() -> str:
    machine = os.uname().machine
    if machine not in SYSCALL_NUMBERS:
        raise LoadError(f"unsupported architecture {machine} (supported: {', '.join(SYSCALL_NUMBERS)})")
    return machine


def arch_cflags(btf: BTF) -> list[str]:
    flags = []
    try:
        for i, (member, index) in enumerate(ARG_REGS[arch()], start=1):
            flags.append(f"-DOFF_REGS_PARM{i}={btf.offsetof('pt_regs', member) + 8 * index}")
    except BTFError as exc:
        raise LoadError(str(exc)) from None
    return flags


def kernel_can_filter_cgroups(release: Optional[str] = None) -> bool:
    """bpf_get_current_ancestor_cgroup_id is allowed in tracing programs from Linux 5.12 on;
    before, a program calling it is refused, so the cgroup filters stay in userspace."""
    import re
    m = re.match(r"(\d+)\.(\d+)", release or os.uname().release)
    return m is None or (int(m.group(1)), int(m.group(2))) >= (5, 12)


def cgroup_cflags() -> list[str]:
    return [] if kernel_can_filter_cgroups() else ["-DSNIFF_NO_CGROUP_FILTER"]


def build_cflags(offsets: dict[str, int], ringbuf_pages: int, btf: BTF) -> list[str]:
    # SNIFF_TUI_CFLAGS: extra compiler flags, for debugging (and for tests that provoke a
    # verifier rejection).
    extra = os.environ.get("SNIFF_TUI_CFLAGS", "").split()
    return [f"-I{abi.BPF_DIR}", f"-DSNIFF_NCPU={possible_cpus()}",
            f"-DSNIFF_PAGE_SIZE={os.sysconf('SC_PAGE_SIZE')}",
            f"-DSNIFF_RINGBUF_PAGES={ringbuf_pages}", *btf_cflags(offsets), *arch_cflags(btf),
            *cgroup_cflags(), *QUIET_CFLAGS, *extra]


class _StderrCapture:
    """BCC and libbpf print compiler noise and verifier logs straight to fd 2; keep them for -v
    instead of flooding the user's terminal."""

    def __enter__(self):
        import tempfile
        sys.stderr.flush()
        self.file = tempfile.TemporaryFile()
        self.saved = os.dup(2)
        os.dup2(self.file.fileno(), 2)
        return self

    def __exit__(self, *exc):
        sys.stderr.flush()
        os.dup2(self.saved, 2)
        os.close(self.saved)
        self.file.seek(0)
        self.text = self.file.read().decode("utf-8", "replace")
        self.file.close()


def load(ringbuf_pages: int = 2048, btf: Optional[BTF] = None) -> Probes:
    """Compile, load and attach everything. Raises LoadError with a one-line reason."""
    from .preflight import PreflightError, run_all
    if ringbuf_pages & (ringbuf_pages - 1):
        raise LoadError(f"ring buffer pages must be a power of two, not {ringbuf_pages}")
    try:
        run_all()
    except PreflightError as exc:
        raise LoadError(str(exc)) from None
    bcc = import_bcc()
    capture = _StderrCapture()
    try:
        with capture:
            return _load(bcc, ringbuf_pages, btf)
    except LoadError as exc:
        exc.detail = "\n".join(part for part in (exc.detail, capture.text) if part)
        raise


def _load(bcc, ringbuf_pages: int, btf: Optional[BTF]) -> Probes:
    try:
        btf = btf or BTF(os.environ.get("SNIFF_TUI_BTF", VMLINUX_BTF))
        offsets = kernel_offsets(btf)
    except BTFError as exc:
        raise LoadError(str(exc)) from None
    cflags = build_cflags(offsets, ringbuf_pages, btf)
    uring_plan = uring.plan(btf)
    cflags += uring_plan.cflags()
    src = abi.BPF_DIR / "sniff.bpf.c"
    try:
        bpf = bcc.BPF(src_file=str(src).encode(), cflags=cflags)
    except Exception as exc:  # BCC raises bare Exception for compile/load failures
        raise LoadError(f"could not compile the BPF programs: {str(exc).splitlines()[0]}",
                        detail=str(exc)) from None
    probes = Probes(bpf, missing=list(uring_plan.missing), uring_plan=uring_plan,
                    cgroup_filter=kernel_can_filter_cgroups())
    try:
        _attach(bcc, probes)
    except LoadError:
        probes.close()
        raise
    except Exception as exc:  # BCC's attach failures are bare Exceptions too
        probes.close()
        raise LoadError(f"could not attach the probes: {str(exc).splitlines()[0]}", detail=str(exc)) from None
    return probes


def _load_func(bcc, probes: Probes, name: str, kind):
    try:
        return probes.bpf.load_func(name, kind)
    except Exception as exc:
        raise LoadError(f"the kernel rejected BPF program {name} (run with -v for the verifier log)",
                        detail=str(exc)) from None


def _attach(bcc, probes: Probes) -> None:
    bpf = probes.bpf
    raw = bcc.BPF.RAW_TRACEPOINT
    numbers = SYSCALL_NUMBERS[arch()]
    slots = bpf["sys_slot"]
    for name in READS + WRITES:
        if name in numbers:
            slots[ctypes.c_int(numbers[name])] = ctypes.c_uint8(
                abi.C["SNIFF_SLOT_READ"] if name in READS else abi.C["SNIFF_SLOT_WRITE"])
            probes.attached.append(name)
    enter_tail, exit_tail = bpf["enter_tail"], bpf["exit_tail"]
    index = {}
    for syscall, program in ENTER_PROGRAMS.items():
        if syscall not in numbers:
            probes.skipped.append(syscall)
            continue
        if program not in index:
            index[program] = abi.C["SNIFF_SLOT_WRITE"] + 1 + len(index)
            enter_tail[ctypes.c_int(index[program])] = ctypes.c_int(_load_func(bcc, probes, program, raw).fd)
        slots[ctypes.c_int(numbers[syscall])] = ctypes.c_uint8(index[program])
        probes.attached.append(syscall)
    for shape, program in EXIT_PROGRAMS.items():
        exit_tail[ctypes.c_int(abi.C[shape])] = ctypes.c_int(_load_func(bcc, probes, program, raw).fd)
    bpf["step_tail"][ctypes.c_int(0)] = ctypes.c_int(_load_func(bcc, probes, "close_range_step", raw).fd)
    walk_tail = bpf["walk_tail"]
    for slot, program in RESUME_PROGRAMS.items():
        walk_tail[ctypes.c_int(abi.C[slot])] = ctypes.c_int(_load_func(bcc, probes, program, raw).fd)
    for tp, fn in (("sys_enter", "raw_enter"), ("sys_exit", "raw_exit"), *SCHED.items()):
        _load_func(bcc, probes, fn, raw)
        bpf.attach_raw_tracepoint(tp=tp, fn_name=fn)
    _load_func(bcc, probes, "on_dirty_folio", raw)
    for tp in DIRTY_TRACEPOINTS:
        try:
            bpf.attach_raw_tracepoint(tp=tp, fn_name="on_dirty_folio")
        except Exception:
            continue
        probes.attached.append(tp)
        probes.dirty_tracepoint = tp
        break
    else:
        probes.missing.append("this kernel has no page-dirtying tracepoint "
                              f"({' or '.join(DIRTY_TRACEPOINTS)}): writes through shared "
                              "mappings (mmap_write) are not seen; the mappings are")
    if probes.uring_plan is not None and probes.uring_plan.enabled:
        _attach_uring(bcc, probes)
    _attach_content(bcc, probes)


def _attach_content(bcc, probes: Probes) -> None:
    """capture_write into its tail-call slot; a kernel that refuses it loses --content only."""
    bpf, numbers = probes.bpf, SYSCALL_NUMBERS[arch()]
    try:
        fd = _load_func(bcc, probes, "capture_write", bcc.BPF.RAW_TRACEPOINT).fd
    except LoadError as exc:
        probes.missing.append(f"content capture (--content) is not available: {exc}")
        return
    kinds = bpf["content_kind"]
    for name, kind in CONTENT_KINDS.items():
        if name in numbers:
            kinds[ctypes.c_int(numbers[name])] = ctypes.c_uint8(abi.C[kind])
    bpf["content_tail"][ctypes.c_int(0)] = ctypes.c_int(fd)
    probes.content = True


def _attach_uring(bcc, probes: Probes) -> None:
    """io_uring's programs; a kernel without its tracepoints loses io_uring only (said in
    probes.missing), never the rest."""
    bpf, raw, plan = probes.bpf, bcc.BPF.RAW_TRACEPOINT, probes.uring_plan
    ops = bpf["uring_ops"]
    for code, value in plan.opcodes.items():
        ops[ctypes.c_int(code)] = ctypes.c_uint32(value)
    tail = bpf["uring_tail"]
    for shape, program in uring.PROGRAMS.items():
        tail[ctypes.c_int(abi.C[shape])] = ctypes.c_int(_load_func(bcc, probes, program, raw).fd)
    walk_tail = bpf["walk_tail"]
    for slot, program in uring.RESUME.items():
        walk_tail[ctypes.c_int(abi.C[slot])] = ctypes.c_int(_load_func(bcc, probes, program, raw).fd)
    done = []
    for tp, fn in uring.TRACEPOINTS.items():
        try:
            bpf.attach_raw_tracepoint(tp=tp, fn_name=fn)
        except Exception as exc:  # BCC's attach failures are bare Exceptions
            for attached in done:
                bpf.detach_raw_tracepoint(tp=attached)
            probes.missing.append(f"io_uring is not followed: no raw tracepoint {tp} "
                                  f"({str(exc).splitlines()[0] if str(exc) else 'attach failed'})")
            return
        done.append(tp)
    probes.attached.append("io_uring")
