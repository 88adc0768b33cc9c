"""The terminal the dashboard draws on."""
from __future__ import annotations

import os
import sys


def terminal_driver():
    """Textual's Linux driver, drawing on a duplicate of fd 2 taken now. Textual draws on fd 2,
    and the probe loader points fd 2 at a file while BCC compiles (it keeps the compiler's
    noise for -v): without the duplicate, the frames drawn while the probes load would go to
    that file and the screen would stay blank for those seconds."""
    from textual.drivers.linux_driver import LinuxDriver
    err = sys.__stderr__
    terminal = os.fdopen(os.dup(err.fileno()), "w", encoding=err.encoding or "utf-8",
                         errors=err.errors or "strict")

    class TerminalDriver(LinuxDriver):
        def __init__(self, *args, **kw) -> None:
            super().__init__(*args, **kw)
            self._file = terminal

    return TerminalDriver
