"""--content in the history (--db): the captured writes in a table of their own, in their order
among the records, read back by `sniff-tui diff DB` and `query --ops content`; a database that
holds captured bytes is mode 0600."""
from __future__ import annotations

import json
import os
import sqlite3

from sniff_tui.history.store import HistoryStore
from sniff_tui.core.filters import Filters
from sniff_tui.core.record import ContentRecord, Record
from sniff_tui.commands.cli import main

P = b"/w/app.conf"


def op(name, ts, path=P, **kw) -> Record:
    return Record(ts=ts, op=name, pid=7, tid=7, ppid=1, uid=1000, comm=b"ed", path=path, **kw)


def content(ts, data, offset=0, base=False, path=P) -> ContentRecord:
    return ContentRecord(ts, 7, 7, b"ed", path, offset, len(data), data, base=base, uid=1000)


def store(db: str, batches) -> HistoryStore:
    s = HistoryStore(db)
    s.begin_session([b"/w"], Filters())
    for batch in batches:
        s.add(batch)
    assert s.close() is None
    return s


SESSION = [
    [op("open", 1.0), content(1.1, b"a = 1\nb = 2\n", base=True), op("write", 1.2, bytes=5),
     content(1.2, b"b = 3", offset=6), op("close", 1.3)],
    # a batch of content alone, then the close that cuts its version in the next batch
    [content(2.0, b"a = 9", offset=0)],
    [op("close", 2.1), op("write", 2.2, bytes=1, path=b"/w/other")],
]


def test_stored_in_order_and_diffed(tmp_path, capsys):
    db = str(tmp_path / "h.db")
    s = store(db, SESSION)
    assert (s.stored, s.stored_content) == (5, 3)
    assert oct(os.stat(db).st_mode & 0o777) == "0o600"
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM records").fetchone() == (5,)
    rows = conn.execute("SELECT after_record, offset, length, data, base, uid FROM content ORDER BY id").fetchall()
    assert rows == [(1, 0, 12, b"a = 1\nb = 2\n", 1, 1000), (2, 6, 5, b"b = 3", 0, 1000),
                    (3, 0, 5, b"a = 9", 0, 1000)]
    assert main(["diff", db]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line for line in out if line[:1] in "-+" and line[:3] not in ("---", "+++")] == \
        ["-b = 2", "+b = 3", "-a = 1", "+a = 9"]


def test_query_prints_content_lines(tmp_path, capfd):
    db = str(tmp_path / "h.db")
    store(db, SESSION)
    assert main(["query", db, "--ops", "content"]) == 0
    lines = [json.loads(x) for x in capfd.readouterr().out.splitlines()]
    assert [(x["op"], x["offset"], x.get("base", False)) for x in lines] == \
        [("content", 0, True), ("content", 6, False), ("content", 0, False)]
    assert ContentRecord.from_dict(lines[1]).data == b"b = 3"
    assert main(["query", db, "--ops", "content", "--path", "other"]) == 0
    assert capfd.readouterr().out == ""
    assert main(["query", db, "--ops", "close,content"]) == 0
    ops = [json.loads(x)["op"] for x in capfd.readouterr().out.splitlines()]
    assert ops == ["close", "close", "content", "content", "content"]
    assert main(["query", db, "--ops", "content", "--format", "table"]) == 2
    assert "--format jsonl" in capfd.readouterr().err


def test_a_history_without_content(tmp_path, capsys):
    db = str(tmp_path / "h.db")
    store(db, [[op("write", 1.0, bytes=1)]])
    assert main(["diff", db]) == 1
    assert "no captured content" in capsys.readouterr().err
