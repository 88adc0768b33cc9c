"""The session's entries: exact totals per (file, process, operation, name), and the per-file
and per-process sums of those under the current filters."""
from __future__ import annotations

import math
from typing import Optional

from sniff_tui.core.record import WRITTEN, Record


class Cell:
    """What one process did with one operation on one file (under one name, uid, file type and
    rename destination: an exec or a type change starts a new cell), summed exactly.

    It carries every attribute a filter reads from a record (op, pid, uid, comm, file_type,
    path, new_path), so a new filter is decided per cell without keeping the records. An
    *overflow* cell (``pid`` -1) sums what arrived once the cell bound was hit: it can be
    decided by operation and file type only (``SessionState`` marks the rows partial)."""
    __slots__ = ("path", "pid", "op", "uid", "comm", "file_type", "new_path", "count", "bytes",
                 "first_ts", "last_ts", "first_seq", "matched", "cgroup", "container", "unit")

    def __init__(self, rec: Record, path: bytes, seq: int, overflow: bool = False) -> None:
        self.path = path               # the FileEntry's bytes object, shared
        self.pid = -1 if overflow else rec.pid
        self.op = rec.op
        self.uid = -1 if overflow else rec.uid
        self.comm = b"" if overflow else rec.comm
        self.file_type = rec.file_type
        self.new_path = None if overflow else rec.new_path
        self.cgroup = None if overflow else rec.cgroup
        self.container = None if overflow else rec.container
        self.unit = None if overflow else rec.unit
        self.count = 0
        self.bytes = 0
        self.first_ts = rec.ts
        self.last_ts = rec.ts
        self.first_seq = seq           # arrival order: deterministic tie-breaks
        self.matched = False

    @property
    def overflow(self) -> bool:
        return self.pid == -1


class FileEntry:
    """One file: its cells (all activity) and its totals under the current filters."""
    __slots__ = ("path", "file_type", "cells", "bytes_written", "writes", "bytes_read", "reads",
                 "ops", "first_ts", "last_ts", "last_writer", "_writer_key", "partial")

    def __init__(self, path: bytes, file_type: str) -> None:
        self.path = path
        self.file_type = file_type
        self.cells: dict[tuple, Cell] = {}
        self.partial = False           # holds an overflow cell: per-process figures incomplete
        self.reset_totals()

    def reset_totals(self) -> None:
        self.bytes_written = 0
        self.writes = 0
        self.bytes_read = 0
        self.reads = 0
        self.ops: dict[str, int] = {}
        self.first_ts = math.inf         # none yet
        self.last_ts = 0.0
        self.last_writer: Optional[tuple[int, bytes]] = None   # (pid, comm)
        self._writer_key = (-1.0, -1)

    @property
    def active(self) -> bool:
        return bool(self.ops)


class ProcEntry:
    """One process: identity (from records and ``process_info``) and totals under the filters."""
    __slots__ = ("pid", "comm", "ppid", "uid", "cmdline", "user", "info_done", "read_bytes",
                 "write_bytes", "ops", "first_ts", "last_ts", "first_seq", "version", "exit_ts",
                 "partial", "cgroup", "container", "unit")

    def __init__(self, rec: Record, seq: int) -> None:
        self.pid = rec.pid
        self.comm = rec.comm
        self.ppid = rec.ppid
        self.uid = rec.uid
        self.cgroup, self.container, self.unit = rec.cgroup, rec.container, rec.unit
        self.cmdline: Optional[str] = None
        self.user: Optional[str] = None
        self.info_done = False
        self.first_seq = seq
        self.version = 0
        self.exit_ts: Optional[float] = None     # when the process was seen gone (live only)
        self.partial = False
        self.reset_totals()

    def reset_totals(self) -> None:
        self.read_bytes = 0
        self.write_bytes = 0
        self.ops: dict[str, int] = {}
        self.first_ts = math.inf         # none yet
        self.last_ts = 0.0

    @property
    def active(self) -> bool:
        return bool(self.ops)

    @property
    def op_count(self) -> int:
        return sum(self.ops.values())

    @property
    def name(self) -> bytes:
        return self.comm


def rebuild_totals(files: dict, procs: dict) -> None:
    """Sum the matching cells into the file and process totals, exactly as
    ``SessionState.apply`` accumulates them (the property tests compare both)."""
    for proc in procs.values():
        proc.reset_totals()
    for fe in files.values():
        fe.reset_totals()
        fops = fe.ops
        for cell in fe.cells.values():
            if not cell.matched:
                continue
            op, count, nbytes = cell.op, cell.count, cell.bytes
            first, last = cell.first_ts, cell.last_ts
            fops[op] = fops.get(op, 0) + count
            if first < fe.first_ts:
                fe.first_ts = first
            if last > fe.last_ts:
                fe.last_ts = last
            if op in WRITTEN:
                fe.writes += count
                fe.bytes_written += nbytes
                writer_key = (last, cell.first_seq)
                if writer_key >= fe._writer_key:
                    fe._writer_key = writer_key
                    fe.last_writer = (cell.pid, cell.comm)
            elif op == "read":
                fe.reads += count
                fe.bytes_read += nbytes
            proc = procs.get(cell.pid)
            if proc is None:
                continue
            pops = proc.ops
            pops[op] = pops.get(op, 0) + count
            if op in WRITTEN:
                proc.write_bytes += nbytes
            elif op == "read":
                proc.read_bytes += nbytes
            if first < proc.first_ts:
                proc.first_ts = first
            if last > proc.last_ts:
                proc.last_ts = last
