"""--content in a history database: the captured writes (table ``content``) read back in their
order among the records, for `sniff-tui diff DB` and `query --ops content`."""
from __future__ import annotations

import sqlite3
from typing import Iterator, Optional

from sniff_tui.core.record import ContentRecord, Record

from .schema import HistoryError, describe_sqlite_error, open_for_reading

_CONTENT = ("SELECT c.id, c.after_record, c.ts, c.pid, c.tid, c.uid, m.name, p.name, c.offset, c.length, "
            "c.data, c.data_truncated, c.base, g.name, c.container, u.name FROM content c "
            "JOIN comms m ON m.id = c.comm JOIN names p ON p.id = c.path "
            "LEFT JOIN names g ON g.id = c.cgroup LEFT JOIN names u ON u.id = c.unit")
# What cuts versions: closes, renames, truncates.
_RECORDS = ("SELECT r.id, r.ts, r.op, r.pid, r.tid, r.ppid, r.uid, c.name, p.name, n.name, r.err, "
            "r.count FROM records r JOIN comms c ON c.id = r.comm JOIN names p ON p.id = r.path "
            "LEFT JOIN names n ON n.id = r.new_path WHERE r.op IN ('close', 'rename', 'truncate')")


def has_content_table(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='content'").fetchone() is not None


def content_rows(conn: sqlite3.Connection, where: str = "", params=()) -> Iterator[tuple[Optional[int], ContentRecord]]:
    """(after_record, ContentRecord) in id order; ``where``: extra SQL on c.* (and p.name)."""
    for (_id, after, ts, pid, tid, uid, comm, path, offset, length, data, cut, base, cgroup,
         container, unit) in conn.execute(f"{_CONTENT} {where} ORDER BY c.id", params):
        yield after, ContentRecord(ts, pid, tid, bytes(comm), bytes(path), offset, length, bytes(data),
                                   bool(cut), None if cgroup is None else bytes(cgroup), container,
                                   None if unit is None else bytes(unit), base=bool(base), uid=uid)


def read_ordered(path: str) -> Iterator:
    """Every captured write and every record that cuts a version, in the order they arrived.
    Raises HistoryError."""
    try:
        conn = open_for_reading(path)
    except sqlite3.Error as exc:
        raise HistoryError(describe_sqlite_error(path, exc)) from None
    try:
        if not has_content_table(conn):
            return
        content = content_rows(conn)
        pending = next(content, None)
        for (rid, ts, op, pid, tid, ppid, uid, comm, p, new, err, count) in conn.execute(
                _RECORDS + " ORDER BY r.id"):
            while pending is not None and (pending[0] or 0) < rid:
                yield pending[1]
                pending = next(content, None)
            yield Record(ts=ts, op=op, pid=pid, tid=tid, ppid=ppid, uid=uid, comm=bytes(comm),
                         path=bytes(p), new_path=None if new is None else bytes(new), err=err, count=count)
        while pending is not None:
            yield pending[1]
            pending = next(content, None)
    except sqlite3.Error as exc:
        raise HistoryError(describe_sqlite_error(path, exc)) from None
    finally:
        conn.close()


def query_content(conn: sqlite3.Connection, spec) -> Iterator[ContentRecord]:
    """`query --ops content`: the captured writes (and base reads) a QuerySpec selects: session,
    time range, path globs, pid, uid and process names (the tree filter: its root only)."""
    from .query import path_pattern
    terms, params = [], []
    f = spec.filters
    for sql, value in (("c.session = ?", spec.session), ("c.ts >= ?", spec.since),
                       ("c.ts < ?", spec.until), ("c.pid = ?", f.pid), ("c.uid = ?", f.uid)):
        if value is not None:
            terms.append(sql)
            params.append(value)
    if spec.paths:
        terms.append("(" + " OR ".join("p.name GLOB ?" for _ in spec.paths) + ")")
        params += [path_pattern(g) for g in spec.paths]
    if not has_content_table(conn):
        return
    where = ("WHERE " + " AND ".join(terms)) if terms else ""
    for _, rec in content_rows(conn, where, params):
        if f._matches_who(rec, None):
            yield rec
