"""--content without a kernel: the content line kind, decoding struct sniff_content, the writers
and the command line."""
from __future__ import annotations

import base64
import io
import json
import os

import pytest

from sniff_tui.probes import abi, content
from sniff_tui.probes.decode import Decoder
from sniff_tui.probes.layout import layout
from sniff_tui.core.record import ContentRecord, Record
from sniff_tui.probes.scope import Watches
from sniff_tui.commands.cli import main
from sniff_tui.commands.formats import make_writer

EVENT = layout("sniff_event")
CONTENT = layout("sniff_content")


def test_the_two_record_kinds_agree_where_they_are_told_apart():
    for name in ("ts", "ino", "ret", "op"):
        assert CONTENT.offset(name) == EVENT.offset(name)
    assert abi.C["SNIFF_OP_CONTENT"] not in abi.OP_NAMES and abi.C["SNIFF_OP_CONTENT"] not in abi.PROC_OPS
    assert content.MAX == 131072 and content.DATA_AT == CONTENT.offset("data")


def rec(**kw) -> ContentRecord:
    base = dict(ts=1.5, pid=7, tid=8, comm=b"vim", path=b"/w/cfg", offset=3, length=5,
                data=b"ab\x00\xff\n", cgroup=b"/user.slice", container=None, unit=None)
    return ContentRecord(**{**base, **kw})


def test_the_json_line():
    line = json.loads(rec().to_json())
    assert line == {"op": "content", "ts": 1.5, "pid": 7, "tid": 8, "comm": "vim", "path": "/w/cfg",
                    "offset": 3, "length": 5, "data_b64": base64.b64encode(b"ab\x00\xff\n").decode(),
                    "data_truncated": False, "cgroup": "/user.slice", "container": None, "unit": None}
    assert ContentRecord.from_dict(line) == rec()


def test_names_that_are_not_utf8_keep_their_bytes():
    r = rec(path=b"/w/caf\xe9\x1b[2J", comm=b"\xff")
    line = json.loads(r.to_json())
    assert base64.b64decode(line["path_b64"]) == b"/w/caf\xe9\x1b[2J" and "comm_b64" in line
    assert ContentRecord.from_dict(line) == r


@pytest.mark.parametrize("change, reason", [
    ({"data_b64": "!!"}, "base64"), ({"length": 1}, "disagree"), ({"offset": -1}, "disagree"),
    ({"ts": "nan"}, "finite"), ({"path": None}, "missing path"), ({"data_b64": 5}, "not a string"),
])
def test_bad_lines_are_refused(change, reason):
    line = {**json.loads(rec().to_json()), **change}
    with pytest.raises(ValueError, match=reason):
        ContentRecord.from_dict(line)


def placed_write(tmp_path, dec, path_hash=77):
    walk = b"cfg\0"
    raw = bytes(EVENT.pack({"op": abi.OP_CODES["write"], "pid": 7, "tid": 7, "ret": 5, "count": 1,
                            "mode": 0o100644, "dev": 9, "ino": 42, "path_hash": path_hash,
                            "names.0.watch": 1, "names.0.walk_len": len(walk),
                            "data_len": len(walk)}))[:EVENT.offset("data")] + walk
    return dec.decode(raw)


def content_bytes(data: bytes, ret: int, data_len=None, path_hash=77) -> bytes:
    return bytes(CONTENT.pack({"op": abi.C["SNIFF_OP_CONTENT"], "ts": 10**9, "pid": 7, "tid": 8,
                               "ret": ret, "offset": 100, "dev": 9, "ino": 42, "path_hash": path_hash,
                               "comm": b"ed", "data_len": len(data) if data_len is None else data_len,
                               "mode": 0o100644}))[:content.DATA_AT] + data


def decoder(tmp_path) -> Decoder:
    w = Watches()
    w.add(os.fsencode(tmp_path), 0, os.stat(tmp_path))
    return Decoder(w)


def test_decoding_names_the_file_by_its_write(tmp_path):
    dec = decoder(tmp_path)
    assert isinstance(placed_write(tmp_path, dec), Record)
    got = dec.decode(content_bytes(b"hello", 5))
    assert isinstance(got, ContentRecord)
    assert (got.path, got.offset, got.length, got.data, got.data_truncated, got.comm, got.tid) == \
        (os.fsencode(tmp_path) + b"/cfg", 100, 5, b"hello", False, b"ed", 8)
    cut = dec.decode(content_bytes(b"hel", 5000))
    assert (cut.length, cut.data, cut.data_truncated) == (5000, b"hel", True)
    # a data_len beyond the record's end never reads past it
    assert dec.decode(content_bytes(b"he", 5, data_len=4000)).data == b"he"


def test_a_file_whose_path_is_unknown_is_counted(tmp_path):
    dec = decoder(tmp_path)
    assert dec.decode(content_bytes(b"x", 1, path_hash=5)) is None
    assert dec.content_unnamed == 1
    assert dec.decode(content_bytes(b"x", 1)[:20]) is None          # too short to say anything


def test_writers():
    r = rec(path=b"/w/\x1b[31mred", data_truncated=True, length=9000)
    out = io.BytesIO()
    w = make_writer("jsonl", out, [b"/w"])
    counted = Record(ts=1.0, op="write", pid=7, tid=7, ppid=1, uid=0, comm=b"vim", path=b"/w/cfg", bytes=5)
    w.write_many([counted, r])
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [x["op"] for x in lines] == ["write", "content"] and lines[1]["length"] == 9000
    out = io.BytesIO()
    make_writer("plain", out, [b"/w"]).write(r)
    text = out.getvalue().decode()
    assert "content pid=7" in text and "offset=3 length=9000 kept=5 truncated" in text
    assert "\x1b" not in text
    out = io.BytesIO()
    make_writer("table", out, [b"/w"], width=100).write(r)
    assert "content" in out.getvalue().decode() and "\x1b" not in out.getvalue().decode()


@pytest.mark.parametrize("argv, words", [
    (["stream", "--content", "--content-max", "0"], "must be 1 to 131072"),
    (["stream", "--content", "--content-max", "131073"], "must be 1 to 131072"),
    (["stream", "--content", "--ops", "open,read"], "--ops must include write"),
])
def test_bad_content_options(argv, words, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err


def test_the_spool_keeps_captured_writes_in_order(tmp_path):
    from sniff_tui.session.spool import SessionRecording
    spool = SessionRecording(str(tmp_path))
    counted = Record(ts=1.0, op="write", pid=7, tid=7, ppid=1, uid=0, comm=b"vim", path=b"/w/cfg", bytes=5)
    spool.append([counted])
    spool.append_content([rec(), rec(base=True, data=b"")])
    spool.append([counted])
    assert list(spool.iter_records()) == [counted, rec(), rec(base=True, data=b""), counted]
    out = tmp_path / "export.jsonl"
    assert spool.export_jsonl(str(out)) == 4
    assert oct(os.stat(out).st_mode & 0o777) == "0o600"
    assert [json.loads(x)["op"] for x in out.read_text().splitlines()] == ["write", "content", "content", "write"]


def test_replay_reads_content_lines(tmp_path):
    from sniff_tui.core.feed import Feed
    from sniff_tui.core.replay import ReplaySource
    import threading
    path = tmp_path / "r.jsonl"
    path.write_bytes(rec().to_json_bytes() + b"\n" + rec(base=True).to_json_bytes() + b"\n")
    source = ReplaySource(str(path))
    feed = Feed()
    source.run(feed, threading.Event())
    assert feed.drain() == [rec(), rec(base=True)] and source.has_content and source.error_count == 0


def test_changes_without_bytes_to_capture_are_said():
    """content_uncaptured (the kernel's count of in-scope changes with no buffer to copy) reaches
    stream's closing line and the Losses pane; absent, neither mentions it."""
    from sniff_tui.core.record import SourceStats
    from sniff_tui.session.losses import loss_rows
    from sniff_tui.session.state import SessionState
    from sniff_tui.core.losses import stream_loss_line as loss_line
    state = SessionState([b"/w"])
    state.set_source_stats(SourceStats(counters={"content_uncaptured": 0}))
    assert "not copied" not in dict(loss_rows(state)) and loss_line(state.source_stats) == ""
    state.set_source_stats(SourceStats(counters={"content_uncaptured": 3}))
    assert dict(loss_rows(state))["content not copied"] == 3
    assert loss_line(state.source_stats).count("3 changes of captured files with no bytes to capture") == 1
    assert set(content.COUNTERS) >= {"uncaptured", "uncaptured_bytes", "drops", "unreadable"}


def test_a_counter_take_that_stopped_waiting_is_said():
    """A take that went ahead after waiting out the kernel's adds for 1 s may miss an increment:
    stream's closing line says how many (mapops.Guard.waits_over, as take_waits_over)."""
    from sniff_tui.core.losses import stream_loss_line as loss_line
    from sniff_tui.core.record import SourceStats
    assert loss_line(SourceStats(counters={"take_waits_over": 0})) == ""
    assert loss_line(SourceStats(counters={"take_waits_over": 2})).startswith("2 counter takes went ahead")
