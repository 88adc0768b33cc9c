"""Why the probes could not start, said in one line the user can act on.

Each check looks at the real system. The paths can be pointed elsewhere through environment
variables (SNIFF_TUI_*), so that tests can provoke each failure on a healthy machine.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from .btf import VMLINUX_BTF

CAP_SYS_ADMIN, CAP_PERFMON, CAP_BPF = 21, 38, 39
MIN_KERNEL = (5, 8)      # BPF ring buffer

SETUP_HINT = "run scripts/setup.sh"


class PreflightError(Exception):
    """One line for the user; exit status 1."""


def _path(env: str, default: str) -> Path:
    return Path(os.environ.get(env, default))


def effective_caps(status_text: str) -> int:
    match = re.search(r"^CapEff:\s*([0-9a-f]+)$", status_text, re.M)
    return int(match.group(1), 16) if match else 0


def check_privileges() -> None:
    caps = effective_caps(_path("SNIFF_TUI_PROC_STATUS", "/proc/self/status").read_text())
    has = lambda cap: bool(caps & (1 << cap))  # noqa: E731
    if has(CAP_SYS_ADMIN) or (has(CAP_BPF) and has(CAP_PERFMON)):
        return
    if os.geteuid() != 0:
        raise PreflightError("loading BPF programs needs root (or CAP_BPF and CAP_PERFMON): "
                             "try sudo sniff-tui ...")
    missing = [name for name, cap in (("CAP_BPF", CAP_BPF), ("CAP_PERFMON", CAP_PERFMON)) if not has(cap)]
    raise PreflightError(f"running as root but without {' and '.join(missing)} "
                         "(a container or a capability-dropping wrapper?): grant them or CAP_SYS_ADMIN")


def kernel_release() -> str:
    return os.environ.get("SNIFF_TUI_KERNEL_RELEASE") or os.uname().release


def check_kernel_version() -> None:
    release = kernel_release()
    match = re.match(r"(\d+)\.(\d+)", release)
    if match and (int(match.group(1)), int(match.group(2))) < MIN_KERNEL:
        raise PreflightError(f"kernel {release} is too old: sniff-tui needs Linux "
                             f"{MIN_KERNEL[0]}.{MIN_KERNEL[1]} or newer (BPF ring buffer)")


def check_lockdown() -> None:
    path = _path("SNIFF_TUI_LOCKDOWN", "/sys/kernel/security/lockdown")
    try:
        text = path.read_text()
    except OSError:
        return
    if "[confidentiality]" in text:
        raise PreflightError("kernel lockdown is in confidentiality mode, which forbids BPF from "
                             "reading kernel memory: boot with lockdown=integrity or none")


def check_btf() -> None:
    path = _path("SNIFF_TUI_BTF", VMLINUX_BTF)
    if not path.is_file():
        raise PreflightError(f"no BTF at {path}: the kernel needs CONFIG_DEBUG_INFO_BTF=y "
                             "(standard on Debian, Ubuntu and Fedora kernels since 5.x)")


def check_headers() -> None:
    if os.environ.get("BCC_KERNEL_SOURCE"):
        return
    modules = _path("SNIFF_TUI_MODULES", "/lib/modules") / kernel_release()
    for sub in ("build", "source"):
        if (modules / sub / "include" / "linux" / "kconfig.h").exists():
            return
    raise PreflightError(f"kernel headers for {kernel_release()} are missing (BCC compiles against "
                         f"them): {SETUP_HINT}, or install linux-headers-{kernel_release()}")


def run_all(headers: bool = True) -> None:
    """Raises PreflightError for the first problem found. The headers are checked only when
    compiling (a start from the compile cache needs none)."""
    check_privileges()
    check_kernel_version()
    check_lockdown()
    check_btf()
    if headers:
        check_headers()
