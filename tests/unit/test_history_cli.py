"""`sniff-tui query` and `sniff-tui replay DB` as a user runs them: a real process, a real
file; every format parsed back, every error one line with a non-zero exit."""
from __future__ import annotations

import base64
import csv
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sniff_tui.history.replay_db import DbReplaySource
from sniff_tui.history.store import HistoryStore
from sniff_tui.core.feed import Feed
from sniff_tui.core.filters import Filters
from sniff_tui.core.record import Record

REPO = Path(__file__).absolute().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
NOW = time.time()

RECORDS = [
    Record(ts=NOW - 7200, op="write", pid=5, tid=5, ppid=1, uid=1000, comm=b"old", path=b"/w/old",
           bytes=1, count=1),
    Record(ts=NOW - 60, op="write", pid=6, tid=6, ppid=1, uid=1000, comm=b"ev\x1b[2J",
           path=b"/w/a|b*\n\x1b]0;x\x07\xff.txt", bytes=4096, count=3),
    Record(ts=NOW - 30, op="rename", pid=6, tid=6, ppid=1, uid=1000, comm=b"ev\x1b[2J",
           path=b"/w/t", new_path=b"/w/`code`_x_"),
    Record(ts=NOW - 10, op="read", pid=7, tid=7, ppid=6, uid=0, comm=b"cat", path=b"/w/r",
           bytes=10, count=2),
]


def query(*args, user=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sniff_tui.commands.cli", "query", *map(str, args)],
                          capture_output=True, env=ENV, cwd=REPO, user=user)


def make_db(path: Path, sessions=(RECORDS,)) -> Path:
    for records in sessions:
        store = HistoryStore(str(path))
        store.begin_session([b"/w"], None)
        store.add(list(records))
        assert store.close() is None
    return path


@pytest.fixture
def db(tmp_path) -> Path:
    return make_db(tmp_path / "h.db")


def one_line_error(p: subprocess.CompletedProcess, code: int, *needles: str) -> str:
    err = p.stderr.decode()
    assert p.returncode == code, err
    assert "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith("sniff-tui: "), err
    for needle in needles:
        assert needle in err, err
    assert p.stdout == b""
    return err


def no_control_chars(text: str) -> None:
    assert not any(ord(c) < 0x20 and c != "\n" or 0x7F <= ord(c) < 0xA0 for c in text), repr(text)


def test_jsonl_is_the_stream_form(db):
    p = query(db)
    assert p.returncode == 0, p.stderr
    back = [Record.from_dict(json.loads(line)) for line in p.stdout.decode().splitlines()]
    assert back == RECORDS
    assert p.stdout.decode().splitlines()[1] == RECORDS[1].to_json()


def test_table_and_markdown_are_safe_for_a_terminal(db):
    for fmt in ("table", "markdown"):
        p = query(db, "--format", fmt)
        assert p.returncode == 0, p.stderr
        text = p.stdout.decode("utf-8")               # strict: invalid bytes were escaped
        no_control_chars(text)
        lines = text.splitlines()
        assert len(lines) == (1 if fmt == "table" else 2) + len(RECORDS)
        assert "\\x1b" in text and "\\xff" in text and "\\n" in text
    md = query(db, "--format", "markdown", "--ops", "rename").stdout.decode()
    row = md.splitlines()[2]
    # One row of as many cells as the header, whatever the name holds (| ` _ escaped).
    assert row.count(" | ") == md.splitlines()[0].count(" | ")
    assert "\\`code\\`\\_x\\_" in row


def test_csv_round_trips_names_through_b64(db):
    p = query(db, "--format", "csv")
    assert p.returncode == 0
    rows = list(csv.DictReader(io.StringIO(p.stdout.decode())))
    assert len(rows) == len(RECORDS)
    no_control_chars(p.stdout.decode())
    for row, rec in zip(rows, RECORDS):
        exact = base64.b64decode(row["path_b64"]) if row["path_b64"] else row["path"].encode()
        assert exact == rec.path
        assert int(row["pid"]) == rec.pid and int(row["count"]) == rec.count


def test_group_by_in_every_format(db):
    p = query(db, "--group-by", "process", "--format", "jsonl")
    objs = [json.loads(line) for line in p.stdout.decode().splitlines()]
    assert [(o["pid"], o["count"], o["bytes"]) for o in objs] == [(6, 4, 4096), (7, 2, 10), (5, 1, 1)]
    assert objs[0]["comm"] == "ev\x1b[2J"                   # JSON text, escaped by JSON itself
    p = query(db, "--group-by", "op", "--format", "csv", "--top", "1")
    rows = list(csv.DictReader(io.StringIO(p.stdout.decode())))
    assert [(r["op"], r["count"], r["bytes"]) for r in rows] == [("write", "4", "4097")]
    p = query(db, "--group-by", "file", "--format", "table", "--sort", "bytes")
    lines = p.stdout.decode().splitlines()
    assert lines[0].split()[:4] == ["PATH", "COUNT", "BYTES", "RECORDS"]
    assert "4096" in lines[1]


def test_since_until_relative_and_iso(db):
    p = query(db, "--since", "1h")
    assert [json.loads(x)["pid"] for x in p.stdout.decode().splitlines()] == [6, 6, 7]
    p = query(db, "--until", "1h")
    assert [json.loads(x)["pid"] for x in p.stdout.decode().splitlines()] == [5]
    since, until = (time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(NOW + d)) for d in (-45, -20))
    p = query(db, "--since", since, "--until", until)
    assert [json.loads(x)["op"] for x in p.stdout.decode().splitlines()] == ["rename"]


def test_sessions_listing(tmp_path):
    db = make_db(tmp_path / "two.db", (RECORDS[:2], RECORDS[2:]))
    p = query(db, "--sessions", "--format", "jsonl")
    objs = [json.loads(line) for line in p.stdout.decode().splitlines()]
    assert [(o["session"], o["records"], o["clean"]) for o in objs] == [(1, 2, True), (2, 2, True)]
    p = query(db, "--session", "2", "--format", "jsonl")
    assert [json.loads(x)["pid"] for x in p.stdout.decode().splitlines()] == [6, 7]


def test_runs_without_root(db, tmp_path):
    if os.geteuid() != 0:
        p = query(db, "--group-by", "op")
    else:
        shared = Path("/tmp") / f"sniff-hist-{os.getpid()}"
        shared.mkdir(mode=0o755, exist_ok=True)
        try:
            copy = shared / "h.db"
            shutil.copy(db, copy)
            os.chmod(copy, 0o644)
            p = query(copy, "--group-by", "op", user="nobody")
        finally:
            shutil.rmtree(shared)
    assert p.returncode == 0, p.stderr
    assert len(p.stdout.splitlines()) == 3


def test_errors_are_one_line(tmp_path, db):
    one_line_error(query(tmp_path / "missing.db"), 1, "no such file")
    jsonl = tmp_path / "r.jsonl"
    jsonl.write_text(RECORDS[0].to_json() + "\n")
    one_line_error(query(jsonl), 1, "not an SQLite database")
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    one_line_error(query(other), 1, "not a sniff-tui history")
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    one_line_error(query(empty), 1, "empty")
    # A damaged file: the SQLite header, then garbage where the pages should be.
    corrupt = tmp_path / "corrupt.db"
    data = bytearray(db.read_bytes())
    data[100:] = os.urandom(len(data) - 100)
    corrupt.write_bytes(bytes(data))
    one_line_error(query(corrupt), 1, "damaged")
    # Cut short.
    short = tmp_path / "short.db"
    short.write_bytes(db.read_bytes()[:1500])
    p = query(short)
    one_line_error(p, 1)
    one_line_error(query(tmp_path), 1, "is a directory")
    one_line_error(query(db, "--session", "9"), 1, "no session 9")
    one_line_error(query(db, "--since", "yesterday"), 2, "not a time")
    one_line_error(query(db, "--since", "1h", "--until", "2h"), 2, "later than")
    one_line_error(query(db, "--top", "0"), 2)
    one_line_error(query(db, "--group-by", "colour"), 2)
    one_line_error(query(db, "--ops", "write,frobnicate"), 2, "unknown operation")
    one_line_error(query(db, "--format", "xml"), 2)
    one_line_error(query(db, "--pid", "x"), 2)


def test_locked_database_is_one_line(tmp_path):
    db = make_db(tmp_path / "h.db")
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("PRAGMA journal_mode=DELETE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        one_line_error(query(db), 1, "locked")
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_query_while_a_writer_is_appending(tmp_path):
    """WAL: a reader sees every committed batch while the stream still writes."""
    db = str(tmp_path / "h.db")
    store = HistoryStore(db)
    store.begin_session([b"/w"], None)
    store.add(RECORDS)
    deadline = time.monotonic() + 10
    while store.stored < len(RECORDS):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    p = query(db, "--group-by", "op")
    assert p.returncode == 0 and len(p.stdout.splitlines()) == 3
    assert store.close() is None


# ---------------------------------------------------------------- replay DB
def play(source) -> list[Record]:
    feed: Feed = Feed(maxsize=3)            # smaller than the session: the replay must wait
    got: list[Record] = []
    stop = threading.Event()
    worker = threading.Thread(target=source.run, args=(feed, stop))
    worker.start()
    while worker.is_alive() or len(feed):
        got += feed.drain()
        time.sleep(0.001)
    assert feed.dropped == 0
    return got


def test_replay_source_plays_a_session(tmp_path):
    db = make_db(tmp_path / "two.db", (RECORDS[:2], RECORDS[2:]))
    latest = DbReplaySource(str(db))
    assert latest.session.id == 2 and latest.watches == [b"/w"] and latest.live is False
    assert play(latest) == RECORDS[2:]
    assert latest.stats().records == 2
    assert latest.process_info(7) == {"ppid": 6, "comm": b"cat"}
    first = DbReplaySource(str(db), session=1)
    assert play(first) == RECORDS[:2]
    first.set_filters(Filters(pid=5))         # the dashboard filters; the source delivers all
    first.set_watches([b"/x"])
    assert first.watches == [b"/x"]


def test_replay_command_errors_are_one_line(tmp_path):
    db = make_db(tmp_path / "h.db")

    def replay(*args):
        return subprocess.run([sys.executable, "-m", "sniff_tui.commands.cli", "replay", *map(str, args)],
                              capture_output=True, env=ENV, cwd=REPO, stdin=subprocess.DEVNULL)
    one_line_error(replay(db, "--session", "4"), 1, "no session 4")
    jsonl = tmp_path / "r.jsonl"
    jsonl.write_text(RECORDS[0].to_json() + "\n")
    one_line_error(replay(jsonl, "--session", "1"), 2, "history database")
    empty = tmp_path / "empty.db"
    store = HistoryStore(str(empty))
    store.close()
    one_line_error(replay(empty), 1, "no sessions")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to write as root and read as nobody")
def test_a_user_reads_a_history_root_is_still_writing():
    shared = Path("/tmp") / f"sniff-hist-live-{os.getpid()}"
    shared.mkdir(mode=0o755)
    try:
        db = str(shared / "h.db")
        store = HistoryStore(db)
        store.begin_session([b"/w"], None)
        store.add(RECORDS)
        deadline = time.monotonic() + 10
        while store.stored < len(RECORDS):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert os.path.exists(db + "-wal")                  # WAL mode, writer still open
        p = query(db, "--group-by", "op", user="nobody")
        assert p.returncode == 0, p.stderr
        assert len(p.stdout.splitlines()) == 3
        assert store.close() is None
        p = query(db, user="nobody")
        assert p.returncode == 0 and len(p.stdout.splitlines()) == len(RECORDS)
    finally:
        shutil.rmtree(shared)
