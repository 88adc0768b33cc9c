"""Issue 11, items 6 and 9: every replay problem is one line with the right words, before any
dashboard starts; an absurdly long argument gives a short line."""
from __future__ import annotations

import os

import pytest

from sniff_tui.commands.cli import main


def one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    return err.strip()


def test_replay_of_a_missing_file(tmp_path, capsys):
    assert main(["replay", str(tmp_path / "nope.jsonl")]) == 2
    assert one_line(capsys).endswith("nope.jsonl: no such file")


def test_replay_of_a_directory(tmp_path, capsys):
    assert main(["replay", str(tmp_path)]) == 2
    assert "is a directory" in one_line(capsys)


def test_replay_of_an_empty_file(tmp_path, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert main(["replay", str(empty)]) == 2
    assert "empty file (nothing to replay)" in one_line(capsys)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_replay_of_an_unreadable_file_as_a_user(tmp_path, capsys):
    locked = tmp_path / "locked.jsonl"
    locked.write_text("{}\n")
    locked.chmod(0)
    assert main(["replay", str(locked)]) == 2
    assert "permission denied" in one_line(capsys)


def test_replay_of_an_unreadable_file(tmp_path, capsys, monkeypatch):
    # As root nothing is unreadable by mode: make open() refuse the way the kernel would.
    import builtins
    real_open = builtins.open
    target = str(tmp_path / "locked.jsonl")
    (tmp_path / "locked.jsonl").write_text("{}\n")

    def refusing_open(file, *args, **kw):
        if str(file) == target:
            raise PermissionError(13, "Permission denied", target)
        return real_open(file, *args, **kw)
    monkeypatch.setattr(builtins, "open", refusing_open)
    assert main(["replay", target]) == 2
    line = one_line(capsys)
    assert "cannot read (permission denied)" in line and "Traceback" not in line


def test_a_5000_character_directory_gives_a_short_line(capsys):
    assert main(["stream", "-d", "/nonexistent/" + "x" * 5000, "--duration", "0"]) != 0
    line = one_line(capsys)
    assert len(line) <= 220 and line.endswith("File name too long")


def test_a_failing_probe_reader_stops_the_stream_with_one_line(tmp_path, capsys, monkeypatch):
    """The reader thread's exception (here the one a full retiring map once raised) ends the
    stream at once with one line and exit 1, instead of a traceback and a stream that runs on
    reading nothing."""
    import signal

    from sniff_tui.commands import stream
    from sniff_tui.probes.bpfsys import BPFError

    class Stats:
        ringbuf_drops = lost_calls = proc_drops = name_drops = content_drops = content_unnamed = 0
        feed_dropped = unplaced = unnamed = ns_unresolved = 0
        counters: dict = {}

    class Failing:
        probes = None
        watches = [str(tmp_path).encode()]

        class procs:
            cmdlines = False

        def run(self, feed, stop):
            raise BPFError(7, os.strerror(7))

        def detach(self):
            pass

        def stats(self):
            return Stats()

        def close(self):
            pass

    monkeypatch.setattr(stream, "open_live", lambda args, filters: (Failing(), 0))
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        code = main(["stream", "-d", str(tmp_path), "-o", str(tmp_path / "out.jsonl")])
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert code == 1
    line = one_line(capsys)
    assert "reading the probes failed" in line and "Argument list too long" in line, line
