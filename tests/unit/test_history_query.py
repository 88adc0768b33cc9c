"""`query` selections and groupings against totals computed by hand, then against a plain
Python reading of random histories (the live filters' own ``matches``)."""
from __future__ import annotations

import fnmatch
import random

import pytest

from sniff_tui.history.query import History, QuerySpec, path_pattern
from sniff_tui.history.schema import HistoryError
from sniff_tui.history.store import HistoryStore
from sniff_tui.history.timespec import TimeSpecError, parse_time
from sniff_tui.core.filters import Filters
from sniff_tui.core.pathrules import with_rules
from sniff_tui.core.record import OPS, Record

T = 1_700_000_000.0


def r(dt, op, pid, ppid, uid, comm, path, nbytes=None, count=1, **kw) -> Record:
    return Record(ts=T + dt, op=op, pid=pid, tid=pid, ppid=ppid, uid=uid, comm=comm, path=path,
                  bytes=nbytes, count=count, **kw)


SESSION1 = [
    r(0, "open", 10, 1, 1000, b"make", b"/w/src/a.c"),                               # 1
    r(1, "read", 10, 1, 1000, b"make", b"/w/src/a.c", 100, 4),                       # 2
    r(2, "write", 20, 10, 1000, b"cc1", b"/w/build/a.o", 500, 2),                    # 3
    r(3, "write", 21, 20, 1000, b"as", b"/w/build/a.o", 300, 1),                     # 4
    r(4, "write", 30, 1, 0, b"logger", b"/w/log/app.log", 50, 10),                   # 5
    r(5, "rename", 20, 10, 1000, b"cc1", b"/w/build/a.tmp", new_path=b"/w/build/a.o"),  # 6
    r(6, "unlink", 30, 1, 0, b"logger", b"/w/log/old.log"),                          # 7
    r(7, "write", 40, 1, 1000, b"ev\xff\x1b", b"/w/\xff.bin", 8, 1),                 # 8
    r(8, "read", 30, 1, 0, b"logger", b"/w/fifo", 5, 1, file_type="fifo"),           # 9
]
SESSION2 = [r(3600, "write", 10, 1, 1000, b"make", b"/w/src/a.c", 1000, 5)]         # 10
ALL = SESSION1 + SESSION2


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("q") / "h.db")
    for records in (SESSION1, SESSION2):
        store = HistoryStore(path)
        store.begin_session([b"/w"], None)
        store.add(records)
        assert store.close() is None
    return path


def select(db, **kw) -> list[Record]:
    filters = kw.pop("filters", Filters())
    with History(db) as h:
        return list(h.records(QuerySpec(filters=filters, **kw)))


def nums(records) -> list[int]:
    return [ALL.index(x) + 1 for x in records]


def groups(db, by, **kw):
    filters = kw.pop("filters", Filters())
    with History(db) as h:
        return [(g.key, g.count, g.bytes, g.records)
                for g in h.groups(QuerySpec(filters=filters, group_by=by, **kw))]


def test_selection_by_each_filter(db):
    assert nums(select(db)) == [1, 2, 3, 4, 5, 6, 7, 8, 10]          # the fifo needs all_types
    assert nums(select(db, filters=Filters(all_types=True))) == list(range(1, 11))
    assert nums(select(db, filters=Filters(pid=30))) == [5, 7]
    assert nums(select(db, filters=Filters(uid=0, all_types=True))) == [5, 7, 9]
    assert nums(select(db, filters=Filters(ops=frozenset({"write", "rename"})))) == [3, 4, 5, 6, 8, 10]
    assert nums(select(db, filters=Filters(tree=10))) == [1, 2, 3, 4, 6, 10]
    assert nums(select(db, filters=Filters(tree=20))) == [3, 4, 6]
    assert nums(select(db, filters=Filters(comm="c*"))) == [3, 6]
    assert nums(select(db, filters=Filters(comm="logger"))) == [5, 7]
    assert nums(select(db, filters=Filters(comm="ev*"))) == [8]                  # bytes name
    assert nums(select(db, filters=Filters(exclude_comm=("make", "l*")))) == [3, 4, 6, 8]
    assert nums(select(db, paths=("*.o",))) == [3, 4, 6]                         # 6: rename target
    assert nums(select(db, paths=("/w/src/*",))) == [1, 2, 10]
    assert nums(select(db, paths=("build/*",))) == [3, 4, 6]
    assert nums(select(db, paths=("*.log", "*.bin"))) == [5, 7, 8]
    assert nums(select(db, filters=Filters(exclude=("build/", "*.log")))) == [1, 2, 8, 10]
    assert nums(select(db, filters=Filters(exclude=("*.o",)))) == [1, 2, 5, 6, 7, 8, 10]  # 6: from a.tmp
    assert nums(select(db, filters=Filters(exclude=("*.log", "!old.log")))) == [1, 2, 3, 4, 6, 7, 8, 10]
    assert nums(select(db, filters=Filters(include=("src/",)))) == [1, 2, 10]
    assert nums(select(db, since=T + 3, until=T + 6)) == [4, 5, 6]
    assert nums(select(db, since=T + 100)) == [10]
    assert nums(select(db, session=2)) == [10]
    assert nums(select(db, session=1, filters=Filters(pid=10))) == [1, 2]
    assert nums(select(db, top=2)) == [1, 2]
    assert nums(select(db, filters=Filters(comm="make", ops=frozenset({"write"})),
                       since=T + 1)) == [10]


def test_group_by_op(db):
    assert groups(db, "op") == [
        ({"op": "write"}, 2 + 1 + 10 + 1 + 5, 500 + 300 + 50 + 8 + 1000, 5),
        ({"op": "read"}, 4, 100, 1),
        ({"op": "open"}, 1, 0, 1),
        ({"op": "rename"}, 1, 0, 1),
        ({"op": "unlink"}, 1, 0, 1),
    ]
    assert groups(db, "op", filters=Filters(all_types=True))[1] == ({"op": "read"}, 5, 105, 2)


def test_group_by_file(db):
    assert groups(db, "file", sort="bytes") == [
        ({"path": b"/w/src/a.c"}, 10, 1100, 3),
        ({"path": b"/w/build/a.o"}, 3, 800, 2),
        ({"path": b"/w/log/app.log"}, 10, 50, 1),
        ({"path": b"/w/\xff.bin"}, 1, 8, 1),
        ({"path": b"/w/build/a.tmp"}, 1, 0, 1),
        ({"path": b"/w/log/old.log"}, 1, 0, 1),
    ]
    assert groups(db, "file", sort="bytes", top=2) == groups(db, "file", sort="bytes")[:2]
    assert groups(db, "file", session=2) == [({"path": b"/w/src/a.c"}, 5, 1000, 1)]


def test_group_by_process(db):
    assert groups(db, "process") == [
        ({"pid": 30, "comm": b"logger"}, 11, 50, 2),
        ({"pid": 10, "comm": b"make"}, 10, 1100, 3),
        ({"pid": 20, "comm": b"cc1"}, 3, 500, 2),
        ({"pid": 21, "comm": b"as"}, 1, 300, 1),
        ({"pid": 40, "comm": b"ev\xff\x1b"}, 1, 8, 1),
    ]
    assert groups(db, "process", filters=Filters(tree=10), sort="records", top=1) == [
        ({"pid": 10, "comm": b"make"}, 10, 1100, 3)]


def test_unknown_session_is_an_error(db):
    with History(db) as h:
        with pytest.raises(HistoryError, match=r"no session 7 \(sessions: 1-2\)"):
            list(h.records(QuerySpec(session=7)))


def test_path_patterns():
    assert path_pattern("*.log") == b"*.log"
    assert path_pattern("/abs/*") == b"/abs/*"
    assert path_pattern("build/*.o") == b"*/build/*.o"


def test_times():
    now = 1_000_000.0
    assert parse_time("2h", now) == now - 7200
    assert parse_time("30m", now) == now - 1800
    assert parse_time("1d", now) == now - 86400
    assert parse_time("45s", now) == now - 45
    assert parse_time("1.5h", now) == now - 5400
    assert parse_time("now", now) == now
    assert parse_time("2023-11-14T22:13:20+00:00") == 1_700_000_000.0
    assert parse_time("2023-11-14T22:13:20Z") == 1_700_000_000.0
    for bad in ("yesterday", "2x", "-2h", "", "2023-13-01"):
        with pytest.raises(TimeSpecError):
            parse_time(bad, now)


# ---------------------------------------------------------------- against a plain reading
COMMS = [b"make", b"cc1", b"cc1plus", b"sh", b"w\xffx", b"a\nb"]
PATHS = [b"/w/a.c", b"/w/b.o", b"/w/sub/c.o", b"/w/sub/d.log", b"/w/\xff\n.bin", b"/w/e f.txt"]


def random_history(rng: random.Random, n: int) -> list[Record]:
    out = []
    for i in range(n):
        pid = rng.randrange(10, 20)
        op = rng.choice(OPS)
        out.append(Record(ts=T + i, op=op, pid=pid, tid=pid, ppid=pid - 1 if pid > 10 else 1,
                          uid=rng.choice([0, 1000]), comm=rng.choice(COMMS),
                          path=rng.choice(PATHS),
                          new_path=rng.choice(PATHS) if op == "rename" else None,
                          bytes=rng.randrange(0, 10_000) if op in ("read", "write") else None,
                          count=rng.randrange(1, 50),
                          file_type=rng.choice(["file", "file", "dir", "fifo"])))
    return out


def reference(records, spec: QuerySpec) -> list[Record]:
    pairs = {(x.pid, x.ppid) for x in records}

    def in_tree(pid, root):
        seen, todo = {root}, [root]
        while todo:
            p = todo.pop()
            for c, pp in pairs:
                if pp == p and c not in seen:
                    seen.add(c)
                    todo.append(c)
        return pid in seen

    out = []
    for x in records:
        if not spec.filters.matches(x, in_tree):
            continue
        if spec.since is not None and x.ts < spec.since:
            continue
        if spec.until is not None and x.ts >= spec.until:
            continue
        if spec.paths:
            pats = [path_pattern(p) for p in spec.paths]
            names = [x.path] + ([x.new_path] if x.new_path is not None else [])
            if not any(fnmatch.fnmatchcase(nm, p) for nm in names for p in pats):
                continue
        out.append(x)
    return out


@pytest.mark.parametrize("seed", range(6))
def test_random_histories_answer_like_a_plain_reading(tmp_path, seed):
    rng = random.Random(seed)
    records = random_history(rng, 400)
    db = str(tmp_path / "h.db")
    store = HistoryStore(db)
    store.begin_session([b"/w"], None)
    store.add(records)
    assert store.close() is None
    specs = [
        QuerySpec(),
        QuerySpec(filters=Filters(all_types=True)),
        QuerySpec(filters=Filters(ops=frozenset(rng.sample(OPS, 3)), uid=1000)),
        QuerySpec(filters=Filters(comm="cc*", all_types=True), since=T + 50, until=T + 300),
        QuerySpec(filters=Filters(exclude_comm=("sh", "w*"), tree=14)),
        QuerySpec(filters=Filters(comm="a\nb", pid=rng.randrange(10, 20)), paths=("*.o",)),
        QuerySpec(paths=("sub/*", "/w/\udcff*"), filters=Filters(all_types=True)),
        QuerySpec(filters=with_rules(Filters(exclude=("sub/", "*.o", "!a.o")), [b"/w"])),
        QuerySpec(filters=with_rules(Filters(include=("*.c", "sub/"), all_types=True), [b"/w"])),
    ]
    with History(db) as h:
        for spec in specs:
            want = reference(records, spec)
            assert list(h.records(spec)) == want, spec
            for by in ("file", "process", "op"):
                got = {tuple(g.key.values()): (g.count, g.bytes, g.records)
                       for g in h.groups(QuerySpec(**{**spec.__dict__, "group_by": by}))}
                truth: dict = {}
                for x in want:
                    key = {"file": (x.path,), "process": (x.pid, x.comm), "op": (x.op,)}[by]
                    c, b, n = truth.get(key, (0, 0, 0))
                    truth[key] = (c + x.count, b + (x.bytes or 0), n + 1)
                assert got == truth, (spec, by)
