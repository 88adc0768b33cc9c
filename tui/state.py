"""The dashboard's session state: everything the panes show, built from batches of Records.

Pure Python (no Textual): the dashboard's drain loop hands each chunk of the feed to
``SessionState.apply`` and the panes read the result. Work per record is a few dict
look-ups, so a chunk costs O(chunk), and every collection is bounded (``Limits``), so memory
stays flat under sustained load.

Filtering is retroactive. Besides the per-file and per-process totals for the *current*
filters, the state keeps one small ``Cell`` per (file, process, operation, name, uid, file
type) with that cell's totals; every attribute ``Filters.matches`` looks at is in the key.
A filter change re-decides each cell (memoized: cheap) and the totals are re-summed from the
cells on first use, so pressing ``w`` on a finished replay hides the writes already counted,
and ``c`` brings them back; the cost is O(cells), bounded. Without this a replay read at full
speed could never be filtered at all: every record is in before the user's first key press.

Export: every record that matched the filters in force when it arrived is appended to a
``SessionRecording``, an unlinked temporary file of zlib-compressed marshal batches. A list in
memory would have to be bounded and would then lose records the user asked to keep; JSON
encoding per record costs ~6 µs (30 % of a core at 50k records/s) against ~1 µs for
marshal+zlib, which also stores ~8x smaller. JSONL is produced only when the user exports.
"""
from __future__ import annotations

import heapq
import json
import marshal
import os
import shutil
import struct
import tempfile
import time
import zlib
from collections import OrderedDict, deque
from dataclasses import asdict, dataclass
from typing import Callable, Iterator, Optional

from probes.filters import Filters
from probes.record import Record
from probes.source import SourceStats

ProcessInfo = Callable[[int], dict]


@dataclass(frozen=True)
class Limits:
    """Bounds of every collection the session keeps (tests shrink them to exercise eviction)."""
    recent: int = 5_000            # stream pane rows
    files: int = 10_000            # files with per-file totals (the most recently active)
    cells: int = 50_000            # cells across all files: a filter change re-sums them all
    cells_per_file: int = 32       # a log file appended by thousands of processes stays bounded
    processes: int = 4_096
    parents: int = 65_536          # pid -> ppid links for the tree filter and the process tree
    rate_window: int = 60          # seconds of event-rate history
    info_lookups_per_batch: int = 64   # process_info calls per apply (they may read /proc)


# The sort keys of the top-files pane, in the order the `s` key cycles them.
SORT_KEYS = ("bytes_written", "writes", "bytes_read", "reads", "last_ts")


class Cell:
    """What one process did with one operation on one file (under one name, uid and file
    type: an exec or a type change starts a new cell), summed.

    It carries the attributes ``Filters.matches`` reads from a record (op, pid, uid, comm,
    file_type, path), so a new filter can be decided per cell without keeping the records:
    ``matches`` is handed the cell itself (duck typing; tests/ui/test_ui_state.py checks the
    rebuilt totals equal those of a fresh session fed the same records).
    """
    __slots__ = ("path", "pid", "op", "uid", "comm", "file_type", "count", "bytes",
                 "first_ts", "last_ts", "first_seq", "matched")

    def __init__(self, rec: Record, path: bytes, seq: int) -> None:
        self.path = path               # the FileEntry's bytes object, shared
        self.pid = rec.pid
        self.op = rec.op
        self.uid = rec.uid
        self.comm = rec.comm
        self.file_type = rec.file_type
        self.count = 0
        self.bytes = 0
        self.first_ts = rec.ts
        self.last_ts = rec.ts
        self.first_seq = seq           # arrival order: deterministic tie-breaks and tree order
        self.matched = False


class FileEntry:
    """One file: its cells (all activity) and its totals under the current filters."""
    __slots__ = ("path", "file_type", "cells", "bytes_written", "writes", "bytes_read", "reads",
                 "ops", "last_ts", "last_writer", "_writer_key")

    def __init__(self, path: bytes, file_type: str) -> None:
        self.path = path
        self.file_type = file_type
        self.cells: dict[tuple, Cell] = {}   # (pid, op, comm, uid, file_type) -> Cell
        self.reset_totals()

    def reset_totals(self) -> None:
        self.bytes_written = 0
        self.writes = 0
        self.bytes_read = 0
        self.reads = 0
        self.ops: dict[str, int] = {}
        self.last_ts = 0.0
        self.last_writer: Optional[tuple[int, bytes]] = None   # (pid, comm)
        self._writer_key = (-1.0, -1)

    @property
    def active(self) -> bool:
        return bool(self.ops)


class ProcEntry:
    """One process: identity (from records and ``process_info``) and totals under the filters."""
    __slots__ = ("pid", "comm", "ppid", "uid", "cmdline", "user", "info_done", "read_bytes",
                 "write_bytes", "ops", "last_ts", "first_seq", "version")

    def __init__(self, rec: Record, seq: int) -> None:
        self.pid = rec.pid
        self.comm = rec.comm
        self.ppid = rec.ppid
        self.uid = rec.uid
        self.cmdline: Optional[str] = None
        self.user: Optional[str] = None
        self.info_done = False
        self.first_seq = seq
        self.version = 0
        self.reset_totals()

    def reset_totals(self) -> None:
        self.read_bytes = 0
        self.write_bytes = 0
        self.ops: dict[str, int] = {}
        self.last_ts = 0.0

    @property
    def active(self) -> bool:
        return bool(self.ops)


class SessionState:
    def __init__(self, watches: list[bytes], filters: Filters = Filters(),
                 process_info: Optional[ProcessInfo] = None,
                 recording: Optional["SessionRecording"] = None,
                 limits: Limits = Limits()) -> None:
        self.limits = limits
        self.watches = list(watches)
        self.filters = filters
        self.filter_gen = 0                 # bumped whenever cells are re-decided (panes redraw)
        self.version = 0                    # bumped on every batch that matched something
        self._process_info = process_info
        self.recording = recording

        self._files: OrderedDict[bytes, FileEntry] = OrderedDict()   # LRU: oldest first
        self._procs: OrderedDict[int, ProcEntry] = OrderedDict()
        # After a filter change the totals are rebuilt from the cells on first use, not at
        # once: the stream pane can show the new filter before the aggregates are summed.
        self._totals_dirty = False
        self.parents: dict[int, int] = {}
        self._cell_count = 0
        self._info_queue: deque[int] = deque(maxlen=limits.processes)
        self._no_info: set[int] = set()     # ancestors process_info could not tell us about
        self._unresolved: set[int] = set()  # pids a tree decision could not see past
        self._regrade = False

        self.recent_all: deque[Record] = deque(maxlen=limits.recent)   # to re-filter on widen
        self.recent: deque[Record] = deque(maxlen=limits.recent)       # matching, stream pane
        self.recent_shift = 0               # rows fallen off the front of `recent` so far

        self.paused = False
        self.new_since_pause = 0
        self._frozen: list[Record] = []

        self.received = 0                   # records applied
        self.matched_total = 0              # of which matched the filters of their time
        self.first_ts: Optional[float] = None
        self.last_ts: Optional[float] = None
        self.evicted_files = 0              # bounded history: shown in the loss pane
        self.evicted_cells = 0
        self.evicted_procs = 0

        self._rate: deque[int] = deque([0] * limits.rate_window, maxlen=limits.rate_window)
        self._rate_second: Optional[int] = None    # the second the last bucket stands for

        self.source_stats = SourceStats()
        self.ui_drops = 0
        self.replay_errors = 0

    # ---------------------------------------------------------------- applying records
    def apply(self, records: list[Record]) -> int:
        """Fold a batch in; returns how many matched the filters.

        This loop runs for every record at up to 50k/s on the UI thread, so it is written for
        speed: bound methods in locals, the accumulation inlined. ``_rebuild_totals``
        accumulates the same way from cells; the property test in tests/ui/test_ui_state.py
        checks that both give the same totals."""
        if not records:
            return 0
        files, procs = self._files, self._procs
        totals = not self._totals_dirty         # dirty: the rebuild will sum the cells anyway
        files_get, files_touch = files.get, files.move_to_end
        procs_get, procs_touch = procs.get, procs.move_to_end
        matches = self._matcher()
        matched: list[Record] = []
        keep = matched.append
        seq = self.received
        version = self.version + 1
        per_second: dict[int, int] = {}
        last_sec, run = None, 0
        for rec in records:
            seq += 1
            ts = rec.ts
            sec = int(ts)
            if sec != last_sec:                 # records come in time order: count runs
                if run:
                    per_second[last_sec] = per_second.get(last_sec, 0) + run
                last_sec, run = sec, 0
            run += 1
            pid = rec.pid
            proc = procs_get(pid)
            if proc is None:
                proc = self._new_proc(rec, seq)
            else:
                procs_touch(pid)                        # LRU: the noisy writer stays
                if proc.comm != rec.comm:
                    proc.comm = rec.comm                # exec changed the name
                if rec.ppid and rec.ppid != proc.ppid:
                    proc.ppid = rec.ppid                # reparented to a subreaper
                    self._link(pid, rec.ppid)
            path = rec.path
            fe = files_get(path)
            if fe is None:
                fe = self._new_file(rec)
            else:
                files_touch(path)
            op = rec.op
            # Everything matches() reads is in the key, so one decision holds for the whole cell.
            key = (pid, op, rec.comm, rec.uid, rec.file_type)
            cell = fe.cells.get(key)
            if cell is None:
                cell = self._new_cell(fe, rec, key, seq)
                cell.matched = matches(cell)
            count = rec.count
            nbytes = rec.bytes or 0
            cell.count += count
            cell.bytes += nbytes
            if ts > cell.last_ts:
                cell.last_ts = ts
            if cell.matched:
                keep(rec)
                if not totals:
                    continue
                fops, pops = fe.ops, proc.ops
                fops[op] = fops.get(op, 0) + count
                pops[op] = pops.get(op, 0) + count
                if op == "write":
                    fe.writes += count
                    fe.bytes_written += nbytes
                    proc.write_bytes += nbytes
                    writer_key = (ts, cell.first_seq)
                    if writer_key >= fe._writer_key:
                        fe._writer_key = writer_key
                        fe.last_writer = (pid, cell.comm)
                elif op == "read":
                    fe.reads += count
                    fe.bytes_read += nbytes
                    proc.read_bytes += nbytes
                if ts > fe.last_ts:
                    fe.last_ts = ts
                if ts > proc.last_ts:
                    proc.last_ts = ts
                proc.version = version
        if run:
            per_second[last_sec] = per_second.get(last_sec, 0) + run
        self.received = seq
        if self.first_ts is None:
            self.first_ts = records[0].ts
        self.last_ts = records[-1].ts
        self.recent_all.extend(records)
        self._count_rate(per_second)
        self._resolve_process_info()
        if matched:
            self.version += 1
            self.matched_total += len(matched)
            overflow = len(self.recent) + len(matched) - self.limits.recent
            if overflow > 0:
                self.recent_shift += overflow
            self.recent.extend(matched)
            if self.paused:
                self.new_since_pause += len(matched)
            if self.recording is not None:
                self.recording.append(matched)
        if self._regrade:
            self._regrade = False
            if self.filters.tree is not None:
                # Rare (a child's records before any of its parent's) and O(cells). Records
                # of this batch that were judged outside the tree stay out of the export.
                self._redecide()
        return len(matched)

    def _new_proc(self, rec: Record, seq: int) -> ProcEntry:
        procs = self._procs
        if len(procs) >= self.limits.processes:
            # Least recently seen first (apply moves a process to the end on every record).
            _, old = procs.popitem(last=False)
            self.evicted_procs += 1
            self._no_info.discard(old.pid)
        proc = ProcEntry(rec, seq)
        procs[rec.pid] = proc
        if rec.ppid:
            self._link(rec.pid, rec.ppid)
        self._info_queue.append(rec.pid)
        return proc

    def _link(self, pid: int, ppid: int) -> None:
        parents = self.parents
        if pid not in parents and len(parents) >= self.limits.parents:
            del parents[next(iter(parents))]            # the oldest link
        parents[pid] = ppid
        if pid in self._unresolved:
            # A tree decision stopped at this pid for want of its parent: decide again.
            self._unresolved.discard(pid)
            self._regrade = True

    def _new_file(self, rec: Record) -> FileEntry:
        files = self._files
        if len(files) >= self.limits.files:
            self._evict_file()
        fe = FileEntry(rec.path, rec.file_type)
        files[rec.path] = fe
        return fe

    def _new_cell(self, fe: FileEntry, rec: Record, key: tuple, seq: int) -> Cell:
        if len(fe.cells) >= self.limits.cells_per_file:
            oldest = min(fe.cells, key=lambda k: fe.cells[k].last_ts)
            del fe.cells[oldest]
            self._cell_count -= 1
            self.evicted_cells += 1
        while self._cell_count >= self.limits.cells and len(self._files) > 1:
            self._evict_file(keep=fe.path)
        cell = Cell(rec, fe.path, seq)
        fe.cells[key] = cell
        self._cell_count += 1
        return cell

    def _evict_file(self, keep: Optional[bytes] = None) -> None:
        """Drop the least recently active file (its totals stay in the process totals until the
        next filter change; the loss pane counts it)."""
        path = next(iter(self._files))
        if path == keep:
            self._files.move_to_end(path)
            path = next(iter(self._files))
        fe = self._files.pop(path)
        self._cell_count -= len(fe.cells)
        self.evicted_cells += len(fe.cells)
        self.evicted_files += 1

    def _resolve_process_info(self) -> None:
        """cmdline and user of new processes, a bounded number per batch: on a live system
        ``process_info`` reads /proc, and short-lived compilers are gone within milliseconds,
        so looking up early beats looking up on selection."""
        if self._process_info is None:
            self._info_queue.clear()
            return
        for _ in range(min(len(self._info_queue), self.limits.info_lookups_per_batch)):
            pid = self._info_queue.popleft()
            proc = self._procs.get(pid)
            if proc is not None and not proc.info_done:
                self._fill_info(proc)

    def _fill_info(self, proc: ProcEntry) -> None:
        proc.info_done = True
        try:
            info = self._process_info(proc.pid) if self._process_info else None
        except Exception:       # a vanished process or an unreadable /proc: keep what we have
            info = None
        if not info:
            return
        cmdline = info.get("cmdline")
        if isinstance(cmdline, (list, tuple)):
            cmdline = " ".join(os.fsdecode(a) if isinstance(a, bytes) else str(a) for a in cmdline)
        elif isinstance(cmdline, bytes):
            cmdline = cmdline.replace(b"\0", b" ").strip().decode("utf-8", "surrogateescape")
        proc.cmdline = cmdline or proc.cmdline
        if info.get("user") is not None:
            proc.user = str(info["user"])
        if not proc.ppid and info.get("ppid"):
            proc.ppid = int(info["ppid"])
            if proc.pid not in self.parents:
                self._link(proc.pid, proc.ppid)
        proc.version = self.version + 1

    # ---------------------------------------------------------------- filtering
    def _matcher(self) -> Callable[[object], bool]:
        filters = self.filters
        is_descendant = self.is_descendant if filters.tree is not None else None
        if filters.text:
            return lambda cell: filters.matches(cell, is_descendant)   # type: ignore[arg-type]
        # Without a text filter the decision ignores the path (see probes/filters.py; a test
        # fails if Filters grows a field this does not know), so cells of the same process,
        # operation and name share one decision: a rebuild costs a dict look-up per cell.
        memo: dict[tuple, bool] = {}

        def match(cell) -> bool:
            key = (cell.op, cell.pid, cell.uid, cell.comm, cell.file_type)
            hit = memo.get(key)
            if hit is None:
                hit = memo[key] = filters.matches(cell, is_descendant)
            return hit
        return match

    def is_descendant(self, pid: int, root: int) -> bool:
        """Whether ``root`` is an ancestor of ``pid``, from the parent links records carry
        (asking ``process_info`` about an ancestor that never touched a file)."""
        seen = 0
        current = pid
        while seen < 64:                     # a loop in stale links must not hang the UI
            parent = self.parents.get(current)
            if parent is None:
                parent = self._ask_parent(current)
                if parent is None:
                    # A child can show up before its parent does: remember the gap so the
                    # decision is revisited when the link arrives (see _link).
                    if len(self._unresolved) >= self.limits.parents:
                        self._unresolved.clear()
                    self._unresolved.add(current)
                    return False
            if parent == root:
                return True
            if parent <= 1 or parent == current:
                return False
            current = parent
            seen += 1
        return False

    def _ask_parent(self, pid: int) -> Optional[int]:
        if self._process_info is None or pid in self._no_info or pid <= 1:
            return None
        try:
            ppid = (self._process_info(pid) or {}).get("ppid")
        except Exception:
            ppid = None
        if not ppid:
            if len(self._no_info) >= self.limits.parents:
                self._no_info.clear()
            self._no_info.add(pid)
            return None
        self._link(pid, int(ppid))
        return int(ppid)

    def set_filters(self, filters: Filters) -> None:
        """Re-decide every cell under ``filters`` (a memoized decision per process, operation
        and name: ~0.3 µs a cell) and re-filter the stream rows; the totals follow on first use
        (``_rebuild_totals``)."""
        self.filters = filters
        self._redecide()

    def _redecide(self) -> None:
        self.filter_gen += 1
        matches = self._matcher()
        for fe in self._files.values():
            for cell in fe.cells.values():
                cell.matched = matches(cell)
        self._totals_dirty = True
        self.version += 1
        self._refilter_recent()

    def _ensure_totals(self) -> None:
        if self._totals_dirty:
            self._totals_dirty = False
            self._rebuild_totals()

    def _rebuild_totals(self) -> None:
        """Sum the matching cells into the file and process totals: O(cells), the same
        accumulation as ``apply`` (the property test checks both agree)."""
        procs = self._procs
        for proc in procs.values():
            proc.reset_totals()
        procs_get = procs.get
        for fe in self._files.values():
            fe.reset_totals()
            fops = fe.ops
            for cell in fe.cells.values():
                if not cell.matched:
                    continue
                op, count, nbytes, ts = cell.op, cell.count, cell.bytes, cell.last_ts
                fops[op] = fops.get(op, 0) + count
                proc = procs_get(cell.pid)
                if proc is not None:
                    pops = proc.ops
                    pops[op] = pops.get(op, 0) + count
                    if ts > proc.last_ts:
                        proc.last_ts = ts
                if op == "write":
                    fe.writes += count
                    fe.bytes_written += nbytes
                    if proc is not None:
                        proc.write_bytes += nbytes
                    writer_key = (ts, cell.first_seq)
                    if writer_key >= fe._writer_key:
                        fe._writer_key = writer_key
                        fe.last_writer = (cell.pid, cell.comm)
                elif op == "read":
                    fe.reads += count
                    fe.bytes_read += nbytes
                    if proc is not None:
                        proc.read_bytes += nbytes
                if ts > fe.last_ts:
                    fe.last_ts = ts
        self.version += 1
        for proc in procs.values():
            proc.version = self.version

    def _refilter_recent(self) -> None:
        # The union of both rings, in arrival order: `recent` may hold older matching records
        # than `recent_all` still has, `recent_all` holds those the old filter hid.
        is_descendant = self.is_descendant if self.filters.tree is not None else None
        in_all = {id(r) for r in self.recent_all}
        older = [r for r in self.recent if id(r) not in in_all]    # already in arrival order
        rows = older + list(self.recent_all)
        keep = [r for r in rows if self.filters.matches(r, is_descendant)]
        self.recent = deque(keep[-self.limits.recent:], maxlen=self.limits.recent)
        self.recent_shift = 0
        if self.paused:
            self._frozen = list(self.recent)

    def set_watches(self, watches: list[bytes]) -> None:
        self.watches = list(watches)

    # ---------------------------------------------------------------- pause
    def pause(self) -> None:
        if not self.paused:
            self.paused = True
            self.new_since_pause = 0
            self._frozen = list(self.recent)

    def resume(self) -> None:
        self.paused = False
        self._frozen = []
        self.new_since_pause = 0

    def stream_rows(self) -> list[Record]:
        """The rows of the stream pane: frozen while paused, counting goes on meanwhile."""
        return self._frozen if self.paused else list(self.recent)

    # ---------------------------------------------------------------- event rate
    def _count_rate(self, per_second: dict[int, int]) -> None:
        for sec in sorted(per_second):
            self._add_rate(sec, per_second[sec])

    def _add_rate(self, sec: int, n: int) -> None:
        window = self.limits.rate_window
        if self._rate_second is None:
            self._rate_second = sec
        if sec > self._rate_second:
            self._advance(sec)
        age = self._rate_second - sec
        if age < window:
            self._rate[window - 1 - age] += n

    def _advance(self, sec: int) -> None:
        shift = sec - self._rate_second
        if shift >= self.limits.rate_window:
            self._rate.extend([0] * self.limits.rate_window)
        else:
            self._rate.extend([0] * shift)
        self._rate_second = sec

    def advance_clock(self, now: float) -> None:
        """Live sources: let quiet seconds show as zeros instead of freezing the sparkline."""
        sec = int(now)
        if self._rate_second is not None and sec > self._rate_second:
            self._advance(sec)

    def rate_history(self) -> list[int]:
        """Records per second, oldest first, the last bucket being the current second."""
        return list(self._rate)

    def current_rate(self) -> int:
        """The last complete second (the current one is still filling)."""
        return self._rate[-2] if len(self._rate) > 1 else self._rate[-1]

    # ---------------------------------------------------------------- views for the panes
    def top_files(self, key: str = "bytes_written", n: int = 100) -> list[FileEntry]:
        if key not in SORT_KEYS:
            raise ValueError(f"unknown sort key {key!r}")
        self._ensure_totals()
        active = (fe for fe in self._files.values() if fe.ops)
        # Ties by path so the order does not depend on batch boundaries.
        return heapq.nlargest(n, active, key=lambda fe: (getattr(fe, key), fe.last_ts, fe.path))

    def file_touches(self, path: bytes) -> list[Cell]:
        """Who touched a file and when (one line per process and operation), newest first."""
        fe = self._files.get(path)
        if fe is None:
            return []
        cells = [c for c in fe.cells.values() if c.matched]
        cells.sort(key=lambda c: (c.last_ts, c.first_seq), reverse=True)
        return cells

    def active_processes(self) -> dict[int, ProcEntry]:
        self._ensure_totals()
        return {pid: p for pid, p in self._procs.items() if p.ops}

    def active_file_count(self) -> int:
        self._ensure_totals()
        return sum(1 for fe in self._files.values() if fe.ops)

    @property
    def files(self) -> "OrderedDict[bytes, FileEntry]":
        """Every tracked file (LRU order), totals up to date."""
        self._ensure_totals()
        return self._files

    @property
    def procs(self) -> "OrderedDict[int, ProcEntry]":
        """Every tracked process (LRU order), totals up to date."""
        self._ensure_totals()
        return self._procs

    def display_parent(self, pid: int, shown: dict[int, ProcEntry] | set[int]) -> int:
        """The nearest ancestor of ``pid`` that is shown, or 0 for a top-level node."""
        current = pid
        for _ in range(64):
            parent = self.parents.get(current)
            if parent is None or parent <= 0 or parent == current:
                return 0
            if parent in shown:
                return parent
            current = parent
        return 0

    def process(self, pid: int) -> Optional[ProcEntry]:
        self._ensure_totals()
        proc = self._procs.get(pid)
        if proc is not None and not proc.info_done:
            self._fill_info(proc)
        return proc

    # ---------------------------------------------------------------- health
    def set_source_stats(self, stats: SourceStats) -> None:
        self.source_stats = stats

    def losses(self) -> list[tuple[str, int]]:
        """Everything that was lost or cut, for the loss pane (label, count)."""
        stats = self.source_stats
        map_evictions = sum(m.evictions for m in stats.maps)
        rows = [
            ("ring-buffer drops", stats.ringbuf_drops),
            ("UI queue drops", self.ui_drops),
            ("truncated paths", stats.truncated_paths),
            ("kernel evictions", max(stats.evictions, map_evictions)),
            ("dashboard evictions", self.evicted_files + self.evicted_procs),
        ]
        if self.recording is not None:
            rows.append(("not kept for export", self.recording.lost))
        if self.replay_errors:
            rows.append(("bad recording lines", self.replay_errors))
        return rows

    # ---------------------------------------------------------------- export
    def export_jsonl(self, path: str, upto: Optional[int] = None) -> int:
        if self.recording is None:
            raise RuntimeError("this session keeps no recording")
        return self.recording.export_jsonl(path, upto=upto, stats=self.source_stats)

    def close(self) -> None:
        if self.recording is not None:
            self.recording.close()


# ---------------------------------------------------------------------- the export spool
_FRAME = struct.Struct("<I")
# Stop spooling (and count what is not kept) before the disk is full for everyone else.
MIN_FREE_BYTES = 256 * 1024 * 1024


def spool_directory() -> str:
    """Where the spool goes: $SNIFF_TUI_SPOOL_DIR, else /var/tmp (disk-backed on most systems,
    where /tmp is often RAM), else the system temp directory."""
    for candidate in (os.environ.get("SNIFF_TUI_SPOOL_DIR"), "/var/tmp"):
        if candidate and os.path.isdir(candidate) and os.access(candidate, os.W_OK):
            return candidate
    return tempfile.gettempdir()


class SessionRecording:
    """Every record the user asked to see, in arrival order, in an unlinked temporary file.

    Written by the UI thread (one frame per batch), read by an export thread with ``pread``
    up to a size taken when the export started, so both can run at once without a lock.
    """

    def __init__(self, directory: Optional[str] = None,
                 min_free_bytes: int = MIN_FREE_BYTES) -> None:
        directory = directory or spool_directory()
        fd, name = tempfile.mkstemp(prefix="sniff-tui-", suffix=".spool", dir=directory)
        os.unlink(name)          # anonymous: gone with the process, whatever way it exits
        self._fd: Optional[int] = fd
        self.directory = directory
        self.min_free_bytes = min_free_bytes
        self.size = 0
        self.kept = 0
        self.lost = 0            # records that could not be spooled (disk full, I/O error)
        self.error: Optional[str] = None
        self._frames_since_check = 0

    def append(self, records: list[Record]) -> None:
        if self._fd is None or not records:
            self.lost += len(records)
            return
        if self._frames_since_check <= 0:
            self._frames_since_check = 64
            try:
                if shutil.disk_usage(self.directory).free < self.min_free_bytes:
                    self.error = f"less than {self.min_free_bytes >> 20} MiB free in {self.directory}"
            except OSError as exc:
                self.error = str(exc)
        self._frames_since_check -= 1
        if self.error is not None:
            self.lost += len(records)
            return
        # A Record's __dict__ holds only marshal-able values (bytes, str, int, float, bool,
        # None): taking it costs nothing, where building tuples cost ~0.4 µs a record.
        rows = [r.__dict__ for r in records]
        payload = zlib.compress(marshal.dumps(rows), 1)
        frame = _FRAME.pack(len(payload)) + payload
        try:
            written = os.write(self._fd, frame)
            while written < len(frame):
                written += os.write(self._fd, frame[written:])
        except OSError as exc:
            self.error = exc.strerror or str(exc)
            self.lost += len(records)
            # A partial frame would corrupt every frame after it: cut back to the last good one.
            try:
                os.ftruncate(self._fd, self.size)
                os.lseek(self._fd, self.size, os.SEEK_SET)
            except OSError:
                self._fd = None
            return
        self.size += len(frame)
        self.kept += len(records)

    def iter_records(self, upto: Optional[int] = None) -> Iterator[Record]:
        fd = self._fd
        if fd is None:
            return
        end = self.size if upto is None else upto
        offset = 0
        while offset < end:
            (length,) = _FRAME.unpack(os.pread(fd, _FRAME.size, offset))
            payload = os.pread(fd, length, offset + _FRAME.size)
            offset += _FRAME.size + length
            for row in marshal.loads(zlib.decompress(payload)):
                yield Record(**row)

    def export_jsonl(self, path: str, upto: Optional[int] = None,
                     stats: Optional[SourceStats] = None) -> int:
        """Write the records (and a closing stats line) as a recording ``replay`` reads back."""
        n = 0
        with open(path, "w", encoding="utf-8", errors="surrogatepass") as out:
            for rec in self.iter_records(upto):
                out.write(rec.to_json())
                out.write("\n")
                n += 1
            if stats is not None:
                line = {**stats.to_dict(), "ts": time.time()}
                out.write(json.dumps(line, separators=(",", ":")) + "\n")
        return n

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


__all__ = ["Cell", "FileEntry", "Limits", "ProcEntry", "SessionRecording", "SessionState",
           "SORT_KEYS"]
