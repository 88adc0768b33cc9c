"""Issue 11, item 7, end to end in a real terminal (tmux, no root: a replay): every way out
(q, ctrl+c, SIGTERM, SIGHUP), after resizes, leaves the shell's screen as it was: no line of
the dashboard, the cursor and the modes back, the right exit status, no crash."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from interpreter import PYTHON

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "tests" / "ui" / "data" / "demo.jsonl"
DASHBOARD_WORDS = ("Events", "Top files", "Losses", "REPLAY", "ops/s")

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


def tmux(*args, check=True):
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=check)


def screen(session: str, escapes: bool = False) -> str:
    return tmux("capture-pane", "-p", *(["-e"] if escapes else []), "-t", session).stdout


def wait_for(session, predicate, timeout=30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = screen(session)
        if predicate(text):
            return text
        time.sleep(0.1)
    raise AssertionError(f"timed out; screen was:\n{screen(session)}")


@pytest.mark.parametrize("way_out, status", [("q", "0"), ("C-c", "0"), ("TERM", "143"),
                                             ("HUP", "129")])
def test_every_way_out_leaves_a_clean_terminal(tmp_path, way_out, status):
    session = f"sniff-exit-{os.getpid()}-{way_out}"
    pidfile = tmp_path / "pid"
    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40", "bash --norc --noprofile")
    try:
        tmux("send-keys", "-t", session,
             f"cd {ROOT} && echo $$ > /dev/null && (echo $BASHPID > {pidfile}; exec "
             f"{PYTHON} -m sniff_tui.commands.cli replay {DEMO}); echo EXIT=$?", "Enter")
        wait_for(session, lambda t: "REPLAY DONE" in t)
        for width, height in ((80, 24), (160, 48), (100, 30), (120, 40)):
            tmux("resize-window", "-t", session, "-x", str(width), "-y", str(height))
            time.sleep(0.3)
        wait_for(session, lambda t: "REPLAY DONE" in t)
        if way_out in ("TERM", "HUP"):
            os.kill(int(pidfile.read_text()), getattr(__import__("signal"), "SIG" + way_out))
        else:
            tmux("send-keys", "-t", session, way_out)
        text = wait_for(session, lambda t: re.search(r"EXIT=\d", t) is not None)
        assert f"EXIT={status}" in text
        assert not any(word in text for word in DASHBOARD_WORDS), text
        raw = screen(session, escapes=True)
        assert "\x1b[" not in re.split(r"EXIT=\d+", raw)[1]      # no colour left switched on
        # The shell still echoes: the terminal's modes were given back.
        tmux("send-keys", "-t", session, "echo still-$((6*7))", "Enter")
        wait_for(session, lambda t: "still-42" in t, timeout=5)
    finally:
        tmux("kill-session", "-t", session, check=False)


@pytest.mark.parametrize("quit_first", [False, True])
def test_a_closed_terminal_ends_the_process(tmp_path, quit_first):
    """The terminal itself goes away (the tmux window is killed: SIGHUP, then a dead tty),
    also while the dashboard is quitting. An orphan spinning at 60 % CPU on the dead tty, an
    hour after its window was killed right after `q`, was seen before this test existed."""
    session = f"sniff-gone-{os.getpid()}"
    pidfile = tmp_path / "pid"
    # Started in ROOT: `python -m` runs this tree's code.
    tmux("new-session", "-d", "-s", session, "-c", str(ROOT), "-x", "120", "-y", "40",
         "bash --norc --noprofile")
    tmux("send-keys", "-t", session,
         f"(echo $BASHPID > {pidfile}; exec {PYTHON} -m sniff_tui.commands.cli replay {DEMO})",
         "Enter")
    try:
        wait_for(session, lambda t: "REPLAY DONE" in t)
    except AssertionError:
        tmux("kill-session", "-t", session, check=False)
        raise
    pid = int(pidfile.read_text())
    if quit_first:
        tmux("send-keys", "-t", session, "q")
        time.sleep(0.05)
    tmux("kill-session", "-t", session)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, 9)              # do not leave it spinning behind the test
    raise AssertionError("the dashboard outlived its terminal by 10 s")
