"""The bounded hand-off between the probe worker thread and the UI.

The worker must never block (a blocked worker stops draining the ring buffer and the kernel
starts dropping), so a full feed drops the newest record and counts it; the dashboard shows
the count in its loss pane.
"""
from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class Feed(Generic[T]):
    def __init__(self, maxsize: int = 200_000) -> None:
        self.maxsize = maxsize
        self._items: deque[T] = deque()
        self._lock = threading.Lock()
        self.dropped = 0
        self.pushed = 0

    def push(self, item: T) -> bool:
        with self._lock:
            if len(self._items) >= self.maxsize:
                self.dropped += 1
                return False
            self._items.append(item)
            self.pushed += 1
            return True

    def push_many(self, items: list[T]) -> None:
        with self._lock:
            room = self.maxsize - len(self._items)
            if room < len(items):
                self.dropped += len(items) - max(room, 0)
                items = items[:max(room, 0)]
            self._items.extend(items)
            self.pushed += len(items)

    def drain(self, limit: int = 50_000) -> list[T]:
        with self._lock:
            n = min(limit, len(self._items))
            return [self._items.popleft() for _ in range(n)]

    def __len__(self) -> int:
        return len(self._items)
