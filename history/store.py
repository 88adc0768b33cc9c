"""The history store: appends Records to the SQLite history from a writer thread of its own.

``add`` is called by whoever drains the probe feed (the stream loop, the dashboard's pump); it
only appends to a bounded in-memory queue and never waits for SQLite, so the probe worker is
never slowed by the disk. The writer thread takes everything queued, inserts it in one
transaction and commits: a committed batch is whole in the file whatever happens next (kill -9,
a full disk), and an interrupted one leaves no trace. What the queue cannot hold (the store
fell behind) or what can no longer be written (a failed disk) is counted in ``dropped`` and
reported, never silently lost.
"""
from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
from collections import deque
from typing import Any, Iterable, Optional

from sniff_tui.core.filters import Filters
from sniff_tui.core.record import ContentRecord, Record, encode_name

from .schema import HistoryError, describe_sqlite_error, open_for_writing

MAX_PENDING = 1_000_000        # records queued for the writer before new ones are dropped
MAX_TRANSACTION = 50_000       # records per transaction (bounds the time a commit takes)
IDLE_COMMIT_SECONDS = 0.5      # how long a few records may wait before they are committed
NAME_CACHE_MAX = 500_000       # interned names remembered (then forgotten and looked up again)
IN_FLIGHT_SECONDS = 30.0       # at close, after the queue is given up: the last transaction

COLUMNS = 21
INSERT_RECORD = ("INSERT INTO records (session, ts, op, pid, tid, ppid, uid, comm, path, "
                 "new_path, bytes, count, fd, file_type, dev, ino, truncated, err, cgroup, "
                 "container, unit) VALUES ")
ROW = "(" + ",".join("?" * COLUMNS) + ")"
# Rows per INSERT statement. The sqlite3 module releases the GIL around each statement step;
# one step per row makes the writer and the thread that drains the probes hand the GIL back and
# forth per record (measured: both at once slower than one after the other). One step per
# few hundred rows lets SQLite's B-tree work run beside the Python threads.
INSERT_CONTENT = ("INSERT INTO content (session, after_record, ts, pid, tid, uid, comm, path, "
                  "offset, length, data, data_truncated, base, cgroup, container, unit) VALUES "
                  "(" + ",".join("?" * 16) + ")")
ROWS_PER_INSERT = 500
INSERT_MANY = INSERT_RECORD + ",".join([ROW] * ROWS_PER_INSERT)


def names_json(names: Iterable[bytes]) -> str:
    """A JSON list of names in the record's text form (``*_b64``-style exactness kept)."""
    out = []
    for name in names:
        text, raw = encode_name(name)
        out.append({"name": text, **({"name_b64": raw} if raw is not None else {})})
    return json.dumps(out, ensure_ascii=False)


def filters_json(filters: Optional[Filters]) -> str:
    if filters is None:
        return "{}"
    out = {"ops": sorted(filters.ops), "pid": filters.pid, "tree": filters.tree,
           "uid": filters.uid, "comm": filters.comm,
           "exclude_comm": list(filters.exclude_comm), "all_types": filters.all_types}
    for name in ("cgroup", "container", "unit"):
        if getattr(filters, name) is not None:
            out[name] = _jsonable(getattr(filters, name))
    for name in ("exclude", "include"):
        if getattr(filters, name):
            out[name] = list(getattr(filters, name))
    if filters.gitignore:
        out["gitignore"] = True
    return json.dumps(out, ensure_ascii=False)


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return encode_name(value)[0]
    return value


class HistoryStore:
    def __init__(self, path: str, *, max_pending: int = MAX_PENDING,
                 max_transaction: int = MAX_TRANSACTION,
                 idle_commit: float = IDLE_COMMIT_SECONDS) -> None:
        """Opens (or creates) the database now, in the caller's thread, so that a bad file is
        reported before anything starts. Raises HistoryError."""
        self.path = path
        self._conn: Optional[sqlite3.Connection] = open_for_writing(path)
        self.max_pending = max_pending
        self.max_transaction = max_transaction
        self.idle_commit = idle_commit
        self.session: Optional[int] = None
        self.stored = 0                  # records committed
        self.dropped = 0                 # records given to add() that will never be stored
        self.error: Optional[str] = None  # one line, once the writer has failed
        self._pending: deque[list[Record]] = deque()
        self._pending_count = 0
        self._inflight = 0               # records in the transaction being written
        self._stats: Optional[dict] = None
        self._stats_dirty = False
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._closing = False
        self._thread: Optional[threading.Thread] = None
        self._names: dict[bytes, int] = {}
        self._comms: dict[bytes, int] = {}
        self.stored_content = 0          # --content rows committed
        self._last_record: Optional[int] = None
        self._private = False            # made mode 0600 once it holds captured bytes

    # ------------------------------------------------------------------ producer side
    def begin_session(self, watches: list[bytes], filters: Optional[Filters],
                      command: str = "stream") -> int:
        """Record the session row (committed at once, so even a run killed right away leaves
        a trace) and start the writer thread."""
        assert self._conn is not None and self.session is None
        now = time.time()
        try:
            cur = self._conn.execute(
                "INSERT INTO sessions (started, updated, command, host, pid, watches, filters) "
                "VALUES (?,?,?,?,?,?,?)",
                (now, now, command, socket.gethostname(), os.getpid(), names_json(watches),
                 filters_json(filters)))
        except sqlite3.Error as exc:
            raise HistoryError(describe_sqlite_error(self.path, exc)) from None
        self.session = int(cur.lastrowid)
        self._thread = threading.Thread(target=self._run, name="history-writer", daemon=True)
        self._thread.start()
        return self.session

    def add(self, records: list[Record]) -> None:
        """Queue records for the writer. Never blocks on the disk; what does not fit is
        counted in ``dropped``."""
        if not records:
            return
        with self._lock:
            if self.error is not None or self._closing or self._thread is None:
                self.dropped += len(records)
                return
            room = self.max_pending - self._pending_count
            if room < len(records):
                self.dropped += len(records) - max(room, 0)
                records = records[:max(room, 0)]
                if not records:
                    return
            else:
                records = list(records)      # the caller may reuse its list
            self._pending.append(records)
            self._pending_count += len(records)
            self._wake.notify()

    def update_stats(self, stats: dict) -> None:
        """The latest stats dict (loss counters, maps, probe cost); written to the session row
        with the next commit."""
        with self._lock:
            self._stats = _jsonable(stats)
            self._stats_dirty = True

    @property
    def pending(self) -> int:
        return self._pending_count

    def close(self, stats: Optional[dict] = None, timeout: float = 60.0) -> Optional[str]:
        """Write what is queued, end the session and close the file. Returns the one-line
        error if the store failed at any point (None when all went well)."""
        if stats is not None:
            self.update_stats(stats)
        with self._lock:
            self._closing = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                # Too much queued to write in time: what is still queued is given up (and
                # counted); the transaction in flight may still finish.
                with self._lock:
                    self.dropped += self._pending_count
                    self._pending.clear()
                    self._pending_count = 0
                self._thread.join(IN_FLIGHT_SECONDS)
            if self._thread.is_alive():
                with self._lock:
                    self.dropped += self._inflight
                    if self.error is None:
                        self.error = (f"{self.path}: the history writer did not finish in "
                                      f"{timeout + IN_FLIGHT_SECONDS:.0f} s")
                return self.error
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                if self.session is not None and self.error is not None:
                    # After a full disk the rollback may have freed enough room to close the
                    # session with its loss count; if not, it stays open ("did not end").
                    try:
                        self._write_session(conn, ended=time.time())
                    except sqlite3.Error:
                        pass
                elif self.session is not None:
                    self._write_session(conn, ended=time.time())
                # Back to a rollback journal, so the file stands alone (no -wal/-shm beside it)
                # and a reader without write access to the directory can open it.
                if self.error is None:
                    conn.execute("PRAGMA journal_mode=DELETE")
            except sqlite3.Error as exc:
                if self.error is None:
                    self.error = describe_sqlite_error(self.path, exc)
            finally:
                conn.close()
        return self.error

    # ------------------------------------------------------------------ writer thread
    def _take(self) -> Optional[list[Record]]:
        """Up to max_transaction queued records; None when closing and nothing is left."""
        with self._lock:
            deadline = time.monotonic() + self.idle_commit
            while not self._pending and not self._closing:
                left = deadline - time.monotonic()
                if left <= 0:
                    return []           # an idle turn: lets a stats update reach the file
                self._wake.wait(left)
            if not self._pending:
                return None
            taken: list[Record] = []
            while self._pending and len(taken) < self.max_transaction:
                chunk = self._pending.popleft()
                room = self.max_transaction - len(taken)
                if len(chunk) > room:
                    self._pending.appendleft(chunk[room:])
                    chunk = chunk[:room]
                taken.extend(chunk)
            self._pending_count -= len(taken)
            self._inflight = len(taken)
            return taken

    def _run(self) -> None:
        conn = self._conn
        assert conn is not None
        while True:
            batch = self._take()
            if batch is None:
                return
            if not batch and not self._stats_dirty:
                continue
            captured: list = []       # --content: (counted records before it, the record)
            if any(r.__class__ is ContentRecord for r in batch):
                counted: list[Record] = []
                for r in batch:
                    if r.__class__ is ContentRecord:
                        captured.append((len(counted), r))
                    else:
                        counted.append(r)
                batch = counted
            try:
                conn.execute("BEGIN")
                last = None
                if batch:
                    self._insert(conn, batch)
                    # One writer holds the write lock for the whole transaction, so the
                    # batch's ids are consecutive and end at the last rowid.
                    last = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
                if captured:
                    self._insert_content(conn, captured, None if last is None else last - len(batch))
                self._last_record = last if last is not None else self._last_record
                self._write_session(conn, stored_extra=len(batch), last_id=last,
                                    first_id=None if last is None else last - len(batch) + 1)
                conn.execute("COMMIT")
                with self._lock:
                    self.stored += len(batch)
                    self.stored_content += len(captured)
                    self._inflight = 0
            except sqlite3.Error as exc:
                self._fail(conn, exc, len(batch))
                return

    def _insert(self, conn: sqlite3.Connection, batch: list[Record]) -> None:
        flat = self._flat_rows(conn, batch)
        step = ROWS_PER_INSERT * COLUMNS
        full = len(batch) // ROWS_PER_INSERT * step
        for i in range(0, full, step):
            conn.execute(INSERT_MANY, flat[i:i + step])
        rest = flat[full:]
        if rest:
            conn.execute(INSERT_RECORD + ",".join([ROW] * (len(rest) // COLUMNS)), rest)

    def _insert_content(self, conn: sqlite3.Connection, captured: list, before: Optional[int]) -> None:
        """--content rows, each with the id of the record it came after; ``before``: the id
        before the batch's first record (None: the batch had no records)."""
        names, session = self._names, self.session
        rows = []
        for k, r in captured:
            after = self._last_record if before is None else before + k
            rows.append((session, after, r.ts, r.pid, r.tid, r.uid,
                         self._comms.get(r.comm) or self._comm_id(conn, r.comm),
                         names.get(r.path) or self._name_id(conn, r.path), r.offset, r.length,
                         r.data, int(r.data_truncated), int(r.base),
                         None if r.cgroup is None else names.get(r.cgroup) or self._name_id(conn, r.cgroup),
                         r.container, None if r.unit is None else names.get(r.unit) or self._name_id(conn, r.unit)))
        conn.executemany(INSERT_CONTENT, rows)
        if not self._private:        # captured bytes: only the owner reads the file
            self._private = True
            for suffix in ("", "-wal", "-shm", "-journal"):
                try:
                    os.chmod(self.path + suffix, 0o600)
                except OSError:
                    pass

    def _flat_rows(self, conn: sqlite3.Connection, batch: list[Record]) -> list:
        flat: list = []
        add = flat.extend
        session = self.session
        names, comms = self._names, self._comms
        name_id, comm_id = self._name_id, self._comm_id
        for r in batch:
            # Inline dict look-ups: this loop is the store's hot path.
            new_path, cgroup, unit = r.new_path, r.cgroup, r.unit
            add((session, r.ts, r.op, r.pid, r.tid, r.ppid, r.uid,
                 comms.get(r.comm) or comm_id(conn, r.comm),
                 names.get(r.path) or name_id(conn, r.path),
                 None if new_path is None else (names.get(new_path) or name_id(conn, new_path)),
                 r.bytes, r.count, r.fd, r.file_type, r.dev, r.ino, 1 if r.truncated else 0,
                 r.err, None if cgroup is None else (names.get(cgroup) or name_id(conn, cgroup)),
                 r.container, None if unit is None else (names.get(unit) or name_id(conn, unit))))
        return flat

    def _name_id(self, conn: sqlite3.Connection, name: bytes) -> int:
        return _intern(conn, "names", self._names, name)

    def _comm_id(self, conn: sqlite3.Connection, name: bytes) -> int:
        return _intern(conn, "comms", self._comms, name)

    def _write_session(self, conn: sqlite3.Connection, stored_extra: int = 0,
                       ended: Optional[float] = None, first_id: Optional[int] = None,
                       last_id: Optional[int] = None) -> None:
        with self._lock:
            stats, dirty = self._stats, self._stats_dirty
            self._stats_dirty = False
            dropped = self.dropped
        # The records count is part of the same transaction as the rows it counts.
        params: list[Any] = [time.time(), self.stored + stored_extra, dropped]
        sets = "updated = ?, records = ?, store_dropped = ?"
        if dirty and stats is not None:
            sets += ", stats = ?"
            params.append(json.dumps(stats, ensure_ascii=False, default=str))
        if ended is not None:
            sets += ", ended = ?"
            params.append(ended)
        if last_id is not None:
            sets += ", first_record = COALESCE(first_record, ?), last_record = ?"
            params += [first_id, last_id]
        conn.execute(f"UPDATE sessions SET {sets} WHERE id = ?", (*params, self.session))

    def _fail(self, conn: sqlite3.Connection, exc: sqlite3.Error, lost: int) -> None:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass               # SQLite may have rolled back already (e.g. on SQLITE_FULL)
        with self._lock:
            self.error = describe_sqlite_error(self.path, exc)
            self.dropped += lost + self._pending_count
            self._inflight = 0
            self._pending.clear()
            self._pending_count = 0


def _intern(conn: sqlite3.Connection, table: str, cache: dict[bytes, int], name: bytes) -> int:
    row = conn.execute(f"SELECT id FROM {table} WHERE name = ?", (name,)).fetchone()
    if row is None:
        row = (conn.execute(f"INSERT INTO {table}(name) VALUES (?)", (name,)).lastrowid,)
    if len(cache) >= NAME_CACHE_MAX:
        cache.clear()
    cache[name] = row[0]
    return row[0]
