"""`sniff-tui --db FILE`: what the dashboard drains from its feed is what the history holds,
and the session ends with the probes' loss counters."""
from __future__ import annotations

import argparse

from sniff_tui.history.dashboard_sink import TeeFeed, open_dashboard_store
from sniff_tui.history.query import History, QuerySpec
from sniff_tui.core.filters import Filters
from sniff_tui.core.record import Record


class Source:
    watches = [b"/w"]

    def stats_dict(self) -> dict:
        return {"counters": {"ringbuf_drops": 2, "events": 10}, "maps": {}}


def rec(i: int) -> Record:
    return Record(ts=float(i), op="write", pid=i, tid=i, ppid=1, uid=0, comm=b"c",
                  path=b"/w/\xff%d" % i, bytes=i, count=1)


def test_drained_batches_are_stored(tmp_path):
    db = str(tmp_path / "h.db")
    store, code = open_dashboard_store(argparse.Namespace(db=db), Filters(pid=3))
    assert code == 0
    feed = store.feed(Source())
    assert isinstance(feed, TeeFeed)
    feed.push_many([rec(i) for i in range(5)])
    assert [r.pid for r in feed.drain(3)] == [0, 1, 2]        # the dashboard's own drains
    assert [r.pid for r in feed.drain()] == [3, 4]
    assert feed.drain() == []
    assert store.close(Source()) == 0
    with History(db) as h:
        assert list(h.records(QuerySpec())) == [rec(i) for i in range(5)]
        (s,) = h.sessions()
        assert s.command == "dashboard" and s.filters["pid"] == 3
        assert s.losses() == {"ringbuf_drops": 2}


def test_without_db_nothing_happens_and_a_bad_file_is_one_line(tmp_path, capsys):
    assert open_dashboard_store(argparse.Namespace(db=None), Filters()) == (None, 0)
    bad = tmp_path / "x.jsonl"
    bad.write_text("{}\n")
    assert open_dashboard_store(argparse.Namespace(db=str(bad)), Filters()) == (None, 1)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not an SQLite database" in err
