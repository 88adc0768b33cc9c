#!/usr/bin/env python3
"""The noisy process against sniff-tui and the peers a user would pick, side by side in one run.

    sudo .venv/bin/python bench/bench_flood.py [--rounds 5] [--out bench/results-flood.md]

1. Flood: a Python loop of 100,000 open(O_APPEND)/write(10 B)/close cycles on one watched file,
   and 100,000 cycles over 5,000 files; untraced, under `sniff-tui stream`, `fatrace -c` and
   `inotifywait -m -r`, in interleaved rounds (medians). sniff-tui's totals are checked exact.
2. Userspace throughput: `stream --no-coalesce --rate-limit 0` while dd floods a watched file
   with one-byte writes: records per second written to JSONL, and what the kernel counted lost.
3. Stop latency: `stream` under `sh -c 'while :; do echo x >> f; done'`, SIGINT to exit.
4. Rename storm: an in-scope writer while another process renames 10,000 files per second
   outside the tree: the writer's records per second and its totals.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import ROOT, Stream  # noqa: E402
PY = "/usr/bin/python3"

FLOOD = r"""
import os, sys, time
d, cycles, files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
names = [os.path.join(d, f"f{i}") for i in range(files)]
t0 = time.perf_counter()
for i in range(cycles):
    fd = os.open(names[i % files], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.write(fd, b"0123456789")
    os.close(fd)
print(os.getpid(), time.perf_counter() - t0)
"""

WRITER = r"""
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
end = time.monotonic() + float(sys.argv[2])
n = 0
while time.monotonic() < end:
    for _ in range(1000):
        os.write(fd, b"x")
    n += 1000
os.close(fd)
print(os.getpid(), n)
"""

RENAMER = r"""
import os, sys, time
d, rate, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
names = [os.path.join(d, f"r{i}") for i in range(100)]
for n in names:
    open(n, "w").close()
t0 = time.monotonic()
done = 0
while time.monotonic() - t0 < seconds:
    due = int((time.monotonic() - t0) * rate)
    while done < due:
        a = names[done % 100]
        os.rename(a, a + ".x"); os.rename(a + ".x", a)
        done += 2
    time.sleep(0.001)
print(done / (time.monotonic() - t0))
"""


class Peer:
    """fatrace or inotifywait, writing its events to a file; ready after a short settle."""

    def __init__(self, kind: str, watched: Path, out: Path) -> None:
        if kind == "fatrace":
            cmd = ["fatrace", "-c", "-o", str(out)]
        else:
            cmd = ["inotifywait", "-m", "-r", "-q", "-o", str(out), str(watched)]
        self.proc = subprocess.Popen(cmd, cwd=watched, stderr=subprocess.DEVNULL)
        time.sleep(0.7)
        self.out = out

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return sum(1 for _ in self.out.open("rb"))


def flood(watched: Path, cycles: int, files: int) -> tuple[int, float]:
    out = subprocess.run([PY, "-I", "-S", "-c", FLOOD, str(watched), str(cycles), str(files)],
                         capture_output=True, text=True, check=True).stdout.split()
    return int(out[0]), float(out[1])


def totals(records: list[dict], pid: int) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for r in records:
        if r["pid"] == pid:
            c, b = out.get(r["op"], (0, 0))
            out[r["op"]] = (c + r["count"], b + (r.get("bytes") or 0))
    return out


def stats_of(stream_err: str) -> str:
    lines = [l for l in stream_err.splitlines() if "lost" in l or "records" in l]
    return " | ".join(lines[-2:])


def bench_flood(tmp: Path, rounds: int, cycles: int, files: int) -> dict:
    times: dict[str, list[float]] = {"untraced": [], "sniff-tui": [], "fatrace": [], "inotifywait": []}
    exact, recs_emitted, cpu, lines = [], [], [], {"fatrace": [], "inotifywait": []}
    kinds = list(times)
    for r in range(rounds):
        # The order turns every round, so that no tracer always runs first (cold caches).
        for kind in kinds[r % len(kinds):] + kinds[:r % len(kinds)]:
            watched = tmp / f"flood-{files}-{r}-{kind}"
            watched.mkdir()
            if kind == "untraced":
                times[kind].append(flood(watched, cycles, files)[1])
            elif kind == "sniff-tui":
                s = Stream(watched, tmp / f"flood-{files}-{r}.jsonl")
                cpu0 = s.cpu_seconds()
                pid, secs = flood(watched, cycles, files)
                times[kind].append(secs)
                time.sleep(0.2)
                cpu.append(s.cpu_seconds() - cpu0)
                s.stop()
                recs = s.records()
                t = totals(recs, pid)
                want = {"open": (cycles, 0), "write": (cycles, 10 * cycles), "close": (cycles, 0)}
                exact.append(t == want)
                if t != want:
                    print(f"  sniff-tui totals {t} != {want}", file=sys.stderr)
                recs_emitted.append(sum(1 for x in recs if x["pid"] == pid))
            else:
                p = Peer(kind, watched, tmp / f"{kind}-{files}-{r}.txt")
                times[kind].append(flood(watched, cycles, files)[1])
                time.sleep(0.3)
                lines[kind].append(p.stop())
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"median": med, "all": times, "exact": all(exact), "records": recs_emitted, "cpu": cpu,
            "peer_lines": lines}


def bench_throughput(tmp: Path, seconds: float) -> dict:
    watched = tmp / "thr"
    watched.mkdir()
    s = Stream(watched, tmp / "thr.jsonl", "--no-coalesce", "--rate-limit", "0", "--stats", "60")
    cpu_start = s.cpu_seconds()
    t0 = time.perf_counter()
    dd = subprocess.Popen(["dd", "if=/dev/zero", f"of={watched / 'f'}", "bs=1", "count=100000000"],
                          stderr=subprocess.DEVNULL)
    time.sleep(seconds)
    cpu0 = s.cpu_seconds() - cpu_start
    dd.kill()
    dd.wait()
    elapsed = time.perf_counter() - t0
    stop_s, err = s.stop()
    lines = s.out.read_text().splitlines()
    recs = [json.loads(l) for l in lines]
    stats = [r for r in recs if r.get("op") == "stats"]
    writes = [r for r in recs if r.get("op") == "write"]
    last = stats[-1] if stats else {}
    offered = len(writes) + (last.get("lost_calls") or 0)
    return {"records": len(writes), "seconds": elapsed, "rate": len(writes) / elapsed,
            "offered": offered / elapsed,
            "ringbuf_drops": last.get("ringbuf_drops"), "lost_calls": last.get("lost_calls"),
            "cpu": cpu0, "stop_s": stop_s, "stderr": err.strip()}


def bench_stop(tmp: Path, rounds: int, *extra: str) -> list[float]:
    out = []
    for r in range(rounds):
        watched = tmp / f"stop-{r}-{len(extra)}"
        watched.mkdir()
        s = Stream(watched, tmp / f"stop-{r}-{len(extra)}.jsonl", *extra)
        loop = subprocess.Popen(["sh", "-c", "while :; do echo x >> f; done"], cwd=watched)
        time.sleep(3)
        secs, _ = s.stop()
        loop.kill()
        loop.wait()
        out.append(secs)
    return out


def bench_rename_storm(tmp: Path, seconds: float, rate: int) -> dict:
    watched, outside = tmp / "storm", tmp / "storm-outside"
    watched.mkdir()
    outside.mkdir()
    s = Stream(watched, tmp / "storm.jsonl")
    renamer = subprocess.Popen([PY, "-I", "-S", "-c", RENAMER, str(outside), str(rate), str(seconds + 1)],
                               stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    w = subprocess.run([PY, "-I", "-S", "-c", WRITER, str(watched / "w"), str(seconds)],
                       capture_output=True, text=True, check=True).stdout.split()
    achieved = float(renamer.communicate()[0])
    time.sleep(0.3)
    s.stop()
    pid, n = int(w[0]), int(w[1])
    recs = [r for r in s.records() if r["pid"] == pid]
    t = totals(recs, pid)
    return {"rename_rate": achieved, "writes": n, "reported": t.get("write"),
            "records": len(recs), "records_per_s": len(recs) / seconds, "exact": t.get("write") == (n, n)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--cycles", type=int, default=100_000)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results-flood.md"))
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_flood: needs root (real probes)", file=sys.stderr)
        return 2
    lines = [f"# Flood benchmarks ({time.strftime('%Y-%m-%d %H:%M')}, `bench/bench_flood.py --rounds {args.rounds}`)", ""]
    with tempfile.TemporaryDirectory(prefix="sniff-flood-") as d:
        tmp = Path(d)
        for files in (1, 5000):
            res = bench_flood(tmp, args.rounds, args.cycles, files)
            m = res["median"]
            base = m["untraced"]
            lines.append(f"## 1. Flood: {args.cycles:,} open/write/close cycles over {files:,} file(s), "
                         f"{args.rounds} interleaved rounds, medians")
            lines.append("")
            lines.append("| tracer | flooder s (median) | overhead s | all rounds |")
            lines.append("| --- | --- | --- | --- |")
            for k, v in m.items():
                lines.append(f"| {k} | {v:.3f} | {v - base:+.3f} | {', '.join(f'{x:.2f}' for x in res['all'][k])} |")
            lines.append("")
            lines.append(f"sniff-tui totals exact in every round: **{res['exact']}**; records emitted for "
                         f"the flooder: {res['records']}; sniff-tui CPU s during the flood: {[round(c, 2) for c in res['cpu']]}; "
                         f"peer lines: fatrace {res['peer_lines']['fatrace']}, inotifywait "
                         f"{res['peer_lines']['inotifywait']}.")
            lines.append("")
            print("\n".join(lines[-8:]), flush=True)
        thr = bench_throughput(tmp, 8.0)
        lines += ["## 2. Userspace throughput (`--no-coalesce --rate-limit 0`, dd bs=1 into a watched file, 8 s)", "",
                  f"{thr['records']:,} write records in {thr['seconds']:.1f} s: **{thr['rate']:,.0f} records/s** "
                  f"written to JSONL; kernel counted {thr['ringbuf_drops']} records ({thr['lost_calls']} syscalls) "
                  f"it could not queue (dd offered {thr['offered']:,.0f} writes/s); sniff-tui CPU during the flood "
                  f"{thr['cpu']:.1f} s; stop after SIGINT {thr['stop_s']:.2f} s.",
                  f"stderr: `{thr['stderr']}`", ""]
        print("\n".join(lines[-4:]), flush=True)
        stops = bench_stop(tmp, max(3, args.rounds))
        stops_nc = bench_stop(tmp, max(3, args.rounds), "--no-coalesce", "--rate-limit", "0")
        lines += ["## 3. Stop latency under `while :; do echo x >> f; done` (SIGINT to exit)", "",
                  f"coalesced: {', '.join(f'{x:.2f}' for x in stops)} s (max {max(stops):.2f}); "
                  f"`--no-coalesce --rate-limit 0`: {', '.join(f'{x:.2f}' for x in stops_nc)} s "
                  f"(max {max(stops_nc):.2f})", ""]
        print("\n".join(lines[-3:]), flush=True)
        storm = bench_rename_storm(tmp, 5.0, 10_000)
        lines += ["## 4. Rename storm (writer in scope for 5 s; renames outside the tree)", "",
                  f"renames/s achieved {storm['rename_rate']:,.0f}; writer did {storm['writes']:,} writes, "
                  f"reported {storm['reported']} (exact: **{storm['exact']}**) in {storm['records']} records "
                  f"({storm['records_per_s']:.1f} records/s)", ""]
        print("\n".join(lines[-3:]), flush=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
