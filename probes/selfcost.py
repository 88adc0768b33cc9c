"""What our own BPF programs cost: run counts and nanoseconds per run, from the kernel's
bpf_stats (switched on while we run, restored at exit)."""
from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Optional

SYSCTL = Path("/proc/sys/kernel/bpf_stats_enabled")
# While a run has switched the sysctl on: the value before it (`previous`), and one file per
# run that wants it on (`holders/PID-STARTTIME`), so that a run killed before it could restore
# it is found out by the next start (restore_abandoned), which puts the value back once no
# holder is alive. SNIFF_TUI_RUN_DIR moves it (tests).
RUN_DIR = Path(os.environ.get("SNIFF_TUI_RUN_DIR", "/run/sniff-tui"))


def _start_time(pid: int) -> Optional[str]:
    """The process's start time (field 22 of /proc/PID/stat): with the pid, who it is."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()[19]


class _State:
    """RUN_DIR under an exclusive lock (runs starting and stopping at once)."""

    def __enter__(self) -> "_State":
        self.holders = RUN_DIR / "holders"
        self.holders.mkdir(parents=True, exist_ok=True)
        self.saved = RUN_DIR / "bpf_stats_previous"
        self._lock = open(RUN_DIR / "lock", "w")
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc) -> None:
        self._lock.close()

    def live_holders(self) -> list[Path]:
        """Holder files of runs still alive; those of dead runs are removed."""
        alive = []
        for f in self.holders.iterdir():
            pid, start = (f.name.split("-") + ["", ""])[:2]
            if pid.isdigit() and _start_time(int(pid)) == start:
                alive.append(f)
            else:
                f.unlink(missing_ok=True)
        return alive

    def put_back_if_unheld(self) -> None:
        if not self.live_holders() and self.saved.exists():
            SYSCTL.write_text(self.saved.read_text())
            self.saved.unlink()


def _holder_name(n: int) -> str:
    return f"{os.getpid()}-{_start_time(os.getpid())}-{n}"


def restore_abandoned() -> None:
    """At start: a run killed with the sysctl switched on left its previous value behind;
    put it back unless another run that wants it on is alive. Never fails."""
    try:
        if (RUN_DIR / "bpf_stats_previous").exists():
            with _State() as st:
                st.put_back_if_unheld()
    except OSError:
        pass


class BpfStats:
    _made = 0

    def __init__(self) -> None:
        self.holding = False
        BpfStats._made += 1
        self.name = _holder_name(BpfStats._made)      # a process may hold it twice

    def enable(self) -> bool:
        try:
            with _State() as st:
                st.put_back_if_unheld()
                current = SYSCTL.read_text().strip()
                if current != "1":
                    if not st.saved.exists():
                        st.saved.write_text(current)
                    SYSCTL.write_text("1")
                (st.holders / self.name).touch()
                self.holding = True
            return True
        except OSError:
            return False

    def restore(self) -> None:
        if not self.holding:
            return
        self.holding = False
        try:
            with _State() as st:
                (st.holders / self.name).unlink(missing_ok=True)
                st.put_back_if_unheld()
        except OSError:
            pass


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
