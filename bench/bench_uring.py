#!/usr/bin/env python3
"""What following io_uring costs, per request, from the kernel's own BPF run-time statistics
(kernel.bpf_stats_enabled, switched on for the run and restored): a process makes N one-byte
IORING_OP_WRITEs, one SQE each, on a file outside the watched tree, then on one inside it.
The in-scope totals are checked exact.

    sudo .venv/bin/python bench/bench_uring.py [--writes 200000] [--rounds 3]

Wall-clock time is not used: on a shared machine it moves more than what is measured here.
Tail-called programs (uring_file...) are counted in the program that called them.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sniff_tui.core.feed import Feed  # noqa: E402
from sniff_tui.probes.live import LiveSource  # noqa: E402
from sniff_tui.probes.loader import LoadError  # noqa: E402
from sniff_tui.probes.selfcost import BpfStats, program_costs  # noqa: E402

HELPER = ROOT / "tests/kernel/helpers/uring.c"
PROGRAMS = ("uring_submit", "uring_complete")


def build(tmp: Path) -> Path:
    exe = tmp / "uring_helper"
    subprocess.run(["gcc", "-O2", "-o", str(exe), str(HELPER)], check=True)
    return exe


def ns_per_request(source: LiveSource, exe: Path, path: Path, writes: int) -> dict[str, float]:
    def totals():
        costs = program_costs(dict(source.probes.programs))
        return {n: (costs[n]["runs"], costs[n]["runs"] * costs[n]["ns_per_run"]) for n in PROGRAMS}
    before = totals()
    subprocess.run([str(exe), "openat", str(path), str(os.O_RDWR | os.O_CREAT | os.O_TRUNC),
                    "writes", str(writes), "1"], check=True, capture_output=True)
    after = totals()
    return {n: (after[n][1] - before[n][1]) / max(after[n][0] - before[n][0], 1) for n in PROGRAMS}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--writes", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_uring: needs root (BPF)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        exe = build(tmp)
        watched = tmp / "watched"
        watched.mkdir()
        source = LiveSource([watched])
        try:
            source.open()
        except LoadError as exc:
            print(f"bench_uring: {exc}", file=sys.stderr)
            return 1
        if source.probes.missing:
            print("bench_uring: " + "; ".join(source.probes.missing), file=sys.stderr)
            return 1
        feed, stop = Feed(10_000_000), threading.Event()
        worker = threading.Thread(target=source.run, args=(feed, stop), daemon=True)
        worker.start()
        stats = BpfStats()
        stats.enable()
        results: dict[str, list[dict[str, float]]] = {"outside": [], "inside": []}
        try:
            for _ in range(args.rounds):
                for where, path in (("outside", tmp / "outside"), ("inside", watched / "inside")):
                    results[where].append(ns_per_request(source, exe, path, args.writes))
        finally:
            stats.restore()
            stop.set()
            worker.join()
            source.close()
        records = feed.drain(limit=len(feed) + 1)
        inside = os.fsencode(watched / "inside")
        writes = [r for r in records if r.op == "write" and r.path == inside]
        calls, nbytes = sum(r.count for r in writes), sum(r.bytes for r in writes)
        expected = args.rounds * args.writes
    print(f"{args.rounds} rounds of {args.writes:,} one-byte IORING_OP_WRITEs (median ns per request):")
    for where, rounds in results.items():
        cells = ", ".join(f"{n} {statistics.median(r[n] for r in rounds):.0f}" for n in PROGRAMS)
        print(f"  {where:8s} {cells}")
    print(f"in-scope totals: {calls:,} writes, {nbytes:,} bytes in {len(writes)} records "
          f"(expected {expected:,}): {'exact' if (calls, nbytes) == (expected, expected) else 'WRONG'}")
    return 0 if (calls, nbytes) == (expected, expected) else 1


if __name__ == "__main__":
    sys.exit(main())
