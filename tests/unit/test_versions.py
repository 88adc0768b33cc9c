"""Versions and diffs of captured files (session/versions.py) and `sniff-tui diff`."""
from __future__ import annotations


import pytest

from sniff_tui.core.record import ContentRecord, Record
from sniff_tui.session.versions import ContentHistory, binary_summary, diff_lines
from sniff_tui.commands.cli import main

P = b"/w/app.conf"


def base(data: bytes, ts=1.0, path=P) -> ContentRecord:
    return ContentRecord(ts, 5, 5, b"vim", path, 0, len(data), data, base=True)


def write(data: bytes, offset=0, ts=2.0, path=P, length=None, pid=7, comm=b"ed") -> ContentRecord:
    return ContentRecord(ts, pid, pid, comm, path, offset, len(data) if length is None else length,
                         data, length is not None and length > len(data))


def op(name: str, ts=3.0, path=P, **kw) -> Record:
    return Record(ts=ts, op=name, pid=7, tid=7, ppid=1, uid=0, comm=b"ed", path=path, **kw)


def kinds(v) -> list[tuple[str, bytes]]:
    return diff_lines(v)


def test_a_version_at_each_close_after_writes():
    h = ContentHistory()
    h.apply([base(b"a\nb\nc\n"), write(b"B", offset=2), op("close"), op("close", ts=4.0),
             write(b"d\n", offset=6, ts=5.0), op("close", ts=6.0)])
    v1, v2 = h.versions(P)              # the second close had no writes: no version
    assert (v1.kind, v1.pid, v1.comm, v1.ts) == ("write", 7, b"ed", 3.0)
    assert kinds(v1) == [("---", b"--- a/w/app.conf"), ("+++", b"+++ b/w/app.conf"),
                         ("@@", b"@@ -1,3 +1,3 @@"), (" ", b" a"), ("-", b"-b"), ("+", b"+B"),
                         (" ", b" c")]
    assert v1.counts() == (1, 1)
    assert (v2.before, v2.after) == (b"a\nB\nc\n", b"a\nB\nc\nd\n") and v2.counts() == (1, 0)


def test_an_atomic_save_is_a_change_of_the_file():
    tmp = b"/w/.app.conf.swp"
    h = ContentHistory()
    h.apply([base(b"x = 1\n"), base(b"", path=tmp, ts=1.5), write(b"x = 2\n", path=tmp),
             op("close", path=tmp), op("rename", ts=4.0, path=tmp, new_path=P)])
    v = h.versions(P)[-1]
    assert (v.kind, v.renamed_from, v.before, v.after) == ("rename", tmp, b"x = 1\n", b"x = 2\n")
    assert [k for k, _ in kinds(v)] == ["---", "+++", "@@", "-", "+"]
    h.apply([write(b"3", offset=4, ts=5.0), op("close", ts=6.0)])   # carries on from the rename
    assert h.versions(P)[-1].before == b"x = 2\n" and h.versions(P)[-1].after == b"x = 3\n"


def test_a_base_read_after_the_file_changed_is_not_trusted():
    h = ContentHistory()
    h.apply([base(b"new\n", ts=2.5), write(b"new\n", ts=2.0), op("close")])
    (v,) = h.versions(P)
    assert v.before is None and kinds(v) == [("note", b"the file changed before its first content "
                                                      b"could be read: no diff")]
    h.apply([write(b"NEW\n", ts=4.0), op("close", ts=5.0)])          # later versions are exact
    assert kinds(h.versions(P)[-1])[-2:] == [("-", b"-new"), ("+", b"+NEW")]
    # the same for a rename over a file whose base was read after it
    h.apply([base(b"after", ts=9.0, path=b"/w/t"), base(b"z", ts=7.5, path=b"/w/s"),
             write(b"zz", path=b"/w/s", ts=7.6), op("close", ts=7.7, path=b"/w/s"),
             op("rename", ts=8.0, path=b"/w/s", new_path=b"/w/t")])
    assert h.versions(b"/w/t")[-1].note.startswith("the file changed")


def test_unknown_base_and_cut_writes_say_so():
    h = ContentHistory()
    h.apply([write(b"hello\n"), op("close")])
    assert kinds(h.versions(P)[0]) == [("note", b"its content before sniff-tui saw it is unknown")]
    h.apply([write(b"x" * 10, length=5000, ts=4.0), op("close", ts=5.0)])
    assert h.versions(P)[-1].note.startswith("partial: a write of 5000 bytes at 0 was kept only")
    assert h.partial_files == 1


def test_limits_per_file_and_in_all():
    h = ContentHistory(per_file=100, total=1000)
    h.apply([base(b""), write(b"x" * 50, offset=80), op("close")])
    assert h.versions(P)[0].note == "partial: larger than 100 bytes" and h.partial_files == 1
    h2 = ContentHistory(per_file=1000, total=150)
    for i, path in enumerate((b"/w/a", b"/w/b")):
        h2.apply([base(b"", path=path), write(b"y" * 60, path=path), op("close", path=path)])
    # a: 60 of shadow + 60 of version; b's version no longer fits
    assert h2.versions(b"/w/a")[0].note is None
    assert "MiB kept for all files" in h2.versions(b"/w/b")[0].note and h2.partial_files == 1
    assert h2.held <= 150


def test_binary_is_summarised_never_shown():
    h = ContentHistory()
    h.apply([base(bytes(200)), write(b"\xff" * 16, offset=100), op("close")])
    assert kinds(h.versions(P)[0]) == [("note", b"binary: 16 bytes changed at offset 100")]
    assert binary_summary(b"\0ab", b"\0ab\0") == "binary: size 3 -> 4 bytes"


def recording(tmp_path, records) -> str:
    path = tmp_path / "rec.jsonl"
    path.write_bytes(b"".join(r.to_json_bytes() + b"\n" for r in records))
    return str(path)


def test_the_diff_command(tmp_path, capsys):
    weird = b"/w/\x1b[31mred"
    rec = recording(tmp_path, [base(b"one\ntwo\n"), write(b"TWO\n", offset=4, ts=1796572547.25),
                               op("close", ts=1796572547.5), base(b"", path=weird),
                               write(b"\x1b]0;pwned\x07\n", path=weird), op("close", path=weird)])
    assert main(["diff", rec, "/w/app.conf"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("=== /w/app.conf  20") and out[0].endswith("ed (pid 7)  written, then closed")
    assert out[1:] == ["--- a/w/app.conf", "+++ b/w/app.conf", "@@ -1,2 +1,2 @@", " one", "-two", "+TWO"]
    assert main(["diff", rec]) == 0
    text = capsys.readouterr().out
    assert "\x1b" not in text and "\x07" not in text and "+\\x1b]0;pwned\\x07" in text


@pytest.mark.parametrize("setup, argv_tail, code, words", [
    (None, [], 2, "no such file"),
    ([op("write", bytes=3)], [], 1, "no captured content (record with --content)"),
    ([base(b"a"), write(b"b"), op("close")], ["/w/other"], 1, "/w/other: no captured change in"),
])
def test_diff_errors_are_one_line(tmp_path, capsys, setup, argv_tail, code, words):
    rec = recording(tmp_path, setup) if setup is not None else str(tmp_path / "missing.jsonl")
    assert main(["diff", rec, *argv_tail]) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err


def test_diff_refuses_a_directory(tmp_path, capsys):
    assert main(["diff", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
