"""`sniff-tui stream`: records from the live probes to JSONL, plain text or a table, until a
signal, --duration or a closed reader; and the file handling it needs (owned by the sudo user,
cut back to whole lines on a full disk)."""
from __future__ import annotations

import os
import signal
import sys
import threading
import time

from probes.filters import Filters
from tui.cli import EXIT_USAGE, fail as _fail


def open_live(args, filters: Filters, load: bool = True):
    """The loaded live source, or (None, exit code) after printing why it could not load.
    ``load=False``: the source only, for the dashboard, which loads it in its worker."""
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
    if not load:
        return source, 0
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
    from probes.feed import Feed
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
    source, code = open_live(args, filters)
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
