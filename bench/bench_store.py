"""Throughput of the history store beside JSONL output, on one synthetic Record stream.

    .venv/bin/python bench/bench_store.py [--records 1000000] [--rounds 3] [--dir DIR]

Each round, in turn (interleaved, medians reported):

- jsonl: the stream's own writer (``tui.formats.JsonlWriter``) writing every record to a file,
  as `stream -o FILE` does;
- store: ``HistoryStore.add`` in the batches the stream drains, until ``close`` returns (every
  record committed, indexes included);
- both: `stream --db F -o FILE`'s situation: the JSONL writer on this thread while the store's
  writer thread inserts the same batches; the figure is records / time until both are done.

The stream is a mix like a busy build: coalesced reads and writes, open/close pairs, some
renames and unlinks, 64 processes and about 20,000 distinct paths, 10% of them seen once.
Prints a markdown table.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sniff_tui.history.store import HistoryStore  # noqa: E402
from sniff_tui.core.record import Record  # noqa: E402
from sniff_tui.commands.formats import JsonlWriter  # noqa: E402

DRAIN = 50_000          # Feed.drain's default: the batch the stream hands over


def synthetic(n: int, seed: int = 1) -> list[Record]:
    rng = random.Random(seed)
    comms = [b"cc1", b"as", b"ld", b"make", b"python3", b"sh", b"rsync", b"\xffodd\x1b"]
    hot = [b"/srv/build/src/mod%d/file%d.c" % (i % 97, i) for i in range(18_000)]
    out = []
    t = 1_764_000_000.0
    for i in range(n):
        pid = 1000 + rng.randrange(64)
        op = rng.choices(("read", "write", "open", "close", "rename", "unlink"),
                         (35, 35, 12, 12, 3, 3))[0]
        path = hot[rng.randrange(len(hot))] if rng.random() > 0.1 else b"/srv/build/tmp/u%d.o" % i
        out.append(Record(
            ts=t + i * 1e-5, op=op, pid=pid, tid=pid, ppid=1, uid=1000, comm=comms[pid % len(comms)],
            path=path, new_path=path + b".new" if op == "rename" else None,
            bytes=rng.randrange(1, 1 << 20) if op in ("read", "write") else None,
            count=rng.randrange(1, 200) if op in ("read", "write") else 1,
            fd=3 + rng.randrange(20) if op in ("read", "write", "close") else None,
            dev="259:1", ino=rng.randrange(1 << 30)))
    return out


def batches(records: list[Record]):
    for i in range(0, len(records), DRAIN):
        yield records[i:i + DRAIN]


def fresh(path: Path) -> str:
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            os.unlink(str(path) + suffix)
        except FileNotFoundError:
            pass
    return str(path)


def run_jsonl(records: list[Record], path: Path) -> float:
    t0 = time.perf_counter()
    with open(fresh(path), "wb") as fh:
        writer = JsonlWriter(fh)
        for batch in batches(records):
            for rec in batch:
                writer.write(rec)
            writer.flush()
    return time.perf_counter() - t0


def run_store(records: list[Record], path: Path) -> float:
    store = HistoryStore(fresh(path))
    store.begin_session([b"/srv/build"], None)
    t0 = time.perf_counter()
    for batch in batches(records):
        store.add(batch)
    error = store.close(timeout=3600)
    elapsed = time.perf_counter() - t0
    assert error is None and store.dropped == 0 and store.stored == len(records), error
    return elapsed


def run_both(records: list[Record], db: Path, out: Path) -> float:
    store = HistoryStore(fresh(db))
    store.begin_session([b"/srv/build"], None)
    t0 = time.perf_counter()
    with open(fresh(out), "wb") as fh:
        writer = JsonlWriter(fh)
        for batch in batches(records):
            store.add(batch)
            for rec in batch:
                writer.write(rec)
            writer.flush()
    error = store.close(timeout=3600)
    elapsed = time.perf_counter() - t0
    assert error is None and store.dropped == 0, error
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dir", default=None, help="where the files go (default: a temp dir)")
    args = ap.parse_args()
    records = synthetic(args.records)
    work = Path(args.dir or tempfile.mkdtemp(prefix="bench-store-"))
    work.mkdir(parents=True, exist_ok=True)
    times: dict[str, list[float]] = {"jsonl": [], "store": [], "both": []}
    for r in range(args.rounds):
        times["jsonl"].append(run_jsonl(records, work / "out.jsonl"))
        times["store"].append(run_store(records, work / "h.db"))
        times["both"].append(run_both(records, work / "h2.db", work / "out2.jsonl"))
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()),
              file=sys.stderr)
    rate = {k: args.records / statistics.median(v) for k, v in times.items()}
    jsonl_size = (work / "out.jsonl").stat().st_size
    db_size = (work / "h.db").stat().st_size
    print(f"| writer | records/s (median of {args.rounds}) | vs JSONL | bytes per record |")
    print("| --- | --- | --- | --- |")
    print(f"| JSONL (`stream -o FILE`) | {rate['jsonl']:,.0f} | 1.00 | {jsonl_size / args.records:.0f} |")
    print(f"| history store (`stream --db F`) | {rate['store']:,.0f} | {rate['store'] / rate['jsonl']:.2f} "
          f"| {db_size / args.records:.0f} |")
    print(f"| both at once (`--db F -o FILE`) | {rate['both']:,.0f} | {rate['both'] / rate['jsonl']:.2f} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
