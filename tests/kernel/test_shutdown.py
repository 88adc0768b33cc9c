"""Stopping: every way out detaches every probe, flushes what was recorded (whole lines only)
and leaves nothing of ours in the kernel."""
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.kernel.kernel_support import OUR_PROGRAMS, all_program_ids, our_program_ids, programs_held_by

ROOT = Path(__file__).resolve().parents[2]
SNIFF = [str(ROOT / ".venv/bin/python"), "-m", "sniff_tui.commands.cli"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
STREAM_PROGRAMS: set = set()     # the programs the streams of the running test held


@pytest.fixture(autouse=True)
def nothing_left_behind():
    """Whatever the test did, no program of the stream process it ran outlives it. (By id: the
    machine may run other sniff-tui processes, loading and freeing programs of the same names.)"""
    STREAM_PROGRAMS.clear()
    yield
    # Programs held by a prog array (tail calls) are released by the kernel's deferred map
    # teardown, a moment after the process is gone (a kworker: tens of seconds when the
    # machine runs several loads of BPF programs at once).
    deadline = time.monotonic() + 60
    while all_program_ids() & STREAM_PROGRAMS and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not all_program_ids() & STREAM_PROGRAMS


def start(watched: Path, out: Path, *extra):
    ready = out.with_suffix(".ready")
    proc = subprocess.Popen([*SNIFF, "stream", "-d", str(watched), "-o", str(out), "--ready-file",
                             str(ready), *extra], env=ENV, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not ready.exists():
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    STREAM_PROGRAMS.update(programs_held_by(proc.pid))
    return proc


def write_files(watched: Path, n: int) -> None:
    subprocess.run(["/usr/bin/python3", "-c",
                    "import sys,os\nfor i in range(int(sys.argv[2])):\n"
                    "    open(os.path.join(sys.argv[1], f'f{i}'), 'w').write('x' * 10)",
                    str(watched), str(n)], check=True)


def assert_whole_json_lines(path: Path) -> list:
    data = path.read_bytes()
    assert data == b"" or data.endswith(b"\n")
    return [json.loads(line) for line in data.splitlines()]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_signal_flushes_detaches_and_exits_0(tmp_path, sig):
    watched = tmp_path / "w"
    watched.mkdir()
    out = tmp_path / "out.jsonl"
    before = our_program_ids()
    proc = start(watched, out)
    assert len(our_program_ids() - before) >= len(OUR_PROGRAMS)
    write_files(watched, 50)
    time.sleep(0.5)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    recs = assert_whole_json_lines(out)
    assert sum(1 for r in recs if r["op"] == "write") == 50


def test_second_interrupt_forces_a_quick_exit(tmp_path):
    watched = tmp_path / "w"
    watched.mkdir()
    proc = start(watched, tmp_path / "out.jsonl")
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode in (0, 130), err
    assert "Traceback" not in err


def test_reader_closing_the_pipe(tmp_path):
    watched = tmp_path / "w"
    watched.mkdir()
    ready = tmp_path / "ready"
    shell = (f"{' '.join(SNIFF)} stream -d {watched} --ready-file {ready} 2>{tmp_path / 'err'} | head -1 "
             f"> {tmp_path / 'first'}; echo ${{PIPESTATUS[0]}} > {tmp_path / 'status'}")
    proc = subprocess.Popen(["bash", "-c", shell], env=ENV, cwd=ROOT)
    deadline = time.monotonic() + 120
    while not ready.exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    for _ in range(20):
        write_files(watched, 20)
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    proc.wait(timeout=60)
    json.loads((tmp_path / "first").read_text())
    err = (tmp_path / "err").read_text()
    assert "Traceback" not in err and "output closed" in err
    assert (tmp_path / "status").read_text().strip() == "0"


def test_full_disk_under_o(tmp_path):
    watched = tmp_path / "w"
    watched.mkdir()
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)], check=True)
    try:
        out = small / "out.jsonl"
        proc = start(watched, out)
        write_files(watched, 2000)     # far more than 64 KiB of records
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 1
        assert "No space left on device" in err and "Traceback" not in err
        assert_whole_json_lines(out)
    finally:
        subprocess.run(["umount", str(small)], check=True)


def test_output_file_belongs_to_the_sudo_user(tmp_path):
    watched = tmp_path / "w"
    watched.mkdir()
    out = tmp_path / "rec.jsonl"
    env = {**ENV, "SUDO_UID": "65534", "SUDO_GID": "65534"}
    proc = subprocess.run([*SNIFF, "stream", "-d", str(watched), "-o", str(out), "--duration", "0.5"],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    st = out.stat()
    assert (st.st_uid, st.st_gid) == (65534, 65534)
    assert not st.st_mode & 0o002
