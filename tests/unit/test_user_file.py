"""Files sniff-tui writes for the user (-o): a new one belongs to the user who ran sudo; an
existing one (a file of theirs, /dev/null) is written but keeps its mode and owner."""
import os
import stat

from sniff_tui.commands.stream import open_user_file


def test_a_new_file_is_not_world_writable_and_belongs_to_the_sudo_user(tmp_path, monkeypatch):
    monkeypatch.setenv("SUDO_UID", "65534")
    monkeypatch.setenv("SUDO_GID", "65534")
    path = tmp_path / "out.jsonl"
    with open_user_file(str(path)) as f:
        f.write(b"x\n")
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o644
    if os.geteuid() == 0:
        assert (st.st_uid, st.st_gid) == (65534, 65534)


def test_an_existing_file_keeps_its_mode_and_owner_and_is_truncated(tmp_path, monkeypatch):
    monkeypatch.setenv("SUDO_UID", "65534")
    monkeypatch.setenv("SUDO_GID", "65534")
    path = tmp_path / "mine.jsonl"
    path.write_bytes(b"old content\n")
    os.chmod(path, 0o600)
    before = os.stat(path)
    with open_user_file(str(path)) as f:
        f.write(b"new\n")
    after = os.stat(path)
    assert path.read_bytes() == b"new\n"
    assert (stat.S_IMODE(after.st_mode), after.st_uid, after.st_gid) == (0o600, before.st_uid, before.st_gid)


def test_dev_null_is_left_alone():
    before = os.stat("/dev/null")
    with open_user_file("/dev/null") as f:
        f.write(b"gone\n")
    after = os.stat("/dev/null")
    assert (after.st_mode, after.st_uid, after.st_gid) == (before.st_mode, before.st_uid, before.st_gid)
