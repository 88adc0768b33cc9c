"""Turning the kernel's coalescing counters into records, exactly.

The kernel keeps, per (process, open file, op), totals that only grow, plus a serial (creation
time). The first read/write of a counter, and the first after a rename or watch change, arrives
as a named record (path walked in the kernel); later ones only add to the totals. We read the
totals every interval and emit what grew since the last read (a watermark per counter and
serial), so every byte is emitted once: at the next harvest, at close (the kernel sends the
final totals, then deletes the counter) or after the process exits (we delete the counter).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterable, Optional

from .record import Record

Key = tuple[int, int, str]          # (tgid, struct file address, op)


@dataclass
class Counter:
    serial: int
    template: Record                # the last named record: path, comm, fd, type...
    count: int = 0                  # emitted so far (watermark)
    bytes: int = 0


class Coalescer:
    def __init__(self) -> None:
        self.counters: dict[Key, Counter] = {}
        self.unnamed = 0            # totals whose name we never received (ring buffer drop)

    def named(self, key: Key, serial: int, rec: Record) -> None:
        """A named read/write: it is emitted as is; it also names the counter."""
        current = self.counters.get(key)
        if current is not None and current.serial == serial:
            current.template = rec
        else:
            self.counters[key] = Counter(serial, rec)

    def _delta(self, key: Key, serial: int, count: int, nbytes: int, ts: float, tid: Optional[int],
               final: bool) -> Optional[Record]:
        counter = self.counters.get(key)
        if counter is None or counter.serial != serial:
            if count:
                self.unnamed += 1
            return None
        dc, db = count - counter.count, nbytes - counter.bytes
        counter.count, counter.bytes = count, nbytes
        if final:
            del self.counters[key]
        if dc <= 0 and db <= 0:
            return None
        changes = {"ts": ts, "count": dc, "bytes": db}
        if tid is not None:
            changes["tid"] = tid
        return dataclasses.replace(counter.template, **changes)

    def flush(self, key: Key, serial: int, count: int, nbytes: int, ts: float) -> Optional[Record]:
        """The kernel's final totals of a counter (the file was closed)."""
        return self._delta(key, serial, count, nbytes, ts, None, final=True)

    def harvest(self, entries: Iterable[tuple[Key, int, int, int, float, int]],
                gone: set[int]) -> tuple[list[Record], list[Key]]:
        """entries: (key, serial, count, bytes, last_ts, tid) read from the kernel's map.
        Returns the records to emit and the keys to delete (processes that are gone)."""
        out, delete = [], []
        for key, serial, count, nbytes, ts, tid in entries:
            final = key[0] in gone
            rec = self._delta(key, serial, count, nbytes, ts, tid, final)
            if rec is not None:
                out.append(rec)
            if final:
                delete.append(key)
        return out, delete

    def forget_process(self, tgid: int) -> None:
        for key in [k for k in self.counters if k[0] == tgid]:
            del self.counters[key]
