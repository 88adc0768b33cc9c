"""The sniff-tui command: `sniff-tui [options]` (the dashboard), `sniff-tui stream`, `query`,
`diff`, `replay`. Every problem the user can fix is one line on stderr and a non-zero exit, never
a traceback (core/exits.py)."""
from __future__ import annotations

import gc
import os
import sys
from typing import Optional

from sniff_tui.core.exits import EXIT_USAGE, fail, say
from sniff_tui.core.filters import FilterError, Filters
from sniff_tui.core.heap import keep_large_blocks_apart

from .options import UsageError, build_parser, content_max, filters_from, take_content_op


def main(argv: Optional[list[str]] = None) -> int:
    # No garbage collection while the dashboard starts (tui/startup.py says why): the
    # dashboard turns it back on after its first frame, the other commands at once.
    gc.disable()
    try:
        return _main(argv)
    finally:
        gc.enable()


def _main(argv: Optional[list[str]]) -> int:
    try:
        argv = sys.argv[1:] if argv is None else argv
        # Subcommand names are never abbreviated: without the word, it is not a query.
        args = build_parser(query_options="query" in argv).parse_args(argv)
        if args.command == "query":
            take_content_op(args)
        filters = filters_from(args) if args.command not in ("replay", "diff") else None
        if args.command in (None, "stream"):
            args.content_bytes = content_max(args)
    except (UsageError, FilterError) as exc:
        return fail(str(exc), EXIT_USAGE)
    if args.command in (None, "stream"):
        keep_large_blocks_apart()     # a live session runs for hours: its heap stays flat
    try:
        if args.command == "stream":
            gc.enable()
            from sniff_tui.commands.stream import run_stream
            return run_stream(args, filters)
        if args.command == "replay":
            from .replaying import run_replay
            return run_replay(args)
        if args.command == "diff":
            from sniff_tui.commands.diff import run_diff
            return run_diff(args)
        if args.command == "query":
            gc.enable()
            from sniff_tui.commands.query import run_query
            return run_query(args, filters)
        return run_live_dashboard(args, filters)
    except KeyboardInterrupt:
        return 130


def run_live_dashboard(args, filters: Filters) -> int:
    """The first frame at once: the probes load in the dashboard's worker ("loading
    probes…"); a load failure ends the dashboard and prints the same line as ``stream``.
    Nothing here imports the probes' modules (probes.live, bcc): the worker does, after the
    first frame (tui/startup.py)."""
    from sniff_tui.probes.watchdirs import WatchError, canonical_dir
    from sniff_tui.tui.startup import DeferredLiveSource, leave, run_dashboard
    try:
        watches = [canonical_dir(d) for d in args.dirs or [os.getcwd()]]
    except WatchError as exc:
        return fail(str(exc), EXIT_USAGE)

    def make():     # in the worker; a WatchError (a directory gone since) ends the dashboard
        from sniff_tui.probes.build import make_live
        return make_live(args, filters, log=say)

    source = DeferredLiveSource(watches, make)
    source.content_max = args.content_bytes        # --content: the app keeps versions
    store = None
    if args.db:
        from sniff_tui.history.dashboard_sink import open_dashboard_store
        store, code = open_dashboard_store(args, filters)     # --db: before the probes load
        if code:
            return code
    try:
        code = run_dashboard(source, filters, watches, load=source.open,
                             feed=store.feed(source) if store else None, drain=store is not None)
    except Exception as exc:
        from sniff_tui.probes.loader import LoadError
        if isinstance(exc, LoadError):
            if args.verbose and exc.detail:
                print(exc.detail, file=sys.stderr)
            code = fail(str(exc))
        elif isinstance(exc, (OSError, ValueError)):    # e.g. a watched directory gone meanwhile
            code = fail(str(exc))
        else:
            raise
    finally:
        if store:
            store.close(source)     # needs the probes' loss counters: before source.close()
        source.close()
    return leave(code)


if __name__ == "__main__":
    sys.exit(main())
