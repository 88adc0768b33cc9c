#!/usr/bin/env python3
"""An excluded directory costs what an unwatched one costs: a `--no-coalesce` flood of 100,000
one-byte writes, side by side in one run (interleaved rounds, medians), into

  untraced       a directory, no sniff-tui running (before and after the stream's rounds)
  unwatched      a directory outside the watched tree, under the stream
  excluded dir   watched/node_modules/ under `--exclude node_modules/` (decided in the kernel)
  excluded name  watched/big.bin under `--exclude '*.bin'` (decided in Python, after the kernel)
  watched        watched/plain, kept: one record per write

under `sniff-tui stream -d watched --exclude PATTERN --no-coalesce --rate-limit 0 --stats 1`:
stream A excludes node_modules/ (unwatched and excluded dir, interleaved), then stream B
excludes '*.bin' (excluded name and watched). Reported: the flooder's own time for its loop,
the write records kept for it, and per stream the stats line's filtered_out (records the kernel
sent that the pattern then refused: under A, only the excluded directory can cause them).

    sudo .venv/bin/python bench/bench_exclude.py [--rounds 5] [--writes 100000]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Stream  # noqa: E402

PY = "/usr/bin/python3"
FLOOD = r"""
import os, sys, time
path, n = sys.argv[1], int(sys.argv[2])
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
t0 = time.perf_counter()
for _ in range(n):
    os.write(fd, b"x")
elapsed = time.perf_counter() - t0
os.close(fd)
print(os.getpid(), elapsed)
"""


def flood(path: Path, writes: int) -> tuple[int, float]:
    out = subprocess.run([PY, "-I", "-S", "-c", FLOOD, str(path), str(writes)],
                         capture_output=True, check=True, text=True).stdout.split()
    return int(out[0]), float(out[1])


def phase(watched: Path, out: Path, pattern: str, targets: dict, rounds: int, writes: int,
          times: dict) -> tuple[dict, dict]:
    """One stream excluding pattern; the floods into targets interleaved (the order turns
    every round). Returns (write records kept per target, the stream's last stats line)."""
    stream = Stream(watched, out, "--exclude", pattern, "--no-coalesce", "--rate-limit", "0",
                    "--stats", "1")
    pids: dict[str, list[int]] = {k: [] for k in targets}
    names = list(targets)
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            pid, seconds = flood(targets[name], writes)
            times.setdefault(name, []).append(seconds)
            pids[name].append(pid)
    stream.stop()
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    stats = [x for x in lines if x.get("op") == "stats"][-1]
    kept = {name: sum(x.get("count", 1) for x in lines
                      if x.get("op") == "write" and x.get("pid") in pids[name]) for name in targets}
    return kept, stats


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--writes", type=int, default=100_000)
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="sniff-bench-exclude-"))
    watched, elsewhere = base / "watched", base / "elsewhere"
    (watched / "node_modules" / "pkg").mkdir(parents=True)
    elsewhere.mkdir()
    times: dict[str, list[float]] = {"untraced": []}
    half = (args.rounds + 1) // 2
    for _ in range(half):
        times["untraced"].append(flood(elsewhere / "u", args.writes)[1])
    # A: the target. B: the contrast (a name pattern, and a kept file), after A.
    kept_a, stats_a = phase(watched, base / "a.jsonl", "node_modules/",
                            {"unwatched": elsewhere / "f", "excluded dir": watched / "node_modules" / "pkg" / "f"},
                            args.rounds, args.writes, times)
    for _ in range(args.rounds - half):
        times["untraced"].append(flood(elsewhere / "u", args.writes)[1])
    kept_b, stats_b = phase(watched, base / "b.jsonl", "*.bin",
                            {"excluded name": watched / "big.bin", "watched": watched / "plain"},
                            args.rounds, args.writes, times)
    kept = {**kept_a, **kept_b}
    base_s = statistics.median(times["untraced"])
    print(f"{args.rounds} rounds of {args.writes:,} one-byte writes, medians of the flooder's loop")
    print("| flood into | loop s (median) | vs untraced | write records kept (all rounds) |")
    print("| --- | --- | --- | --- |")
    for name, values in times.items():
        med = statistics.median(values)
        print(f"| {name} | {med:.3f} | {med / base_s:.2f}x | {'' if name == 'untraced' else f'{kept[name]:,}'} |")
    for label, stats in (("A (--exclude node_modules/)", stats_a), ("B (--exclude '*.bin')", stats_b)):
        print(f"stream {label}: filtered_out {stats.get('filtered_out', 0):,} (records the kernel "
              f"sent that the pattern refused); ringbuf_drops {stats.get('ringbuf_drops', 0):,}; "
              f"records {stats.get('records', 0):,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
