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
from typing import Any, Callable, Iterator, Optional

from .recorded import RecordedSource
from .record import ContentRecord, Record, SourceStats, decode_name

MAX_ERRORS_KEPT = 1_000       # `errors` is bounded; `error_count` keeps counting
MAX_PROCESSES = 65_536        # process lines remembered (the oldest are forgotten)
WATCH_SNIFF_LINES = 2_000     # lines read to guess the watched directory


class ReplaySource(RecordedSource):
    has_content = False      # a content line was read (--content recordings)

    def __init__(self, path: str, speed: float = 0.0, watches: Optional[list[bytes]] = None,
                 *, max_gap: Optional[float] = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """See RecordedSource. Raises OSError when the file cannot be read."""
        super().__init__(path, speed, max_gap=max_gap, clock=clock)
        with open(path, "rb"):
            pass                          # fail here, before the UI starts, not in the worker
        self.watches = list(watches) if watches else guess_watches(path)
        self._stats = SourceStats()

    def stats(self) -> SourceStats:
        with self._lock:
            return dataclasses.replace(self._stats, records=self._delivered,
                                       truncated_paths=max(self._stats.truncated_paths, self._truncated),
                                       maps=list(self._stats.maps))

    def _records(self, stop: threading.Event) -> Iterator[Record]:
        with open(self.path, "rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                if stop.is_set():
                    return
                rec = self._decode(lineno, raw)
                if rec is not None:
                    yield rec

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
        with self._lock:
            if pid not in self._processes and len(self._processes) >= MAX_PROCESSES:
                del self._processes[next(iter(self._processes))]
            self._processes[pid] = info


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
