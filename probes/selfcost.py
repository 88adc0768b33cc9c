"""What our own BPF programs cost: run counts and nanoseconds per run, from the kernel's
bpf_stats (switched on while we run, restored at exit)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
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


def prog_id(fd: int) -> Optional[int]:
    try:
        for line in Path(f"/proc/self/fdinfo/{fd}").read_text().splitlines():
            if line.startswith("prog_id:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def program_costs(funcs: dict[str, int]) -> dict[str, dict[str, float]]:
    """{program name: {"runs": n, "ns_per_run": x}} for our loaded programs (name -> fd)."""
    bpftool = shutil.which("bpftool") or "/usr/sbin/bpftool"
    if not os.path.exists(bpftool):
        return {}
    ids = {pid: name for name, fd in funcs.items() if (pid := prog_id(fd)) is not None}
    if not ids:
        return {}
    try:
        out = subprocess.run([bpftool, "prog", "show", "-j"], capture_output=True, timeout=10).stdout
        progs = json.loads(out or b"[]")
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return {}
    costs = {}
    for prog in progs:
        name = ids.get(prog.get("id"))
        if name is None:
            continue
        runs = int(prog.get("run_cnt", 0))
        ns = int(prog.get("run_time_ns", 0))
        costs[name] = {"runs": runs, "ns_per_run": round(ns / runs, 1) if runs else 0.0}
    return costs
