"""Output writers for the headless ``sniff-tui stream`` command.

Every writer emits whole lines only: a line is built completely, encoded, then handed to the
file in one ``write`` call, so a stream cut by ^C or a closed pipe never ends in half a record.
Names are untrusted bytes: the human formats pass them through ``visible`` (no control
characters, no invalid UTF-8 reach the terminal); jsonl relies on ``Record.to_json``, which
keeps the exact bytes in ``*_b64`` fields and is always strict JSON.
"""
from __future__ import annotations

import io
import json
import math
import shutil
from typing import IO, Any, Optional

import orjson

from sniff_tui.core.record import ContentRecord, Record
from sniff_tui.core.textfmt import cell_width, clip_right, clock, human_bytes, relative_to_watch, visible
from sniff_tui.core.textfmt import elide_left_plain as elide_left

_dumps = orjson.dumps

FORMATS = ("jsonl", "plain", "table")


class Writer:
    """Base: turns records into lines; subclasses define ``line``."""

    def __init__(self, out: IO[Any]) -> None:
        # A text stream with a binary buffer (sys.stdout) is written through the buffer so the
        # encoding is always UTF-8 whatever the locale says; a pure text stream (StringIO) gets str.
        target = out
        if isinstance(out, io.TextIOBase) and getattr(out, "buffer", None) is not None:
            out.flush()  # whatever was already printed through the text layer stays in order
            target = out.buffer
        self._out = target
        self._binary = not isinstance(target, io.TextIOBase)

    def line(self, record: Record) -> str:
        raise NotImplementedError

    def write(self, record: Record) -> None:
        self._emit(self.line(record))

    def write_many(self, records: list[Record]) -> None:
        for record in records:
            self._emit(self.line(record))

    def write_stats(self, stats: dict[str, Any]) -> None:
        """Human formats print statistics on stderr elsewhere, never mixed into the stream."""

    def flush(self) -> None:
        self._out.flush()

    def close(self) -> None:
        # The caller opened the file (or it is stdout), so the caller closes it; we only make
        # sure nothing is left in our hands.
        self.flush()

    def _emit(self, line: str) -> None:
        data = line + "\n"
        # backslashreplace is a last resort for lone surrogates in non-name str fields of a
        # hand-made record; names and everything from the kernel encode strictly.
        self._out.write(data.encode("utf-8", "backslashreplace") if self._binary else data)


def _line_parts(r: Record) -> tuple[bytes, bytes]:
    """A record's JSON line around its ts, bytes and count: (what follows ts up to bytes, what
    follows count, newline included). The same bytes Record.to_json_bytes writes."""
    full = r.to_dict()
    before, after = {}, {}
    target = before
    for name, value in full.items():
        if name in ("bytes", "count"):
            target = after
            continue
        if name != "ts":
            target[name] = value
    head = _dumps(before)[1:-1]
    tail = _dumps(after)[1:-1]
    return (b"," + head if head else b""), (b"," + tail if tail else b"") + b"}\n"


class JsonlWriter(Writer):
    def __init__(self, out: IO[Any]) -> None:
        super().__init__(out)
        self._lines: dict[tuple, tuple[bytes, bytes]] = {}

    def line(self, record: Record) -> str:
        return record.to_json()

    def write_many(self, records: list[Record]) -> None:
        if any(r.__class__ is ContentRecord for r in records):
            for r in records:     # --content: rarely a flood's worth; each line made alone
                self._emit(r.to_json())
            return
        # The flood path: one write for the batch, bytes all the way.
        # Appended to one buffer as they are made: keeping thousands of orjson's outputs alive
        # at once (a join over a list) made each dumps three times slower (measured).
        if not self._binary:
            return super().write_many(records)
        buf = bytearray()
        lines = self._lines
        for r in records:
            # Under a flood the same process writes the same file over and over: everything
            # but the time, bytes and count is cached as JSON (one dict lookup instead of a
            # dict and a dumps per record).
            key = (r.op, r.pid, r.tid, r.ppid, r.uid, r.comm, r.path, r.new_path, r.fd, r.file_type,
                   r.dev, r.ino, r.truncated, r.err, r.via, r.bytes is None, r.offset, r.length, r.how,
                   r.cgroup, r.container, r.unit)
            parts = lines.get(key)
            if parts is None:
                if len(lines) >= 4096:
                    lines.clear()
                parts = lines[key] = _line_parts(r)
            head, tail = parts
            buf += b'{"ts":'
            buf += _dumps(r.ts)
            buf += head
            if r.bytes is not None:
                buf += b',"bytes":%d' % r.bytes
            buf += b',"count":%d' % r.count
            buf += tail
        self._out.write(buf)

    def write_stats(self, stats: dict[str, Any]) -> None:
        body = {"op": "stats", **{k: _finite(v) for k, v in stats.items() if k != "op"}}
        self._emit(json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str,
                              allow_nan=False))


def _finite(value: Any) -> Any:
    """NaN/inf are not JSON; a rate over an empty interval becomes null instead of breaking jq."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, bytes):
        return visible(value)
    return value


class PlainWriter(Writer):
    """``12:03:04.123456 write pid=1 tid=1 comm=x bytes=4096 count=1 /abs/path``: grep-friendly,
    absolute paths, the path last because it may contain spaces."""

    def line(self, record: Record) -> str:
        if record.__class__ is ContentRecord:
            return content_line(record)
        parts = [clock(record.ts, digits=6), record.op, f"pid={record.pid}", f"tid={record.tid}",
                 f"comm={visible(record.comm)}"]
        if record.bytes is not None:
            parts.append(f"bytes={record.bytes}")
        if record.bytes is not None or record.count != 1:
            parts.append(f"count={record.count}")
        if record.file_type != "file":
            parts.append(f"type={visible(str(record.file_type))}")
        if record.err:
            parts.append(f"err={visible(str(record.err))}")
        if record.truncated:
            parts.append("truncated")
        if record.via:
            parts.append(f"via={visible(record.via)}")
        if record.container is not None:
            parts.append(f"container={visible(record.container)}")
        if record.unit is not None:
            parts.append(f"unit={visible(record.unit)}")
        path = visible(record.path)
        if record.new_path is not None:
            path += " -> " + visible(record.new_path)
        parts.append(path)
        return " ".join(parts)


def content_line(r: ContentRecord) -> str:
    """``12:03:04.123456 content pid=1 tid=1 comm=x offset=0 length=5 kept=5 /abs/path``; the
    bytes themselves are in the jsonl format only."""
    return (f"{clock(r.ts, digits=6)} content pid={r.pid} tid={r.tid} comm={visible(r.comm)} "
            f"offset={r.offset} length={r.length} kept={len(r.data)}"
            + (" truncated" if r.data_truncated else "") + f" {visible(r.path)}")


# (header, width, right-aligned); the PATH column takes whatever width is left.
_COLUMNS = {"TIME": (12, False), "PID": (7, True), "COMM": (16, False), "OP": (8, False),
            "BYTES": (10, True)}
_DROP_ORDER = ("TIME", "COMM", "BYTES", "PID")  # what a narrow terminal gives up first
_MIN_PATH = 20


class TableWriter(Writer):
    def __init__(self, out: IO[Any], watches: list[bytes], width: int) -> None:
        super().__init__(out)
        self._watches = list(watches)
        self._width = max(width, 1)
        columns = list(_COLUMNS)
        # Rather than squeeze the path to nothing, drop the least useful columns on narrow screens.
        for name in _DROP_ORDER:
            if self._fixed_width(columns) + _MIN_PATH <= self._width:
                break
            columns.remove(name)
        self._columns = columns
        self._path_width = max(self._width - self._fixed_width(columns), 0)
        self._emit(self._row({name: name for name in columns}, "PATH"))

    @staticmethod
    def _fixed_width(columns: list[str]) -> int:
        return sum(_COLUMNS[name][0] + 1 for name in columns)

    def _row(self, cells: dict[str, str], path: str) -> str:
        out = []
        for name in self._columns:
            width, right = _COLUMNS[name]
            text = clip_right(cells[name], width)
            pad = " " * (width - cell_width(text))
            out.append(pad + text if right else text + pad)
        out.append(elide_left(path, self._path_width))
        # Only a degenerate width (narrower than the OP column) needs this final clip.
        return clip_right(" ".join(out), self._width)

    def line(self, record: Record) -> str:
        if record.__class__ is ContentRecord:    # --content: where and how much, not the bytes
            cells = {"TIME": clock(record.ts, digits=3), "PID": str(record.pid),
                     "COMM": visible(record.comm), "OP": "content", "BYTES": human_bytes(record.length)}
            return self._row(cells, f"{visible(relative_to_watch(record.path, self._watches))} "
                                    f"@{record.offset}")
        if record.bytes is not None:
            amount = human_bytes(record.bytes)
        else:
            # Failed calls move no bytes, so the column says why instead.
            amount = visible(str(record.err)) if record.err else "-"
        path = visible(relative_to_watch(record.path, self._watches))
        if record.new_path is not None:
            path += " → " + visible(relative_to_watch(record.new_path, self._watches))
        if record.truncated:
            path = "…" + path  # the kernel could not walk up to the root: the start is missing
        cells = {"TIME": clock(record.ts, digits=3), "PID": str(record.pid),
                 "COMM": visible(record.comm), "OP": record.op, "BYTES": amount}
        return self._row(cells, path)


def make_writer(fmt: str, out: IO[Any], watches: list[bytes],
                width: Optional[int] = None) -> Writer:
    """A writer for one of FORMATS onto ``out`` (binary preferred; text streams work too)."""
    if fmt == "jsonl":
        return JsonlWriter(out)
    if fmt == "plain":
        return PlainWriter(out)
    if fmt == "table":
        if width is None:
            width = shutil.get_terminal_size((120, 24)).columns
        return TableWriter(out, watches, width)
    raise ValueError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
