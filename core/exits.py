"""Exit codes and the one error printer: every problem the user can fix is one line
`sniff-tui: …` on stderr and a non-zero exit (2 for usage), never a traceback."""
from __future__ import annotations

import sys

EXIT_FAIL = 1
EXIT_USAGE = 2


def fail(message: str, code: int = EXIT_FAIL) -> int:
    """One short line on stderr (a 5,000-character directory name is cut in the middle, control
    characters escaped), and the exit code to return."""
    from sniff_tui.core.textfmt import one_line    # humanize and rich: not for a one-line error's sake
    print(f"sniff-tui: {one_line(message)}", file=sys.stderr)
    return code


def say(message: str) -> None:
    """A line of ours on stderr that is not an error (a note, the stats line): not cut."""
    print(f"sniff-tui: {message}", file=sys.stderr)
