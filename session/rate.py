"""Records per second over the last minute, for the header's sparkline."""
from __future__ import annotations

from collections import deque
from typing import Optional


class RateHistory:
    def __init__(self, window: int = 60) -> None:
        self.window = window
        self._rate: deque[int] = deque([0] * window, maxlen=window)
        self._second: Optional[int] = None     # the second the last bucket stands for

    def add(self, per_second: dict[int, int]) -> None:
        for sec in sorted(per_second):
            self._add(sec, per_second[sec])

    def _add(self, sec: int, n: int) -> None:
        if self._second is None:
            self._second = sec
        if sec > self._second:
            self._advance(sec)
        age = self._second - sec
        if age < self.window:
            self._rate[self.window - 1 - age] += n

    def _advance(self, sec: int) -> None:
        shift = sec - self._second
        self._rate.extend([0] * min(shift, self.window))
        self._second = sec

    def advance_clock(self, now: float) -> None:
        """Live sources: quiet seconds show as zeros instead of freezing the sparkline."""
        sec = int(now)
        if self._second is not None and sec > self._second:
            self._advance(sec)

    def history(self) -> list[int]:
        """Records per second, oldest first, the last bucket being the current second."""
        return list(self._rate)

    def current(self) -> int:
        """The last complete second (the current one is still filling)."""
        return self._rate[-2] if len(self._rate) > 1 else self._rate[-1]
