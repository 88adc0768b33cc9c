"""A real terminal for end-to-end tests: one tmux session, what its screen shows, and the
terminal modes a program left it in."""
from __future__ import annotations

import subprocess
import time
from typing import Callable, Optional

# Modes a full-screen program switches on and must give back (tmux's format variables).
MODES = ("alternate_on", "cursor_flag", "mouse_any_flag", "mouse_button_flag",
         "mouse_standard_flag", "mouse_sgr_flag", "keypad_flag", "keypad_cursor_flag")
# What a shell's terminal shows before and after a full-screen program: no alternate screen,
# a cursor, no mouse reporting, normal keypad.
SHELL_MODES = {"alternate_on": "0", "cursor_flag": "1", "mouse_any_flag": "0",
               "mouse_button_flag": "0", "mouse_standard_flag": "0", "mouse_sgr_flag": "0",
               "keypad_flag": "0", "keypad_cursor_flag": "0"}


def tmux(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=check)


class Pane:
    def __init__(self, name: str, width: int = 120, height: int = 40,
                 command: str = "bash --norc --noprofile", cwd: Optional[str] = None) -> None:
        self.name = name
        where = ["-c", str(cwd)] if cwd else []
        tmux("new-session", "-d", "-s", name, *where, "-x", str(width), "-y", str(height), command)

    def send(self, *keys: str) -> None:
        tmux("send-keys", "-t", self.name, *keys)

    def type_line(self, text: str) -> None:
        self.send("-l", text)          # literally: no key names in a command line
        self.send("Enter")

    def screen(self, escapes: bool = False, history: bool = False, join: bool = False) -> str:
        """``history``: also the lines scrolled off the top; ``join``: a line the terminal
        wrapped as one line."""
        args = ["capture-pane", "-p", "-t", self.name]
        args += ["-e"] * escapes + ["-S", "-"] * history + ["-J"] * join
        return tmux(*args).stdout

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 60,
                 what: str = "screen") -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.screen()
            if predicate(text):
                return text
            time.sleep(0.25)
        raise AssertionError(f"timed out waiting for {what}; screen was:\n{self.screen()}")

    def resize(self, width: int, height: int) -> None:
        tmux("resize-window", "-t", self.name, "-x", str(width), "-y", str(height))

    def modes(self) -> dict[str, str]:
        out = tmux("display-message", "-p", "-t", self.name,
                   "\t".join(f"#{{{m}}}" for m in MODES)).stdout.rstrip("\n")
        return dict(zip(MODES, out.split("\t")))

    def close(self) -> None:
        tmux("kill-session", "-t", self.name, check=False)

    def __enter__(self) -> "Pane":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
