"""The sniff-tui command: `sniff-tui [options]` (dashboard), `sniff-tui stream`, `sniff-tui replay`.

Every problem the user can fix is one line on stderr and a non-zero exit, never a traceback.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from typing import Optional

from probes.filters import FilterError, Filters, parse_ops
from probes.record import OPS

EXIT_USAGE = 2
EXIT_FAIL = 1


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
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
    p.add_argument("--ops", default=",".join(OPS), help=f"operations to report (default: {','.join(OPS)})")
    p.add_argument("--pid", type=_id, help="only this process")
    p.add_argument("--tree", type=_id, metavar="PID", help="only this process and its descendants")
    p.add_argument("--comm", help="only processes with this name (exact, or a glob)")
    p.add_argument("--exclude-comm", action="append", default=[], metavar="NAME",
                   help="never processes with this name (repeatable; glob allowed)")
    p.add_argument("--uid", type=_id, help="only processes of this user id")
    p.add_argument("--all-types", action="store_true",
                   help="also pipes, sockets, devices... under the directory (default: regular files)")
    p.add_argument("--no-coalesce", action="store_true",
                   help="one record per read/write syscall (debugging; rate-limited in the kernel, "
                        "drops counted) instead of counts per process, file and interval")
    p.add_argument("--interval", type=_positive_float, default=1.0, metavar="SECONDS",
                   help="how often coalesced read/write counts are reported (default 1)")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="-v statistics, -vv kept records with process context, -vvv every "
                        "record before filtering, -vvvv map contents (all to stderr)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sniff-tui", description="Which processes touch which files under a directory.")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    _add_filter_options(parser)
    stream = sub.add_parser("stream", help="print records, no dashboard")
    _add_filter_options(stream, sub=True)
    stream.add_argument("--format", default="jsonl", choices=("jsonl", "plain", "table"))
    stream.add_argument("-o", "--output", metavar="FILE", help="write here (default: stdout)")
    stream.add_argument("--duration", type=_nonneg_float, metavar="SECONDS", help="stop after this long")
    stream.add_argument("--ready-file", metavar="PATH", help="create this file once every probe is attached")
    stream.add_argument("--stats", nargs="?", const=2.0, type=_positive_float, metavar="SECONDS",
                        help="report map use, losses and probe cost every SECONDS (default 2): "
                             "to stderr, or as {\"op\": \"stats\"} records in jsonl")
    stream.add_argument("--ringbuf-pages", type=_id, default=2048, help=argparse.SUPPRESS)
    replay = sub.add_parser("replay", help="open the dashboard on a JSONL recording (no root needed)")
    replay.add_argument("file", metavar="FILE.jsonl")
    replay.add_argument("--speed", type=_nonneg_float, default=0.0,
                        help="1 = real time, 0 = as fast as possible (default)")
    return parser


def filters_from(args) -> Filters:
    return Filters(ops=parse_ops(args.ops), pid=args.pid, tree=args.tree, uid=args.uid,
                   comm=args.comm, exclude_comm=tuple(args.exclude_comm), all_types=args.all_types)


def _fail(message: str, code: int = EXIT_FAIL) -> int:
    print(f"sniff-tui: {message}", file=sys.stderr)
    return code


def main(argv: Optional[list[str]] = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        filters = filters_from(args) if args.command != "replay" else None
    except (UsageError, FilterError) as exc:
        return _fail(str(exc), EXIT_USAGE)
    try:
        if args.command == "stream":
            return run_stream(args, filters)
        if args.command == "replay":
            return run_replay(args)
        return run_live_dashboard(args, filters)
    except KeyboardInterrupt:
        return 130


def _open_live(args, filters: Filters):
    """The loaded live source, or (None, exit code) after printing why it could not load."""
    from probes.live import LiveSource, WatchError
    from probes.loader import LoadError
    try:
        source = LiveSource(args.dirs or [os.getcwd()], filters,
                            ringbuf_pages=getattr(args, "ringbuf_pages", 2048),
                            coalesce=not args.no_coalesce, interval=args.interval)
    except WatchError as exc:
        return None, _fail(str(exc), EXIT_USAGE)
    source.debug = args.verbose
    source.log = lambda line: print(f"sniff-tui: {line}", file=sys.stderr)
    try:
        source.open()
    except LoadError as exc:
        if args.verbose and exc.detail:
            print(exc.detail, file=sys.stderr)
        return None, _fail(str(exc))
    return source, 0


def _stats_line(stats: dict) -> str:
    maps = " ".join(f"{name}={m['entries']}/{m['max']}" for name, m in stats["maps"].items())
    c = stats["counters"]
    progs = " ".join(f"{name}={p['ns_per_run']:.0f}ns" for name, p in sorted(stats["programs"].items())
                     if p["runs"])
    return (f"stats: records={stats['records']} ringbuf_drops={c['ringbuf_drops']} "
            f"truncated={c['truncated']} agg_full={c['agg_full']} rate_limited={c['rate_limited']} "
            f"pending_full={c['pending_full']} close_range_skipped={c['close_range_skipped']} "
            f"maps: {maps}" + (f" cost: {progs}" if progs else ""))


def open_user_file(path: str, mode: int = 0o644):
    """A file sniff-tui writes for the user: never world-writable, and owned by the user who
    ran sudo rather than by root. Raises OSError."""
    # Read-write: after a failed write we read the tail back to cut a partial last line.
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)
        uid, gid = os.environ.get("SUDO_UID"), os.environ.get("SUDO_GID")
        if os.geteuid() == 0 and uid and gid and uid.isdigit() and gid.isdigit():
            os.fchown(fd, int(uid), int(gid))
    except OSError:
        os.close(fd)
        raise
    return os.fdopen(fd, "wb")


def _trim_to_whole_lines(out) -> None:
    """After a failed write (disk full), drop a partly written last line: a recording only
    ever ends with whole lines."""
    try:
        out.flush()
    except OSError:
        pass
    try:
        fd = out.fileno()
        size = os.lseek(fd, 0, os.SEEK_END)
        tail_start = max(0, size - 65536)
        tail = os.pread(fd, size - tail_start, tail_start)
        keep = tail_start + tail.rfind(b"\n") + 1 if b"\n" in tail else tail_start
        os.ftruncate(fd, keep)
        # What is still buffered would be flushed by close(): send it nowhere.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _install_stop_handlers(stop: threading.Event) -> None:
    """First SIGINT/SIGTERM/SIGHUP: stop cleanly (detach, flush). A second: leave now; the
    kernel drops our programs and maps with our file descriptors."""
    def handler(signum, _frame):
        if stop.is_set():
            os.write(2, b"sniff-tui: second signal, exiting without flushing\n")
            os._exit(130)
        stop.set()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


def run_stream(args, filters: Filters) -> int:
    from probes.live import WatchError, canonical_dir
    from tui.feed import Feed
    from tui.formats import make_writer
    try:    # bad directories are reported before anything is created
        for d in args.dirs or [os.getcwd()]:
            canonical_dir(d)
    except WatchError as exc:
        return _fail(str(exc), EXIT_USAGE)
    try:
        out = open_user_file(args.output) if args.output else sys.stdout.buffer
    except OSError as exc:
        return _fail(f"cannot write {args.output}: {exc.strerror}")
    source, code = _open_live(args, filters)
    if source is None:
        return code
    stop = threading.Event()
    _install_stop_handlers(stop)
    feed: Feed = Feed(maxsize=1_000_000)
    writer = make_writer(args.format, out, source.watches)
    worker = threading.Thread(target=source.run, args=(feed, stop), name="probe-worker", daemon=True)
    worker.start()
    if args.ready_file:
        open(args.ready_file, "w").close()
    deadline = time.monotonic() + args.duration if args.duration is not None else None
    bpf_stats = None
    stats_every = args.stats or (2.0 if args.verbose else None)
    if stats_every:
        from probes.selfcost import BpfStats
        bpf_stats = BpfStats()
        bpf_stats.enable()
    next_stats = time.monotonic() + stats_every if stats_every else None

    def report_stats() -> None:
        stats = source.stats_dict()
        stats["feed_dropped"] = feed.dropped
        if args.stats and args.format == "jsonl":
            writer.write_stats(stats)
        else:
            print(f"sniff-tui: {_stats_line(stats)}", file=sys.stderr)
        if args.verbose >= 4:
            print(f"sniff-tui: maps: {source.dump_maps()}", file=sys.stderr)

    status = 0
    try:
        while True:
            if next_stats is not None and time.monotonic() >= next_stats:
                report_stats()
                next_stats = time.monotonic() + stats_every
            batch = feed.drain()
            for rec in batch:
                writer.write(rec)
            if batch:
                writer.flush()
            if stop.is_set() or (deadline is not None and time.monotonic() >= deadline):
                stop.set()
                if not worker.is_alive():
                    break
                worker.join(timeout=5)
                continue
            if not batch:
                stop.wait(0.05)
        for rec in feed.drain(limit=len(feed)):
            writer.write(rec)
        if stats_every:
            report_stats()
        writer.flush()
    except BrokenPipeError:
        # The reader went away (`| head`): say so once, and stop quietly.
        stop.set()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        print("sniff-tui: output closed by the reader; stopping", file=sys.stderr)
    except OSError as exc:
        stop.set()
        where = args.output or "standard output"
        status = _fail(f"writing {where} failed: {exc.strerror}; stopping")
        if args.output:
            _trim_to_whole_lines(out)
    finally:
        stop.set()
        worker.join(timeout=5)
        source.close()
        if bpf_stats is not None:
            bpf_stats.restore()
        if args.output:
            try:
                out.close()
            except OSError:
                pass
    if feed.dropped:
        print(f"sniff-tui: {feed.dropped} records dropped between probe thread and writer", file=sys.stderr)
    return status


def run_replay(args) -> int:
    from tui.app import run_dashboard
    from tui.replay import ReplaySource
    if not os.path.isfile(args.file):
        return _fail(f"{args.file}: no such file", EXIT_USAGE)
    source = ReplaySource(args.file, speed=args.speed)
    return run_dashboard(source, Filters(), source.watches)


def run_live_dashboard(args, filters: Filters) -> int:
    from tui.app import run_dashboard
    source, code = _open_live(args, filters)
    if source is None:
        return code
    try:
        return run_dashboard(source, filters, source.watches)
    finally:
        source.close()


if __name__ == "__main__":
    sys.exit(main())
