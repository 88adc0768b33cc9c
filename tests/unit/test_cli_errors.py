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
