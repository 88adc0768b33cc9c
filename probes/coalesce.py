"""Turning the kernel's coalescing counters into records, exactly.

The kernel keeps, per (process, op, file identity) — or, for a path that names no open file
(a failed open, a truncate by path), per (process, op, string, result) — totals that only grow,
plus a serial (creation time). A counter's first syscall arrives as a named record (the kernel
walked the path); later ones only add to the totals. We read the totals every interval, at
process exit and at stop, and emit what grew since the last read (a watermark per counter), so
every syscall is emitted once. When a counter's path changes (its file or a directory above it
was renamed), the kernel sends the totals before the change with the new name: what grew
before it is emitted under the old name, the rest under the new one.

Counters are known here by the kernel's key bytes, so that any of them can be read or deleted
one by one (at a process's exit) without scanning the map.
"""
from __future__ import annotations

import dataclasses
import operator
from dataclasses import dataclass
from typing import Iterable, Optional

from sniff_tui.core.record import Record

# Every field of a Record, in __init__'s order, read at C speed: a grown counter's record is
# its template copied, once per counter per harvest.
_fields_of = operator.attrgetter(*(f.name for f in dataclasses.fields(Record)))


@dataclass(slots=True)
class Counter:
    serial: int
    template: Optional[Record]      # the last named record: path, comm, fd...; None: out of scope
    count: int = 0                  # emitted so far (watermark)
    bytes: int = 0
    idle: int = 0                   # harvests in a row that found it unchanged
    raw: bytes = b""                # its value's bytes as the last harvest read them


class Coalescer:
    def __init__(self) -> None:
        self.counters: dict[bytes, Counter] = {}
        self.by_tgid: dict[int, set[bytes]] = {}
        self.unnamed = 0            # counters whose name we never received (counted, not emitted)

    def named(self, key: bytes, tgid: int, serial: int, rec: Optional[Record]) -> None:
        """A counter's first syscall (emitted as is by the caller); it also names the counter."""
        self.counters[key] = Counter(serial, rec)
        self.by_tgid.setdefault(tgid, set()).add(key)

    def renamed(self, key: bytes, serial: int, rec: Optional[Record], count: int, nbytes: int,
                ts: float) -> Optional[Record]:
        """The counter's path changed; count/nbytes are its totals before the change. Returns
        what grew before it, under the old name."""
        counter = self.counters.get(key)
        if counter is None or counter.serial != serial:
            return None
        out = self._delta(counter, count, nbytes, ts, None)
        counter.template, counter.raw = rec, b""      # read in full at the next harvest
        return out

    @staticmethod
    def _delta(counter: Counter, count: int, nbytes: int, ts: float, tid: Optional[int]) -> Optional[Record]:
        dc, db = count - counter.count, nbytes - counter.bytes
        if dc <= 0 and db <= 0:
            counter.idle += 1
            return None
        counter.count, counter.bytes, counter.idle = count, nbytes, 0
        template = counter.template
        if template is None:
            return None
        rec = Record(*_fields_of(template))      # a copy: twice as fast as dataclasses.replace
        rec.ts, rec.count = ts, dc
        if template.bytes is not None:
            rec.bytes = db
        if tid is not None:
            rec.tid = tid
        return rec

    def update(self, key: bytes, serial: int, count: int, nbytes: int, ts: float,
               tid: Optional[int]) -> Optional[Record]:
        """Totals read from the kernel: the record of what grew since the last read, if any."""
        counter = self.counters.get(key)
        if counter is None or counter.serial != serial:
            if count:
                self.unnamed += 1
            return None
        return self._delta(counter, count, nbytes, ts, tid)

    def keys_of(self, tgid: int) -> set[bytes]:
        return self.by_tgid.get(tgid, set())

    def forget(self, key: bytes, tgid: int) -> None:
        self.counters.pop(key, None)
        keys = self.by_tgid.get(tgid)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self.by_tgid[tgid]

    def forget_process(self, tgid: int) -> None:
        for key in self.by_tgid.pop(tgid, ()):
            self.counters.pop(key, None)

    def evictable(self, min_idle: int) -> Iterable[tuple[bytes, Counter]]:
        """Counters not worth keeping in the kernel: out of scope, or unchanged for min_idle
        harvests (a new syscall just creates and names them again)."""
        return [(k, c) for k, c in self.counters.items() if c.template is None or c.idle >= min_idle]
