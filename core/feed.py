"""The bounded hand-off between a source's worker thread and its consumer (the stream writer or
the dashboard).

It holds at most ``maxsize`` records (about a second of the consumer's rate). When it is full
the worker waits for room instead of dropping: it then stops draining the ring buffer, and the
kernel, which counts what it cannot queue (records and the syscalls they stood for), becomes
the one place where loss happens. A consumer that is going away closes the feed; from then on
pushes are dropped and counted in ``dropped``, so a worker is never stuck.
"""
from __future__ import annotations

import threading
from collections import deque
from typing import Generic, Optional, TypeVar

T = TypeVar("T")


class Feed(Generic[T]):
    def __init__(self, maxsize: int = 65_536) -> None:
        self.maxsize = maxsize
        self._items: deque[T] = deque()
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)
        self._ready = threading.Condition(self._lock)
        self.closed = False
        self.dropped = 0
        self.pushed = 0
        self.waits = 0             # times the worker waited for room (the consumer fell behind)

    def push(self, item: T) -> bool:
        """Non-blocking: False (and counted) when full or closed."""
        with self._lock:
            if self.closed or len(self._items) >= self.maxsize:
                self.dropped += 1
                return False
            self._items.append(item)
            self.pushed += 1
            self._ready.notify()
            return True

    def push_many(self, items: list[T], timeout: Optional[float] = None) -> int:
        """Push all of items, waiting for room as long as needed (or timeout seconds in all);
        what cannot be pushed (closed feed, timeout) is dropped and counted. Returns how many
        were pushed."""
        pushed = 0
        with self._lock:
            while pushed < len(items):
                if self.closed:
                    break
                room = self.maxsize - len(self._items)
                if room <= 0:
                    self.waits += 1
                    if not self._room.wait(timeout) and timeout is not None:
                        break
                    continue
                chunk = items[pushed:pushed + room]
                self._items.extend(chunk)
                pushed += len(chunk)
                self._ready.notify()
            self.pushed += pushed
            self.dropped += len(items) - pushed
        return pushed

    def drain(self, limit: int = 50_000) -> list[T]:
        with self._lock:
            n = min(limit, len(self._items))
            items = self._items
            out = [items.popleft() for _ in range(n)]
            if n:
                self._room.notify_all()
            return out

    def wait(self, timeout: float) -> bool:
        """Block until something is in the feed (or timeout); True if there is."""
        with self._lock:
            if not self._items:
                self._ready.wait(timeout)
            return bool(self._items)

    def close(self) -> None:
        """The consumer is gone: wake a waiting worker; later pushes are dropped (counted)."""
        with self._lock:
            self.closed = True
            self._room.notify_all()
            self._ready.notify_all()

    def __len__(self) -> int:
        return len(self._items)
