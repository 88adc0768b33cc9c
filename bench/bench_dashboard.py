"""Load test of the dashboard: a synthetic live source at 50,000 records/s for N seconds,
headless, measuring what a user would feel.

    .venv/bin/python bench/bench_dashboard.py [SECONDS] [--rate 50000] [--size 160x48]

- redraw rate: frames the event pane painted per second (row 0 rendered; target >= 4/s);
- key latency: from a Pilot key press (`w`, hiding then showing writes) to the new filter
  being on screen (the stream pane shows the state's new filter generation; target <= 200 ms);
- memory: RSS sampled every 5 s after a 5 s warm-up (target: flat);
- throughput: records generated, folded in, dropped by the bounded feed.

Prints a markdown table. The source thread shares the GIL with the UI, as the live BCC
source does, so generation cost is part of the load.
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from textual import events  # noqa: E402

from sniff_tui.core.filters import Filters  # noqa: E402
from sniff_tui.core.record import Record  # noqa: E402
from sniff_tui.core.source import MapHealth, SourceStats  # noqa: E402
from sniff_tui.tui.app import SniffApp  # noqa: E402
from sniff_tui.widgets.event_stream import EventStream  # noqa: E402
from sniff_tui.widgets.process_tree import ProcessTreePane  # noqa: E402
from sniff_tui.widgets.top_files import TopFilesPane  # noqa: E402

ROOT = b"/bench/proj"
OPS_MIX = ("write",) * 8 + ("read",) * 8 + ("open", "open", "close", "close", "rename", "unlink", "truncate")


class SyntheticSource:
    """Plausible load: 200 processes in a tree over 5,000 files, plus 5 % of records on
    brand-new temporary files (the churn that makes the dashboard evict)."""

    live = True

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.watches = [ROOT]
        self.generated = 0
        self.filters = Filters()
        self.paths = [ROOT + b"/src/dir%d/file%d.c" % (i % 50, i) for i in range(5000)]
        self.procs = [(2000 + i, 1000 + i % 10, b"worker%d" % (i % 7)) for i in range(200)]

    def detach(self) -> None:
        pass

    def warnings(self):
        return 0, []

    def run(self, feed, stop: threading.Event) -> None:
        chunk = max(self.rate // 100, 1)            # every 10 ms
        start = time.monotonic()
        n = 0
        ops, paths, procs = OPS_MIX, self.paths, self.procs
        while not stop.is_set():
            now = time.time()
            batch = []
            for i in range(chunk):
                k = n + i
                pid, ppid, comm = procs[(k * 7) % 200]
                op = ops[k % len(ops)]
                path = paths[(k * 13) % 5000] if k % 20 else ROOT + b"/tmp/t%d.tmp" % k
                batch.append(Record(ts=now, op=op, pid=pid, tid=pid, ppid=ppid, uid=1000, comm=comm,
                                    path=path, bytes=4096 if op in ("read", "write") else None,
                                    count=1 + k % 3, new_path=path + b".1" if op == "rename" else None))
            feed.push_many(batch)
            n += chunk
            self.generated = n
            delay = start + n / self.rate - time.monotonic()
            if delay > 0:
                stop.wait(delay)

    def stats(self) -> SourceStats:
        return SourceStats(records=self.generated, maps=[MapHealth("counters", 4000, 10240),
                                                         MapHealth("paths", 9000, 10240, 3)])

    def set_filters(self, filters: Filters) -> None:
        self.filters = filters

    def set_watches(self, watches: list[bytes]) -> None:
        self.watches = list(watches)

    def process_info(self, pid: int) -> dict:
        return {"cmdline": f"worker --id {pid}", "user": "bench", "ppid": 1000 + pid % 10}


async def bench(seconds: float, rate: int, size: tuple[int, int]) -> dict:
    proc = psutil.Process()
    source = SyntheticSource(rate)
    with tempfile.TemporaryDirectory() as spool:
        app = SniffApp(source, Filters(), [ROOT], spool_dir=spool)
        async with app.run_test(size=size) as pilot:
            stream = app.dashboard.query_one(EventStream)
            paints = count_frames(stream)
            await asyncio.sleep(5.0)                       # warm-up: caches, first evictions
            rss = [proc.memory_info().rss]
            cpu0 = proc.cpu_times()
            paints0, received0, t0 = paints[0], app.state.records_received, time.monotonic()
            latencies: list[tuple[float, float]] = []
            pilot_latencies: list[tuple[float, float]] = []
            next_sample = t0 + 5
            next_key = t0 + 2.5
            while (now := time.monotonic()) < t0 + seconds:
                if now >= next_key:
                    latencies.append(await key_latency(app, pilot, via_pilot=False))
                    await asyncio.sleep(0.3)
                    pilot_latencies.append(await key_latency(app, pilot, via_pilot=True))
                    next_key = time.monotonic() + 2.5
                if now >= next_sample:
                    rss.append(proc.memory_info().rss)
                    next_sample += 5
                await asyncio.sleep(0.05)
            elapsed = time.monotonic() - t0
            cpu1 = proc.cpu_times()
            result = {
                "seconds": elapsed,
                "redraws_per_s": (paints[0] - paints0) / elapsed,
                "latencies": latencies,
                "pilot_latencies": pilot_latencies,
                "rss": rss + [proc.memory_info().rss],
                "generated": source.generated,
                "received_per_s": (app.state.records_received - received0) / elapsed,
                "dropped": app.feed.dropped,
                "backlog": len(app.feed),
                "cpu": ((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)) / elapsed * 100,
                "spool": app.state.recording.size if app.state.recording else 0,
                "kept": app.state.recording.kept if app.state.recording else 0,
                "files": len(app.state.files),
                "partial": app.state.unitemised + app.state.files_not_held + app.state.procs_not_held,
            }
            await pilot.press("q")
    return result


async def key_latency(app: SniffApp, pilot, via_pilot: bool) -> tuple[float, float]:
    """Press `w`; returns (seconds until the stream pane shows the new filter, seconds until
    the top-files and process panes do too).

    ``via_pilot``: ``Pilot.press``, which also waits for the whole app to go idle and for a
    screen refresh. Otherwise the key goes in the way a terminal's does (the driver posts a
    Key event) and the clock stops when the panes show the new filter."""
    stream = app.dashboard.query_one(EventStream)
    files = app.dashboard.query_one(TopFilesPane)
    procs = app.dashboard.query_one(ProcessTreePane)
    want_write = "write" not in app.state.filters.ops
    start = time.perf_counter()
    if via_pilot:
        await pilot.press("w")
    else:
        event = events.Key("w", "w")
        event.set_sender(app)
        app._driver.send_message(event)
    first = None
    while time.perf_counter() - start < 5:
        if ("write" in app.state.filters.ops) == want_write:
            gen = app.state.filter_gen
            if first is None and stream.shown_version[0] == gen:
                first = time.perf_counter() - start
            if first is not None and files.shown_filter_gen == gen and procs.shown_filter_gen == gen:
                return first, time.perf_counter() - start
        await asyncio.sleep(0.001)
    return float("inf"), float("inf")



def count_frames(stream) -> list[int]:
    """Frames the event pane paints (its first line rendered), counted here rather than by a
    hook in the widget."""
    frames = [0]
    render_line = stream.render_line

    def counting(y: int):
        if y == 0:
            frames[0] += 1
        return render_line(y)
    stream.render_line = counting
    return frames

def spread(lat: list[float]) -> str:
    lat = sorted(lat)
    if not lat:
        return "n/a"
    p95 = lat[min(len(lat) - 1, int(len(lat) * 0.95))]
    return (f"{statistics.median(lat) * 1000:.0f} / {p95 * 1000:.0f} / {lat[-1] * 1000:.0f} ms "
            f"({len(lat)} presses)")


def report(r: dict, rate: int) -> str:
    lat = r["latencies"]
    mib = [x / 2**20 for x in r["rss"]]
    flat = "yes" if max(mib[len(mib) // 2:]) - mib[len(mib) // 2] < 0.05 * mib[0] + 16 else "NO"
    rows = [
        ("duration", f"{r['seconds']:.0f} s at {rate:,} records/s offered", ""),
        ("stream pane redraws", f"{r['redraws_per_s']:.1f} /s", ">= 4 /s"),
        ("key `w` → event pane shows it: median / p95 / max", spread([a for a, _ in lat]), "<= 200 ms"),
        ("key `w` → all panes show it: median / p95 / max", spread([b for _, b in lat]), ""),
        ("Pilot.press(`w`) round trip (waits for app idle)",
         spread([b for _, b in r["pilot_latencies"]]), ""),
        ("RSS start / end / max", f"{mib[0]:.0f} / {mib[-1]:.0f} / {max(mib):.0f} MiB", "flat"),
        ("RSS second half flat", flat, ""),
        ("records folded in", f"{r['received_per_s']:,.0f} /s", f"{rate:,} /s"),
        ("feed drops / backlog at end", f"{r['dropped']:,} / {r['backlog']:,}", "0"),
        ("process CPU (UI + source thread)", f"{r['cpu']:.0f} %", ""),
        ("export spool", f"{r['kept']:,} records, {r['spool'] / 2**20:.1f} MiB on disk", ""),
        ("files held / syscalls in partial rows", f"{r['files']:,} / {r['partial']:,}", "bounded, exact"),
    ]
    out = ["| metric | measured | target |", "| --- | --- | --- |"]
    out += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    out.append("")
    out.append("RSS samples (MiB, every 5 s): " + " ".join(f"{m:.0f}" for m in mib))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="sniff-tui dashboard load test")
    parser.add_argument("seconds", nargs="?", type=float, default=60.0)
    parser.add_argument("--rate", type=int, default=50_000, help="records per second")
    parser.add_argument("--size", default="160x48", help="terminal WIDTHxHEIGHT")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    result = asyncio.run(bench(args.seconds, args.rate, (width, height)))
    print(report(result, args.rate))
    return 0


if __name__ == "__main__":
    sys.exit(main())
