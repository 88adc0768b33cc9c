"""Time to the first frame of the dashboard, in a real terminal (tmux), as a user starts it.

    sudo .venv/bin/python bench/bench_first_frame.py [--rounds 5]

From the moment the command is started to: the first frame (the header and the Events pane on
screen), and, live, the probes loaded ("LIVE" in the header). Target: first frame <= 0.5 s.
Runs the live dashboard as root, and a replay of the demo recording (no root) always.
Prints a markdown table of medians (and the worst round), with the floor: a one-widget Textual
app started the same way, which says what any Textual program costs on the machine.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "tests" / "ui" / "data" / "demo.jsonl"
PYTHON = ROOT / ".venv" / "bin" / "python"


# What any Textual app costs to start on this machine: the figure the others compare with.
FLOOR_APP = """
from textual.app import App
from textual.widgets import Static


class Floor(App):
    def compose(self):
        yield Static("sniff-tui Events")


Floor().run()
"""


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True).stdout


def one_round(command: str, until_live: bool) -> tuple[float, float]:
    session = f"sniff-first-frame-{os.getpid()}"
    start_file = Path(tempfile.mkdtemp()) / "start"
    # The shell records its start time (ns) just before exec'ing the dashboard.
    shell = (f"date +%s%N > {start_file}; exec {command}")
    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40", shell)
    first = live = float("nan")
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            screen = tmux("capture-pane", "-p", "-t", session)
            now = time.time()
            if first != first and "sniff-tui" in screen and "Events" in screen:
                first = now
            if first == first and (not until_live or "LIVE" in screen):
                live = now
                break
            time.sleep(0.005)
        while not start_file.exists() or not start_file.read_text().strip():
            time.sleep(0.01)
        started = int(start_file.read_text()) / 1e9
        tmux("send-keys", "-t", session, "q")
        time.sleep(0.5)
    finally:
        tmux("kill-session", "-t", session)
        shutil.rmtree(start_file.parent, ignore_errors=True)
    return first - started, live - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    floor = Path(tempfile.mkdtemp()) / "floor.py"
    floor.write_text(FLOOR_APP)
    cases = [("replay of the demo recording", f"{PYTHON} -m tui.cli replay {DEMO}", False),
             ("floor: a one-widget Textual app", f"{PYTHON} {floor}", False)]
    if os.geteuid() == 0:
        watched = tempfile.mkdtemp(prefix="sniff-ff-")
        cases.insert(0, ("live (probes load in the worker)",
                         f"{PYTHON} -m tui.cli -d {watched}", True))
    print("| start | first frame (median / worst) | probes live (median) | target | met |")
    print("| --- | --- | --- | --- | --- |")
    for name, command, until_live in cases:
        rounds = [one_round(command, until_live) for _ in range(args.rounds)]
        firsts = [r[0] for r in rounds]
        lives = [r[1] for r in rounds]
        median = statistics.median(firsts)
        live = f"{statistics.median(lives):.2f} s" if until_live else "—"
        print(f"| {name} | {median:.2f} s / {max(firsts):.2f} s | {live} | ≤ 0.5 s | "
              f"{'yes' if median <= 0.5 else 'no'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
