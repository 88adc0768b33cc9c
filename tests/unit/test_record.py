"""Record <-> JSON: exact round trips for arbitrary byte names, strict JSON, clear errors."""
from __future__ import annotations

from functools import partial

from records import rec as make_record

import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sniff_tui.core.record import OPS, VIAS, Record, decode_name, encode_name

# Names come from the kernel as raw bytes: anything goes, NUL and invalid UTF-8 included.
names = st.binary(max_size=300)
# Hypothesis rarely builds valid multi-byte UTF-8 from random bytes; mix some in on purpose.
utf8_names = st.text(max_size=60).map(lambda s: s.encode("utf-8"))
any_names = st.one_of(names, utf8_names)

records = st.builds(
    Record,
    ts=st.floats(min_value=0, max_value=4e9, allow_nan=False, allow_infinity=False),
    op=st.sampled_from(OPS),
    pid=st.integers(0, 2**31 - 1),
    tid=st.integers(0, 2**31 - 1),
    ppid=st.integers(0, 2**31 - 1),
    uid=st.integers(0, 2**32 - 1),
    comm=st.binary(max_size=16),
    path=any_names,
    new_path=st.none() | any_names,
    bytes=st.none() | st.integers(0, 2**63),
    count=st.integers(1, 10**9),
    fd=st.none() | st.integers(-1, 2**20),
    file_type=st.sampled_from(["file", "dir", "fifo", "socket", "chr", "blk", "symlink", "unknown"]),
    dev=st.none() | st.sampled_from(["8:1", "0:45", "259:3"]),
    ino=st.none() | st.integers(0, 2**64 - 1),
    truncated=st.booleans(),
    err=st.none() | st.sampled_from(["ENOENT", "EACCES", "EXDEV", "ENAMETOOLONG"]),
    via=st.none() | st.sampled_from(VIAS),
)


def strict_loads(text: str) -> Any:
    """json.loads that refuses what Python tolerates but strict JSON does not (NaN, Infinity)."""
    def bad_constant(name: str) -> Any:
        raise AssertionError(f"non-standard JSON constant {name}")
    return json.loads(text, parse_constant=bad_constant)


def strings_in(obj: Any):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield key
            yield from strings_in(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from strings_in(value)


def assert_strict_json(text: str) -> dict:
    text.encode("utf-8", "strict")  # raw lone surrogates would fail here
    obj = strict_loads(text)
    for s in strings_in(obj):  # escaped lone surrogates (\ud800) would show up after parsing
        assert not any(0xD800 <= ord(ch) <= 0xDFFF for ch in s), repr(s)
    return obj


# The one record factory (tests/records.py), with this module's defaults.
rec = partial(make_record, ts=1700000000.25, pid=10, tid=11, ppid=1, uid=1000, comm=b"python3",
              path=b"/w/file", bytes=4096)


@settings(max_examples=300)
@given(records)
def test_dict_round_trip_is_exact(record: Record) -> None:
    assert Record.from_dict(record.to_dict()) == record


@settings(max_examples=300)
@given(records)
def test_json_round_trip_is_exact_and_strict(record: Record) -> None:
    text = record.to_json()
    assert "\n" not in text  # one record, one JSONL line
    obj = assert_strict_json(text)
    assert Record.from_dict(obj) == record


@given(records)
def test_b64_fields_only_for_invalid_utf8(record: Record) -> None:
    obj = record.to_dict()
    for name in ("comm", "path", "new_path"):
        raw = getattr(record, name)
        try:
            raw.decode("utf-8") if raw is not None else None
            valid = True
        except UnicodeDecodeError:
            valid = False
        assert (name + "_b64" in obj) == (raw is not None and not valid), name
        if name + "_b64" in obj:
            assert base64.b64decode(obj[name + "_b64"]) == raw


@given(any_names)
def test_encode_decode_name(raw: bytes) -> None:
    text, b64 = encode_name(raw)
    obj = {"path": text} if b64 is None else {"path": text, "path_b64": b64}
    assert decode_name(obj, "path") == raw


def test_optional_fields_are_omitted() -> None:
    obj = rec(op="open", bytes=None).to_dict()
    for name in ("new_path", "bytes", "fd", "err", "dev", "ino", "comm_b64", "path_b64", "via"):
        assert name not in obj
    assert obj["op"] == "open" and obj["path"] == "/w/file"


def test_hostile_names_survive() -> None:
    record = rec(op="rename", comm=b"\x1b]0;pwn\x07", path=b"/w/a\nb\x00c\xff",
                 new_path=b"/w/[bold red]x[/]\xed\xa0\x80")  # \xed\xa0\x80 = UTF-8 of a surrogate
    text = record.to_json()
    assert_strict_json(text)
    assert Record.from_dict(json.loads(text)) == record


def test_watch_is_not_serialized() -> None:
    record = rec(watch=b"/w")
    assert "watch" not in record.to_dict()
    assert Record.from_dict(record.to_dict()) == record  # watch does not take part in ==


def good() -> dict[str, Any]:
    return rec().to_dict()


@pytest.mark.parametrize(
    "change, message",
    [
        pytest.param(lambda d: d.pop("op"), "op", id="missing-op"),
        pytest.param(lambda d: d.update(op="chmod"), "chmod", id="unknown-op"),
        pytest.param(lambda d: d.update(pid="abc"), "abc", id="non-numeric-pid"),
        pytest.param(lambda d: d.update(pid=None), "", id="null-pid"),
        pytest.param(lambda d: d.update(pid=1e999), "", id="infinite-pid"),  # json: 1e999 -> inf
        pytest.param(lambda d: d.update(ts=float("nan")), "ts", id="nan-ts"),  # json.loads takes NaN
        pytest.param(lambda d: d.update(ts="soon"), "soon", id="text-ts"),
        pytest.param(lambda d: d.pop("ts"), "ts", id="missing-ts"),
        pytest.param(lambda d: d.pop("path"), "path", id="missing-path"),
        pytest.param(lambda d: d.update(path_b64="not base64!"), "", id="bad-base64"),
        pytest.param(lambda d: d.update(comm_b64=12), "", id="non-string-base64"),
        pytest.param(lambda d: d.update(path=["/x"]), "path", id="non-string-path"),
        pytest.param(lambda d: d.update(via="telepathy"), "telepathy", id="unknown-via"),
        pytest.param(lambda d: d.update(via=["io_uring"]), "via", id="non-string-via"),
    ],
)
def test_from_dict_rejects_malformed(change: Any, message: str) -> None:
    obj = good()
    change(obj)
    with pytest.raises(ValueError) as info:
        Record.from_dict(obj)
    assert str(info.value)  # a reason the user can read
    assert message in str(info.value)


@pytest.mark.parametrize("value", [None, [], "open", 3])
def test_from_dict_rejects_non_objects(value: Any) -> None:
    with pytest.raises(ValueError, match="object"):
        Record.from_dict(value)


@settings(max_examples=300)
@given(st.dictionaries(st.sampled_from(["ts", "op", "pid", "tid", "comm", "path", "path_b64",
                                        "bytes", "count", "new_path", "comm_b64"]),
                       st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
                       | st.sampled_from(OPS)))
def test_from_dict_only_raises_value_error(obj: dict) -> None:
    # Replaying a hand-edited or corrupt file must give a clean message, not a traceback.
    try:
        record = Record.from_dict(obj)
    except ValueError:
        return
    assert record.op in OPS
