"""Compiling, loading and attaching the BPF programs with BCC, and the maps' Python handles.

The syscall table below is the one place that says which tracepoint feeds which program; a
tracepoint the running kernel lacks (e.g. openat2 before 5.6, open/creat on arm64) is skipped.
"""
from __future__ import annotations

import ctypes
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from . import abi
from .btf import BTF, VMLINUX_BTF, BTFError, cflags as btf_cflags, kernel_offsets

TRACEFS_CANDIDATES = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")

# The read/write family is hot. Its enters run on the raw sys_enter tracepoint, dispatched by
# syscall number (per architecture), with the fd read from pt_regs: measured +0.15 s per 2M
# syscalls against +0.34 s for per-syscall enter tracepoints. Its exits run on the per-syscall
# exit tracepoints (+0.12 s against +0.20 s for raw sys_exit), which give the return value.
RW_SYSCALLS = ("read", "pread64", "readv", "preadv", "preadv2",
               "write", "pwrite64", "writev", "pwritev", "pwritev2")
SYSCALL_NUMBERS = {
    "x86_64": {"read": 0, "write": 1, "pread64": 17, "pwrite64": 18, "readv": 19, "writev": 20,
               "preadv": 295, "pwritev": 296, "preadv2": 327, "pwritev2": 328},
    "aarch64": {"read": 63, "write": 64, "readv": 65, "writev": 66, "pread64": 67, "pwrite64": 68,
                "preadv": 69, "pwritev": 70, "preadv2": 286, "pwritev2": 287},
}
FIRST_ARG = {"x86_64": ("pt_regs", "di"), "aarch64": ("pt_regs", "regs")}

# The other file syscalls, on their own tracepoints: syscall -> (enter program, exit program or None)
SYSCALLS: dict[str, tuple[str, Optional[str]]] = {
    "ftruncate": ("enter_ftruncate", "exit_fd"),
    "sendfile64": ("enter_sendfile", "exit_pair"),
    "copy_file_range": ("enter_copy", "exit_pair"),
    "splice": ("enter_copy", "exit_pair"),
    "open": ("enter_open", "exit_open"),
    "creat": ("enter_open", "exit_open"),
    "openat": ("enter_openat", "exit_open"),
    "openat2": ("enter_openat", "exit_open"),
    "close": ("enter_close", None),
    "close_range": ("enter_close_range", None),
    "rename": ("enter_rename", "exit_rename"),
    "renameat": ("enter_renameat", "exit_rename"),
    "renameat2": ("enter_renameat", "exit_rename"),
    "unlink": ("enter_unlink", "exit_path"),
    "unlinkat": ("enter_unlinkat", "exit_path"),
    "rmdir": ("enter_rmdir", "exit_path"),
    "truncate": ("enter_truncate", "exit_path"),
}
SCHED = {"sched_process_fork": "on_fork", "sched_process_exec": "on_exec", "sched_process_exit": "on_exit"}

# Clang 14 warns a lot about recent kernel headers; none of it is ours to fix.
QUIET_CFLAGS = ["-Wno-everything", "-w"]


class LoadError(Exception):
    """Something that stops the probes from loading; the message is one line for the user."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail     # e.g. the verifier log, shown with -v


def tracefs_path() -> str:
    """The mounted tracefs, mounting it if needed (BCC reads tracepoint ids from it).
    SNIFF_TUI_MOUNTS and SNIFF_TUI_TRACEFS let tests provoke the failure."""
    mounts = Path(os.environ.get("SNIFF_TUI_MOUNTS", "/proc/mounts")).read_text()
    for line in mounts.splitlines():
        parts = line.split()
        if len(parts) > 2 and parts[2] == "tracefs":
            return parts[1]
    target = os.environ.get("SNIFF_TUI_TRACEFS", TRACEFS_CANDIDATES[0])
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(b"nodev", target.encode(), b"tracefs", 0, None) != 0:
        err = ctypes.get_errno()
        raise LoadError(f"tracefs is not mounted and mounting it at {target} failed: {os.strerror(err)}")
    return target


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

    def __getitem__(self, name: str):
        return self.bpf[name]

    def detach(self) -> None:
        """Stop every program from running; the maps stay readable until close()."""
        if self.bpf is None:
            return
        for syscall in RW_SYSCALLS:
            if syscall in self.attached:
                try:
                    self.bpf.detach_tracepoint(tp=f"syscalls:sys_exit_{syscall}")
                except Exception:
                    pass
        for tp in ("sys_enter", *SCHED):
            try:
                self.bpf.detach_raw_tracepoint(tp=tp)
            except Exception:
                pass
        for syscall, (enter, exit_) in SYSCALLS.items():
            for kind, fn in (("enter", enter), ("exit", exit_)):
                if fn and syscall in self.attached:
                    try:
                        self.bpf.detach_tracepoint(tp=f"syscalls:sys_{kind}_{syscall}")
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


def arch_cflags(btf: BTF) -> list[str]:
    arch = os.uname().machine
    if arch not in SYSCALL_NUMBERS:
        raise LoadError(f"unsupported architecture {arch} (supported: {', '.join(SYSCALL_NUMBERS)})")
    flags = [f"-DSNIFF_NR_{name.upper()}={nr}" for name, nr in SYSCALL_NUMBERS[arch].items()]
    struct, member = FIRST_ARG[arch]
    try:
        flags.append(f"-DOFF_REGS_PARM1={btf.offsetof(struct, member)}")
    except BTFError as exc:
        raise LoadError(str(exc)) from None
    return flags


def build_cflags(offsets: dict[str, int], ringbuf_pages: int, btf: BTF) -> list[str]:
    # SNIFF_TUI_CFLAGS: extra compiler flags, for debugging (and for tests that provoke a
    # verifier rejection).
    extra = os.environ.get("SNIFF_TUI_CFLAGS", "").split()
    return [f"-I{abi.BPF_DIR}", f"-DSNIFF_NCPU={possible_cpus()}",
            f"-DSNIFF_RINGBUF_PAGES={ringbuf_pages}", *btf_cflags(offsets), *arch_cflags(btf),
            *QUIET_CFLAGS, *extra]


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
    tracefs = tracefs_path()
    src = abi.BPF_DIR / "sniff.bpf.c"
    try:
        bpf = bcc.BPF(src_file=str(src).encode(), cflags=cflags)
    except Exception as exc:  # BCC raises bare Exception for compile/load failures
        raise LoadError(f"could not compile the BPF programs: {str(exc).splitlines()[0]}",
                        detail=str(exc)) from None
    probes = Probes(bpf)
    try:
        _attach(bcc, probes, tracefs)
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


def _attach(bcc, probes: Probes, tracefs: str) -> None:
    bpf = probes.bpf
    events_dir = Path(tracefs) / "events" / "syscalls"
    # close_range walks one fd per tail call into this program.
    step = _load_func(bcc, probes, "close_range_step", bcc.BPF.TRACEPOINT)
    bpf["tail"][ctypes.c_int(0)] = ctypes.c_int(step.fd)
    for syscall, (enter, exit_) in SYSCALLS.items():
        if not (events_dir / f"sys_enter_{syscall}").is_dir():
            probes.skipped.append(syscall)
            continue
        _load_func(bcc, probes, enter, bcc.BPF.TRACEPOINT)
        bpf.attach_tracepoint(tp=f"syscalls:sys_enter_{syscall}", fn_name=enter)
        if exit_:
            _load_func(bcc, probes, exit_, bcc.BPF.TRACEPOINT)
            bpf.attach_tracepoint(tp=f"syscalls:sys_exit_{syscall}", fn_name=exit_)
        probes.attached.append(syscall)
    _load_func(bcc, probes, "raw_enter", bcc.BPF.RAW_TRACEPOINT)
    bpf.attach_raw_tracepoint(tp="sys_enter", fn_name="raw_enter")
    _load_func(bcc, probes, "exit_rw", bcc.BPF.TRACEPOINT)
    for syscall in RW_SYSCALLS:
        if (events_dir / f"sys_exit_{syscall}").is_dir():
            bpf.attach_tracepoint(tp=f"syscalls:sys_exit_{syscall}", fn_name="exit_rw")
            probes.attached.append(syscall)
        else:
            probes.skipped.append(syscall)
    for tp, fn in SCHED.items():
        _load_func(bcc, probes, fn, bcc.BPF.RAW_TRACEPOINT)
        bpf.attach_raw_tracepoint(tp=tp, fn_name=fn)
