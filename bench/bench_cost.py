#!/usr/bin/env python3
"""In-kernel cost per syscall of the hot programs (raw_enter + raw_exit), per op, in and out of
scope; the flooder's slowdown beside `fatrace -c` and an untraced run; the out-of-scope overhead
against bpftrace's one-liner (as bench/run_benchmarks.py), and the same for two empty programs on
raw sys_enter/sys_exit (the floor of this design); verified instruction counts.

    sudo .venv/bin/python bench/bench_cost.py [--rounds 3] [--n 100000] [--baseline CHECKOUT]

Per-op nanoseconds come from the kernel's run-time statistics of the programs the stream loaded
(run_time_ns / run_cnt in /proc/PID/fdinfo; a tail-called program's time is its caller's), read
around a flood of one kind of syscall by a small C flooder:
  loop   N x open(O_APPEND)/write(10 B)/close on one file (the issue's case: ns per syscall);
         pyloop: the same loop in Python, as the issue measured it
  open   N opens of one file, every fd kept; then close: the N closes
  write  N one-byte writes to one fd;  read: N one-byte reads of one fd
The programs' runs meanwhile beyond the flood's syscalls (other processes: run_cnt counts them
exactly) are taken out at the mean cost of a run measured just before; the rest is divided by the
flood's syscall count. Time in a
program runs without preemption, so this holds on a busy machine where wall clock does not.
--baseline runs another checkout's stream beside this one in every round (A/B, same run).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import ROOT, Stream  # noqa: E402
from run_benchmarks import Bpftrace, dd, ensure_tracefs  # noqa: E402

HOT = ("raw_enter", "raw_exit")
# Programs a syscall of the loop runs (tail calls from the hot pair): their verifier work.
INSN_PROGRAMS = ("raw_enter", "raw_exit", "enter_openat", "enter_close", "exit_open", "verdict_walk")
SYSCALLS = {"loop": 3, "pyloop": 3, "open": 1, "close": 1, "write": 1, "read": 1}
# The issue's loop, in Python: the interpreter between syscalls leaves the programs' code and
# maps colder in the caches than the C loop does (its figure is the one users see).
PYLOOP = ("import os, sys, time\nt = time.monotonic()\nfor i in range(int(sys.argv[2])):\n"
          "    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)\n"
          "    os.write(fd, b'0123456789')\n    os.close(fd)\nprint(time.monotonic() - t)\n")

FLOODER = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
int main(int argc, char **argv) {
    const char *mode = argv[1], *path = argv[2];
    long n = atol(argv[3]);
    char buf[16] = "0123456789";
    double t0 = now();
    if (!strcmp(mode, "loop")) {
        for (long i = 0; i < n; i++) {
            int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
            if (fd < 0 || write(fd, buf, 10) != 10) return 1;
            close(fd);
        }
    } else if (!strcmp(mode, "write") || !strcmp(mode, "read")) {
        int w = mode[0] == 'w';
        int fd = open(path, w ? (O_WRONLY | O_CREAT | O_TRUNC) : O_RDONLY, 0644);
        if (fd < 0) return 1;
        t0 = now();
        for (long i = 0; i < n; i++)
            if ((w ? write(fd, buf, 1) : read(fd, buf, 1)) != 1) return 1;
        close(fd);
    } else {                                  /* open: keep every fd; close them on a byte */
        int *fds = malloc(n * sizeof(int));
        for (long i = 0; i < n; i++)
            if ((fds[i] = open(path, O_RDONLY)) < 0) return 1;
        printf("%.6f\n", now() - t0);
        fflush(stdout);
        char c;
        if (read(0, &c, 1) != 1) return 1;
        t0 = now();
        for (long i = 0; i < n; i++)
            close(fds[i]);
    }
    printf("%.6f\n", now() - t0);
    return 0;
}
"""


class EmptyProbes:
    """The floor of this design: a program that returns at once on raw sys_enter and on raw
    sys_exit, as sniff-tui attaches its hot pair. What the syscall pays for the tracepoints and
    two program runs, before any work."""

    def __init__(self) -> None:
        from sniff_tui.probes import bpfsys
        ret0 = struct.pack("<BBhi", 0xB7, 0, 0, 0) + struct.pack("<BBhi", 0x95, 0, 0, 0)  # r0 = 0; exit
        self.fds = []
        for tp in ("sys_enter", "sys_exit"):
            prog, log = bpfsys.prog_load("empty", ret0)
            if prog < 0:
                raise SystemExit(f"bench_cost: an empty raw tracepoint program was refused: {log}")
            self.fds += [prog, bpfsys.raw_tracepoint_open(tp, prog)]
        time.sleep(0.5)

    def stop(self) -> None:
        for fd in self.fds:
            os.close(fd)


class ProgStats:
    """run_time_ns and run_cnt of the hot programs a stream process holds."""

    def __init__(self, pid: int) -> None:
        self.fds: dict[str, Path] = {}
        self.insns: dict[str, int] = {}
        self.xlated: dict[str, int] = {}
        names = self._names()
        for fd in Path(f"/proc/{pid}/fdinfo").iterdir():
            info = self._info(fd)
            if "prog_type" not in info:    # a link fd names its program too
                continue
            name = names.get(int(info["prog_id"]))
            if name in INSN_PROGRAMS:
                self.fds[name] = fd
                self.insns[name] = int(info.get("verified_insns", -1))
                self.xlated[name] = self._xlated(int(info["prog_id"]))
        missing = [p for p in HOT if p not in self.fds]
        if missing:
            raise SystemExit(f"bench_cost: the stream holds no {missing}")

    @staticmethod
    def _names() -> dict[int, str]:
        out = subprocess.run(["bpftool", "prog", "show", "--json"], capture_output=True, text=True, check=True)
        return {p["id"]: p.get("name", "") for p in json.loads(out.stdout)}

    @staticmethod
    def _xlated(prog_id: int) -> int:
        out = subprocess.run(["bpftool", "prog", "show", "id", str(prog_id), "--json"],
                             capture_output=True, text=True, check=True)
        return json.loads(out.stdout).get("bytes_xlated", 0) // 8

    @staticmethod
    def _info(fd: Path) -> dict[str, str]:
        try:
            return dict(l.split(":\t", 1) for l in fd.read_text().splitlines() if ":\t" in l)
        except OSError:
            return {}

    def snap(self) -> dict[str, tuple[int, int]]:
        out = {}
        for p in HOT:
            info = self._info(self.fds[p])
            out[p] = (int(info.get("run_time_ns", 0)), int(info.get("run_cnt", 0)))
        return out


def delta(a: dict, b: dict) -> dict[str, tuple[int, int]]:
    return {p: (b[p][0] - a[p][0], b[p][1] - a[p][1]) for p in HOT}


def per_syscall(stats: ProgStats, work: Path, flooder: Path, mode: str, target: Path, n: int) -> dict:
    """ns per flood syscall of each hot program, the background (other processes, measured over
    just before) taken out. Returns {prog: ns, "sum": ns, "wall": s}."""
    bg0 = stats.snap()
    time.sleep(0.3)
    bg = delta(bg0, stats.snap())
    if mode == "read":
        target.write_bytes(b"x" * (n + 1))
    if mode in ("open", "close"):
        target.touch()
    if mode in ("open", "close"):
        p = subprocess.Popen([str(flooder), "open", str(target), str(n)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
        s0 = stats.snap()
        opened = float(p.stdout.readline())
        s1 = stats.snap()
        p.stdin.write("c")
        p.stdin.flush()
        closed = float(p.stdout.readline())
        p.wait()
        s2 = stats.snap()
        d, wall = (delta(s0, s1), opened) if mode == "open" else (delta(s1, s2), closed)
    else:
        cmd = [sys.executable, "-c", PYLOOP] if mode == "pyloop" else [str(flooder), mode]
        s0 = stats.snap()
        out = subprocess.run([*cmd, str(target), str(n)], capture_output=True, text=True, check=True)
        d, wall = delta(s0, stats.snap()), float(out.stdout)
    calls = n * SYSCALLS[mode]
    # Other processes' runs meanwhile: counted exactly (run_cnt beyond the flood's), each
    # charged the mean cost of a background run just before.
    res = {}
    for p in HOT:
        bg_run = bg[p][0] / bg[p][1] if bg[p][1] else 0.0
        res[p] = round((d[p][0] - max(d[p][1] - calls, 0) * bg_run) / calls, 1)
    res["sum"] = round(res["raw_enter"] + res["raw_exit"], 1)
    res["wall"] = wall
    return res


def loop_wall(flooder: Path, watched: Path, n: int) -> float:
    """Seconds the flooder's open/write/close loop took (its own clock, start-up left out)."""
    return float(subprocess.run([str(flooder), "loop", str(watched / "slow.out"), str(n)],
                                capture_output=True, text=True, check=True).stdout)


def under_fatrace(flooder: Path, watched: Path, n: int) -> float:
    p = subprocess.Popen(["fatrace", "-c"], cwd=watched, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    try:
        return loop_wall(flooder, watched, n)
    finally:
        p.send_signal(signal.SIGINT)
        p.wait(30)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--n", type=int, default=100_000, help="syscalls (loop: cycles) per flood")
    ap.add_argument("--baseline", type=Path, help="another checkout: its stream runs beside this one")
    ap.add_argument("--skip-overhead", action="store_true", help="no dd/bpftrace/fatrace rounds")
    ap.add_argument("--skip-per-op", action="store_true", help="only the wall-clock rounds")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_cost: needs root", file=sys.stderr)
        return 2
    # the open flood keeps every fd: as many as the hard limit allows (raising it needs
    # CAP_SYS_RESOURCE, which a container's root may lack)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    n_open = min(args.n, hard - 500)
    ensure_tracefs()
    trees = {"this": ROOT}
    if args.baseline:
        trees["baseline"] = args.baseline.resolve()
    sysctl = Path("/proc/sys/kernel/bpf_stats_enabled")
    saved = sysctl.read_text()
    per = {t: {f"{w}:{m}": [] for w in ("in", "out") for m in SYSCALLS} for t in trees}
    slow = {k: [] for k in ("untraced", "fatrace", *trees)}
    over = {k: [] for k in ("untraced", "bpftrace", "empty", *trees)}
    insns = {}
    stats_on: list[str] = []    # kernel.bpf_stats_enabled around the wall-clock runs
    with tempfile.TemporaryDirectory(prefix="sniff-cost-", dir="/var/tmp") as tmp:
        work = Path(tmp)
        flooder = work / "flood"
        (work / "flood.c").write_text(FLOODER)
        subprocess.run(["gcc", "-O2", "-o", str(flooder), str(work / "flood.c")], check=True)
        watched, outside = work / "watched", work / "outside"
        watched.mkdir()
        outside.mkdir()
        try:
            for rnd in range(args.rounds):
                if not args.skip_overhead:
                    # wall clock: as a user runs them (no --stats), bpf_stats as others left it
                    stats_on.append(sysctl.read_text().strip())
                    slow["untraced"].append(loop_wall(flooder, watched, args.n))
                    slow["fatrace"].append(under_fatrace(flooder, watched, args.n))
                    over["untraced"].append(dd(outside / "dd.out"))
                    b = Bpftrace()
                    over["bpftrace"].append(dd(outside / "dd.out"))
                    b.stop()
                    e = EmptyProbes()
                    over["empty"].append(dd(outside / "dd.out"))
                    e.stop()
                    for tree, root in trees.items():
                        s = Stream(watched, work / f"{tree}-wall.jsonl", root=root)
                        try:
                            slow[tree].append(loop_wall(flooder, watched, args.n))
                            over[tree].append(dd(outside / "dd.out"))
                        finally:
                            s.stop()
                    stats_on.append(sysctl.read_text().strip())
                for tree, root in ({} if args.skip_per_op else trees).items():
                    s = Stream(watched, work / f"{tree}.jsonl", "--stats", "1", root=root)
                    sysctl.write_text("1")
                    try:
                        stats = ProgStats(s.proc.pid)
                        insns[tree] = {"verified": stats.insns, "xlated": stats.xlated}
                        for where, d in (("in", watched), ("out", outside)):
                            for mode in SYSCALLS:
                                n = n_open if mode in ("open", "close") else args.n
                                r = per_syscall(stats, work, flooder, mode, d / f"{mode}.f", n)
                                per[tree][f"{where}:{mode}"].append(r)
                                print(rnd, tree, where, mode, r, flush=True)
                    finally:
                        s.stop()
                        sysctl.write_text(saved)
        finally:
            sysctl.write_text(saved)
    med = lambda xs: statistics.median(xs) if xs else None  # noqa: E731
    result = {"rounds": args.rounds, "n": args.n, "n_open": n_open, "kernel": os.uname().release,
              "load": os.getloadavg(), "bpf_stats_during_wall_runs": stats_on, "insns": insns, "per_op": {}, "slowdown": {}, "overhead": {}}
    for tree in trees:
        result["per_op"][tree] = {k: {p: med([r[p] for r in v]) for p in ("raw_enter", "raw_exit", "sum")}
                                  for k, v in per[tree].items()}
    if slow["untraced"]:
        base = med(slow["untraced"])
        result["slowdown"] = {k: {"s": med(v), "slowdown": med(v) / base - 1, "all_s": v}
                              for k, v in slow.items() if v}
        u = med(over["untraced"])
        o = {k: med(v) / u - 1 for k, v in over.items() if k != "untraced" and v}
        result["overhead"] = {"median_s": {k: med(v) for k, v in over.items()}, "over": o, "all_s": over,
                              "ratio": {t: o[t] / o["bpftrace"] for t in (*trees, "empty")}}
    print(json.dumps(result, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
