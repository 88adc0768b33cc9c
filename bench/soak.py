#!/usr/bin/env python3
"""Soak: mixed load under `sniff-tui stream --stats` for a set time.

    sudo .venv/bin/python bench/soak.py --minutes 15 [--out bench/results-soak.md]

Load: worker processes that create, write, read, rename and unlink files in the watched tree,
and short-lived processes (process churn) doing the same, plus noise outside the tree. It
checks that nothing is lost (no record of any kind dropped in the ring buffer or on the way to
the writer: every byte written and every short-lived process's open reported), that sniff-tui's
memory grows by at most 10% between the first minute and the end, and that no map reaches its
maximum. The machine's load average at start and end says how busy it was besides. It ends
with one line per criterion (pass/FAIL and what was measured) and the verdict; exit status 0
only when every criterion passed.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import ROOT, SNIFF  # noqa: E402


def churn_worker(base: str, outside: str, stop_at: float, seed: int, counts) -> None:
    """Long-lived: files that live a while, get written, renamed and removed."""
    import random
    rnd = random.Random(seed)
    d = os.path.join(base, f"w{seed}")
    os.makedirs(d, exist_ok=True)
    written = 0
    while time.time() < stop_at:
        name = os.path.join(d, f"f{rnd.randrange(200)}")
        # Unbuffered, so each write() is one syscall and its bytes are what we count.
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        for _ in range(rnd.randrange(1, 20)):
            written += os.write(fd, b"x" * rnd.randrange(1, 4096))
        os.close(fd)
        if rnd.random() < 0.3:
            os.rename(name, name + ".r")
            os.unlink(name + ".r")
        with open(os.path.join(outside, f"noise{seed}"), "wb") as f:
            f.write(b"n" * 100)
    counts[seed] = written


def spawn_children(base: str, stop_at: float) -> int:
    """Process churn: short-lived processes that each touch a file."""
    n = 0
    while time.time() < stop_at:
        subprocess.run(["/bin/sh", "-c", f'echo $$ > "{base}/child-$$"; rm -f "{base}/child-$$"'])
        n += 1
    return n


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def soak(minutes: float, work: Path) -> dict:
    watched, outside = work / "watched", work / "outside"
    watched.mkdir()
    outside.mkdir()
    out = work / "soak.jsonl"
    ready = work / "ready"
    proc = subprocess.Popen([*SNIFF, "stream", "-d", str(watched), "-o", str(out), "--stats", "5",
                             "--ready-file", str(ready)], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    while not ready.exists():
        if proc.poll() is not None:
            raise SystemExit(proc.stderr.read())
        time.sleep(0.05)
    start = time.time()
    load_start = os.getloadavg()[0]
    stop_at = start + minutes * 60
    counts = mp.Manager().dict()
    workers = [mp.Process(target=churn_worker, args=(str(watched), str(outside), stop_at, i, counts))
               for i in range(2)]
    for w in workers:
        w.start()
    rss = []
    children = 0
    while time.time() < stop_at:
        children += spawn_children(str(watched), min(stop_at, time.time() + 5))
        rss.append((time.time() - start, rss_kb(proc.pid)))
    for w in workers:
        w.join()
    load_end = os.getloadavg()[0]
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    stats, writes_reported, child_opens = [], 0, 0
    with out.open() as f:
        for line in f:
            rec = json.loads(line)
            if rec["op"] == "stats":
                stats.append(rec)
            elif rec["op"] == "write" and "/child-" not in rec["path"]:
                writes_reported += rec["bytes"]
            elif rec["op"] == "open" and "/child-" in rec["path"]:
                child_opens += rec["count"]
    last = stats[-1]
    counters = last["counters"]
    # In syscalls: what the kernel could not queue, and anything dropped after the output closed.
    lost = counters["lost_calls"] + last.get("feed_dropped", 0)
    drops = {k: counters.get(k, 0) for k in ("ringbuf_drops", "proc_drops", "name_drops", "lost_calls")}
    drops["feed_dropped"] = last.get("feed_dropped", 0)
    first_minute = [kb for t, kb in rss if t >= 60] or [kb for _, kb in rss]
    baseline = first_minute[0]
    peak_util = {m["name"]: max(x["utilization"] for s in stats for x in s["maps"] if x["name"] == m["name"])
                 for m in last["maps"]}
    writes_done = sum(counts.values())
    result = {
        "minutes": minutes, "exit": proc.returncode, "stderr": err.strip()[-500:],
        "bytes_written": writes_done, "records": counters.get("events", 0), "bytes_reported": writes_reported,
        "children": children, "child_opens_reported": child_opens,
        "counted_losses": lost, "drops": drops, "counters": counters,
        "records_per_s": round(counters.get("events", 0) / (minutes * 60)),
        "loadavg_start": load_start, "loadavg_end": load_end,
        # With pids not coming back within a minute (4,194,304, systemd's default), the process
        # table holds a minute of exits: the growth of the first minute is larger.
        "pid_max": int(Path("/proc/sys/kernel/pid_max").read_text()),
        "rss_start_kb": baseline, "rss_end_kb": rss[-1][1], "rss_growth": rss[-1][1] / baseline - 1,
        "peak_map_utilization": peak_util,
        "rss_mb_by_minute": [round(kb / 1024, 1) for t, kb in rss if t // 60 != (t - 5.5) // 60] + [round(rss[-1][1] / 1024, 1)],
    }
    result["criteria"] = criteria(result)
    result["ok"] = all(ok for _, ok, _ in result["criteria"])
    return result


def criteria(r: dict) -> list[tuple[str, bool, str]]:
    """(criterion, met, measured) for every check the soak passes on."""
    return [
        ("stream exits 0", r["exit"] == 0, f"exit {r['exit']}"),
        ("no record of any kind dropped (ring buffer, feed)", not any(r["drops"].values()),
         ", ".join(f"{k} {v}" for k, v in r["drops"].items())),
        ("every byte written reported", r["bytes_reported"] == r["bytes_written"],
         f"{r['bytes_reported']:,} of {r['bytes_written']:,}"),
        ("every short-lived process's open reported", r["child_opens_reported"] >= r["children"],
         f"{r['child_opens_reported']:,} of {r['children']:,}"),
        ("RSS growth <= 10% from the first minute to the end", r["rss_growth"] <= 0.10,
         f"{r['rss_start_kb'] / 1024:.1f} -> {r['rss_end_kb'] / 1024:.1f} MiB ({r['rss_growth']:+.1%})"),
        ("no map full", all(u < 1.0 for u in r["peak_map_utilization"].values()),
         ", ".join(f"{k} {v:.1%}" for k, v in r["peak_map_utilization"].items())),
    ]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--out", help="write a markdown summary here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="sniff-soak-", dir="/var/tmp") as tmp:
        result = soak(args.minutes, Path(tmp))
    text = (f"| soak {result['minutes']:g} min | bytes written {result['bytes_written']:,} / "
            f"reported {result['bytes_reported']:,}, {result['children']:,} short-lived processes "
            f"({result['child_opens_reported']:,} of their opens reported), "
            f"{result['records_per_s']:,} records/s, drops "
            + ", ".join(f"{k} {v}" for k, v in result["drops"].items())
            + f", RSS {result['rss_start_kb'] / 1024:.1f} → "
            f"{result['rss_end_kb'] / 1024:.1f} MB ({result['rss_growth']:+.1%}), peak map use "
            + ", ".join(f"{k} {v:.1%}" for k, v in result["peak_map_utilization"].items())
            + f", load average {result['loadavg_start']:.1f} → {result['loadavg_end']:.1f} (2 cores)"
            + f", pid_max {result['pid_max']:,}"
            + f" | {'ok' if result['ok'] else 'FAILED'} |")
    print(json.dumps(result, indent=1))
    print(text)
    for name, ok, measured in result["criteria"]:
        print(f"  {'pass' if ok else 'FAIL'}  {name}: {measured}")
    print(f"soak {result['minutes']:g} min: {'PASSED' if result['ok'] else 'FAILED'} "
          f"({result['records']:,} records, {result['records_per_s']:,}/s; load average "
          f"{result['loadavg_start']:.1f} -> {result['loadavg_end']:.1f} on {os.cpu_count()} cores)")
    if args.out:
        Path(args.out).write_text(text + "\n\n```json\n" + json.dumps(result, indent=1) + "\n```\n")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
