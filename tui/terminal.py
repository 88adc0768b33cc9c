"""The terminal the dashboard draws on."""
from __future__ import annotations

import io
import os
import sys
import threading


class Terminal(io.TextIOWrapper):
    """A duplicate of fd 2 that counts its flushes. Textual's writer thread flushes once its
    queue is empty, so a flush counted after a frame was queued means that frame reached the
    terminal: the dashboard starts loading the probes only then (``wait_flush``), because the
    load holds the GIL in long stretches and the writer thread needs it to write."""

    def __init__(self, fd: int, encoding: str, errors: str) -> None:
        # One write per frame (a frame at 200x60 is 50-100 KB): not one per 8 KB, each
        # of which needs the GIL back.
        super().__init__(io.BufferedWriter(io.FileIO(fd, "w"), buffer_size=1 << 20),
                         encoding=encoding, errors=errors)
        self._flushed = threading.Condition()
        self.flushes = 0

    def flush(self) -> None:
        super().flush()
        with self._flushed:
            self.flushes += 1
            self._flushed.notify_all()

    def wait_flush(self, after: int, timeout: float) -> bool:
        """Wait until there has been a flush since the count was ``after``."""
        with self._flushed:
            return self._flushed.wait_for(lambda: self.flushes > after, timeout)


def terminal_driver():
    """Textual's Linux driver, drawing on a duplicate of fd 2 taken now (its ``terminal``).
    Textual draws on fd 2, and the probe loader points fd 2 at a file while BCC compiles (it
    keeps the compiler's noise for -v): without the duplicate, the frames drawn while the
    probes load would go to that file and the screen would stay blank for those seconds."""
    from textual.drivers.linux_driver import LinuxDriver
    err = sys.__stderr__
    terminal = Terminal(os.dup(err.fileno()), encoding=err.encoding or "utf-8",
                        errors=err.errors or "strict")

    class TerminalDriver(LinuxDriver):
        def __init__(self, *args, **kw) -> None:
            super().__init__(*args, **kw)
            self._file = terminal

    TerminalDriver.terminal = terminal
    return TerminalDriver
