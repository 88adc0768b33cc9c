"""The session state: exact totals of everything the session has seen, and the views the panes
read, under the current filters.

The truth is one ``Cell`` per (file, process, operation, name, uid, file type, rename
destination): every attribute a filter looks at is in the key, so a filter change re-decides
each cell (memoized) and re-sums the per-file and per-process totals from the cells. Nothing
is rebuilt from a bounded history, so pressing ``w`` twice, or ``c``, gives back exactly the
figures it took away. The cells are bounded (``Limits``) only against pathological load; past
the bound, what cannot be itemised is still summed per (file, operation, file type), the rows
are marked partial and the Losses pane counts it. The Events pane is a history, not a total.
"""
from __future__ import annotations

from collections import deque
from operator import attrgetter
from typing import Callable, Optional

from sniff_tui.core.filters import Filters
from sniff_tui.core.record import WRITTEN, Record
from sniff_tui.core.source import SourceStats
from sniff_tui.session.entries import Cell, FileEntry, ProcEntry, rebuild_totals
from sniff_tui.session.lineage import Lineage, ProcessInfo, fill_info
from sniff_tui.session.limits import FILE_SORT_KEYS, Limits
from sniff_tui.session.losses import loss_rows
from sniff_tui.session.matching import make_matcher, only_ops_and_types
from sniff_tui.session.rate import RateHistory
from sniff_tui.session.spool import SessionRecording, process_lines
from sniff_tui.session.versions import ContentHistory


class SessionState:
    def __init__(self, watches: list[bytes], filters: Filters = Filters(),
                 process_info: Optional[ProcessInfo] = None,
                 recording: Optional[SessionRecording] = None,
                 limits: Limits = Limits()) -> None:
        self.limits = limits
        self.watches = list(watches)
        self.filters = filters
        self.recording = recording
        self.content: Optional[ContentHistory] = None      # --content
        self.lineage = Lineage(process_info, limits.parents)
        self.rate = RateHistory(limits.rate_window)
        self.source_stats = SourceStats()
        self.ui_drops = 0
        self.replay_errors = 0
        self.paused = False
        self.new_since_pause = 0
        self._frozen: list[Record] = []
        self.filter_gen = 0                 # bumped whenever cells are re-decided
        self.version = 0                    # bumped on every batch that matched something
        self.received = 0                   # syscalls (sum of counts) applied, every view
        self.records_received = 0           # records applied
        self._seq = 0
        self.reset_view()

    def reset_view(self) -> None:
        """Forget every total and row (a fresh view, e.g. of a newly watched directory); the
        counters of what was received and the export spool carry on."""
        self._files: dict[bytes, FileEntry] = {}
        self._procs: dict[int, ProcEntry] = {}
        self._cell_count = 0
        self._info_queue: deque[int] = deque(maxlen=self.limits.processes)
        self._totals_dirty = False
        self._sorted: dict[str, tuple[tuple, list[FileEntry]]] = {}
        self.recent_all: deque[Record] = deque(maxlen=self.limits.recent)
        self.recent: deque[Record] = deque(maxlen=self.limits.recent)
        self.recent_shift = 0               # rows fallen off the front of `recent` so far
        self._frozen = []
        self.matched_total = 0
        self.first_ts: Optional[float] = None
        self.last_ts: Optional[float] = None
        self.truncated_seen = 0             # records whose path could not be completed
        self.unitemised = 0                 # syscalls summed into overflow cells
        self.files_not_held = 0             # syscalls on files past the file bound
        self.procs_not_held = 0             # syscalls of processes past the process bound
        self.version += 1
        self.filter_gen += 1

    # ---------------------------------------------------------------- applying records
    def apply(self, records: list[Record]) -> int:
        """Fold a batch in; returns how many records matched the filters.

        This loop runs for every record at up to 50k/s on the UI thread: look-ups in locals,
        the accumulation inlined. ``_rebuild_totals`` sums the same way from the cells; the
        property tests in tests/unit/test_session.py check both give the figures of a fresh
        session fed only the matching records."""
        if not records:
            return 0
        files, procs = self._files, self._procs
        totals = not self._totals_dirty         # dirty: the rebuild will sum the cells anyway
        matches = self._matcher()
        matched: list[Record] = []
        keep = matched.append
        seq = self._seq
        version = self.version + 1
        per_second: dict[int, int] = {}
        last_sec, run, syscalls = None, 0, 0
        for rec in records:
            seq += 1
            ts = rec.ts
            count = rec.count
            syscalls += count
            sec = int(ts)
            if sec != last_sec:                 # records come in time order: count runs
                if run:
                    per_second[last_sec] = per_second.get(last_sec, 0) + run
                last_sec, run = sec, 0
            run += count
            if rec.truncated:
                self.truncated_seen += 1
            pid = rec.pid
            proc = procs.get(pid)
            if proc is None:
                proc = self._new_proc(rec, seq)
            else:
                if proc.comm != rec.comm:
                    proc.comm = rec.comm                # exec changed the name
                if rec.ppid and rec.ppid != proc.ppid:
                    proc.ppid = rec.ppid                # reparented to a subreaper
                    self.lineage.link(pid, rec.ppid)
                if rec.cgroup != proc.cgroup:           # moved to another cgroup
                    proc.cgroup, proc.container, proc.unit = rec.cgroup, rec.container, rec.unit
            path = rec.path
            fe = files.get(path)
            if fe is None:
                fe = self._new_file(rec)
                if fe is None:
                    self.files_not_held += count
                    if proc is not None:
                        proc.partial = True
                    continue
            op = rec.op
            key = (pid, op, rec.comm, rec.uid, rec.file_type, rec.new_path, rec.cgroup)
            cell = fe.cells.get(key)
            if cell is None:
                cell = self._new_cell(fe, rec, key, seq, matches)
            nbytes = rec.bytes or 0
            cell.count += count
            cell.bytes += nbytes
            if ts > cell.last_ts:
                cell.last_ts = ts
            elif ts < cell.first_ts:
                cell.first_ts = ts
            if not cell.matched:
                continue
            keep(rec)
            if not totals:
                continue
            fops = fe.ops
            fops[op] = fops.get(op, 0) + count
            if ts < fe.first_ts:
                fe.first_ts = ts
            if ts > fe.last_ts:
                fe.last_ts = ts
            if op in WRITTEN:
                fe.writes += count
                fe.bytes_written += nbytes
                writer_key = (cell.last_ts, cell.first_seq)
                if writer_key >= fe._writer_key:
                    fe._writer_key = writer_key
                    fe.last_writer = (pid, cell.comm)
            elif op == "read":
                fe.reads += count
                fe.bytes_read += nbytes
            if proc is None or cell.pid == -1:
                continue                        # counted in the file, not itemised by process
            pops = proc.ops
            pops[op] = pops.get(op, 0) + count
            if op in WRITTEN:
                proc.write_bytes += nbytes
            elif op == "read":
                proc.read_bytes += nbytes
            if ts < proc.first_ts:
                proc.first_ts = ts
            if ts > proc.last_ts:
                proc.last_ts = ts
            proc.version = version
        if run:
            per_second[last_sec] = per_second.get(last_sec, 0) + run
        self._seq = seq
        self.records_received += len(records)
        self.received += syscalls
        if self.first_ts is None:
            self.first_ts = records[0].ts
        self.last_ts = records[-1].ts
        self.recent_all.extend(records)
        self.rate.add(per_second)
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
        if self.lineage.regrade:
            self.lineage.regrade = False
            if self.filters.tree is not None:
                # Rare (a child's records before any of its parent's) and O(cells).
                self._redecide()
        return len(matched)

    def _new_proc(self, rec: Record, seq: int) -> Optional[ProcEntry]:
        if len(self._procs) >= self.limits.processes:
            self.procs_not_held += rec.count
            return None
        proc = ProcEntry(rec, seq)
        self._procs[rec.pid] = proc
        if rec.ppid:
            self.lineage.link(rec.pid, rec.ppid)
        self._info_queue.append(rec.pid)
        return proc

    def _new_file(self, rec: Record) -> Optional[FileEntry]:
        if len(self._files) >= self.limits.files:
            return None
        fe = FileEntry(rec.path, rec.file_type)
        self._files[rec.path] = fe
        return fe

    def _new_cell(self, fe: FileEntry, rec: Record, key: tuple, seq: int, matches) -> Cell:
        if self._cell_count >= self.limits.cells:
            # The bound: sum into the file's overflow cell for this operation and type.
            key = (-1, rec.op, b"", -1, rec.file_type, None)
            cell = fe.cells.get(key)
            if cell is None:
                cell = fe.cells[key] = Cell(rec, fe.path, seq, overflow=True)
                cell.matched = self._overflow_matches(cell)
                fe.partial = True
            proc = self._procs.get(rec.pid)
            if proc is not None:
                proc.partial = True
            self.unitemised += rec.count
            return cell
        cell = fe.cells[key] = Cell(rec, fe.path, seq)
        cell.matched = matches(cell)
        self._cell_count += 1
        return cell

    def _overflow_matches(self, cell: Cell) -> bool:
        filters = self.filters
        return only_ops_and_types(filters) and cell.op in filters.ops and (
            filters.all_types or cell.file_type in ("file", "dir")) and (
            not filters.by_path or filters.rules.keeps(cell))     # an overflow cell has its path

    def _resolve_process_info(self) -> None:
        """cmdline and user of new processes, a bounded number per batch: short-lived
        processes are gone from /proc within milliseconds, so early beats on selection."""
        if self.lineage.process_info is None:
            self._info_queue.clear()
            return
        for _ in range(min(len(self._info_queue), self.limits.info_lookups_per_batch)):
            proc = self._procs.get(self._info_queue.popleft())
            if proc is not None and not proc.info_done:
                self._fill_info(proc)

    def _fill_info(self, proc: ProcEntry) -> None:
        if fill_info(proc, self.lineage):
            proc.version = self.version + 1

    # ---------------------------------------------------------------- filtering
    def _matcher(self) -> Callable[[Cell], bool]:
        lineage = self.lineage
        return make_matcher(self.filters, lineage.is_descendant if self.filters.tree is not None else None)

    def is_descendant(self, pid: int, root: int) -> bool:
        return self.lineage.is_descendant(pid, root)

    def set_filters(self, filters: Filters) -> None:
        """Re-decide every cell under ``filters``; the totals follow on first use."""
        self.filters = filters
        self._redecide()

    def _redecide(self) -> None:
        self.filter_gen += 1
        matches = self._matcher()
        for fe in self._files.values():
            for cell in fe.cells.values():
                cell.matched = self._overflow_matches(cell) if cell.pid == -1 else matches(cell)
        self._totals_dirty = True
        self.version += 1
        self._refilter_recent()

    def _ensure_totals(self) -> None:
        if self._totals_dirty:
            self._totals_dirty = False
            self._rebuild_totals()

    def _rebuild_totals(self) -> None:
        """Sum the matching cells into the file and process totals: O(cells)."""
        rebuild_totals(self._files, self._procs)
        self.version += 1
        for proc in self._procs.values():
            proc.version = self.version

    def _refilter_recent(self) -> None:
        # The union of both rings, in arrival order: `recent` may hold older matching records
        # than `recent_all` still has, `recent_all` holds those the old filter hid.
        matches = make_matcher(self.filters, self.lineage.is_descendant
                               if self.filters.tree is not None else None)
        in_all = {id(r) for r in self.recent_all}
        rows = [r for r in self.recent if id(r) not in in_all] + list(self.recent_all)
        keep = [r for r in rows if matches(r)]
        self.recent = deque(keep[-self.limits.recent:], maxlen=self.limits.recent)
        self.recent_shift = 0
        if self.paused:
            self._frozen = list(self.recent)

    # ---------------------------------------------------------------- watches, pause
    def set_watches(self, watches: list[bytes], fresh: bool = False) -> None:
        """``fresh``: a different directory, not one more: start an empty view."""
        self.watches = list(watches)
        if fresh:
            self.reset_view()

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
        """The rows of the Events pane: frozen while paused, counting goes on meanwhile."""
        return self._frozen if self.paused else list(self.recent)

    # ---------------------------------------------------------------- views for the panes
    def sorted_files(self, key: str = "bytes_written") -> list[FileEntry]:
        """Every active file, ranked by ``key`` (descending; the path ascending). Cached until
        the next change, so a pane can scroll over thousands of rows for free."""
        if key not in dict(FILE_SORT_KEYS):
            raise ValueError(f"unknown sort key {key!r}")
        self._ensure_totals()
        stamp = (self.version, self.filter_gen)
        cached = self._sorted.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        active = [fe for fe in self._files.values() if fe.ops]
        # Two C-keyed sorts (attrgetter): ~10 ms for 20,000 files where a Python key tuple
        # took 20 times longer. A reversed sort stays stable, so ties keep the path order and
        # the ranking does not depend on batch boundaries.
        active.sort(key=attrgetter("path"))
        if key != "path":
            active.sort(key=attrgetter(key), reverse=True)
        self._sorted[key] = (stamp, active)
        return active

    def file(self, path: bytes) -> Optional[FileEntry]:
        self._ensure_totals()
        return self._files.get(path)

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

    @property
    def files(self) -> dict[bytes, FileEntry]:
        self._ensure_totals()
        return self._files

    @property
    def procs(self) -> dict[int, ProcEntry]:
        self._ensure_totals()
        return self._procs

    @property
    def parents(self) -> dict[int, int]:
        return self.lineage.parents

    def display_parent(self, pid: int, shown) -> int:
        return self.lineage.display_parent(pid, shown)

    def process(self, pid: int) -> Optional[ProcEntry]:
        self._ensure_totals()
        proc = self._procs.get(pid)
        if proc is not None and not proc.info_done:
            self._fill_info(proc)
        return proc

    def running_pids(self) -> list[int]:
        return [pid for pid, p in self._procs.items() if p.exit_ts is None]

    def mark_exited(self, pid: int, when: float) -> None:
        proc = self._procs.get(pid)
        if proc is not None and proc.exit_ts is None:
            proc.exit_ts = when
            proc.version = self.version = self.version + 1

    # ---------------------------------------------------------------- health
    def set_source_stats(self, stats: SourceStats) -> None:
        self.source_stats = stats

    def set_ui_drops(self, dropped: int) -> None:
        self.ui_drops = dropped

    def set_replay_errors(self, count: int) -> None:
        self.replay_errors = count

    def rate_history(self) -> list[int]:
        return self.rate.history()

    def current_rate(self) -> int:
        return self.rate.current()

    def advance_clock(self, now: float) -> None:
        self.rate.advance_clock(now)

    def losses(self) -> list[tuple[str, int]]:
        """Everything that was lost or cut, for the Losses pane (label, count)."""
        return loss_rows(self)

    # ---------------------------------------------------------------- content and export
    def keep_content(self) -> ContentHistory:     # --content: versions kept from the first call on
        if self.content is None:
            self.content = ContentHistory()
        return self.content

    def record_content(self, captured: list) -> None:
        if self.recording is not None and not self.paused:
            self.recording.append_content(captured)     # exported with the rest
    def export_jsonl(self, path: str, upto: Optional[int] = None) -> int:
        if self.recording is None:
            raise RuntimeError("this session keeps no recording")
        return self.recording.export_jsonl(path, upto=upto, stats=self.source_stats,
                                           processes=process_lines(self._procs.values()))

    def close(self) -> None:
        if self.recording is not None:
            self.recording.close()
