"""Stream writers: hostile names never break a line, the terminal, or the JSON."""
from __future__ import annotations

from functools import partial

from records import rec as make_record

import io
import json
import unicodedata
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sniff_tui.core.record import OPS, Record
from sniff_tui.commands.formats import FORMATS, make_writer
from sniff_tui.core.textfmt import visible

WATCH = b"/srv/watched"
LONG = WATCH + b"/" + b"/".join([b"d" * 60] * 66) + b"/final-name.txt"  # ~4000 bytes
assert len(LONG) > 4000

HOSTILE_NAMES = [
    b"\x1b[31mred\x1b[0m",
    b"\x1b]0;owned\x07",
    b"line\nbreak\r\n",
    b"[bold red]x[/]",
    b"bad\xff\xfeutf8",
    b"\xed\xa0\x80surrogate",
    b"nul\x00byte",
    "c1\u0085\u009b\u2028".encode(),
    "文件名.txt".encode(),
    b"back\\slash",
]
HOSTILE_PATHS = [WATCH + b"/" + n for n in HOSTILE_NAMES] + [LONG, WATCH, b"/elsewhere/\x1b[2J"]


# The one record factory (tests/records.py), with this module's defaults.
rec = partial(make_record, ts=1700000000.123456, pid=4321, tid=4322, ppid=1, uid=1000,
              comm=b"python3", path=WATCH + b"/f.txt", bytes=4096)


def hostile_records() -> list[Record]:
    out = [rec(path=p) for p in HOSTILE_PATHS]
    out += [rec(comm=n[:16], op="open", bytes=None) for n in HOSTILE_NAMES]
    out += [rec(op="rename", bytes=None, path=HOSTILE_PATHS[i],
                new_path=HOSTILE_PATHS[-1 - i]) for i in range(len(HOSTILE_PATHS))]
    out += [rec(op="open", bytes=None, err="ENOENT", truncated=True, path=b"lost/part"),
            rec(op="read", bytes=0, count=17), rec(op="read", bytes=2**62),
            rec(op="unlink", bytes=None, file_type="fifo")]
    return out


def run(fmt: str, records: list[Record], width: int = 100) -> str:
    out = io.BytesIO()
    writer = make_writer(fmt, out, [WATCH], width=width)
    for record in records:
        writer.write(record)
    writer.flush()
    data = out.getvalue()
    writer.close()
    return data.decode("utf-8", "strict")  # writers only ever emit valid UTF-8


def cells(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def assert_clean(text: str) -> None:
    for ch in text:
        code = ord(ch)
        assert ch == "\n" or not (code < 0x20 or 0x7F <= code < 0xA0 or ch in "\u2028\u2029"), \
            repr(ch)


def check_jsonl(records: list[Record], text: str) -> None:
    lines = text.split("\n")
    assert lines[-1] == "" and len(lines) == len(records) + 1
    for line, record in zip(lines, records):
        obj = json.loads(line, parse_constant=lambda c: pytest.fail(f"non-strict {c}"))
        assert Record.from_dict(obj) == record


def check_human(fmt: str, records: list[Record], text: str, width: int) -> list[str]:
    assert_clean(text)
    header = 1 if fmt == "table" else 0
    assert text.count("\n") == len(records) + header
    assert text.endswith("\n") or not text
    lines = text.split("\n")[:-1]
    if fmt == "table":
        if width >= 29:
            assert lines[0].split()[-2:] == ["OP", "PATH"] or lines[0].endswith("BYTES PATH")
        for line in lines:
            assert cells(line) <= width, (width, line)
    return lines[header:]


@pytest.mark.parametrize("fmt", FORMATS)
def test_hostile_names(fmt: str) -> None:
    records = hostile_records()
    text = run(fmt, records)
    if fmt == "jsonl":
        check_jsonl(records, text)
    else:
        check_human(fmt, records, text, 100)
        assert "\x1b" not in text and "\\x1b" in text


def test_jsonl_stats_line() -> None:
    out = io.BytesIO()
    writer = make_writer("jsonl", out, [WATCH])
    writer.write(rec())
    writer.write_stats({"events": 5, "lost": 0, "rate": float("inf"), "op": "ignored"})
    lines = out.getvalue().decode().splitlines()
    stats = json.loads(lines[1], parse_constant=lambda c: pytest.fail(c))
    assert stats == {"op": "stats", "events": 5, "lost": 0, "rate": None}
    assert lines[1].startswith('{"op":"stats"')


@pytest.mark.parametrize("fmt", ["plain", "table"])
def test_human_formats_keep_stats_out_of_the_stream(fmt: str) -> None:
    out = io.BytesIO()
    writer = make_writer(fmt, out, [WATCH], width=80)
    before = out.getvalue()
    writer.write_stats({"events": 5})
    assert out.getvalue() == before


def test_plain_line() -> None:
    ts = 1700000000.123456
    clock = datetime.fromtimestamp(ts).strftime("%H:%M:%S.%f")
    line = run("plain", [rec(ts=ts)]).rstrip("\n")
    assert line == f"{clock} write pid=4321 tid=4322 comm=python3 bytes=4096 count=1 /srv/watched/f.txt"


def test_plain_rename_error_and_truncation() -> None:
    text = run("plain", [
        rec(op="rename", bytes=None, path=WATCH + b"/a\nb", new_path=WATCH + b"/c"),
        rec(op="open", bytes=None, err="EACCES", truncated=True, path=b"part/of/x"),
    ])
    first, second = text.splitlines()
    assert first.endswith(" /srv/watched/a\\nb -> /srv/watched/c")
    assert "bytes=" not in first and "count=" not in first
    assert " err=EACCES " in second and " truncated " in second


def test_plain_says_how_an_op_was_submitted() -> None:
    uring, plain = run("plain", [rec(via="io_uring"), rec()]).splitlines()
    assert " count=1 via=io_uring /srv/watched/f.txt" in uring
    assert "via=" not in plain


def test_table_columns_and_header() -> None:
    ts = 1700000000.123956  # truncated to milliseconds, not rounded
    text = run("table", [rec(ts=ts), rec(op="open", bytes=None), rec(op="open", bytes=None,
                                                                      err="ENOENT")], width=120)
    header, row, no_bytes, failed = text.splitlines()
    assert header.split() == ["TIME", "PID", "COMM", "OP", "BYTES", "PATH"]
    assert row.startswith(datetime.fromtimestamp(ts).strftime("%H:%M:%S.%f")[:-3] + " ")
    assert row.split()[1:] == ["4321", "python3", "write", "4.0", "KiB", "f.txt"]
    assert no_bytes.split()[4] == "-"
    assert failed.split()[4] == "ENOENT"
    # Columns line up: the path starts where the header says.
    start = header.index("PATH")
    assert row[start:] == "f.txt"
    assert row.index("write") == header.index("OP")


def test_table_relative_paths_and_rename_arrow() -> None:
    text = run("table", [rec(op="rename", bytes=None, path=WATCH + b"/old",
                             new_path=WATCH + b"/sub/new"), rec(path=WATCH),
                         rec(path=b"/srv/watched-sibling/x")], width=120)
    _, rename, root, sibling = text.splitlines()
    assert rename.endswith(" old → sub/new")
    assert root.endswith(" .")
    assert sibling.endswith(" /srv/watched-sibling/x")


def test_table_comm_is_capped() -> None:
    line = run("table", [rec(comm=b"\x1b\x1b\x1b\x1b\x1b\x1b")], width=120).splitlines()[1]
    assert "\\x1b\\x1b\\x1b\\x1…" in line  # 16 columns, the cut marked


@pytest.mark.parametrize("width", [200, 120, 80, 60, 40, 30, 9, 1])
def test_table_long_path_keeps_file_name(width: int) -> None:
    text = run("table", [rec(path=LONG), rec(op="rename", bytes=None, path=LONG,
                                              new_path=WATCH + "/文件/名字.txt".encode())],
               width=width)
    header, long_line, rename = text.splitlines()
    for line in (header, long_line, rename):
        assert cells(line) <= width
    if width >= 29:  # the OP column plus a 20-cell path: other columns give way first
        assert long_line.endswith("ddddd/final-name.txt") and "…d" in long_line
        assert rename.endswith("/名字.txt")


def test_table_width_defaults_to_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import shutil
    monkeypatch.setattr(shutil, "get_terminal_size",
                        lambda fallback=(80, 24): os.terminal_size((50, 24)))
    out = io.BytesIO()
    writer = make_writer("table", out, [WATCH])
    writer.write(rec(path=LONG))
    for line in out.getvalue().decode().splitlines():
        assert len(line) <= 50
    assert out.getvalue().decode().splitlines()[1].endswith("final-name.txt")


class RecordingFile(io.RawIOBase):
    def __init__(self) -> None:
        self.calls: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.calls.append(bytes(data))
        return len(data)


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_write_is_one_whole_line(fmt: str) -> None:
    out = RecordingFile()
    writer = make_writer(fmt, out, [WATCH], width=80)
    for record in hostile_records():
        writer.write(record)
    writer.write_stats({"n": 1})
    assert out.calls
    for call in out.calls:
        assert call.endswith(b"\n") and call.count(b"\n") == 1


@pytest.mark.parametrize("fmt", FORMATS)
def test_text_streams_work(fmt: str) -> None:
    text_only = io.StringIO()  # no .buffer: gets str
    make_writer(fmt, text_only, [WATCH], width=80).write(rec(path=WATCH + b"/\xff"))
    wrapped = io.TextIOWrapper(io.BytesIO(), encoding="ascii")  # locale must not matter
    writer = make_writer(fmt, wrapped, [WATCH], width=80)
    writer.write(rec(path=WATCH + "/文件".encode()))
    writer.flush()
    data = wrapped.buffer.getvalue().decode("utf-8")
    assert data.endswith("\n") and text_only.getvalue().endswith("\n")


def test_unknown_format() -> None:
    with pytest.raises(ValueError, match="jsonl"):
        make_writer("xml", io.BytesIO(), [])


def test_absurd_timestamp_does_not_crash() -> None:
    for fmt in ("plain", "table"):
        assert "??:??:??" in run(fmt, [rec(ts=1e300)])


@pytest.mark.parametrize("n, expected", [(0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"),
                                         (1536, "1.5 KiB"), (5 * 2**30, "5.0 GiB")])
def test_sizes(n: int, expected: str) -> None:
    line = run("table", [rec(bytes=n)], width=120).splitlines()[1]
    assert f" {expected} " in line


# --- fuzzing -------------------------------------------------------------------------------

pieces = st.sampled_from(HOSTILE_NAMES + [b"/", b"/", b"a", b"..", "é".encode(), "😀".encode()])
names = st.one_of(st.binary(max_size=120),
                  st.lists(pieces | st.binary(max_size=5), max_size=20).map(b"".join))
paths = st.one_of(names.map(lambda n: WATCH + b"/" + n), names,
                  st.integers(0, 4200).map(lambda n: WATCH + b"/" + b"x" * n + b"/end"))
records = st.builds(
    Record,
    ts=st.floats(min_value=0, max_value=4e9, allow_nan=False),
    op=st.sampled_from(OPS), pid=st.integers(0, 2**31), tid=st.integers(0, 2**31),
    ppid=st.integers(0, 2**31), uid=st.integers(0, 2**32 - 1),
    comm=st.binary(max_size=16), path=paths, new_path=st.none() | paths,
    bytes=st.none() | st.integers(0, 2**64), count=st.integers(1, 10**6),
    fd=st.none() | st.integers(0, 1024),
    file_type=st.sampled_from(["file", "dir", "fifo", "socket", "unknown"]),
    truncated=st.booleans(), err=st.none() | st.sampled_from(["ENOENT", "ENAMETOOLONG"]),
    cgroup=st.none() | names, container=st.none() | st.just("pod-1234"), unit=st.none() | names,
)


@settings(max_examples=200, deadline=None)
@given(st.lists(records, max_size=8))
def test_fuzz_jsonl(records: list[Record]) -> None:
    check_jsonl(records, run("jsonl", records))


@settings(max_examples=200, deadline=None)
@given(st.lists(records, max_size=8))
def test_fuzz_plain(records: list[Record]) -> None:
    lines = check_human("plain", records, run("plain", records), 0)
    for line, record in zip(lines, records):
        assert line.endswith(visible(record.new_path if record.new_path is not None
                                     else record.path))


@settings(max_examples=200, deadline=None)
@given(st.lists(records, max_size=8), st.integers(1, 300))
def test_fuzz_table(records: list[Record], width: int) -> None:
    lines = check_human("table", records, run("table", records, width=width), width)
    if width >= 60:
        for line, record in zip(lines, records):
            name = (record.new_path if record.new_path is not None else record.path)
            if name == WATCH:  # shown as "."
                continue
            tail = visible(name.rsplit(b"/", 1)[-1])
            if cells(tail) <= 15:  # short file names always show in full
                assert line.endswith(tail)
