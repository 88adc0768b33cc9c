"""The command line's options: one parser for the dashboard and every command, each filter
option declared once (`_add_process_filters`), and the Filters they make."""
from __future__ import annotations

import argparse
import os

from sniff_tui.core.filters import Filters, parse_ops
from sniff_tui.core.record import OPS


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        # No abbreviations: `--exclude` was silently taken as `--exclude-comm`.
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # one line, not argparse's usage block
        raise UsageError(message)


def _nonneg_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0 or value != value:
        raise argparse.ArgumentTypeError(f"must not be negative: {text}")
    return value


def _positive_float(text: str) -> float:
    value = _nonneg_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def _id(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text}")
    return value


def _add_filter_options(p: argparse.ArgumentParser, sub: bool = False) -> None:
    """The same options on the main parser and on subcommands. On a subcommand their defaults
    are suppressed, so `sniff-tui --pid 5 stream` keeps the --pid given before the command."""
    if sub:
        real_add = p.add_argument

        def add_argument(*names, **kwargs):
            kwargs["default"] = argparse.SUPPRESS
            return real_add(*names, **kwargs)
        p = argparse.Namespace(add_argument=add_argument)
    p.add_argument("-d", "--dir", action="append", dest="dirs", metavar="DIR",
                   help="directory to watch (repeatable; default: the current directory)")
    _add_process_filters(p, live=True)
    p.add_argument("--no-coalesce", action="store_true",
                   help="one record per read/write syscall (debugging; rate-limited in the kernel, "
                        "drops counted) instead of counts per process, file and interval")
    p.add_argument("--interval", type=_positive_float, default=1.0, metavar="SECONDS",
                   help="how often coalesced read/write counts are reported (default 1)")
    p.add_argument("--no-cache", action="store_true",
                   help="compile the BPF programs now and keep nothing (default: once per kernel, "
                        "kept in /var/cache/sniff-tui or $SNIFF_TUI_CACHE_DIR)")
    p.add_argument("--content", action="store_true",
                   help="also capture the bytes each write puts into a file (off by default; "
                        "recordings that hold them are created mode 0600)")
    p.add_argument("--content-max", type=_content_max, default=4096, metavar="BYTES",
                   help="with --content: bytes kept per write (default 4096, at most 131072)")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="-v statistics, -vv kept records with process context, -vvv every "
                        "record before filtering, -vvvv map contents (all to stderr)")


def _add_process_filters(p, live: bool) -> None:
    """The filters `stream`, the dashboard and `query` share, with the same names. ``live``:
    watching now (--gitignore reads the watched trees; cgroups are checked on this host)."""
    p.add_argument("--ops", default=",".join(OPS),
                   help=f"operations {'to report ' if live else ''}(default: {','.join(OPS)})")
    p.add_argument("--pid", type=_id, help="only this process")
    p.add_argument("--tree", type=_id, metavar="PID", help="only this process and its descendants")
    p.add_argument("--comm", help="only processes with this name (exact, or a glob)")
    p.add_argument("--exclude-comm", action="append", default=[], metavar="NAME",
                   help="never processes with this name (repeatable; glob allowed)")
    p.add_argument("--uid", type=_id, help="only processes of this user id")
    _add_path_options(p, gitignore=live)
    p.add_argument("--all-types", action="store_true",
                   help="also pipes, sockets, devices... " + ("under the directory (default: regular files)"
                                                              if live else "(default: regular files and directories)"))
    p.add_argument("--cgroup", metavar="PATH",
                   help="only processes in this cgroup v2 (e.g. /system.slice/foo.service) or below it")
    p.add_argument("--container", metavar="ID",
                   help="only processes of containers whose id starts with ID (or pod-<uid>)")
    p.add_argument("--unit", metavar="NAME",
                   help="only processes of this systemd unit (NAME.service or NAME.scope)")


def _add_path_options(p, gitignore: bool) -> None:
    p.add_argument("--exclude", action="append", default=[], metavar="PATTERN",
                   help="never paths matching PATTERN (gitignore syntax, relative to the watched "
                        "directory: .git/ node_modules/ *.swp !keep.log; repeatable)")
    p.add_argument("--include", action="append", default=[], metavar="PATTERN",
                   help="only paths matching PATTERN (gitignore syntax; repeatable)")
    if gitignore:
        p.add_argument("--gitignore", action="store_true",
                       help="also every .gitignore under the watched directories, and .git/")


def _content_max(text: str) -> int:
    value = _id(text)
    if not 1 <= value <= 131072:
        raise argparse.ArgumentTypeError(f"must be 1 to 131072: {text}")
    return value


def content_max(args) -> int:
    """Bytes captured per write, 0 without --content. UsageError when capture could not see a
    write (--ops without write)."""
    if not getattr(args, "content", False):
        return 0
    if "write" not in parse_ops(args.ops):
        raise UsageError("--content captures writes: --ops must include write")
    return args.content_max


def take_content_op(args) -> None:
    """`query --ops ...,content`: content lines (args.content "only" or "also", with records of
    the other ops); None without."""
    ops = [o.strip() for o in args.ops.split(",")]
    args.content = None
    if "content" in ops:
        rest = [o for o in ops if o != "content"]
        args.content = "also" if rest else "only"
        args.ops = ",".join(rest) if rest else ",".join(OPS)


def _positive_int(text: str) -> int:
    value = _id(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def _add_query_command(sub, options: bool = True) -> None:
    """`sniff-tui query DB`: the stream's filters (same names) over a history database.
    ``options``: its options, which import the history package (about 10 ms of the
    dashboard's start, when not asked for)."""
    q = sub.add_parser("query", help="answer questions from a history database (no root needed)")
    if not options:
        return
    from sniff_tui.history.output import FORMATS
    from sniff_tui.history.query import GROUPS, SORTS
    q.add_argument("db", metavar="DB")
    _add_process_filters(q, live=False)
    q.add_argument("--path", action="append", metavar="GLOB",
                   help="only paths (or rename targets) matching GLOB; repeatable")
    q.add_argument("--since", metavar="TIME", help="ISO time, or an age: 30m, 2h, 1d")
    q.add_argument("--until", metavar="TIME", help="ISO time, or an age: 30m, 2h, 1d")
    q.add_argument("--session", type=_positive_int, metavar="ID", help="only this session")
    q.add_argument("--group-by", choices=GROUPS, help="totals per file, process or op")
    q.add_argument("--sort", choices=SORTS, default="count",
                   help="order of the groups, largest first (default: count)")
    q.add_argument("--top", type=_positive_int, metavar="N",
                   help="the N largest groups (or the first N records)")
    q.add_argument("--format", choices=FORMATS, default="jsonl")
    q.add_argument("--sessions", dest="list_sessions", action="store_true",
                   help="list the recorded sessions instead")


def build_parser(query_options: bool = True) -> argparse.ArgumentParser:
    parser = _Parser(prog="sniff-tui", description="Which processes touch which files under a directory.")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    _add_filter_options(parser)
    parser.add_argument("--db", metavar="FILE", help="also append every record to this SQLite history")
    stream = sub.add_parser("stream", help="print records, no dashboard")
    _add_filter_options(stream, sub=True)
    stream.add_argument("--format", default="jsonl", choices=("jsonl", "plain", "table"))
    stream.add_argument("-o", "--output", metavar="FILE", help="write here (default: stdout)")
    stream.add_argument("--duration", type=_nonneg_float, metavar="SECONDS", help="stop after this long")
    stream.add_argument("--ready-file", metavar="PATH",
                        help="create this file once the syscall probes are live (mmap, close_range and "
                             "io_uring follow: the stats line's loading list)")
    stream.add_argument("--stats", nargs="?", const=2.0, type=_positive_float, metavar="SECONDS",
                        help="report map use, losses and probe cost every SECONDS (default 2): "
                             "to stderr, or as {\"op\": \"stats\"} records in jsonl")
    stream.add_argument("--ringbuf-pages", type=_id, default=1024, help=argparse.SUPPRESS)
    stream.add_argument("--rate-limit", type=_id, default=100_000, metavar="N",
                        help="with --no-coalesce: records per second per CPU the kernel sends, the "
                             "rest counted as rate_limited (default 100000; 0: no limit)")
    stream.add_argument("--db", metavar="FILE", default=argparse.SUPPRESS,
                        help="append every record to this SQLite history (alone: no stdout output)")
    stream.add_argument("--metrics", metavar="[ADDR:]PORT",
                        help="serve Prometheus metrics at http://ADDR:PORT/metrics (default ADDR 127.0.0.1)")
    stream.add_argument("--metrics-names", type=_positive_int, default=50, metavar="N",
                        help="process names with their own metrics label (then 'other'; default 50)")
    _add_query_command(sub, query_options)
    diff = sub.add_parser("diff", help="every change of captured files, as unified diffs: a "
                                       "recording made with --content (no root needed)")
    diff.add_argument("recording", metavar="RECORDING")
    diff.add_argument("paths", nargs="*", metavar="PATH", help="only these files (default: every one)")
    replay = sub.add_parser("replay", help="open the dashboard on a recording: JSONL or a history "
                                           "database (no root needed)")
    replay.add_argument("file", metavar="FILE")
    replay.add_argument("--session", type=_positive_int, metavar="ID",
                        help="history database: the session to replay (default: the latest)")
    replay.add_argument("--speed", type=_nonneg_float, default=0.0,
                        help="1 = real time, 0 = as fast as possible (default)")
    return parser


def filters_from(args) -> Filters:
    filters = Filters(ops=parse_ops(args.ops), pid=args.pid, tree=args.tree, uid=args.uid,
                      comm=args.comm, exclude_comm=tuple(args.exclude_comm), all_types=args.all_types,
                      gitignore=getattr(args, "gitignore", False), **cgroup_filters(args))
    if args.exclude or args.include:    # pathspec costs ~80 ms to import: only when asked for
        from sniff_tui.core.pathrules import check_patterns
        filters = filters.with_(exclude=check_patterns(args.exclude, "exclude"),
                                include=check_patterns(args.include, "include"))
    return filters if args.command == "query" else path_rules(args, filters)


def path_rules(args, filters: Filters) -> Filters:
    """The patterns compiled for the watched directories, their trees scanned (excluded
    directories, .gitignore files): an unreadable .gitignore is a usage error here. A directory
    that cannot be watched is left for its own error line, later."""
    if not (filters.exclude or filters.include or filters.gitignore):
        return filters
    from sniff_tui.core.pathrules import with_rules
    from sniff_tui.probes.watchdirs import WatchError, canonical_dir
    try:
        roots = [canonical_dir(d) for d in args.dirs or [os.getcwd()]]
    except WatchError:
        return filters
    return with_rules(filters, roots)


def cgroup_filters(args) -> dict:
    """--cgroup, --container, --unit, checked against the cgroup2 tree before anything loads:
    a missing cgroup, or no cgroup v2 at all, is one line."""
    cgroup, container, unit = (getattr(args, name, None) for name in ("cgroup", "container", "unit"))
    if cgroup is None and container is None and unit is None:
        return {}
    from sniff_tui.probes import cgroups
    if args.command == "query":      # a history, maybe from another host: names as given
        out = {"cgroup": None if cgroup is None else cgroups.normalize_path(cgroup),
               "container": None if container is None else cgroups.normalize_container(container),
               "unit": None if unit is None else cgroups.normalize_unit(unit)}
        return out
    resolver = cgroups.CgroupResolver()
    out = {}
    if cgroup is not None:
        out["cgroup"] = resolver.cgroup_path(cgroup)
    if container is not None:
        resolver.require("--container")
        out["container"] = cgroups.normalize_container(container)
    if unit is not None:
        resolver.require("--unit")
        out["unit"] = cgroups.normalize_unit(unit)
    return out


