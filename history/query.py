"""Reading the history: sessions, records and grouped totals, selected like ``stream`` selects.

Selection is the stream's (``probes.filters.Filters``: ops, pid, process tree, uid, comm and
its globs, excluded comms, file types, --exclude/--include patterns) plus path globs, a time
range and a session. Name
matches (comm, path globs) run once over the distinct names, in Python, with the same rules as
the live filters; SQLite then only compares small integers, through its indexes.
"""
from __future__ import annotations

import fnmatch
import json
import os
import sqlite3
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

from sniff_tui.core.filters import Filters, comm_matches
from sniff_tui.core.pathrules import PathRules
from sniff_tui.core.record import OPS, Record, decode_name

from .schema import HistoryError, describe_sqlite_error, has_cgroup_columns, open_for_reading

GROUPS = ("file", "process", "op")
MAX_NOTES = 10             # lines about sessions that lost records, after an answer
SORTS = ("count", "bytes", "records")

# Counters (from the stats dict) that mean something was not seen or not fully named.
LOSS_COUNTERS = ("ringbuf_drops", "lost_calls", "proc_drops", "name_drops", "unplaced", "rate_limited", "pending_full",
                 "truncated", "too_deep", "close_range_skipped", "uring_no_cqe")


@dataclass(frozen=True)
class QuerySpec:
    filters: Filters = Filters()
    paths: tuple[str, ...] = ()        # globs; a path matches if it (or a rename's target) matches any
    since: Optional[float] = None
    until: Optional[float] = None
    session: Optional[int] = None
    group_by: Optional[str] = None     # one of GROUPS
    top: Optional[int] = None
    sort: str = "count"


@dataclass
class Session:
    id: int
    started: float
    ended: Optional[float]
    updated: float
    command: str
    host: str
    pid: int
    watches: list[bytes]
    filters: dict
    records: int
    store_dropped: int
    stats: dict = field(default_factory=dict)
    first_record: Optional[int] = None
    last_record: Optional[int] = None

    def losses(self) -> dict[str, int]:
        """What this session did not see (or could not store), non-zero counters only."""
        out: dict[str, int] = {}
        counters = self.stats.get("counters") or {}
        for name in LOSS_COUNTERS:
            value = counters.get(name)
            if isinstance(value, int) and value:
                out[name] = value
        feed = self.stats.get("feed_dropped")
        if isinstance(feed, int) and feed:
            out["feed_dropped"] = feed
        if self.store_dropped:
            out["store_dropped"] = self.store_dropped
        return out


@dataclass
class Group:
    key: dict[str, Any]                # {"path": bytes} | {"pid": int, "comm": bytes} | {"op": str}
    records: int
    count: int
    bytes: int
    first_ts: float
    last_ts: float


def path_pattern(glob: str) -> bytes:
    """The byte pattern for a --path glob: absolute as given; otherwise matched at the end of a
    path (``*.log`` is any .log file, ``build/*.o`` any .o under a build directory)."""
    pattern = os.fsencode(glob)
    if not pattern.startswith((b"/", b"*")):
        pattern = b"*/" + pattern
    return pattern


class History:
    """A history database opened read-only."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.conn = open_for_reading(path)
        self._temp = 0

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "History":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _guard(self, fn, *args):
        try:
            return fn(*args)
        except sqlite3.Error as exc:
            raise HistoryError(describe_sqlite_error(self.path, exc)) from None

    # ------------------------------------------------------------------ sessions
    def sessions(self) -> list[Session]:
        return self._guard(self._sessions, None)

    def session(self, session_id: int) -> Session:
        found = self._guard(self._sessions, session_id)
        if not found:
            ids = [s.id for s in self.sessions()]
            known = _id_ranges(ids) if ids else "none"
            raise HistoryError(f"{self.path}: no session {session_id} (sessions: {known})")
        return found[0]

    def _sessions(self, session_id: Optional[int]) -> list[Session]:
        sql = ("SELECT id, started, ended, updated, command, host, pid, watches, filters, records, "
               "store_dropped, stats, first_record, last_record FROM sessions")
        rows = self.conn.execute(sql + (" WHERE id = ?" if session_id is not None else "") +
                                 " ORDER BY id", (() if session_id is None else (session_id,)))
        out = []
        for row in rows:
            watches = []
            for item in _loads(row[7], []):
                try:
                    name = decode_name(item, "name")
                except (ValueError, TypeError):
                    name = None
                if name is not None:
                    watches.append(name)
            out.append(Session(id=row[0], started=row[1], ended=row[2], updated=row[3],
                               command=row[4], host=row[5], pid=row[6], watches=watches,
                               filters=_loads(row[8], {}), records=row[9], store_dropped=row[10],
                               stats=_loads(row[11], {}), first_record=row[12],
                               last_record=row[13]))
        return out

    # ------------------------------------------------------------------ selection
    def _where(self, spec: QuerySpec) -> tuple[str, list[Any]]:
        """The WHERE clause (over ``records r``) and its parameters; sets of ids go into temp
        tables so that no list is limited by SQLite's bound-parameter count."""
        f = spec.filters
        terms: list[str] = []
        params: list[Any] = []
        if spec.session is not None:
            s = self.session(spec.session)
            if s.first_record is None:
                terms.append("0")
            else:
                terms.append("r.id BETWEEN ? AND ? AND r.session = ?")
                params += [s.first_record, s.last_record, s.id]
        if spec.since is not None:
            terms.append("r.ts >= ?")
            params.append(spec.since)
        if spec.until is not None:
            terms.append("r.ts < ?")
            params.append(spec.until)
        if f.ops != frozenset(OPS):
            ops = sorted(f.ops)
            terms.append(f"r.op IN ({','.join('?' * len(ops))})")
            params += ops
        if f.pid is not None:
            terms.append("r.pid = ?")
            params.append(f.pid)
        if f.uid is not None:
            terms.append("r.uid = ?")
            params.append(f.uid)
        if not f.all_types:
            terms.append("r.file_type IN ('file', 'dir')")
        if f.comm is not None:
            table = self._id_table(self._matching_comms(lambda c: comm_matches(f.comm, c)))
            terms.append(f"r.comm IN {table}")
        if f.exclude_comm:
            table = self._id_table(self._matching_comms(
                lambda c: any(comm_matches(p, c) for p in f.exclude_comm)))
            terms.append(f"r.comm NOT IN {table}")
        if spec.paths:
            patterns = [path_pattern(g) for g in spec.paths]
            names = self.conn.execute("SELECT id, name FROM names").fetchall()
            ids = [i for i, name in names if any(fnmatch.fnmatchcase(name, p) for p in patterns)]
            table = self._id_table(ids)
            # Through the path index when the glob is selective; a glob matching a good part
            # of all names (`*.c` in a source tree) reads faster as one pass over the table
            # than as a random table lookup per matching record. (`+` hides the index.)
            plus = "+" if len(ids) * 4 > len(names) else ""
            terms.append(f"({plus}r.path IN {table} OR {plus}r.new_path IN {table})")
        if f.exclude or f.include:
            terms.append(self._path_rules_term(f, spec.session))
        if f.by_cgroup:
            terms.append(self._cgroup_term(f))
        if f.tree is not None:
            scope = " AND ".join(terms) or "1"
            pairs = self.conn.execute(f"SELECT DISTINCT r.pid, r.ppid FROM records r WHERE {scope}",
                                      params).fetchall()
            table = self._id_table(sorted(_tree(f.tree, pairs)))
            terms.append(f"r.pid IN {table}")
        return " AND ".join(terms) or "1", params

    def _path_rules_term(self, f: Filters, session: Optional[int]) -> str:
        """--exclude/--include: gitignore patterns relative to the sessions' watched directories
        (no .gitignore is read: a history may come from another host), decided once per
        distinct name, as a file and as a directory; a rename is kept when either name is."""
        roots = sorted({w for s in self._sessions(session) for w in s.watches})
        rules = PathRules(roots, f.exclude, f.include)
        names = [(i, bytes(name)) for i, name in self.conn.execute("SELECT id, name FROM names")]
        files = self._id_table([i for i, name in names if rules.keeps_path(name, False)])
        dirs = self._id_table([i for i, name in names if rules.keeps_path(name, True)])

        def kept(col: str) -> str:
            return f"(CASE WHEN r.file_type = 'dir' THEN {col} IN {dirs} ELSE {col} IN {files} END)"
        return f"({kept('r.path')} OR (r.new_path IS NOT NULL AND {kept('r.new_path')}))"

    def _cgroup_term(self, f: Filters) -> str:
        """--cgroup/--container/--unit: decided once per distinct (cgroup, container, unit) of
        the history, as for live records; a history without cgroups matches nothing."""
        if not has_cgroup_columns(self.conn):
            return "0"
        rows = self.conn.execute(
            "SELECT DISTINCT r.cgroup, r.container, r.unit, g.name, u.name FROM records r "
            "LEFT JOIN names g ON g.id = r.cgroup LEFT JOIN names u ON u.id = r.unit").fetchall()
        keep = [(g, c, u) for g, c, u, gname, uname in rows if f.cgroup_matches(Record(
            0.0, "open", 0, 0, 0, 0, b"", b"", cgroup=None if gname is None else bytes(gname),
            container=c, unit=None if uname is None else bytes(uname)))]
        self._temp += 1
        name = f"temp.cg{self._temp}"
        self.conn.execute(f"CREATE TEMP TABLE cg{self._temp} (g INTEGER, c TEXT, u INTEGER)")
        self.conn.executemany(f"INSERT INTO {name} VALUES (?, ?, ?)", keep)
        return (f"EXISTS (SELECT 1 FROM {name} t WHERE t.g IS r.cgroup AND t.c IS r.container "
                "AND t.u IS r.unit)")

    def _matching_comms(self, predicate) -> list[int]:
        return [i for i, name in self.conn.execute("SELECT id, name FROM comms")
                if predicate(bytes(name).decode("utf-8", "surrogateescape"))]

    def _id_table(self, ids: list[int]) -> str:
        self._temp += 1
        name = f"temp.sel{self._temp}"
        self.conn.execute(f"CREATE TEMP TABLE sel{self._temp} (id INTEGER PRIMARY KEY)")
        self.conn.executemany(f"INSERT OR IGNORE INTO {name} VALUES (?)", ((i,) for i in ids))
        return name

    # ------------------------------------------------------------------ answers
    def records(self, spec: QuerySpec) -> Iterator[Record]:
        """Matching records in the order they were recorded (``top``: the first N)."""
        try:
            where, params = self._where(spec)
            # A history written before records had cgroups has no such columns.
            cg = ("g.name, r.container, u.name", "LEFT JOIN names g ON g.id = r.cgroup "
                  "LEFT JOIN names u ON u.id = r.unit ") if has_cgroup_columns(self.conn) else (
                  "NULL, NULL, NULL", "")
            sql = ("SELECT r.ts, r.op, r.pid, r.tid, r.ppid, r.uid, c.name, p.name, n.name, r.bytes, "
                   f"r.count, r.fd, r.file_type, r.dev, r.ino, r.truncated, r.err, {cg[0]} "
                   "FROM records r JOIN comms c ON c.id = r.comm JOIN names p ON p.id = r.path "
                   f"LEFT JOIN names n ON n.id = r.new_path {cg[1]}WHERE {where} ORDER BY r.id")
            if spec.top is not None:
                sql += " LIMIT ?"
                params = [*params, spec.top]
            for row in self.conn.execute(sql, params):
                yield Record(ts=row[0], op=row[1], pid=row[2], tid=row[3], ppid=row[4], uid=row[5],
                             comm=bytes(row[6]), path=bytes(row[7]),
                             new_path=None if row[8] is None else bytes(row[8]), bytes=row[9],
                             count=row[10], fd=row[11], file_type=row[12], dev=row[13], ino=row[14],
                             truncated=bool(row[15]), err=row[16],
                             cgroup=None if row[17] is None else bytes(row[17]), container=row[18],
                             unit=None if row[19] is None else bytes(row[19]))
        except sqlite3.Error as exc:
            raise HistoryError(describe_sqlite_error(self.path, exc)) from None

    def groups(self, spec: QuerySpec) -> list[Group]:
        """Totals per file, process (pid and name) or op: records, sum of ``count`` (the
        syscalls), sum of ``bytes``; largest first by ``spec.sort``, ``top`` of them."""
        if spec.group_by not in GROUPS:
            raise HistoryError(f"cannot group by {spec.group_by!r} (choose from {', '.join(GROUPS)})")
        if spec.sort not in SORTS:
            raise HistoryError(f"cannot sort by {spec.sort!r} (choose from {', '.join(SORTS)})")
        return self._guard(self._groups, spec)

    def _groups(self, spec: QuerySpec) -> list[Group]:
        where, params = self._where(spec)
        keys = {"file": "r.path", "process": "r.pid, r.comm", "op": "r.op"}[spec.group_by]
        order = {"count": "total_count", "bytes": "total_bytes", "records": "n"}[spec.sort]
        sql = (f"SELECT {keys}, COUNT(*) AS n, SUM(r.count) AS total_count, "
               f"COALESCE(SUM(r.bytes), 0) AS total_bytes, MIN(r.ts), MAX(r.ts) "
               f"FROM records r WHERE {where} GROUP BY {keys} "
               f"ORDER BY {order} DESC, {keys}")
        if spec.top is not None:
            sql += " LIMIT ?"
            params = [*params, spec.top]
        out = []
        for row in self.conn.execute(sql, params).fetchall():
            if spec.group_by == "file":
                key = {"path": self._name("names", row[0])}
                rest = row[1:]
            elif spec.group_by == "process":
                key = {"pid": row[0], "comm": self._name("comms", row[1])}
                rest = row[2:]
            else:
                key = {"op": row[0]}
                rest = row[1:]
            out.append(Group(key=key, records=rest[0], count=rest[1], bytes=rest[2],
                             first_ts=rest[3], last_ts=rest[4]))
        return out

    def _name(self, table: str, name_id: int) -> bytes:
        row = self.conn.execute(f"SELECT name FROM {table} WHERE id = ?", (name_id,)).fetchone()
        return bytes(row[0]) if row else b"?"

    def notes(self, spec: QuerySpec) -> list[str]:
        """One line per session in the query's scope that did not see everything, or that did
        not end cleanly: what the answer cannot include."""
        sessions = [self.session(spec.session)] if spec.session is not None else self.sessions()
        lines = []
        for s in sessions:
            end = s.ended if s.ended is not None else s.updated
            if spec.since is not None and end < spec.since:
                continue
            if spec.until is not None and s.started >= spec.until:
                continue
            losses = s.losses()
            if losses:
                lines.append(f"session {s.id} did not see everything: " +
                             " ".join(f"{k}={v}" for k, v in losses.items()))
            if s.ended is None and not _alive(s):
                lines.append(f"session {s.id} did not end cleanly (killed?): its counters are "
                             f"as of its last commit")
        if len(lines) > MAX_NOTES:
            more = len(lines) - MAX_NOTES + 1
            lines = lines[:MAX_NOTES - 1] + [f"... and {more} more notes (query --sessions lists "
                                            f"every session with its losses)"]
        return lines


def _tree(root: int, pairs: list[tuple[int, int]]) -> set[int]:
    """``root`` and every pid whose recorded parent chain leads to it."""
    children: dict[int, set[int]] = {}
    for pid, ppid in pairs:
        if pid != ppid:
            children.setdefault(ppid, set()).add(pid)
    seen = {root}
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return seen


def _alive(s: Session) -> bool:
    """Is the recording process still running? (Only answerable on the same host.)"""
    import socket
    if s.host != socket.gethostname():
        return True
    try:
        os.kill(s.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _loads(text: Optional[str], default):
    if not text:
        return default
    try:
        value = json.loads(text)
    except ValueError:
        return default
    return value if isinstance(value, type(default)) else default


def _id_ranges(ids: list[int]) -> str:
    """1-3,5,8-9"""
    parts = []
    start = prev = ids[0]
    for i in ids[1:] + [None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if i is not None:
            start = prev = i
    return ",".join(parts)
