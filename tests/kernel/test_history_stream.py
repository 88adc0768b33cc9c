"""End to end with real probes: `stream --db F --metrics 127.0.0.1:PORT -o out.jsonl` while real
processes write files under a watched tmp dir. The metrics (scraped over loopback) and the
database (read back with `query`) must say exactly what the JSONL of the same run says."""
from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from sniff_tui.core.record import Record
from tests.kernel.kernel_support import PY

REPO = Path(__file__).absolute().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
CLI = [sys.executable, "-m", "sniff_tui.commands.cli"]

# Each worker names itself, then writes, reads, renames and removes files in the watched dir;
# its last act is closing "zz-done-<name>", which marks that everything before it was recorded.
WORKER = r"""
import os, sys
d, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
open("/proc/self/comm", "w").write(name)
for i in range(n):
    p = os.path.join(d, f"{name}-{i}.dat")
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    for k in range(i + 1):
        os.write(fd, b"x" * (100 + k))
    os.pread(fd, 50, 0)
    os.close(fd)
    if i % 3 == 0:
        os.rename(p, p + ".old")
    if i % 4 == 0:
        os.unlink(p + ".old" if i % 3 == 0 else p)
with open(os.path.join(d, f"zz-done-{name}"), "wb") as f:
    f.write(b"done")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(tmp_path: Path, *args: str, output: bool = True) -> tuple[subprocess.Popen, Path]:
    watched = tmp_path / "watched"
    watched.mkdir(exist_ok=True)
    ready = tmp_path / "ready"
    cmd = [*CLI, "stream", "-d", str(watched), "--ready-file", str(ready), *args]
    if output:
        cmd += ["-o", str(tmp_path / "out.jsonl")]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=ENV)
    deadline = time.monotonic() + 60
    while not ready.exists():
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode}: {proc.stderr.read().decode()}")
        assert time.monotonic() < deadline, "the probes never attached"
        time.sleep(0.05)
    return proc, watched


def run_worker(watched: Path, name: str, n: int) -> None:
    subprocess.run([PY, "-I", "-S", "-c", WORKER, str(watched), name, str(n)], check=True)


def jsonl(path: Path) -> list[Record]:
    return [Record.from_dict(json.loads(line)) for line in path.read_text().splitlines()]


def wait_done(out: Path, names: list[str], proc) -> None:
    deadline = time.monotonic() + 30
    while True:
        text = out.read_text() if out.exists() else ""
        if all(any(f"zz-done-{n}" in ln and '"op":"close"' in ln for ln in text.splitlines())
               for n in names):
            return
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "the workers' last records never arrived"
        time.sleep(0.05)


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    out = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def query(db: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "query", str(db), *args], capture_output=True, env=ENV)


def test_db_metrics_and_jsonl_of_one_run_agree(tmp_path):
    port = free_port()
    db, out = tmp_path / "h.db", tmp_path / "out.jsonl"
    proc, watched = start(tmp_path, "--db", str(db), "--metrics", f"127.0.0.1:{port}")
    try:
        names = ["hist-alpha", "hist-beta"]
        run_worker(watched, names[0], 12)
        run_worker(watched, names[1], 5)
        wait_done(out, names, proc)
        metrics = scrape(port)
        records = jsonl(out)
        mine = [r for r in records if r.comm.decode() in names]
        assert mine, "no records from the workers"

        # Metrics against the JSONL of the same run: every (op, comm) series of the workers.
        want_ops: dict = defaultdict(int)
        want_bytes: dict = defaultdict(int)
        for r in mine:
            want_ops[(r.op, r.comm.decode())] += r.count
            if r.op in ("read", "write"):
                want_bytes[(r.op, r.comm.decode())] += r.bytes or 0
        got_ops = {(dict(k[1])["op"], dict(k[1])["comm"]): v for k, v in metrics.items()
                   if k[0] == "sniff_tui_operations_total" and dict(k[1])["comm"] in names}
        got_bytes = {(dict(k[1])["op"], dict(k[1])["comm"]): v for k, v in metrics.items()
                     if k[0] == "sniff_tui_bytes_total" and dict(k[1])["comm"] in names}
        assert got_ops == want_ops
        assert got_bytes == want_bytes
        assert {dict(k[1])["watch"] for k in metrics if k[0] == "sniff_tui_operations_total"} \
            == {str(watched)}
        # What the worker did, independently of any record: 12 files, i+1 writes of 100+k bytes.
        assert want_bytes[("write", "hist-alpha")] == sum(sum(100 + k for k in range(i + 1))
                                                         for i in range(12)) + 4
        assert want_ops[("rename", "hist-alpha")] == 4 and want_ops[("unlink", "hist-alpha")] == 3
        # Health: loss counters, map gauges, probe cost.
        assert ("sniff_tui_lost_total", (("kind", "ringbuf_drops"),)) in metrics
        assert ("sniff_tui_lost_total", (("kind", "store_dropped"),)) in metrics
        assert any(k[0] == "sniff_tui_map_utilization" for k in metrics)
        assert any(k[0] == "sniff_tui_probe_runs_total" and v > 0 for k, v in metrics.items())
        assert metrics[("sniff_tui_store_records_total", ())] >= 0
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    assert b"Traceback" not in err

    # The database answers exactly like the JSONL: the same records, line for line...
    records = jsonl(out)
    p = query(db)
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode().splitlines() == out.read_text().splitlines()
    # ...and group totals are the JSONL's sums.
    for by, key in (("file", lambda r: (os.fsdecode(r.path),)),
                    ("process", lambda r: (r.pid, os.fsdecode(r.comm))),
                    ("op", lambda r: (r.op,))):
        truth: dict = defaultdict(lambda: [0, 0, 0])
        for r in records:
            t = truth[key(r)]
            t[0] += r.count
            t[1] += r.bytes or 0
            t[2] += 1
        p = query(db, "--group-by", by)
        got = {}
        for line in p.stdout.decode().splitlines():
            o = json.loads(line)
            k = {"file": (o.get("path"),), "process": (o.get("pid"), o.get("comm")),
                 "op": (o.get("op"),)}[by]
            if "path_b64" in o or "comm_b64" in o:
                continue
            got[k] = [o["count"], o["bytes"], o["records"]]
        assert got == {k: v for k, v in truth.items()}, by
    # Filters give the JSONL's subset.
    p = query(db, "--comm", "hist-a*", "--ops", "write", "--path", "*.dat")
    want = [r for r in records if r.comm == b"hist-alpha" and r.op == "write"
            and r.path.endswith(b".dat")]
    assert [Record.from_dict(json.loads(x)) for x in p.stdout.decode().splitlines()] == want
    # The session: ended cleanly, what was watched, the loss counters at the end.
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        ended, watches, stats, n = conn.execute(
            "SELECT ended, watches, stats, records FROM sessions").fetchone()
    assert ended is not None and n == len(records)
    assert json.loads(watches) == [{"name": str(watched)}]
    assert "ringbuf_drops" in json.loads(stats)["counters"]
    assert not Path(str(db) + "-wal").exists()


def test_db_alone_writes_nothing_to_stdout_and_survives_kill_9(tmp_path):
    db = tmp_path / "h.db"
    proc, watched = start(tmp_path, "--db", str(db), output=False)
    try:
        run_worker(watched, "hist-kill", 30)
        deadline = time.monotonic() + 30
        while True:        # wait for a commit with the worker's last record in it
            p = query(db, "--comm", "hist-kill", "--path", "zz-done-*", "--ops", "close")
            if p.returncode == 0 and p.stdout:
                break
            assert time.monotonic() < deadline, p.stderr
            time.sleep(0.2)
        # More work in flight, then SIGKILL: no cleanup of any kind runs.
        bg = subprocess.Popen([PY, "-I", "-S", "-c", WORKER, str(watched), "hist-more", "200"])
        time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
        bg.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert out == b""                                   # --db alone: the database is the output
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    p = query(db, "--comm", "hist-kill", "--group-by", "op", "--format", "jsonl")
    assert p.returncode == 0, p.stderr
    totals = {o["op"]: o["count"] for o in map(json.loads, p.stdout.decode().splitlines())}
    assert totals["write"] == sum(range(1, 31)) + 1 and totals["rename"] == 10
    assert "did not end cleanly" in p.stderr.decode()


def test_stream_refuses_bad_db_and_metrics_in_one_line(tmp_path):
    watched = tmp_path / "w"
    watched.mkdir()
    jsonl_file = tmp_path / "r.jsonl"
    jsonl_file.write_text("{}\n")
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        for args, code, needle in (
                (["--db", str(jsonl_file)], 1, "not an SQLite database"),
                (["--metrics", "99999"], 2, "not a port number"),
                (["--metrics", f"127.0.0.1:{taken.getsockname()[1]}"], 1, "cannot serve on"),
                (["--db", str(tmp_path / "x"), "-o", str(tmp_path / "x")], 2, "different files")):
            p = subprocess.run([*CLI, "stream", "-d", str(watched), *args], capture_output=True,
                               env=ENV, stdin=subprocess.DEVNULL, timeout=60)
            err = p.stderr.decode()
            assert p.returncode == code and err.count("\n") == 1 and needle in err, (args, err)
    finally:
        taken.close()
    assert jsonl_file.read_text() == "{}\n"


# Long, unique names: each record brings a new name into the database.
FILLER = r"""
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
open("/proc/self/comm", "w").write("hist-fill")
for i in range(n):
    p = os.path.join(d, f"{i:06d}-" + "n" * 200)
    with open(p, "wb") as f:
        f.write(b"x")
    os.unlink(p)
"""


def test_full_disk_under_the_database_is_one_line_and_keeps_what_was_committed(tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(small)], check=True)
    try:
        db, out = small / "h.db", tmp_path / "out.jsonl"
        proc, watched = start(tmp_path, "--db", str(db))
        try:
            run_worker(watched, "hist-early", 3)
            wait_done(out, ["hist-early"], proc)
            deadline = time.monotonic() + 30
            while not query(db, "--comm", "hist-early").stdout:    # committed
                assert time.monotonic() < deadline
                time.sleep(0.2)
            subprocess.run([PY, "-I", "-S", "-c", FILLER, str(watched), "4000"], check=True)
        finally:
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
        text = err.decode()
        assert proc.returncode == 1, text
        assert "Traceback" not in text
        full = [line for line in text.splitlines() if "disk is full" in line]
        assert len(full) == 1 and "earlier ones are intact" in full[0], text
        assert out.read_text().count("hist-fill") > 1000          # the stream itself went on
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        p = query(db, "--comm", "hist-early", "--group-by", "op")
        assert p.returncode == 0, p.stderr
        stored = [Record.from_dict(json.loads(x)) for x in query(db).stdout.decode().splitlines()]
        assert stored == jsonl(out)[:len(stored)]                  # a prefix of the run, exact
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)
