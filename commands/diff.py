"""`sniff-tui diff RECORDING [PATH...]`: every change of each captured file (or of the files
named), in order: a header (time, process, kind of change), then the unified diff. Reads a JSONL
recording made with --content (or a history database); no root needed."""
from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from typing import IO, Optional

from sniff_tui.core.record import ContentRecord, Record
from sniff_tui.session.versions import ContentHistory, Version, diff_lines
from sniff_tui.core.textfmt import visible
from sniff_tui.commands.replaying import replay_problem
from sniff_tui.core.exits import EXIT_FAIL, EXIT_USAGE, fail, say

# Colours for a terminal (never for a file or a pipe).
_COLOURS = {"---": "1", "+++": "1", "@@": "36", "-": "31", "+": "32", "note": "33", "header": "1;35"}


def load_history(path: str) -> tuple[ContentHistory, int]:
    """The versions of every captured file in a recording, and the lines that did not parse.
    Raises OSError, or ValueError with a reason for the user."""
    from sniff_tui.history.schema import is_sqlite_file
    history = ContentHistory()
    if is_sqlite_file(path):
        from sniff_tui.history.content_read import read_ordered
        from sniff_tui.history.schema import HistoryError
        try:
            history.apply(read_ordered(path))
        except HistoryError as exc:
            raise ValueError(str(exc)) from None
        return history, 0
    bad = 0
    with open(path, "rb") as fh:
        for raw in fh:
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
                op = obj.get("op") if isinstance(obj, dict) else None
                if op in ("stats", "process"):
                    continue
                rec = ContentRecord.from_dict(obj) if op == "content" else Record.from_dict(obj)
            except (ValueError, UnicodeDecodeError, RecursionError):
                bad += 1
                continue
            history.apply((rec,))
    return history, bad


def header(v: Version) -> str:
    when = datetime.fromtimestamp(v.ts).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    if v.kind == "rename":
        what = f"renamed over it from {visible(v.renamed_from or b'')}"
    else:
        what = "written, then closed"
    return f"=== {visible(v.path)}  {when}  {visible(v.comm)} (pid {v.pid})  {what}"


def render(v: Version, colour: bool = False) -> list[str]:
    lines = [("header", header(v))] + [(kind, visible(text)) for kind, text in diff_lines(v)]
    if not colour:
        return [text for _, text in lines]
    return [f"\x1b[{_COLOURS[kind]}m{text}\x1b[0m" if kind in _COLOURS else text for kind, text in lines]


def run_diff(args, out: Optional[IO[str]] = None) -> int:
    out = out or sys.stdout
    problem = replay_problem(args.recording)
    if problem is not None:
        return fail(f"{args.recording}: {problem}", EXIT_USAGE)
    try:
        history, bad = load_history(args.recording)
    except OSError as exc:
        return fail(f"{args.recording}: cannot read ({exc.strerror or exc})", EXIT_USAGE)
    except ValueError as exc:
        return fail(f"{args.recording}: {exc}")
    if not history.captured:
        return fail(f"{args.recording}: no captured content (record with --content)")
    wanted = [_as_path(p) for p in args.paths] or history.paths()
    for path in wanted:
        if not history.versions(path):
            return fail(f"{visible(path)}: no captured change in {args.recording}")
    colour = out.isatty() if hasattr(out, "isatty") else False
    try:
        for path in wanted:
            for v in history.versions(path):
                out.write("\n".join(render(v, colour)) + "\n")
        out.flush()
    except BrokenPipeError:          # `| head`: the reader has what it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    if bad:
        say(f"{bad} lines of {args.recording} did not parse (skipped)")
    return 0 if not bad else EXIT_FAIL


def _as_path(text: str) -> bytes:
    return os.fsencode(os.path.abspath(text))
