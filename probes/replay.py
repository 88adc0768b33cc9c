"""A Source that plays a JSONL recording back, for the dashboard without root or a kernel.

Besides Record lines (``Record.to_dict``), a recording may carry two kinds of side lines,
told apart by their ``op``:

- ``{"op": "stats", ...}``: a ``SourceStats`` snapshot (``records``, ``ringbuf_drops``,
  ``truncated_paths``, ``evictions``, ``maps``: [{name, entries, max_entries, evictions}]);
  the latest one read so far is what ``stats()`` reports.
- ``{"op": "process", "pid": N, "ppid", "comm", "cmdline", "user"}``: what ``process_info``
  answers for that pid (a live recorder knows command lines; a replay cannot ask /proc).

A bad line is skipped and kept in ``errors`` as (line number, reason); the replay goes on.
"""
from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
from typing import Any, Callable, Optional

from probes.filters import Filters
from probes.record import ContentRecord, Record, decode_name
from probes.record import SourceStats

MAX_ERRORS_KEPT = 1_000       # `errors` is bounded; `error_count` keeps counting
MAX_PROCESSES = 65_536        # process lines remembered (the oldest are forgotten)
BATCH = 2_048                 # records per Feed.push_many
WATCH_SNIFF_LINES = 2_000     # lines read to guess the watched directory


class ReplaySource:
    has_content = False      # a content line was read (--content recordings)
    live = False

    def __init__(self, path: str, speed: float = 0.0, watches: Optional[list[bytes]] = None,
                 *, max_gap: Optional[float] = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``speed``: 0 plays as fast as the dashboard takes it (no record is dropped: the
        replay waits when the feed is nearly full), 1 is real time from the ts deltas, 2 twice
        as fast... ``max_gap`` caps one wait (seconds of recording) so a recording with an
        idle hour does not stall. Raises OSError when the file cannot be read."""
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self.path = path
        self.speed = speed
        self.max_gap = max_gap
        self._clock = clock
        with open(path, "rb"):
            pass                          # fail here, before the UI starts, not in the worker
        self.watches: list[bytes] = list(watches) if watches else guess_watches(path)
        self.filters = Filters()
        self.errors: list[tuple[int, str]] = []
        self.error_count = 0
        self.finished = threading.Event()
        self._delivered = 0
        self._truncated = 0
        self._stats = SourceStats()
        self._processes: dict[int, dict] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ Source protocol
    def run(self, feed, stop: threading.Event) -> None:
        try:
            self._play(feed, stop)
        finally:
            self.finished.set()

    def stats(self) -> SourceStats:
        with self._lock:
            return dataclasses.replace(self._stats, records=self._delivered,
                                       truncated_paths=max(self._stats.truncated_paths, self._truncated),
                                       maps=list(self._stats.maps))

    def warnings(self) -> tuple[int, list[tuple[int, str]]]:
        return self.error_count, list(self.errors)

    def detach(self) -> None:
        # A recording takes nothing from the kernel: the stop event alone ends the replay.
        pass

    def set_filters(self, filters: Filters) -> None:
        # Nothing to push down: the dashboard filters replayed records in userspace, and
        # delivering everything lets it widen a filter again over what was already read.
        self.filters = filters

    def set_watches(self, watches: list[bytes]) -> None:
        # A recording cannot be re-captured elsewhere; the new list only changes how paths
        # are shown relative to it.
        self.watches = list(watches)

    def process_info(self, pid: int) -> dict:
        return dict(self._processes.get(pid, {}))

    # ------------------------------------------------------------------ reading
    def _play(self, feed, stop: threading.Event) -> None:
        pending: list[Record] = []
        start_clock: Optional[float] = None
        start_ts: Optional[float] = None
        with open(self.path, "rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                if stop.is_set():
                    break
                rec = self._decode(lineno, raw)
                if rec is None:
                    continue
                if self.speed > 0:
                    if start_ts is None:
                        start_ts, start_clock = rec.ts, self._clock()
                    gap = (rec.ts - start_ts) / self.speed
                    due = start_clock + gap
                    wait = due - self._clock()
                    if wait > 0.02:            # batch what is due within 20 ms
                        self._flush(feed, pending, stop)
                        if self.max_gap is not None and wait > self.max_gap:
                            # Move the origin so the rest of the recording keeps its pace.
                            start_clock -= wait - self.max_gap
                            wait = self.max_gap
                        if stop.wait(wait):
                            break
                pending.append(rec)
                if len(pending) >= BATCH:
                    self._flush(feed, pending, stop)
            self._flush(feed, pending, stop)

    def _decode(self, lineno: int, raw: bytes) -> Optional[Record]:
        if not raw.strip():
            return None
        try:
            obj = json.loads(raw.decode("utf-8"))
            if isinstance(obj, dict) and obj.get("op") == "stats":
                self._take_stats(obj)
                return None
            if isinstance(obj, dict) and obj.get("op") == "process":
                self._take_process(obj)
                return None
            if isinstance(obj, dict) and obj.get("op") == "content":
                self.has_content = True      # the dashboard then keeps versions
                return ContentRecord.from_dict(obj)
            rec = Record.from_dict(obj)
        except UnicodeDecodeError as exc:
            self._error(lineno, f"not UTF-8 at byte {exc.start}")
            return None
        except json.JSONDecodeError as exc:
            self._error(lineno, f"not JSON: {exc.msg} at column {exc.colno}")
            return None
        except KeyError as exc:
            self._error(lineno, f"missing field {exc}")
            return None
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:
            self._error(lineno, str(exc) or type(exc).__name__)
            return None
        if rec.truncated:
            self._truncated += 1
        return rec

    def _error(self, lineno: int, reason: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append((lineno, reason))

    def _take_stats(self, obj: dict[str, Any]) -> None:
        stats = SourceStats.from_dict(obj)
        with self._lock:
            self._stats = stats

    def _take_process(self, obj: dict[str, Any]) -> None:
        pid = int(obj["pid"])
        info: dict[str, Any] = {}
        if obj.get("ppid") is not None:
            info["ppid"] = int(obj["ppid"])
        comm = decode_name(obj, "comm")
        if comm is not None:
            info["comm"] = comm
        for key in ("cmdline", "user"):
            if obj.get(key) is not None:
                info[key] = obj[key] if isinstance(obj[key], (str, list)) else str(obj[key])
        if pid not in self._processes and len(self._processes) >= MAX_PROCESSES:
            del self._processes[next(iter(self._processes))]
        self._processes[pid] = info

    def _flush(self, feed, pending: list[Record], stop: threading.Event) -> None:
        """Hand ``pending`` over without ever overflowing the feed: a recording has no reason
        to lose records, so the replay waits for the dashboard instead."""
        while pending and not stop.is_set():
            room = feed.maxsize - len(feed)
            if room <= 0:
                stop.wait(0.01)
                continue
            chunk = pending[:room]
            feed.push_many(chunk)
            self._delivered += len(chunk)
            del pending[:room]


def guess_watches(path: str) -> list[bytes]:
    """The deepest directory holding the paths of the first records, or [] when unknown."""
    dirs: list[bytes] = []
    try:
        with open(path, "rb") as fh:
            for i, raw in enumerate(fh):
                if i >= WATCH_SNIFF_LINES:
                    break
                try:
                    obj = json.loads(raw)
                    if not isinstance(obj, dict) or obj.get("op") in ("stats", "process"):
                        continue
                    # Only a line the replay will accept may say where the files are: a
                    # rejected {"path": "/x"} must not widen the root to /.
                    p = Record.from_dict(obj).path
                except (ValueError, AttributeError, TypeError, RecursionError):
                    continue
                if p and p.startswith(b"/"):
                    dirs.append(os.path.dirname(p))
    except OSError:
        return []
    if not dirs:
        return []
    common = os.path.commonpath(dirs)
    return [common] if common else []
