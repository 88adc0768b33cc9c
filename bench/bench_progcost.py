#!/usr/bin/env python3
"""In-kernel cost of the hot programs (raw_enter, raw_exit: ns per run, from bpf_stats), this
checkout against another, side by side: `stream --stats 1` of each in turn while `dd bs=1`
writes 300,000 times outside the watched tree (out of scope) and inside it (in scope). The
average covers every syscall on the machine meanwhile. Time in the program is not stretched by
other processes (it runs without preemption), so this holds up on a busy machine where wall-clock
overhead does not.

    sudo .venv/bin/python bench/bench_progcost.py BASELINE_CHECKOUT [ROUNDS]
"""
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import sniff_command  # noqa: E402
TREES = {"this": str(Path(__file__).resolve().parent.parent), "baseline": os.path.abspath(sys.argv[1])}
def run(tree, where):
    work = Path(tempfile.mkdtemp(prefix="cost-", dir="/var/tmp"))
    w = work / "watched"; w.mkdir(); o = work / "outside"; o.mkdir()
    out, ready = work / "out.jsonl", work / "ready"
    env = {**os.environ, "PYTHONPATH": TREES[tree]}
    p = subprocess.Popen([*sniff_command(Path(TREES[tree]), f"{TREES[tree]}/.venv/bin/python"), "stream", "-d", str(w), "--stats", "1",
                          "--format", "jsonl", "-o", str(out), "--ready-file", str(ready)], cwd=TREES[tree], env=env,
                         stderr=subprocess.DEVNULL)
    while not ready.exists():
        assert p.poll() is None
        time.sleep(0.1)
    time.sleep(1.5)
    def costs():
        lines = [json.loads(l) for l in out.read_text().splitlines() if '"stats"' in l]
        return lines[-1]["programs"] if lines else {}
    c0 = costs()
    target = (w if where == "in" else o) / "dd.out"
    t = time.perf_counter()
    subprocess.run(["dd", "if=/dev/zero", f"of={target}", "bs=1", "count=300000"], stderr=subprocess.DEVNULL, check=True)
    el = time.perf_counter() - t
    time.sleep(2.5)
    c1 = costs()
    p.send_signal(2); p.wait(60)
    res = {}
    for prog in ("raw_enter", "raw_exit"):
        a, b = c0.get(prog, {"runs": 0, "ns_per_run": 0}), c1.get(prog)
        if a and b:
            runs = b["runs"] - a["runs"]
            ns = b["ns_per_run"] * b["runs"] - a["ns_per_run"] * a["runs"]
            res[prog] = round(ns / runs, 1) if runs else None
    return res, round(el, 2)
for rnd in range(int(sys.argv[2]) if len(sys.argv) > 2 else 2):
    for where in ("out", "in"):
        for tree in ("this", "baseline"):
            print(rnd, where, tree, *run(tree, where), flush=True)
