"""`query` output: records, grouped totals or sessions as jsonl, table, csv or markdown.

- jsonl: records exactly as ``stream`` writes them (``Record.to_dict``); other rows use the
  same convention for names (text, plus ``<field>_b64`` with the exact bytes when the text is
  not exact). Always strict JSON.
- csv: one header line, then rows; a name column is followed by ``<field>_b64``, filled
  when the text column is not the exact name (invalid UTF-8, or control characters, which the
  text column shows as escapes). Times are ISO 8601 with the UTC offset.
- table / markdown: for people; names pass through ``visible`` (no control character or
  invalid byte reaches the terminal) and Markdown punctuation is escaped.
"""
from __future__ import annotations

import base64
import csv
import json
from datetime import datetime
from typing import IO, Any, Callable, Iterable, Iterator

from sniff_tui.core.record import Record, encode_name

from .query import Group, Session
from .text import markdown_cell, visible

FORMATS = ("jsonl", "table", "csv", "markdown")
TABLE_SAMPLE = 1_000        # rows a table looks at to size its columns


class Name(bytes):
    """A column value that is an untrusted name (bytes)."""


class Time(float):
    """A column value that is a Unix time."""


Row = dict[str, Any]


def record_row(rec: Record, full: bool) -> Row:
    """The path comes last: it is the only unbounded column, and tables leave it unpadded."""
    row: Row = {"ts": Time(rec.ts), "op": rec.op, "pid": rec.pid}
    if full:
        row.update(tid=rec.tid, ppid=rec.ppid, uid=rec.uid)
    row.update(comm=Name(rec.comm), bytes=rec.bytes, count=rec.count, err=rec.err)
    if full:
        row.update(fd=rec.fd, file_type=rec.file_type, dev=rec.dev, ino=rec.ino,
                   truncated=rec.truncated, cgroup=None if rec.cgroup is None else Name(rec.cgroup),
                   container=rec.container, unit=None if rec.unit is None else Name(rec.unit))
    row["path"] = Name(rec.path)
    row["new_path"] = None if rec.new_path is None else Name(rec.new_path)
    return row


def group_row(g: Group) -> Row:
    row: Row = {}
    for k, v in g.key.items():
        row[k] = Name(v) if isinstance(v, bytes) else v
    row.update(count=g.count, bytes=g.bytes, records=g.records, first=Time(g.first_ts),
               last=Time(g.last_ts))
    return row


def session_row(s: Session) -> Row:
    losses = s.losses()
    return {"session": s.id, "started": Time(s.started),
            "ended": None if s.ended is None else Time(s.ended), "command": s.command,
            "host": s.host, "records": s.records,
            "watches": [Name(w) for w in s.watches],
            "losses": losses, "clean": s.ended is not None}


# ------------------------------------------------------------------ writers
def write(out: IO[str], fmt: str, rows: Iterable[Row], *, records: bool = False) -> int:
    """Write rows; returns how many. ``records``: jsonl rows are whole Records (the caller
    passes Record objects then)."""
    writer: Callable[[IO[str], Iterable[Any]], int] = {
        "jsonl": _write_records_jsonl if records else _write_jsonl,
        "csv": _write_csv, "table": _write_table, "markdown": _write_markdown}[fmt]
    return writer(out, rows)


def _write_records_jsonl(out: IO[str], recs: Iterable[Record]) -> int:
    n = 0
    for rec in recs:
        out.write(rec.to_json() + "\n")
        n += 1
    return n


def _json_value(key: str, value: Any, obj: dict) -> None:
    if isinstance(value, Name):
        text, raw = encode_name(bytes(value))
        obj[key] = text
        if raw is not None:
            obj[key + "_b64"] = raw
    elif isinstance(value, list) and value and all(isinstance(v, Name) for v in value):
        obj[key] = [encode_name(bytes(v))[0] for v in value]
        if any(encode_name(bytes(v))[1] is not None for v in value):
            obj[key + "_b64"] = [base64.b64encode(bytes(v)).decode("ascii") for v in value]
    else:
        obj[key] = value


def _write_jsonl(out: IO[str], rows: Iterable[Row]) -> int:
    n = 0
    for row in rows:
        obj: dict = {}
        for key, value in row.items():
            _json_value(key, value, obj)
        out.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False) + "\n")
        n += 1
    return n


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="microseconds")


def _csv_name(raw: bytes) -> tuple[str, str]:
    text = visible(raw)
    exact = text.encode("utf-8", "surrogatepass") == raw
    return text, "" if exact else base64.b64encode(raw).decode("ascii")


def _csv_cells(row: Row) -> dict[str, str]:
    cells: dict[str, str] = {}
    for key, value in row.items():
        if isinstance(value, Name) or (value is None and key in ("comm", "path", "new_path")):
            text, raw = _csv_name(bytes(value)) if value is not None else ("", "")
            cells[key], cells[key + "_b64"] = text, raw
        elif isinstance(value, list):
            cells[key] = " ".join(visible(bytes(v)) if isinstance(v, Name) else str(v) for v in value)
        elif isinstance(value, dict):
            cells[key] = " ".join(f"{k}={v}" for k, v in value.items())
        else:
            cells[key] = _plain(value)
    return cells


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Time):
        return _iso(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return visible(str(value))


def _write_csv(out: IO[str], rows: Iterable[Row]) -> int:
    writer = None
    n = 0
    for row in rows:
        cells = _csv_cells(row)
        if writer is None:
            writer = csv.DictWriter(out, fieldnames=list(cells), lineterminator="\n")
            writer.writeheader()
        writer.writerow(cells)
        n += 1
    return n


def _human_cells(row: Row) -> dict[str, str]:
    cells: dict[str, str] = {}
    for key, value in row.items():
        if key == "new_path":
            continue
        if isinstance(value, Name):
            text = visible(bytes(value))
            if key == "path" and row.get("new_path") is not None:
                text += " -> " + visible(bytes(row["new_path"]))
            cells[key] = text
        elif isinstance(value, Time):
            cells[key] = datetime.fromtimestamp(value).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        elif isinstance(value, list):
            cells[key] = " ".join(visible(bytes(v)) if isinstance(v, Name) else visible(str(v))
                                  for v in value)
        elif isinstance(value, dict):
            cells[key] = " ".join(f"{k}={v}" for k, v in value.items()) or "-"
        elif isinstance(value, bool):
            cells[key] = "yes" if value else "no"
        else:
            cells[key] = "" if value is None else visible(str(value))
    return cells


_RIGHT = {"pid", "bytes", "count", "records", "session", "uid", "tid", "ppid", "fd", "ino"}


def _write_table(out: IO[str], rows: Iterable[Row]) -> int:
    """Aligned columns sized on the first rows; the last column (the path) is never padded."""
    it: Iterator[Row] = iter(rows)
    head = [_human_cells(r) for r, _ in zip(it, range(TABLE_SAMPLE))]
    if not head:
        return 0
    cols = list(head[0])
    widths = {c: max(len(c), *(len(cells.get(c, "")) for cells in head)) for c in cols}

    def line(cells: dict[str, str]) -> str:
        parts = []
        for i, c in enumerate(cols):
            text = cells.get(c, "")
            if i == len(cols) - 1:
                parts.append(text)
            elif c in _RIGHT:
                parts.append(text.rjust(widths[c]))
            else:
                parts.append(text.ljust(widths[c]))
        return "  ".join(parts).rstrip()

    out.write(line({c: c.upper() for c in cols}) + "\n")
    n = 0
    for cells in head:
        out.write(line(cells) + "\n")
        n += 1
    for row in it:
        out.write(line(_human_cells(row)) + "\n")
        n += 1
    return n


def _write_markdown(out: IO[str], rows: Iterable[Row]) -> int:
    n = 0
    cols: list[str] = []
    for row in rows:
        cells = _human_cells(row)
        if not cols:
            cols = list(cells)
            out.write("| " + " | ".join(cols) + " |\n")
            out.write("|" + "|".join(" ---: " if c in _RIGHT else " --- " for c in cols) + "|\n")
        out.write("| " + " | ".join(markdown_cell(cells.get(c, "")) for c in cols) + " |\n")
        n += 1
    return n
