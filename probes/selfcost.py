"""What our own BPF programs cost: run counts and nanoseconds per run, from the kernel's
bpf_stats (switched on while we run, restored at exit)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

SYSCTL = Path("/proc/sys/kernel/bpf_stats_enabled")


class BpfStats:
    def __init__(self) -> None:
        self.previous: Optional[str] = None

    def enable(self) -> bool:
        try:
            self.previous = SYSCTL.read_text().strip()
            if self.previous != "1":
                SYSCTL.write_text("1")
            return True
        except OSError:
            self.previous = None
            return False

    def restore(self) -> None:
        if self.previous is not None and self.previous != "1":
            try:
                SYSCTL.write_text(self.previous)
            except OSError:
                pass
        self.previous = None


def _fdinfo(fd: int) -> dict[str, str]:
    try:
        lines = Path(f"/proc/self/fdinfo/{fd}").read_text().splitlines()
    except OSError:
        return {}
    return dict(line.split(":", 1) for line in lines if ":" in line)


def prog_id(fd: int) -> Optional[int]:
    try:
        return int(_fdinfo(fd)["prog_id"])
    except (KeyError, ValueError):
        return None


def program_costs(funcs: dict[str, int]) -> dict[str, dict[str, float]]:
    """{program name: {"runs": n, "ns_per_run": x}} for our loaded programs (name -> fd), from
    the kernel's fdinfo of each program (kernel >= 5.1). Nothing is run: a helper process would
    close our inherited descriptors in view of our own probes."""
    costs = {}
    for name, fd in funcs.items():
        info = _fdinfo(fd)
        try:
            runs, ns = int(info["run_cnt"]), int(info["run_time_ns"])
        except (KeyError, ValueError):
            continue
        costs[name] = {"runs": runs, "ns_per_run": round(ns / runs, 1) if runs else 0.0}
    return costs
