"""The kernel matrix's smoke test (run by scripts/kernel-matrix.sh inside each guest kernel, as
root): the real `sniff-tui stream` command watches a fresh directory while a scripted workload
makes a known set of syscalls in it; every op's reported count and bytes must equal what the
workload did, and the command must stop within 1 s of SIGINT.

Under emulation (TCG) everything is slower, so the 1 s is scaled by this guest's slowdown: a
fixed pure-Python loop timed here against the same loop timed on the host (`--calibrate` prints
it; pass it as --host-loop SECONDS). Natively, or without --host-loop, the limit is 1 s.

Prints one line, `stream: ok ...` or `stream: FAIL ...`, plus the stats line's `missing` list
(what this kernel cannot follow); exit status 0 only when everything matched.
Usage: python -B scripts/stream_smoke.py [--host-loop SECONDS] WORKDIR | --calibrate
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).absolute().parents[1]
READY_TIMEOUT = 900          # probe load under TCG took 146 s on 6.12 (11 s natively)
SETTLE_TIMEOUT = 120
STOP_LIMIT = 1.0

# The workload: raw os.* calls, one syscall each, so what it did is known exactly.
WORKLOAD = r"""
import os, sys
d = sys.argv[1]
a, b = os.path.join(d, "a.txt"), os.path.join(d, "b.txt")
fd = os.open(a, os.O_CREAT | os.O_WRONLY, 0o644)
for _ in range(3):
    os.write(fd, b"x" * 1000)
os.ftruncate(fd, 2500)
os.close(fd)
fd = os.open(a, os.O_RDONLY)
for _ in range(3):
    os.read(fd, 1000)        # 1000, 1000, 500 (a read at end of file moves nothing: not reported)
os.close(fd)
os.truncate(a, 100)
os.rename(a, b)
os.unlink(b)
"""
# (count, bytes) per op; bytes None where the op has none.
EXPECTED = {"open": (2, None), "write": (3, 3000), "truncate": (2, None), "close": (2, None),
            "read": (3, 2500), "rename": (1, None), "unlink": (1, None)}


def records(out: Path) -> tuple[list[dict], list[dict]]:
    lines = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    return [r for r in lines if r.get("op") != "stats"], [r for r in lines if r.get("op") == "stats"]


def totals(recs: list[dict], pid: int) -> dict[str, tuple[int, int | None]]:
    count, nbytes, has_bytes = Counter(), Counter(), set()
    for r in recs:
        if r.get("pid") != pid:
            continue
        count[r["op"]] += r.get("count", 1)
        if r.get("bytes") is not None:
            nbytes[r["op"]] += r["bytes"]
            has_bytes.add(r["op"])
    return {op: (count[op], nbytes[op] if op in has_bytes else None) for op in count}


def loop_seconds(clock=time.perf_counter) -> float:
    """The best of 15 runs of a fixed pure-Python loop (about 17 ms natively, idle). The host
    times its CPU (what the loop costs there, whoever else is busy); the guest times the wall
    clock, which also holds what the host's other load takes from the guest, as the stop does."""
    best = float("inf")
    for _ in range(15):
        t = clock()
        total = 0
        for i in range(300_000):
            total += i & 7
        best = min(best, clock() - t)
    return best


def fail(msg: str) -> int:
    print(f"stream: FAIL: {msg}")
    return 1


def main() -> int:
    args = sys.argv[1:]
    if args == ["--calibrate"]:
        print(f"{loop_seconds(time.process_time):.6f}")
        return 0
    host_loop = None
    if args[:1] == ["--host-loop"]:
        host_loop, args = float(args[1]), args[2:]
    work = Path(args[0])
    watched, out, ready = work / "watched", work / "stream.jsonl", work / "ready"
    watched.mkdir(parents=True)
    cli = REPO / ".venv" / "bin" / "sniff-tui"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = time.monotonic()
    proc = subprocess.Popen([str(cli), "stream", "-d", str(watched), "--format", "jsonl",
                             "--stats", "5", "--ready-file", str(ready), "-o", str(out)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=open(work / "stream.stderr", "wb"), env=env)
    try:
        while not ready.exists():
            if proc.poll() is not None:
                err = (work / "stream.stderr").read_text(errors="replace").strip().splitlines()
                return fail(f"exited {proc.returncode} before ready: {err[-1] if err else ''}")
            if time.monotonic() - started > READY_TIMEOUT:
                return fail(f"probes not attached after {READY_TIMEOUT} s")
            time.sleep(0.2)
        load = time.monotonic() - started
        w = subprocess.Popen([sys.executable, "-B", "-c", WORKLOAD, str(watched)])
        if w.wait() != 0:
            return fail(f"the workload exited {w.returncode}")
        # Counters are reported when the process exits; wait until the totals stop short of
        # nothing, or give up and compare what arrived.
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while totals(records(out)[0], w.pid) != EXPECTED and time.monotonic() < deadline:
            if proc.poll() is not None:
                return fail(f"exited {proc.returncode} while the workload ran")
            time.sleep(0.2)
        slowdown = max(1.0, loop_seconds() / host_loop) if host_loop else 1.0
        limit = STOP_LIMIT * slowdown
        proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        proc.wait(timeout=120)
        stop = time.monotonic() - sent
        recs, stats = records(out)
        got = totals(recs, w.pid)
        missing = stats[-1].get("missing") if stats else None
        where = (f"load {load:.0f} s, stop {stop:.2f} s (limit {STOP_LIMIT:g} s x {slowdown:.1f} slowdown), "
                 f"missing: {json.dumps(missing)}")
        if proc.returncode != 0:
            return fail(f"exit status {proc.returncode} after SIGINT ({where})")
        if got != EXPECTED:
            diff = {op: {"expected": EXPECTED.get(op), "reported": got.get(op)}
                    for op in sorted(set(EXPECTED) | set(got)) if EXPECTED.get(op) != got.get(op)}
            return fail(f"reported (count, bytes) differ from the workload's: {json.dumps(diff)} ({where})")
        if not stats:
            return fail(f"no stats line at exit ({where})")
        if stop > limit:
            return fail(f"stopped {stop:.2f} s after SIGINT, over the limit ({where})")
        ops = ", ".join(f"{op} {c}" + (f"/{b} B" if b is not None else "") for op, (c, b) in EXPECTED.items())
        print(f"stream: ok: every op exact ({ops}); {where}")
        return 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    sys.exit(main())
