"""The history database: its schema, and opening it for the writer or for a reader.

Every problem with the file (missing, locked, damaged, some other program's database, written
by a newer sniff-tui) becomes a ``HistoryError`` whose message is one line for the user.

Layout, designed for ``query``:

- ``names``: every distinct path (or rename destination) once, as the exact bytes (BLOB);
  ``comms`` likewise for process names. Records point at names by id, so a path index is an index of small integers,
  a path glob is matched once per distinct name instead of once per record, and a record row
  stays small.
- ``records``: one row per Record, in arrival order (``id``); ``count`` is the number of
  syscalls the row stands for, so totals are always ``SUM(count)``.
- ``sessions``: one row per recording run: when, what was watched, with which filters, and
  the loss counters (``stats``), so a query can say what was not seen. ``ended`` stays NULL for
  a run that was killed; its counters are as of ``updated``. A session's records are found
  through its ``first_record``..``last_record`` id range rather than an index of their own:
  every index costs the writer a B-tree insert per record, and ids grow with time anyway.

Indexes: ``ts``, ``pid``, ``path`` (the name id). A query for a path glob matches the glob
against ``names`` once, then reads records through the ``path`` index.
"""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path

SQLITE_MAGIC = b"SQLite format 3\x00"
APPLICATION_ID = 0x536E6966            # "Snif": marks the file as ours for `file(1)` and for us
SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS names (
    id   INTEGER PRIMARY KEY,
    name BLOB NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS comms (
    id   INTEGER PRIMARY KEY,
    name BLOB NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS sessions (
    id             INTEGER PRIMARY KEY,
    started        REAL NOT NULL,       -- Unix time
    ended          REAL,                -- NULL: still running, or killed
    updated        REAL NOT NULL,       -- when the counters below were last written
    command        TEXT NOT NULL,       -- 'stream' or 'dashboard'
    host           TEXT NOT NULL,
    pid            INTEGER NOT NULL,    -- the recording sniff-tui process
    watches        TEXT NOT NULL,       -- JSON list of names (text, and *_b64 when not UTF-8)
    filters        TEXT NOT NULL,       -- JSON object
    records        INTEGER NOT NULL DEFAULT 0,  -- rows stored
    store_dropped  INTEGER NOT NULL DEFAULT 0,  -- records the store could not keep
    first_record   INTEGER,             -- records.id range of the session (other sessions
    last_record    INTEGER,             -- writing at the same time may interleave in it)
    stats          TEXT                 -- JSON: the last stats dict (loss counters, maps, cost)
);
CREATE TABLE IF NOT EXISTS records (
    id        INTEGER PRIMARY KEY,
    session   INTEGER NOT NULL REFERENCES sessions(id),
    ts        REAL NOT NULL,
    op        TEXT NOT NULL,
    pid       INTEGER NOT NULL,
    tid       INTEGER NOT NULL,
    ppid      INTEGER NOT NULL,
    uid       INTEGER NOT NULL,
    comm      INTEGER NOT NULL REFERENCES comms(id),
    path      INTEGER NOT NULL REFERENCES names(id),
    new_path  INTEGER REFERENCES names(id),
    bytes     INTEGER,
    count     INTEGER NOT NULL,
    fd        INTEGER,
    file_type TEXT NOT NULL,
    dev       TEXT,
    ino       INTEGER,
    truncated INTEGER NOT NULL,
    err       TEXT,
    cgroup    INTEGER REFERENCES names(id),
    container TEXT,
    unit      INTEGER REFERENCES names(id)
);
CREATE INDEX IF NOT EXISTS records_ts ON records(ts);
CREATE INDEX IF NOT EXISTS records_pid ON records(pid);
CREATE INDEX IF NOT EXISTS records_path ON records(path);
-- Rename targets, for path queries; partial, so only renames pay for it.
CREATE INDEX IF NOT EXISTS records_new_path ON records(new_path) WHERE new_path IS NOT NULL;
-- --content: the bytes each captured write put into a file (and the base reads of files, base
-- = 1), in their own table: a query of records never reads them. after_record orders them
-- among the records (the id of the record that came just before, NULL: none yet).
CREATE TABLE IF NOT EXISTS content (
    id             INTEGER PRIMARY KEY,
    session        INTEGER NOT NULL REFERENCES sessions(id),
    after_record   INTEGER,
    ts             REAL NOT NULL,
    pid            INTEGER NOT NULL,
    tid            INTEGER NOT NULL,
    uid            INTEGER NOT NULL,
    comm           INTEGER NOT NULL REFERENCES comms(id),
    path           INTEGER NOT NULL REFERENCES names(id),
    offset         INTEGER NOT NULL,
    length         INTEGER NOT NULL,
    data           BLOB NOT NULL,
    data_truncated INTEGER NOT NULL,
    base           INTEGER NOT NULL,
    cgroup         INTEGER REFERENCES names(id),
    container      TEXT,
    unit           INTEGER REFERENCES names(id)
);
CREATE INDEX IF NOT EXISTS content_path ON content(path);
-- For people reading the file with the sqlite3 shell: names joined in.
CREATE VIEW IF NOT EXISTS records_named AS
    SELECT r.id, r.session, r.ts, r.op, r.pid, r.tid, r.ppid, r.uid, c.name AS comm,
           p.name AS path, n.name AS new_path, r.bytes, r.count, r.fd, r.file_type, r.dev,
           r.ino, r.truncated, r.err, g.name AS cgroup, r.container, u.name AS unit
    FROM records r JOIN comms c ON c.id = r.comm JOIN names p ON p.id = r.path
    LEFT JOIN names n ON n.id = r.new_path LEFT JOIN names g ON g.id = r.cgroup
    LEFT JOIN names u ON u.id = r.unit;
"""


class HistoryError(Exception):
    """A problem with the history database; the message is one line for the user."""


def is_sqlite_file(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError:
        return False


def describe_sqlite_error(path: str, exc: sqlite3.Error) -> str:
    """One line for what SQLite said, in the user's terms."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    low = text.lower()
    if "locked" in low or "busy" in low:
        return f"{path}: the database is locked by another process; try again later"
    if "not a database" in low or "malformed" in low or "corrupt" in low:
        return f"{path}: the database is damaged ({text})"
    if "disk is full" in low or "database or disk is full" in low:
        return f"{path}: the disk is full ({text})"
    if "readonly" in low or "read-only" in low:
        return f"{path}: cannot write the database ({text})"
    if "unable to open" in low:
        return f"{path}: cannot open the database ({text})"
    return f"{path}: {text}"


def _check_ours(conn: sqlite3.Connection, path: str, *, allow_empty: bool) -> bool:
    """True when the database holds our schema, False when it is empty (and allowed to be).
    Raises HistoryError for anything else."""
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if not tables and app_id == 0:
        if allow_empty:
            return False
        raise HistoryError(f"{path}: an empty database, not a sniff-tui history")
    if app_id != APPLICATION_ID or not {"names", "comms", "sessions", "records"} <= tables:
        raise HistoryError(f"{path}: not a sniff-tui history database")
    if version > SCHEMA_VERSION:
        raise HistoryError(f"{path}: written by a newer sniff-tui (schema {version}, "
                           f"this one reads {SCHEMA_VERSION})")
    return True


def open_for_writing(path: str) -> sqlite3.Connection:
    """Open (creating it if needed) a history database to append to. Never overwrites a file
    that is not ours. The connection is handed to the writer thread afterwards."""
    if os.path.isdir(path):
        raise HistoryError(f"{path}: is a directory")
    existed = os.path.exists(path)
    if existed and os.path.getsize(path) > 0 and not is_sqlite_file(path):
        raise HistoryError(f"{path}: not an SQLite database (refusing to overwrite it)")
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5.0)
    except sqlite3.Error as exc:
        raise HistoryError(describe_sqlite_error(path, exc)) from None
    try:
        ours = _check_ours(conn, path, allow_empty=True)
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise HistoryError(f"{path}: cannot switch the database to WAL mode (got {mode})")
        # NORMAL in WAL mode: a committed batch survives a crash of sniff-tui (kill -9); only a
        # power loss can take back the last commits, never corrupt earlier ones.
        conn.execute("PRAGMA synchronous=NORMAL")
        # The path and pid indexes take inserts all over their B-trees: keep them in memory.
        conn.execute("PRAGMA cache_size=-65536")
        if not ours:
            conn.execute("BEGIN IMMEDIATE")
            for statement in _statements(SCHEMA):
                conn.execute(statement)
            conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('format', 'sniff-tui history')")
            conn.execute("COMMIT")
        elif not has_cgroup_columns(conn):
            # Written before records had cgroups: the columns are added (NULL in old rows);
            # readers of either age name the columns they read, so the schema version stays.
            for column in CGROUP_COLUMNS:
                conn.execute(f"ALTER TABLE records ADD COLUMN {column}")
        if not existed:
            _give_to_sudo_user(path)
    except sqlite3.Error as exc:
        conn.close()
        raise HistoryError(describe_sqlite_error(path, exc)) from None
    except HistoryError:
        conn.close()
        raise
    return conn


CGROUP_COLUMNS = ("cgroup INTEGER REFERENCES names(id)", "container TEXT",
                  "unit INTEGER REFERENCES names(id)")


def has_cgroup_columns(conn: sqlite3.Connection) -> bool:
    return "cgroup" in {row[1] for row in conn.execute("PRAGMA table_info(records)")}


def open_for_reading(path: str, *, timeout: float = 2.0) -> sqlite3.Connection:
    """Read-only: no root needed, only read access to the file."""
    if not os.path.exists(path):
        raise HistoryError(f"{path}: no such file")
    if os.path.isdir(path):
        raise HistoryError(f"{path}: is a directory")
    if not os.access(path, os.R_OK):
        raise HistoryError(f"{path}: permission denied")
    if os.path.getsize(path) == 0:
        raise HistoryError(f"{path}: an empty file, not a sniff-tui history")
    if not is_sqlite_file(path):
        raise HistoryError(f"{path}: not an SQLite database")
    uri = Path(os.path.abspath(path)).as_uri() + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False,
                               timeout=timeout)
        _check_ours(conn, path, allow_empty=False)
    except sqlite3.Error as exc:
        raise HistoryError(describe_sqlite_error(path, exc)) from None
    except HistoryError:
        conn.close()
        raise
    return conn


def _statements(script: str) -> list[str]:
    """Split the schema into statements (it has no semicolons inside strings)."""
    out, current = [], []
    for line in script.splitlines():
        if line.strip().startswith("--"):
            continue
        current.append(line)
        if line.rstrip().endswith(";"):
            out.append("\n".join(current))
            current = []
    return [s for s in out if s.strip()]


def _give_to_sudo_user(path: str) -> None:
    """Under sudo, the history belongs to the user who asked for it, who can then query it
    without root. SQLite gives its -wal/-shm files the database's owner itself."""
    uid, gid = os.environ.get("SUDO_UID"), os.environ.get("SUDO_GID")
    if os.geteuid() == 0 and uid and gid and uid.isdigit() and gid.isdigit():
        try:
            os.chown(path, int(uid), int(gid))
        except OSError:
            pass
