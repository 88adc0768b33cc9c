"""`sniff-tui replay FILE`: the dashboard on a recording, JSONL or a history database."""
from __future__ import annotations

import os
from typing import Optional

from sniff_tui.core.exits import EXIT_USAGE, fail
from sniff_tui.core.filters import Filters


def run_replay(args) -> int:
    from sniff_tui.core.replay import ReplaySource
    from sniff_tui.tui.startup import leave, run_dashboard
    if not os.path.isfile(args.file) and not os.path.isdir(args.file):
        problem = replay_problem(args.file)
        return fail(f"{args.file}: {problem or 'no such file'}", EXIT_USAGE)
    problem = replay_problem(args.file)
    if problem is not None:
        return fail(f"{args.file}: {problem}", EXIT_USAGE)
    from sniff_tui.history.schema import HistoryError, is_sqlite_file
    if is_sqlite_file(args.file):
        from sniff_tui.history.replay_db import DbReplaySource
        try:
            source = DbReplaySource(args.file, session=args.session, speed=args.speed)
        except HistoryError as exc:
            return fail(str(exc))
        return leave(run_dashboard(source, Filters(), source.watches))
    if args.session is not None:
        return fail(f"{args.file}: --session is for a history database, not a JSONL recording",
                    EXIT_USAGE)
    try:
        source = ReplaySource(args.file, speed=args.speed)
    except OSError as exc:
        return fail(f"{args.file}: cannot read ({exc.strerror or exc})", EXIT_USAGE)
    return leave(run_dashboard(source, Filters(), source.watches))


def replay_problem(path: str) -> Optional[str]:
    """Why ``path`` cannot be replayed, in a few words, or None."""
    try:
        with open(path, "rb") as fh:
            if not fh.read(1):
                return "empty file (nothing to replay)"
    except FileNotFoundError:
        return "no such file"
    except IsADirectoryError:
        return "is a directory, not a recording"
    except PermissionError:
        return "cannot read (permission denied)"
    except OSError as exc:
        return f"cannot read ({exc.strerror or exc})"
    return None


