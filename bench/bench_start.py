"""Start-up: exec -> `stream --ready-file` (the syscall probes live) and -> every probe live
(the stats line's `loading` empty), cold (an empty compile cache) and warm (a cache made by an
earlier start), side by side with bpftrace's one-liner in the same run, interleaved, medians.
Also the stream's RSS once everything is live, and whether LLVM is mapped in it.

bpftrace's figure: exec -> exit of
`bpftrace -e 'tracepoint:syscalls:sys_enter_write { @[comm] = count(); } BEGIN { exit(); }'`
(it compiles, attaches the tracepoint, then runs BEGIN, which exits).

    sudo .venv/bin/python bench/bench_start.py --rounds 5
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.harness import ROOT, SNIFF  # noqa: E402
from bench.run_benchmarks import ensure_tracefs  # noqa: E402

ONE_LINER = "tracepoint:syscalls:sys_enter_write { @[comm] = count(); } BEGIN { exit(); }"


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _llvm_mapped(pid: int) -> bool:
    maps = Path(f"/proc/{pid}/maps").read_text()
    return "libLLVM" in maps or "libbcc" in maps


def sniff_start(cache: Path, work: Path, threads: int = 0, root: Path = ROOT) -> dict:
    out, ready = work / "out.jsonl", work / "ready"
    out.unlink(missing_ok=True)
    ready.unlink(missing_ok=True)
    env = dict(os.environ, SNIFF_TUI_CACHE_DIR=str(cache), PYTHONPATH=str(root))
    if threads:
        env["SNIFF_TUI_LOAD_THREADS"] = str(threads)
    t0 = time.perf_counter()
    proc = subprocess.Popen([*SNIFF, "stream", "-d", str(work), "-o", str(out), "--ready-file", str(ready),
                             "--stats", "0.1"], cwd=root, env=env, stderr=subprocess.PIPE)
    try:
        while not ready.exists():
            if proc.poll() is not None:
                raise SystemExit(f"sniff-tui stream failed: {proc.stderr.read().decode()}")
            time.sleep(0.005)
        ready_s = time.perf_counter() - t0
        all_live = None
        while all_live is None:
            if proc.poll() is not None:
                raise SystemExit(f"sniff-tui stream failed: {proc.stderr.read().decode()}")
            text = out.read_text() if out.exists() else ""
            for line in text[:text.rfind("\n") + 1].splitlines():     # whole lines only
                obj = json.loads(line)
                if obj.get("op") == "stats" and not obj.get("loading"):
                    all_live = time.perf_counter() - t0
                    break
            time.sleep(0.02)
        return {"ready": ready_s, "all": all_live, "rss": _rss_mib(proc.pid), "llvm": _llvm_mapped(proc.pid)}
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=120)


def bpftrace_start() -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(["bpftrace", "-e", ONE_LINER], capture_output=True)
    if proc.returncode != 0:
        raise SystemExit(f"bpftrace failed: {proc.stderr.decode()}")
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline", type=Path, metavar="DIR",
                        help="also start another checkout's code (e.g. before the compile cache), as `baseline`")
    args = parser.parse_args()
    ensure_tracefs()
    base = Path(tempfile.mkdtemp(prefix="bench-start-"))
    warm_cache = base / "warm-cache"
    try:
        sniff_start(warm_cache, base)          # fills the warm cache (not timed)
        rows = {"cold": [], "warm": [], "warm-1-thread": [], "bpftrace": []}
        if args.baseline:
            rows["baseline"] = []
        for r in range(args.rounds):
            order = list(rows)
            order = order[r % len(order):] + order[:r % len(order)]
            for kind in order:
                if kind == "bpftrace":
                    rows[kind].append(bpftrace_start())
                    continue
                cache = warm_cache if kind.startswith("warm") else base / f"cold-{r}"
                rows[kind].append(sniff_start(cache, base, threads=1 if kind == "warm-1-thread" else 0,
                                              root=args.baseline if kind == "baseline" else ROOT))
                if kind == "cold":
                    shutil.rmtree(cache, ignore_errors=True)
            print(f"round {r + 1}: " + "; ".join(
                f"{k} {v[-1]:.2f} s" if k == "bpftrace" else
                f"{k} ready {v[-1]['ready']:.2f} s, all live {v[-1]['all']:.2f} s, rss {v[-1]['rss']:.0f} MiB"
                for k, v in rows.items()), flush=True)
        med = statistics.median
        bt = med(rows["bpftrace"])
        print(f"\nmedians of {args.rounds} (load average at the end: {os.getloadavg()[0]:.1f}):")
        print(f"bpftrace one-liner (compile, attach, exit): {bt:.2f} s")
        for kind in [k for k in rows if k != "bpftrace"]:
            rs = rows[kind]
            ready, alive = med(x["ready"] for x in rs), med(x["all"] for x in rs)
            print(f"sniff-tui {kind}: ready {ready:.2f} s ({ready / bt:.1f}x bpftrace), "
                  f"every probe live {alive:.2f} s, stream RSS {med(x['rss'] for x in rs):.0f} MiB, "
                  f"LLVM mapped: {any(x['llvm'] for x in rs)}")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
