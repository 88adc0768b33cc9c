"""End to end: the real dashboard with live probes in a real terminal (tmux), as root. A
process with a known name writes under the watched directory; its name and file must appear
on the screen; `?` shows help; `q` quits cleanly and leaves no probe behind."""
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from interpreter import PYTHON
from tests.kernel.kernel_support import our_program_ids

ROOT = Path(__file__).resolve().parents[2]
SESSION = f"sniff-e2e-{os.getpid()}"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="live probes need root")


def tmux(*args, check=True):
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=check)


def screen() -> str:
    return tmux("capture-pane", "-p", "-t", SESSION).stdout


def wait_for(predicate, timeout=60, what="screen"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = screen()
        if predicate(text):
            return text
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}; screen was:\n{screen()}")


def test_live_dashboard_in_tmux(tmp_path):
    assert shutil.which("tmux"), "tmux is installed by scripts/setup.sh"
    watched = tmp_path / "watched"
    watched.mkdir()
    status = tmp_path / "status"
    before = our_program_ids()
    command = (f"cd {watched} && PYTHONPATH={ROOT} {PYTHON} -m tui.cli; "
               f"echo $? > {status}")
    tmux("new-session", "-d", "-s", SESSION, "-x", "160", "-y", "48", command)
    try:
        wait_for(lambda t: "LIVE" in t and "Events" in t, timeout=120, what="the dashboard")
        writer = ("import ctypes, os, sys, time\n"
                  "ctypes.CDLL(None).prctl(15, b'e2e\\x1b[31mw', 0, 0, 0)\n"
                  "for i in range(20):\n"
                  "    with open(os.path.join(sys.argv[1], 'e2e-report.txt'), 'a') as f:\n"
                  "        f.write('line %d\\n' % i)\n"
                  "    time.sleep(0.05)\n")
        subprocess.run(["/usr/bin/python3", "-c", writer, str(watched)], check=True)
        wait_for(lambda t: "e2e-report.txt" in t, what="the writer's records")
        tmux("send-keys", "-t", SESSION, "2")
        # The name's escape shows as four characters, and no raw ESC from it reaches the
        # terminal (the capture with -e keeps the escapes the screen really holds).
        wait_for(lambda t: "e2e\\x1b[31mw" in t, what="the writer in the process pane")
        raw = tmux("capture-pane", "-p", "-e", "-t", SESSION).stdout
        assert "\x1b[31mw" not in raw
        tmux("send-keys", "-t", SESSION, "?")
        wait_for(lambda t: "Quit sniff-tui" in t, what="the help screen")
        tmux("send-keys", "-t", SESSION, "Escape")
        # On a busy machine a fixed pause is not enough: `q` in the help closes the help.
        wait_for(lambda t: "Quit sniff-tui" not in t, what="the help screen to close")
        tmux("send-keys", "-t", SESSION, "q")
        deadline = time.monotonic() + 30
        while not status.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert status.read_text().strip() == "0"
    finally:
        tmux("kill-session", "-t", SESSION, check=False)
    deadline = time.monotonic() + 10
    while not our_program_ids() <= before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert our_program_ids() <= before
