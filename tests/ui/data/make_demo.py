"""Writes tests/ui/data/demo.jsonl: a fixed, plausible 30-second recording for the UI tests,
the snapshots and the screenshots. Deterministic (seeded; fixed clock), so re-running it
gives the same bytes:

    python tests/ui/data/make_demo.py            # rewrites demo.jsonl next to this file

The scene, under /home/dev/proj: `make` drives four gcc/cc1/as compilations and a link,
`python3` runs tests, a noisy `logrotate` appends to var/log/app.log all the time and rotates
it, and `evil` creates files with hostile names (markup, terminal escapes, invalid UTF-8, a
newline, a path deeper than any column).
"""
from __future__ import annotations

import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from sniff_tui.core.record import Record  # noqa: E402

ROOT = b"/home/dev/proj"
T0 = 1_700_000_000.0          # 2023-11-14 22:13:20 UTC
DURATION = 30.0

PROCESSES = {
    # pid: (ppid, comm, cmdline, user)
    1000: (900, b"bash", "-bash", "dev"),
    1100: (1000, b"make", "make -j4 all", "dev"),
    1300: (1000, b"python3", "python3 -m pytest -q tests", "dev"),
    1400: (1, b"logrotate", "/usr/sbin/logrotate --verbose /etc/logrotate.d/app", "root"),
    1500: (1000, b"evil\x1b[2J", "./evil --make-hostile-names", "dev"),
    1150: (1100, b"ld", "ld -o build/app build/main.o build/util.o build/net.o build/db.o", "dev"),
}
UNITS = ("main", "util", "net", "db")
for i, unit in enumerate(UNITS):
    base = 1110 + 10 * i
    PROCESSES[base] = (1100, b"gcc", f"gcc -O2 -c src/{unit}.c -o build/{unit}.o", "dev")
    PROCESSES[base + 1] = (base, b"cc1", f"/usr/lib/gcc/x86_64-linux-gnu/12/cc1 -quiet src/{unit}.c -O2 "
                                         f"-o /tmp/cc{unit}.s", "dev")
    PROCESSES[base + 2] = (base, b"as", f"as --64 -o build/{unit}.o /tmp/cc{unit}.s", "dev")

HOSTILE = (
    b"[bold red]x[/].txt",
    b"\x1b[31mred\x1b[0m.txt",
    b"bad\xff\xfename.bin",
    b"line\nbreak.txt",
    "données/été-文件.txt".encode(),
    b"deep/" * 12 + b"a_very_long_file_name_that_keeps_going_and_going.txt",
)


def main(out_path: Path = HERE / "demo.jsonl") -> int:
    rng = random.Random(7)
    events: list[Record] = []
    fd_counter = [3]

    def rec(ts: float, op: str, pid: int, path: bytes, **kw) -> None:
        ppid, comm, _, _ = PROCESSES[pid]
        events.append(Record(ts=round(T0 + ts, 6), op=op, pid=pid, tid=pid, ppid=ppid,
                             uid=0 if pid == 1400 else 1000, comm=comm, path=ROOT + b"/" + path,
                             dev="8:1", ino=_ino(path),
                             **kw))

    def touch_file(ts: float, pid: int, path: bytes, reads: int = 0, writes: int = 0,
                   size: int = 4096) -> float:
        fd = fd_counter[0] = fd_counter[0] % 60 + 3
        rec(ts, "open", pid, path, fd=fd)
        for _ in range(reads):
            ts += rng.uniform(0.001, 0.02)
            rec(ts, "read", pid, path, fd=fd, bytes=rng.choice((size, size, size // 2, 512)))
        for _ in range(writes):
            ts += rng.uniform(0.001, 0.02)
            rec(ts, "write", pid, path, fd=fd, bytes=rng.choice((size, size, 1024, 128)))
        ts += 0.001
        rec(ts, "close", pid, path, fd=fd)
        return ts

    # make reads the Makefile, then four compilations one after another, then the link.
    t = 0.5
    t = touch_file(t, 1100, b"Makefile", reads=3)
    for i, unit in enumerate(UNITS):
        gcc, cc1, as_ = 1110 + 10 * i, 1111 + 10 * i, 1112 + 10 * i
        t += 0.2
        touch_file(t, gcc, b"src/" + unit.encode() + b".c", reads=1, size=512)
        t = touch_file(t + 0.05, cc1, b"src/" + unit.encode() + b".c", reads=12)
        for header in (b"include/app.h", b"include/util.h"):
            t = touch_file(t, cc1, header, reads=4)
        t = touch_file(t, as_, b"build/" + unit.encode() + b".o", writes=20 + 5 * i)
    t += 0.3
    for unit in UNITS:
        t = touch_file(t, 1150, b"build/" + unit.encode() + b".o", reads=8)
    t = touch_file(t, 1150, b"build/app", writes=60, size=65536)

    # python3 runs the tests: reads sources, writes bytecode and its cache; one missing file.
    t = 9.0
    for name in (b"tests/test_api.py", b"tests/test_db.py", b"tests/conftest.py"):
        t = touch_file(t, 1300, name, reads=3)
        pyc = b"tests/__pycache__/" + name.split(b"/")[-1].replace(b".py", b".cpython-311.pyc")
        t = touch_file(t, 1300, pyc, writes=2)
    rec(t + 0.01, "open", 1300, b"config.local.yaml", err="ENOENT")
    t = touch_file(t + 0.5, 1300, b".pytest_cache/v/cache/lastfailed", writes=1, size=64)

    # The noisy writer: appends every ~80 ms all session long (the kernel aggregates: count > 1),
    # rotates every 10 s, and pokes a control fifo.
    t = 0.1
    rotation = 0
    while t < DURATION:
        n = rng.randint(5, 40)
        rec(t, "write", 1400, b"var/log/app.log", fd=7, bytes=n * 180, count=n)
        t += rng.uniform(0.04, 0.12)
        if t // 10 > rotation:
            rotation += 1
            rec(t, "rename", 1400, b"var/log/app.log", new_path=b"var/log/app.log.1")
            rec(t + 0.001, "unlink", 1400, b"var/log/app.log.5")
            rec(t + 0.002, "open", 1400, b"var/log/app.log", fd=7)
            rec(t + 0.003, "truncate", 1400, b"var/log/app.log")
            rec(t + 0.004, "write", 1400, b"run/ctl.fifo", fd=9, bytes=1, file_type="fifo")

    # Hostile names, and one path the probe could not complete.
    t = 20.0
    for name in HOSTILE:
        t = touch_file(t, 1500, name, writes=2, size=100)
    rec(t + 0.1, "open", 1500, b"\xe2\x80\xa6/cut/by/depth.txt", truncated=True)

    events.sort(key=lambda r: r.ts)
    # Process lines first, as the dashboard's export (`e`) writes them.
    lines = []
    for pid, (ppid, comm, cmdline, user) in sorted(PROCESSES.items()):
        lines.append(json.dumps({"op": "process", "pid": pid, "ppid": ppid,
                                 "comm": comm.decode("utf-8"), "cmdline": cmdline, "user": user},
                                ensure_ascii=False, separators=(",", ":")))
    half = len(events) // 2
    for i, r in enumerate(events):
        if i == half:
            lines.append(_stats(T0 + 15, records=i, entries=(412, 3, 1)))
        lines.append(r.to_json())
    lines.append(_stats(T0 + DURATION, records=len(events), entries=(65_536, 2, 1),
                        agg_full=17, truncated=1))
    out_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(events)} records to {out_path}")
    return 0


def _ino(path: bytes) -> int:
    # Stable across runs (hash() is salted per process).
    return 1000 + sum(path) * 31 % 900_000


def _stats(ts: float, records: int, entries: tuple[int, int, int], agg_full: int = 0,
           truncated: int = 0) -> str:
    """A stats line as the dashboard's export writes it (``SourceStats``), with the maps the
    live source reports (probes/live.py HEALTH_MAPS) and their sizes from probes/bpf/sniff.h."""
    agg, pending, rw_pending = entries
    return json.dumps({
        "op": "stats", "ts": ts, "records": records, "ringbuf_drops": 0,
        "truncated_paths": truncated, "evictions": agg_full,
        "maps": [
            {"name": "watched", "entries": 1, "max_entries": 256, "evictions": 0},
            {"name": "pending", "entries": pending, "max_entries": 16_384, "evictions": 0},
            {"name": "rw_pending", "entries": rw_pending, "max_entries": 16_384, "evictions": 0},
            {"name": "agg", "entries": agg, "max_entries": 65_536, "evictions": agg_full},
            {"name": "pidset", "entries": 0, "max_entries": 65_536, "evictions": 0},
        ],
    }, separators=(",", ":"))


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "demo.jsonl"))
