"""The history store on real SQLite files: exact round trips of hostile names, sessions and
their counters, counted (never silent) losses, kill -9 in the middle of a batch, a full disk,
and files that are not ours."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sniff_tui.history.query import History, QuerySpec
from sniff_tui.history.schema import APPLICATION_ID, HistoryError
from sniff_tui.history.store import HistoryStore
from sniff_tui.core.filters import Filters
from sniff_tui.core.record import OPS, Record

REPO = Path(__file__).absolute().parents[2]
EVERYTHING = QuerySpec(filters=Filters(all_types=True))

HOSTILE = [
    b"/w/plain.txt",
    b"/w/bad\xff\xfename.bin",                  # invalid UTF-8
    b"/w/new\nline\rand\ttab",                  # line breaks in a name
    b"/w/\x1b[2J\x1b]0;pwned\x07",              # terminal escapes
    b"/w/nul-free \x7f\x80\x9f c1 controls",
    "/w/ünïcödé-日本語-🙂".encode(),
    b"/w/" + b"d/" * 2000 + b"deep",             # longer than PATH_MAX
    b"/w/" + bytes(range(1, 256)),              # every byte but NUL
    b"/w/surrogate-looking \xed\xa0\x80",       # an encoded surrogate: not UTF-8 either
    b"/w/" + b"x" * 70_000,                     # a huge name
]


def rec(i: int, path: bytes, **kw) -> Record:
    base = dict(ts=1_700_000_000.0 + i * 0.001, op=OPS[i % len(OPS)], pid=100 + i % 5,
                tid=100 + i % 5, ppid=1, uid=1000, comm=b"w\xff\x1b" if i % 2 else b"writer",
                path=path, bytes=i * 10 if OPS[i % len(OPS)] in ("read", "write") else None,
                count=1 + i % 4, fd=3 if i % 3 else None, file_type="file", dev="8:1",
                ino=i, truncated=i % 7 == 0, err="ENOENT" if i % 11 == 0 else None)
    if base["op"] == "rename":
        base["new_path"] = path + b".renamed\xff"
    base.update(kw)
    return Record(**base)


def stored(path: str) -> list[Record]:
    with History(path) as h:
        return list(h.records(EVERYTHING))


def write_all(db: str, records: list[Record], stats: dict | None = None, **kw) -> HistoryStore:
    store = HistoryStore(db, **kw)
    store.begin_session([b"/w", b"/w/\xff\n"], Filters(comm="cc*"))
    store.add(records)
    assert store.close(stats) is None
    return store


def test_hostile_names_round_trip_exactly(tmp_path):
    db = str(tmp_path / "h.db")
    records = [rec(i, p) for i, p in enumerate(HOSTILE)]
    records.append(rec(99, b"/w/r", op="rename", new_path=b"/w/\n\xff"))
    write_all(db, records)
    back = stored(db)
    assert back == records                       # every field, names to the byte
    assert [r.new_path for r in back] == [r.new_path for r in records]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(paths=st.lists(st.binary(min_size=1, max_size=400), min_size=1, max_size=20),
       comms=st.lists(st.binary(max_size=16), min_size=1, max_size=3))
def test_arbitrary_byte_names_round_trip(tmp_path, paths, comms):
    db = tmp_path / f"h{time.monotonic_ns()}.db"
    records = [rec(i, p, comm=comms[i % len(comms)]) for i, p in enumerate(paths)]
    write_all(str(db), records)
    assert stored(str(db)) == records


def test_sessions_hold_watches_filters_and_loss_counters(tmp_path):
    db = str(tmp_path / "h.db")
    stats = {"counters": {"ringbuf_drops": 7, "truncated": 1, "events": 99}, "feed_dropped": 3,
             "maps": {"agg": {"entries": 5, "max": 10, "utilization": 0.5}}}
    write_all(db, [rec(i, b"/w/a") for i in range(10)], stats)
    write_all(db, [rec(i, b"/w/b") for i in range(4)])
    with History(db) as h:
        first, second = h.sessions()
        assert (first.id, second.id) == (1, 2)
        assert first.watches == [b"/w", b"/w/\xff\n"]
        assert first.filters["comm"] == "cc*"
        assert first.records == 10 and second.records == 4
        assert first.ended is not None and first.ended >= first.started
        assert first.losses() == {"ringbuf_drops": 7, "truncated": 1, "feed_dropped": 3}
        assert second.losses() == {}
        assert first.stats["maps"]["agg"]["max"] == 10
        only_second = list(h.records(QuerySpec(filters=Filters(all_types=True), session=2)))
        assert [r.path for r in only_second] == [b"/w/b"] * 4
        assert h.notes(QuerySpec()) == ["session 1 did not see everything: ringbuf_drops=7 "
                                        "truncated=1 feed_dropped=3"]
    # A cleanly closed history stands alone: no -wal/-shm beside it.
    assert not os.path.exists(db + "-wal") and not os.path.exists(db + "-shm")


def test_a_store_that_falls_behind_counts_what_it_drops(tmp_path):
    db = str(tmp_path / "h.db")
    store = HistoryStore(db, max_pending=10)
    store.begin_session([b"/w"], None)
    store.add([rec(i, b"/w/a") for i in range(100)])    # one batch larger than the queue
    assert store.close() is None
    assert store.dropped == 90 and store.stored == 10
    assert len(stored(db)) == 10
    with History(db) as h:
        (s,) = h.sessions()
        assert s.store_dropped == 90 and s.losses() == {"store_dropped": 90}


def test_records_added_after_close_are_counted_not_lost_silently(tmp_path):
    store = HistoryStore(str(tmp_path / "h.db"))
    store.begin_session([b"/w"], None)
    store.close()
    store.add([rec(0, b"/w/a"), rec(1, b"/w/b")])
    assert store.dropped == 2


def test_refuses_files_that_are_not_a_history(tmp_path):
    jsonl = tmp_path / "rec.jsonl"
    jsonl.write_bytes(rec(1, b"/w/a").to_json().encode() + b"\n")
    with pytest.raises(HistoryError, match="not an SQLite database"):
        HistoryStore(str(jsonl))
    assert jsonl.read_bytes().startswith(b"{")               # untouched
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with pytest.raises(HistoryError, match="not a sniff-tui history"):
        HistoryStore(str(other))
    newer = tmp_path / "newer.db"
    write_all(str(newer), [rec(0, b"/w/a")])
    conn = sqlite3.connect(newer)
    conn.execute("PRAGMA user_version=99")
    conn.commit()
    conn.close()
    with pytest.raises(HistoryError, match="newer sniff-tui"):
        HistoryStore(str(newer))
    with pytest.raises(HistoryError, match="is a directory"):
        HistoryStore(str(tmp_path))


def test_file_is_marked_as_ours(tmp_path):
    db = tmp_path / "h.db"
    write_all(str(db), [rec(0, b"/w/a")])
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# A child that appends batches of BATCH records, one transaction each, and says so after
# every commit. The parent kills it with SIGKILL while it is inside a batch.
KILL_CHILD = r"""
import sys, time
sys.path.insert(0, sys.argv[2])
from sniff_tui.core.record import Record
from sniff_tui.history.store import HistoryStore
BATCH = int(sys.argv[3])
store = HistoryStore(sys.argv[1], max_transaction=BATCH)
store.begin_session([b"/w"], None)
batch_no = 0
while True:
    recs = [Record(ts=1.7e9 + batch_no, op="write", pid=batch_no, tid=i, ppid=1, uid=0,
                   comm=b"k", path=b"/w/f%d" % (i % 97), bytes=1, count=1) for i in range(BATCH)]
    before = store.stored
    store.add(recs)
    while store.stored == before:          # wait for this batch's commit
        time.sleep(0.0005)
    print(store.stored, flush=True)
    batch_no += 1
"""


def test_kill_9_mid_batch_leaves_every_committed_batch(tmp_path):
    db = str(tmp_path / "h.db")
    batch = 20_000
    child = subprocess.Popen([sys.executable, "-c", KILL_CHILD, db, str(REPO), str(batch)],
                             stdout=subprocess.PIPE, text=True)
    committed = 0
    for line in child.stdout:
        committed = int(line)
        if committed >= 3 * batch:
            break
    # The next batch is being inserted now: its transaction is open when the kill lands.
    time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    n = conn.execute("SELECT COUNT(*) FROM records").fetchone()[0]
    conn.close()
    assert n >= committed and n % batch == 0          # whole batches only, none lost
    # Every committed batch is whole, and the killed session says it did not end.
    with History(db) as h:
        recs = list(h.records(EVERYTHING))
        per_batch = {}
        for r in recs:
            per_batch[r.pid] = per_batch.get(r.pid, 0) + 1
        assert set(per_batch.values()) == {batch}
        (s,) = h.sessions()
        assert s.ended is None and s.records <= n
        assert any("did not end cleanly" in note for note in h.notes(QuerySpec()))
    # And it can be appended to again.
    write_all(db, [rec(0, b"/w/again")])
    with History(db) as h:
        assert [s.id for s in h.sessions()] == [1, 2]


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_full_disk_is_one_line_and_keeps_earlier_data(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(mnt)], check=True)
    try:
        db = str(mnt / "h.db")
        store = HistoryStore(db, max_transaction=500)
        store.begin_session([b"/w"], None)
        first = [rec(i, b"/w/early%d" % i) for i in range(200)]
        store.add(first)
        deadline = time.monotonic() + 10
        while store.stored < 200:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        # Unique long names fill the filesystem.
        for k in range(200):
            store.add([rec(i, b"/w/" + b"%d-%d-" % (k, i) + b"z" * 3000) for i in range(100)])
            if store.error:
                break
            time.sleep(0.01)
        error = store.close()
        assert error is not None and "\n" not in error
        assert "disk is full" in error
        assert store.dropped > 0
        back = stored(db)
        assert back[:200] == first                     # earlier data intact and readable
        assert len(back) == store.stored
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_loss_notes_are_bounded(tmp_path):
    db = str(tmp_path / "h.db")
    for i in range(12):
        write_all(db, [rec(i, b"/w/a")], {"counters": {"ringbuf_drops": i + 1}})
    with History(db) as h:
        notes = h.notes(QuerySpec())
    assert len(notes) == 10
    assert notes[0] == "session 1 did not see everything: ringbuf_drops=1"
    assert notes[-1].startswith("... and 3 more notes")


def test_a_close_that_runs_out_of_time_counts_what_it_gives_up(tmp_path):
    db = str(tmp_path / "h.db")
    store = HistoryStore(db, max_transaction=5_000)
    store.begin_session([b"/w"], None)
    total = 200_000
    store.add([rec(i, b"/w/%d" % (i % 300)) for i in range(total)])
    assert store.close(timeout=0.05) is None              # the transaction in flight finishes
    assert store.dropped > 0 and store.stored + store.dropped == total
    assert len(stored(db)) == store.stored
    with History(db) as h:
        (s,) = h.sessions()
        assert s.ended is not None and s.losses() == {"store_dropped": store.dropped}


def test_cgroup_fields_round_trip_and_older_files_gain_them(tmp_path):
    db = str(tmp_path / "h.db")
    cg = [rec(i, b"/w/f", cgroup=b"/system.slice/docker-" + b"a" * 64 + b".scope",
              container="aaaaaaaaaaaa", unit=b"evil\xff\x1b.service") for i in range(3)]
    write_all(db, cg + [rec(9, b"/w/g")])
    assert stored(db) == cg + [rec(9, b"/w/g")]
    # A history written before records had cgroups: no such columns (nor the view naming them).
    conn = sqlite3.connect(db)
    conn.execute("DROP VIEW records_named")
    for column in ("cgroup", "container", "unit"):
        conn.execute(f"ALTER TABLE records DROP COLUMN {column}")
    conn.commit()
    conn.close()
    assert [(r.cgroup, r.container, r.unit) for r in stored(db)] == [(None, None, None)] * 4
    write_all(db, cg[:1])                        # appending adds the columns
    got = stored(db)
    assert len(got) == 5 and got[-1] == cg[0] and got[0].cgroup is None


def test_query_filters_by_cgroup_container_and_unit(tmp_path, capfd):
    from sniff_tui.commands.cli import main
    db = str(tmp_path / "h.db")
    docker = rec(1, b"/w/a", pid=1, cgroup=b"/system.slice/docker-" + b"ab" * 32 + b".scope",
                 container="abababababab", unit=b"docker-" + b"ab" * 32 + b".scope")
    service = rec(2, b"/w/b", pid=2, cgroup=b"/system.slice/foo.service/sub", unit=b"foo.service")
    host = rec(3, b"/w/c", pid=3, cgroup=b"/")
    bare = rec(4, b"/w/d", pid=4)
    write_all(db, [docker, service, host, bare])

    def pids(*args):
        assert main(["query", db, "--all-types", "--format", "jsonl", *args]) == 0
        return [json.loads(line)["pid"] for line in capfd.readouterr().out.splitlines()]
    assert pids() == [1, 2, 3, 4]
    assert pids("--container", "abab") == [1]
    assert pids("--unit", "foo") == [2]
    assert pids("--cgroup", "/system.slice") == [1, 2]
    assert pids("--cgroup", "/") == [1, 2, 3]
    assert pids("--container", "ff") == []
    assert main(["query", db, "--cgroup", "/a/../b"]) == 2
    assert "'..'" in capfd.readouterr().err
