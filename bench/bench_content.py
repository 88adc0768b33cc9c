#!/usr/bin/env python3
"""What --content costs, side by side in one run with the same loaded probes (capture switched
on and off between rounds, the order turning every round, medians):

1. the in-scope flood: `dd bs=4096` into a watched file, wall time untraced-by-capture (content
   off) beside content on (--content-max 4096), and the kernel's own ns per raw_exit run
   (capture_write is tail-called from it, so its cost is counted there);
2. the capture rate: `dd` writing as fast as it can with capture on, at 4 KiB and 64 KiB per
   write (--content-max the same): MiB/s of captured bytes delivered to Python, and what the
   ring buffer could not queue (content_drops);
3. the capture rate before the ring buffer drops: a paced writer ramped up (--ladder, MiB/s)
   until the step where content_drops moves.

    sudo .venv/bin/python bench/bench_content.py [--mib 64] [--rounds 5]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sniff_tui.core.feed import Feed  # noqa: E402
from sniff_tui.probes.live import LiveSource  # noqa: E402
from sniff_tui.probes.loader import LoadError  # noqa: E402
from sniff_tui.core.record import ContentRecord  # noqa: E402
from sniff_tui.probes.selfcost import BpfStats, program_costs  # noqa: E402


class Sink(threading.Thread):
    """Drains the feed as fast as it can, counting captured bytes."""

    def __init__(self, feed: Feed) -> None:
        super().__init__(daemon=True)
        self.feed, self.done = feed, threading.Event()
        self.captured = self.records = 0

    def run(self) -> None:
        while not self.done.is_set() or len(self.feed):
            for r in self.feed.drain(50_000):
                if r.__class__ is ContentRecord and not r.base:
                    self.records += 1
                    self.captured += len(r.data)
            self.feed.wait(0.01)


def dd(path: Path, bs: int, mib: int) -> float:
    t0 = time.perf_counter()
    subprocess.run(["dd", "if=/dev/zero", f"of={path}", f"bs={bs}", f"count={mib * (1 << 20) // bs}",
                    "conv=notrunc"], check=True, capture_output=True)
    return time.perf_counter() - t0


PACED = """
import os, sys, time
path, bs, rate, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
buf = bytes(range(256)) * (bs // 256)
per_tick = max(1, int(rate * (1 << 20) / bs / 100))     # writes per 10 ms
t0 = time.monotonic()
n = 0
while time.monotonic() - t0 < seconds:
    for _ in range(per_tick):
        os.pwrite(fd, buf, (n % 256) * bs)
        n += 1
    time.sleep(max(0.0, t0 + n / (per_tick * 100) - time.monotonic()))
print(n)
"""


def paced(path: Path, bs: int, mib_per_s: float, seconds: float) -> int:
    """Writes at a steady rate (a Python loop, 10 ms ticks); returns how many it made."""
    out = subprocess.run([sys.executable, "-I", "-S", "-c", PACED, str(path), str(bs), str(mib_per_s),
                          str(seconds)], check=True, capture_output=True)
    return int(out.stdout)


def raw_exit_ns(source: LiveSource) -> tuple[int, float]:
    c = program_costs(source.probes.programs)["raw_exit"]
    return c["runs"], c["runs"] * c["ns_per_run"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mib", type=int, default=64, help="MiB written per dd run")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--ladder", default="4,8,12,16,20,24,28,32,48,64,128",
                    help="MiB/s steps of the paced writer (it stops at the first that drops)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_content: needs root (BPF)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp_name:
        watched = Path(tmp_name) / "watched"
        watched.mkdir()
        source = LiveSource([watched])
        try:
            source.open()
        except LoadError as exc:
            print(f"bench_content: {exc}", file=sys.stderr)
            return 1
        feed, stop = Feed(1_000_000), threading.Event()
        worker = threading.Thread(target=source.run, args=(feed, stop), daemon=True)
        worker.start()
        sink = Sink(feed)
        sink.start()
        stats = BpfStats()
        stats.enable()
        flood: dict[str, list[tuple[float, float]]] = {"off": [], "on": []}
        rates: dict[int, list[tuple[float, int, int]]] = {4096: [], 65536: []}
        ladder: list[tuple[float, int, int, int]] = []
        try:
            target = watched / "flood"
            dd(target, 4096, args.mib)                       # the file exists: no allocation
            for i in range(args.rounds):
                for mode in (("off", "on") if i % 2 == 0 else ("on", "off")):
                    source.set_content(4096 if mode == "on" else 0)
                    runs0, ns0 = raw_exit_ns(source)
                    wall = dd(target, 4096, args.mib)
                    runs1, ns1 = raw_exit_ns(source)
                    flood[mode].append((wall, (ns1 - ns0) / max(runs1 - runs0, 1)))
                for bs in rates:
                    source.set_content(bs)
                    source.harvest_now()
                    drops0 = source.counters().get("content_drops", 0)
                    captured0 = sink.captured
                    t0 = time.perf_counter()
                    dd(watched / f"rate{bs}", bs, args.mib)
                    while len(feed) or source.ring.pending():   # until Python has it all
                        time.sleep(0.01)
                    source.harvest_now()
                    wall = time.perf_counter() - t0
                    drops = source.counters().get("content_drops", 0) - drops0
                    rates[bs].append((wall, sink.captured - captured0, drops))
            source.set_content(4096)
            for step in (float(x) for x in args.ladder.split(",")):
                source.harvest_now()
                drops0, records0 = source.counters().get("content_drops", 0), sink.records
                n = paced(watched / "paced", 4096, step, 2.0)
                while len(feed) or source.ring.pending():
                    time.sleep(0.01)
                source.harvest_now()
                ladder.append((step, n, sink.records - records0,
                               source.counters().get("content_drops", 0) - drops0))
                if ladder[-1][3]:
                    break        # the ring buffer's drop counter moved: the ramp is over
        finally:
            source.set_content(0)
            stats.restore()
            stop.set()
            worker.join()
            sink.done.set()
            sink.join()
            source.close()
    writes = args.mib * (1 << 20) // 4096
    print(f"1. in-scope flood: dd bs=4096, {writes:,} writes ({args.mib} MiB), {args.rounds} rounds, "
          f"medians")
    for mode, rounds in flood.items():
        print(f"   content {mode:3s}: {statistics.median(w for w, _ in rounds):.3f} s, raw_exit "
              f"{statistics.median(n for _, n in rounds):.0f} ns per run (every syscall exit "
              "on the machine, capture_write included)")
    ratio = statistics.median(w for w, _ in flood["on"]) / statistics.median(w for w, _ in flood["off"])
    print(f"   ratio on/off (wall): {ratio:.2f}")
    print(f"2. capture rate, dd as fast as it can, {args.mib} MiB per run, medians")
    for bs, rounds in rates.items():
        mibs = statistics.median(c / w / (1 << 20) for w, c, _ in rounds)
        dropped = statistics.median(d for _, _, d in rounds)
        total = args.mib * (1 << 20) // bs
        print(f"   {bs:6d} B per write (--content-max {bs}): {mibs:.0f} MiB/s captured and "
              f"delivered; {dropped:,.0f} of {total:,} writes dropped by the ring buffer")
    print("3. paced writer, 4 KiB pwrites for 2 s per step, capture on (--content-max 4096):")
    for step, n, got, dropped in ladder:
        print(f"   {step:6.0f} MiB/s asked, {n * 4096 / 2 / (1 << 20):6.1f} MiB/s made: {got:,} of "
              f"{n:,} writes captured, {dropped:,} dropped by the ring buffer")
    clean = [n * 4096 / 2 / (1 << 20) for step, n, got, dropped in ladder if not dropped]
    print(f"   highest rate without a drop: {max(clean):.1f} MiB/s" if clean else
          "   every step dropped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
