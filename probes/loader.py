"""Compiling (BCC, in a child process, once per kernel: probes/bpfobj.py keeps the result),
loading (the bpf syscall: probes/attach.py) and attaching the BPF programs.

The syscall tables below are the one place that says which syscall feeds which program. Only
raw tracepoints are attached, so no tracefs is needed. The syscall probes go live first; mmap,
close_range and io_uring follow in the background. A program the kernel refuses costs only the
syscalls that need it (said in probes.missing), except the core: without it nothing loads.
"""
from __future__ import annotations

import ctypes
import os
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Optional

from . import abi, bpfobj, uring
from .attach import Probes, rejected_detail
from .bpfsys import BPFError
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


# The programs without which there is nothing to show: the read/write/open/close scope.
CORE = ("raw_enter", "raw_exit", "verdict_walk", "on_fork", "on_exec", "on_exit",
        "enter_open", "enter_openat", "enter_close", "exit_fd", "exit_open")
# What else an enter program needs before its syscalls can be followed (the exit that finishes
# them, the step that continues them).
NEEDS = {"enter_ftruncate": ("exit_fd",), "enter_fallocate": ("exit_fd",), "enter_mmap": ("exit_fd",),
         "enter_sendfile": ("exit_pair",), "enter_copy": ("exit_pair",), "enter_unlink": ("exit_path",),
         "enter_rmdir": ("exit_path",), "enter_unlinkat": ("exit_path",),
         "enter_truncate": ("exit_name_counted",), "enter_rename": ("exit_rename",),
         "enter_renameat": ("exit_rename",), "enter_close_range": ("close_range_step",)}
# Loaded after the syscall probes are live, in the background: feature -> its syscalls.
LATER = {"mmap": ("mmap",), "close_range": ("close_range",)}


class LoadError(Exception):
    """Something that stops the probes from loading; the message is one line for the user."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail     # e.g. the verifier log, shown with -v


from .bpfsys import possible_cpus  # noqa: E402,F401  (cflags, and callers of loader.possible_cpus)


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


def kernel_cflags() -> list[str]:
    """What kernels before 5.12 lack: the cgroup helper (above), and compare-and-swap on map
    memory (BPF_CMPXCHG), with which a thread claims its front slot (struct sniff_front)."""
    return [] if kernel_can_filter_cgroups() else ["-DSNIFF_NO_CGROUP_FILTER", "-DSNIFF_NO_FRONT"]


def build_cflags(offsets: dict[str, int], ringbuf_pages: int, btf: BTF) -> list[str]:
    # SNIFF_TUI_CFLAGS: extra compiler flags, for debugging (and for tests that provoke a
    # verifier rejection).
    extra = os.environ.get("SNIFF_TUI_CFLAGS", "").split()
    return [f"-I{abi.BPF_DIR}", f"-DSNIFF_NCPU={possible_cpus()}",
            f"-DSNIFF_PAGE_SIZE={os.sysconf('SC_PAGE_SIZE')}",
            f"-DSNIFF_RINGBUF_PAGES={ringbuf_pages}", *btf_cflags(offsets), *arch_cflags(btf),
            *kernel_cflags(), *QUIET_CFLAGS, *extra]


def compile_child(out: str, cflags: list[str], key: str = "") -> None:
    """BCC compiles in a child process (python -m sniff_tui.probes.compile): LLVM never maps into ours."""
    import json
    import subprocess
    from .preflight import PreflightError, check_headers
    try:
        check_headers()
    except PreflightError as exc:
        raise LoadError(str(exc)) from None
    root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p))
    request = json.dumps({"src": str(abi.BPF_DIR / "sniff.bpf.c"), "cflags": cflags, "key": key})
    proc = subprocess.run([sys.executable, "-m", "sniff_tui.probes.compile", out], input=request.encode(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=root)
    text = (proc.stdout + proc.stderr).decode("utf-8", "replace")
    if proc.returncode != 0:
        lines = [line for line in text.splitlines() if line.startswith("sniff-compile-error: ")]
        first = lines[-1][len("sniff-compile-error: "):] if lines else (text.strip().splitlines() or ["?"])[-1]
        if first == "no-bcc":
            raise LoadError("BCC's Python module is missing: install the OS package python3-bpfcc "
                            "(Debian/Ubuntu) or python3-bcc (Fedora), or run scripts/setup.sh")
        raise LoadError(f"could not compile the BPF programs: {first}", detail=text)


def load(ringbuf_pages: int = 2048, btf: Optional[BTF] = None, use_cache: bool = True,
         phased: bool = True, log: Optional[Callable[[str], None]] = None) -> Probes:
    """Compile (or take from the cache), load and attach. The syscall probes are live when
    this returns; with phased, mmap, close_range and io_uring follow in a background thread
    (probes.loading lists what is still loading). log: -v lines (with it, a refused program
    is loaded again for the verifier's log). Raises LoadError with a one-line reason."""
    from .preflight import PreflightError, run_all
    started, want_log = time.monotonic(), log is not None
    log = log or (lambda line: None)
    if ringbuf_pages & (ringbuf_pages - 1):
        raise LoadError(f"ring buffer pages must be a power of two, not {ringbuf_pages}")
    try:
        run_all(headers=False)      # a cached start needs no headers
    except PreflightError as exc:
        raise LoadError(str(exc)) from None
    btf_path = os.environ.get("SNIFF_TUI_BTF", VMLINUX_BTF)
    try:
        btf = btf or BTF(btf_path)
        offsets = kernel_offsets(btf)
    except BTFError as exc:
        raise LoadError(str(exc)) from None
    uring_plan = uring.plan(btf)
    cflags = build_cflags(offsets, ringbuf_pages, btf) + uring_plan.cflags()
    key = bpfobj.cache_key(cflags, btf_path)
    try:
        obj = bpfobj.obtain(key, lambda out: compile_child(out, cflags, key), use_cache, log)
    except bpfobj.ObjectError as exc:
        raise LoadError(f"the compiler's output is unreadable: {exc}") from None
    probes = Probes(obj, missing=list(uring_plan.missing), uring_plan=uring_plan,
                    cgroup_filter=kernel_can_filter_cgroups(), started=started, log=log,
                    want_log=want_log)
    try:
        probes.create_maps()
        _phase_one(probes)
    except LoadError:
        probes.close()
        raise
    except BPFError as exc:
        probes.close()
        raise LoadError(f"could not load the probes: {exc.strerror}") from None
    probes.live_at = time.monotonic()
    later = [f for f in LATER if all(s in SYSCALL_NUMBERS[arch()] for s in LATER[f])]
    probes.skipped += [s for f in LATER if f not in later for s in LATER[f]]
    if uring_plan.enabled:
        later.append("io_uring")
    probes.loading = list(later)
    if phased:
        probes.phase = threading.Thread(target=_phase_two, args=(probes, later), name="bpf-later", daemon=True)
        probes.phase.start()
    else:
        _phase_two(probes, later)
    return probes


def _enter_programs() -> dict[str, int]:
    """enter program -> its enter_tail slot (after the read and write slots)."""
    numbers, index = SYSCALL_NUMBERS[arch()], {}
    for syscall, program in ENTER_PROGRAMS.items():
        if syscall in numbers and program not in index:
            index[program] = abi.C["SNIFF_SLOT_WRITE"] + 1 + len(index)
    return index


def _kernel() -> str:
    return f"kernel {os.uname().release}"


def _phase_one(probes: Probes) -> None:
    numbers = SYSCALL_NUMBERS[arch()]
    later = {s for f in LATER.values() for s in f}
    enters = {ENTER_PROGRAMS[s] for s in ENTER_PROGRAMS if s in numbers and s not in later}
    wanted = [*CORE, *enters, *(n for e in enters for n in NEEDS.get(e, ())),
              *EXIT_PROGRAMS.values(), *(p for p in RESUME_PROGRAMS.values() if p != "close_range_step"),
              "capture_write"]
    probes.collect(probes.submit(wanted))
    core_rejected = [n for n in CORE if n in probes.rejected]
    if core_rejected:
        r = probes.rejected[core_rejected[0]]
        raise LoadError(f"the {_kernel()} rejected BPF program {r.program} ({r.reason}), which "
                        "every file operation needs (run with -v for the verifier log)",
                        detail=rejected_detail(probes, core_rejected))
    for shape, program in EXIT_PROGRAMS.items():
        if probes.ok(program):
            probes.set_slot("exit_tail", abi.C[shape], probes.programs[program])
    for slot, program in RESUME_PROGRAMS.items():
        if probes.ok(program):
            probes.set_slot("walk_tail", abi.C[slot], probes.programs[program])
    for name in READS + WRITES:
        if name in numbers:
            probes.set_slot("sys_slot", numbers[name], abi.C["SNIFF_SLOT_READ" if name in READS
                                                               else "SNIFF_SLOT_WRITE"], ctypes.c_uint8)
            probes.attached.append(name)
    _enable_syscalls(probes, [s for s in ENTER_PROGRAMS if s not in later])
    _enable_content(probes)
    for tp, fn in (*SCHED.items(), ("sys_exit", "raw_exit"), ("sys_enter", "raw_enter")):
        probes.attach(tp, fn)


def _enable_syscalls(probes: Probes, syscalls) -> None:
    """Fill the tail-call and sys_slot entries of the syscalls whose programs all loaded: until
    then raw_enter treats them as not ours. The others are said once, in missing."""
    numbers, index, refused = SYSCALL_NUMBERS[arch()], _enter_programs(), {}
    for syscall in syscalls:
        if syscall not in numbers:
            probes.skipped.append(syscall)
            continue
        program = ENTER_PROGRAMS[syscall]
        chain = (program, *NEEDS.get(program, ()))
        if not probes.ok(*chain):
            refused.setdefault(next(n for n in chain if n not in probes.programs), []).append(syscall)
            continue
        probes.set_slot("enter_tail", index[program], probes.programs[program])
        probes.set_slot("sys_slot", numbers[syscall], index[program], ctypes.c_uint8)
        probes.attached.append(syscall)
    for program, lost in refused.items():
        _refused(probes, program, f"{', '.join(lost)} not followed")


def _refused(probes: Probes, program: str, what: str) -> None:
    """Said once (missing), with the verifier's log for -v."""
    r = probes.rejected[program]
    probes.missing.append(f"{what}: the {_kernel()} rejected BPF program {program} ({r.reason})")
    probes.log(f"the verifier's log for {program}:\n{r.log}")


def _phase_two(probes: Probes, features: list[str]) -> None:
    """The later features, each live as soon as its programs are loaded."""
    pending = {"mmap": probes.submit(["enter_mmap", "exit_fd", "on_dirty_folio"]) if "mmap" in features else {},
               "close_range": probes.submit(["enter_close_range", "close_range_step"])
               if "close_range" in features else {},
               "io_uring": probes.submit([*uring.PROGRAMS.values(), *uring.RESUME.values(), *uring.TRACEPOINTS.values()])
               if "io_uring" in features else {}}
    for feature in features:
        try:
            probes.collect(pending[feature])
            with probes.lock:
                if probes.closed:
                    return
                {"mmap": _enable_mmap, "close_range": _enable_close_range, "io_uring": _enable_uring}[feature](probes)
        except Exception as exc:     # a failure here costs this feature only
            probes.missing.append(f"{feature} is not followed: {exc}")
        finally:
            if feature in probes.loading:
                probes.loading.remove(feature)
        if feature in probes.attached and probes.phase is not None:
            probes.late.append(f"{feature} followed from {time.monotonic() - probes.started:.1f} s "
                               f"after start (the syscall probes from {probes.live_at - probes.started:.1f} s)")


def _enable_close_range(probes: Probes) -> None:
    if probes.ok("close_range_step"):
        probes.set_slot("step_tail", 0, probes.programs["close_range_step"])
        probes.set_slot("walk_tail", abi.C["SNIFF_RESUME_CLOSE_RANGE"], probes.programs["close_range_step"])
    _enable_syscalls(probes, ["close_range"])


def _enable_mmap(probes: Probes) -> None:
    _enable_syscalls(probes, ["mmap"])
    if "on_dirty_folio" in probes.rejected:
        _refused(probes, "on_dirty_folio", "writes through shared mappings (mmap_write) are not seen")
        return
    for tp in DIRTY_TRACEPOINTS:
        try:
            probes.attach(tp, "on_dirty_folio")
        except BPFError:
            continue
        probes.attached.append(tp)
        probes.dirty_tracepoint = tp
        break
    else:
        probes.missing.append("this kernel has no page-dirtying tracepoint "
                              f"({' or '.join(DIRTY_TRACEPOINTS)}): writes through shared "
                              "mappings (mmap_write) are not seen; the mappings are")


def _enable_uring(probes: Probes) -> None:
    """io_uring's programs; a kernel without its tracepoints, or that refuses its programs,
    loses io_uring (or the refused kinds of request) only, said in probes.missing."""
    plan = probes.uring_plan
    needed = [*uring.TRACEPOINTS.values(), *uring.RESUME.values()]
    refused = [n for n in needed if n in probes.rejected]
    if refused:
        _refused(probes, refused[0], "io_uring is not followed")
        return
    lost = {}
    for shape, program in uring.PROGRAMS.items():
        if probes.ok(program):
            probes.set_slot("uring_tail", abi.C[shape], probes.programs[program])
        else:
            lost.setdefault(program, []).append(abi.C[shape])
    for slot, program in uring.RESUME.items():
        probes.set_slot("walk_tail", abi.C[slot], probes.programs[program])
    lost_shapes = {s for shapes in lost.values() for s in shapes}
    for code, value in plan.opcodes.items():
        if value >> 8 not in lost_shapes:    # a request nothing could finish is not ours
            probes.set_slot("uring_ops", code, value, ctypes.c_uint32)
    for program in lost:
        _refused(probes, program, "some io_uring requests are not followed")
    done = []
    for tp, fn in uring.TRACEPOINTS.items():
        try:
            probes.attach(tp, fn)
        except BPFError as exc:
            for attached in done:
                os.close(probes.links.pop(attached))
            probes.missing.append(f"io_uring is not followed: no raw tracepoint {tp} ({exc.strerror})")
            return
        done.append(tp)
    probes.attached.append("io_uring")


def _enable_content(probes: Probes) -> None:
    """capture_write into its tail-call slot; a kernel that refuses it loses --content only."""
    if not probes.ok("capture_write"):
        _refused(probes, "capture_write", "content capture (--content) is not available")
        return
    numbers = SYSCALL_NUMBERS[arch()]
    for name, kind in CONTENT_KINDS.items():
        if name in numbers:
            probes.set_slot("content_kind", numbers[name], abi.C[kind], ctypes.c_uint8)
    for code, kind in probes.uring_plan.content.items():    # io_uring writes (read once it loads)
        probes.set_slot("content_uring_kind", code, kind, ctypes.c_uint8)
    probes.set_slot("content_tail", 0, probes.programs["capture_write"])
    probes.content = True
