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
from tmux_pane import Pane

ROOT = Path(__file__).resolve().parents[2]
SESSION = f"sniff-e2e-{os.getpid()}"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="live probes need root")


def test_live_dashboard_in_tmux(tmp_path):
    assert shutil.which("tmux"), "tmux is installed by scripts/setup.sh"
    watched = tmp_path / "watched"
    watched.mkdir()
    status = tmp_path / "status"
    before = our_program_ids()
    command = (f"cd {watched} && PYTHONPATH={ROOT} {PYTHON} -m sniff_tui.commands.cli; "
               f"echo $? > {status}")
    with Pane(SESSION, 160, 48, command) as pane:
        pane.wait_for(lambda t: "LIVE" in t and "Events" in t, timeout=120, what="the dashboard")
        writer = ("import ctypes, os, sys, time\n"
                  "ctypes.CDLL(None).prctl(15, b'e2e\\x1b[31mw', 0, 0, 0)\n"
                  "for i in range(20):\n"
                  "    with open(os.path.join(sys.argv[1], 'e2e-report.txt'), 'a') as f:\n"
                  "        f.write('line %d\\n' % i)\n"
                  "    time.sleep(0.05)\n")
        subprocess.run(["/usr/bin/python3", "-c", writer, str(watched)], check=True)
        pane.wait_for(lambda t: "e2e-report.txt" in t, what="the writer's records")
        pane.send("2")
        # The name's escape shows as four characters, and no raw ESC from it reaches the
        # terminal (the capture with -e keeps the escapes the screen really holds).
        pane.wait_for(lambda t: "e2e\\x1b[31mw" in t, what="the writer in the process pane")
        raw = pane.screen(escapes=True)
        assert "\x1b[31mw" not in raw
        pane.send("?")
        pane.wait_for(lambda t: "Quit sniff-tui" in t, what="the help screen")
        pane.send("Escape")
        # On a busy machine a fixed pause is not enough: `q` in the help closes the help.
        pane.wait_for(lambda t: "Quit sniff-tui" not in t, what="the help screen to close")
        pane.send("q")
        deadline = time.monotonic() + 30
        while not status.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert status.read_text().strip() == "0"
    deadline = time.monotonic() + 10
    while not our_program_ids() <= before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert our_program_ids() <= before
