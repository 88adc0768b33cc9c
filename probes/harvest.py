"""The coalescing counters' harvest: what the kernel's counters (the agg map) gained since they
were last read, delivered as records every interval, at each process's exit and at the stop;
and the counters nobody needs any more deleted, so that the map and its reading stay small.

The read runs on the ring buffer's thread: while it runs, nothing drains the ring buffer. So it
reads the map as raw bytes in a few batch syscalls, and skips a counter whose bytes are the
ones it read last time without decoding them (most of a big map is idle). Counters idle for
IDLE_SECONDS are taken out of the map (one step, see mapops: no increment is lost); a new
syscall creates and names them again. Without that, the counters of every file a long session
ever touched (deleted files too) stayed in the map until it was half full, and the harvest
read tens of thousands of them every second.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

from .bpfsys import BPFError
from .coalesce import Coalescer
from .layout import layout
from .mapops import Guard, Taker
from sniff_tui.core.record import Record

IDLE_SECONDS = 10.0
_KEY_TGID = layout("sniff_agg_key").offset("tgid")
_VALUE = layout("sniff_agg").reader(("count", "bytes", "last_ts", "serial", "tid"))


def k_tgid(key: bytes) -> int:
    """The tgid in a struct sniff_agg_key's bytes."""
    return int.from_bytes(key[_KEY_TGID:_KEY_TGID + 4], "little")


class CounterHarvest:
    def __init__(self, table, coalescer: Coalescer, wall: Callable[[int], float],
                 deliver: Callable[[Record], None], interval: float = 1.0,
                 guard: Optional[Guard] = None) -> None:
        self.table = table
        self.taker = Taker(table, guard)
        self.coalescer = coalescer
        self.wall = wall
        self.deliver = deliver
        self.idle_harvests = max(2, math.ceil(IDLE_SECONDS / max(interval, 1e-3)))
        self.gone: set[int] = set()      # exited processes whose counters may still be in the map
        self.entries_seen = 0            # the map's size at the last harvest
        self._batch = True
        self._drops: dict[bytes, None] = {}   # counters to delete in the next batch (in order)

    def _chunks(self) -> list[tuple[int, bytes, bytes]]:
        """The whole map as (n, keys, values) raw chunks."""
        table = self.table
        if self._batch:
            try:
                return list(table.lookup_batch_raw())
            except BPFError:     # kernels without batch map operations (before 5.6)
                self._batch = False
        items = table.items()
        return [(len(items), b"".join(bytes(k) for k, _ in items), b"".join(bytes(v) for _, v in items))]

    def harvest(self, final: bool = False) -> None:
        """Deliver what the counters gained since the last harvest; drop the counters of
        processes that are gone (all of them when final), idle ones, and out-of-scope ones."""
        counters = self.coalescer.counters
        gone = self.gone
        present: set[int] = set()
        takes: list[tuple[bytes, int]] = []       # of exited processes: nothing adds to them
        idle: list[tuple[bytes, int]] = []        # of live processes: taken under the guard
        drops = self._drops          # out of scope, or never named: nobody needs their counts
        ks, vs = self.table.key_size, self.table.value_size
        gone_tgids = {t.to_bytes(4, "little") for t in gone}      # compared as the key's bytes
        seen = 0
        for n, keys, vals in self._chunks():
            seen += n
            for i in range(n):
                key = keys[i * ks:(i + 1) * ks]
                val = vals[i * vs:(i + 1) * vs]
                c = counters.get(key)
                if c is None and key in drops:
                    continue             # out of scope, of an exited process: on its way out
                if c is not None and c.raw == val:
                    c.idle += 1          # unchanged since the last read: nothing to decode
                else:
                    self._emit(key, val, c)
                if final or gone_tgids and key[_KEY_TGID:_KEY_TGID + 4] in gone_tgids:
                    tgid = k_tgid(key)
                    present.add(tgid)
                    if c is not None and c.template is not None:
                        takes.append((key, tgid))
                    else:
                        drops[key] = None
                        self.coalescer.forget(key, tgid)
        self.entries_seen = seen
        if not final:
            full = seen > self.table.max_entries // 2
            for k, c in self.coalescer.evictable(2 if full else self.idle_harvests):
                if c.template is None:
                    drops[k] = None
                    self.coalescer.forget(k, k_tgid(k))
                else:
                    idle.append((k, k_tgid(k)))
        self._drop()
        self._take(takes, guarded=False)
        self._take(idle, guarded=True)
        for tgid in list(gone):
            if tgid not in present or final:
                gone.discard(tgid)
                self.coalescer.forget_process(tgid)

    def process_exited(self, tgid: int) -> None:
        """A process exited: its counters are final. Emit and drop them now, so that its last
        records come before anything that happens after its exit. Its out-of-scope ones (a
        short-lived process's failed opens: its loader's and shell's searches) wait for the
        next harvest's batch delete."""
        coalescer = self.coalescer
        counters = coalescer.counters
        takes = []
        for key in list(coalescer.keys_of(tgid)):
            c = counters.get(key)
            if c is None:
                continue
            if c.template is None:
                self._drops[key] = None
                coalescer.forget(key, tgid)
            else:
                takes.append((key, tgid))
        self._take(takes, guarded=False)
        if len(self._drops) >= 4096:
            self._drop()
        # Counters it may still have that were never named (a lost record) go at the next harvest.
        self.gone.add(tgid)

    def _drop(self) -> None:
        drops, self._drops = self._drops, {}
        counters = self.coalescer.counters
        # Not one named again since (a pid that came back, with the same failed open).
        self.taker.drop([k for k in drops if k not in counters])

    def _emit(self, key: bytes, val: bytes, counter) -> None:
        """Deliver what a counter (its value's raw bytes) gained since it was last read."""
        count, nbytes, last_ts, serial, tid = _VALUE.unpack_from(val)
        rec = self.coalescer.update(key, serial, count, nbytes, self.wall(last_ts), tid)
        if counter is not None:
            counter.raw = val
        if rec is not None:
            self.deliver(rec)

    def _take(self, takes: list[tuple[bytes, int]], guarded: bool) -> None:
        """Delete counters, delivering what each gained since it was read: taken in one step
        (see mapops), no increment is lost in between; guarded unless nothing can add to them."""
        values = self.taker.take_many([key for key, _ in takes], guarded)
        for (key, tgid), v in zip(takes, values):
            if v is not None:
                self._emit(key, bytes(v), None)
            self.coalescer.forget(key, tgid)
