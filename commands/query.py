"""`sniff-tui query DB`: the command around ``history.query`` (arguments in, rows out).

Needs no root: only read access to the database. Every problem is one line on stderr and a
non-zero exit (2 for bad arguments, 1 for a database that cannot be read)."""
from __future__ import annotations

import io
import sys

from sniff_tui.core.exits import EXIT_FAIL, EXIT_USAGE, fail, say
from sniff_tui.core.filters import Filters

from sniff_tui.history.output import record_row, group_row, session_row, write
from sniff_tui.history.query import History, QuerySpec
from sniff_tui.history.schema import HistoryError
from sniff_tui.history.timespec import TimeSpecError, parse_time

def spec_from(args, filters: Filters) -> QuerySpec:
    """Raises TimeSpecError / ValueError with a one-line message."""
    since = parse_time(args.since) if args.since else None
    until = parse_time(args.until) if args.until else None
    if since is not None and until is not None and until <= since:
        raise ValueError("--until must be later than --since")
    return QuerySpec(filters=filters, paths=tuple(args.path or ()), since=since, until=until,
                     session=args.session, group_by=args.group_by, top=args.top, sort=args.sort)


def _stdout():
    """UTF-8 whatever the locale, and block-buffered even under PYTHONUNBUFFERED (one write
    per line cost 40 µs a record on a large answer)."""
    sys.stdout.flush()
    raw = io.FileIO(sys.stdout.fileno(), "w", closefd=False)
    return io.TextIOWrapper(io.BufferedWriter(raw, 1 << 16), encoding="utf-8",
                            errors="backslashreplace", newline="\n")


def _content(args, spec, history, out) -> int:
    """--ops content: the captured writes as JSONL content lines (after the records of the other
    ops asked for, if any)."""
    from sniff_tui.history.content_read import query_content
    if args.format != "jsonl" or spec.group_by:
        return fail("--ops content prints content lines: --format jsonl, no --group-by", EXIT_USAGE)
    n = write(out, "jsonl", history.records(spec), records=True) if args.content == "also" else 0
    for rec in query_content(history.conn, spec):
        out.write(rec.to_json() + "\n")
        n += 1
    out.flush()
    if n == 0:
        say("nothing matched")
    return 0


def run_query(args, filters: Filters, out=None) -> int:
    out = out or _stdout()
    try:
        spec = spec_from(args, filters)
    except (TimeSpecError, ValueError) as exc:
        return fail(str(exc), EXIT_USAGE)
    try:
        with History(args.db) as history:
            if args.list_sessions:
                rows = (session_row(s) for s in history.sessions())
                n = write(out, args.format, rows)
                if n == 0:
                    say("no sessions recorded")
                return 0
            if spec.session is not None:
                history.session(spec.session)        # an unknown session is an error, not empty
            if getattr(args, "content", None) is not None:      # --ops with content
                return _content(args, spec, history, out)
            if spec.group_by:
                n = write(out, args.format, (group_row(g) for g in history.groups(spec)))
            elif args.format == "jsonl":
                n = write(out, "jsonl", history.records(spec), records=True)
            else:
                full = args.format == "csv"
                n = write(out, args.format, (record_row(r, full) for r in history.records(spec)))
            out.flush()
            for note in history.notes(spec):
                say(f"note: {note}")
            if n == 0:
                say("nothing matched")
    except HistoryError as exc:
        return fail(str(exc), EXIT_FAIL)
    except BrokenPipeError:
        # The reader went away (`| head`): nothing more to say, and nothing left to flush.
        import os
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    return 0
