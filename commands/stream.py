"""`sniff-tui stream`: records from the live probes to JSONL, plain text or a table, until a
signal, --duration or a closed reader; and the file handling it needs (owned by the sudo user,
cut back to whole lines on a full disk)."""
from __future__ import annotations

import os
import signal
import sys
import threading
import time

from sniff_tui.core.filters import Filters
from sniff_tui.core.losses import stream_loss_line
from sniff_tui.core.exits import EXIT_USAGE, fail, say


def open_live(args, filters: Filters):
    """The loaded live source, or (None, exit code) after printing why it could not load."""
    from sniff_tui.probes.build import make_live
    from sniff_tui.probes.live import WatchError
    from sniff_tui.probes.loader import LoadError
    try:
        source = make_live(args, filters, log=say)
    except WatchError as exc:
        return None, fail(str(exc), EXIT_USAGE)
    try:
        source.open()
    except LoadError as exc:
        if args.verbose and exc.detail:
            print(exc.detail, file=sys.stderr)
        return None, fail(str(exc))
    return source, 0


def _stats_line(stats: dict) -> str:
    """The stats line kind (record.SourceStats.to_dict), in one line for a human."""
    maps = " ".join(f"{m['name']}={m['entries']}/{m['max_entries']}" for m in stats["maps"])
    c = stats["counters"]
    progs = " ".join(f"{name}={p['ns_per_run']:.0f}ns" for name, p in sorted(stats["programs"].items())
                     if p["runs"])
    return (f"stats: records={stats['records']} ringbuf_drops={c['ringbuf_drops']} "
            f"lost_calls={c['lost_calls']} proc_drops={c['proc_drops']} name_drops={c['name_drops']} "
            f"truncated={stats['truncated_paths']} agg_full={c['agg_full']} rate_limited={c['rate_limited']} "
            f"pending_full={c['pending_full']} close_range_skipped={c['close_range_skipped']} "
            f"unplaced={c['unplaced']} uring_no_cqe={c.get('uring_no_cqe', 0)}"
            + (f" content_drops={c['content_drops']} content_unreadable={c['content_unreadable']} "
               f"content_unnamed={stats.get('content_unnamed', 0)} "
               f"content_uncaptured={c.get('content_uncaptured', 0)}" if "content_drops" in c else "")
            + f" maps: {maps}"
            + (f" cost: {progs}" if progs else "")
            + "".join(f" [{line}]" for line in stats.get("missing") or ())
            + (f" [loading {', '.join(stats['loading'])}]" if stats.get("loading") else ""))


def open_user_file(path: str, mode: int = 0o644):
    """A file sniff-tui writes for the user: never world-writable, and owned by the user who
    ran sudo rather than by root. Raises OSError."""
    # Read-write: after a failed write we read the tail back to cut a partial last line.
    flags = os.O_RDWR | os.O_TRUNC | os.O_CLOEXEC
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        # The user's own file (or /dev/null, a fifo...): written, but its mode and owner are
        # theirs, never changed by a process running as root.
        return os.fdopen(os.open(path, flags), "wb")
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


def _install_stop_handlers(stop: threading.Event, on_stop=lambda: None) -> None:
    """First SIGINT/SIGTERM/SIGHUP: stop cleanly (detach at once, then flush). A second: leave
    now; the kernel drops our programs and maps with our file descriptors."""
    def handler(signum, _frame):
        if stop.is_set():
            os.write(2, b"sniff-tui: second signal, exiting without flushing\n")
            os._exit(130)
        stop.set()
        on_stop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


def run_stream(args, filters: Filters) -> int:
    from sniff_tui.probes.live import WatchError, canonical_dir
    from sniff_tui.core.feed import Feed
    from sniff_tui.commands.formats import make_writer
    from sniff_tui.commands.stream_sinks import open_sinks
    try:    # bad directories are reported before anything is created
        for d in args.dirs or [os.getcwd()]:
            canonical_dir(d)
    except WatchError as exc:
        return fail(str(exc), EXIT_USAGE)
    sinks, code = open_sinks(args, filters)      # history: --db, --metrics
    if sinks is None:
        return code
    try:
        # Captured bytes may be anyone's secrets: only their owner reads the recording.
        mode = 0o600 if getattr(args, "content_bytes", 0) else 0o644
        out = open_user_file(args.output, mode) if args.output else sys.stdout.buffer
    except OSError as exc:
        return fail(f"cannot write {args.output}: {exc.strerror}")
    source, code = open_live(args, filters)
    if source is None:
        return code
    source.procs.cmdlines = args.verbose >= 2     # no line kind of the stream carries them
    stop = threading.Event()
    _install_stop_handlers(stop, source.detach)
    # About a second of the writer's rate: when it falls behind, the worker waits and the
    # kernel counts what it cannot queue (see core/feed.py).
    feed: Feed = Feed(maxsize=65_536)
    writer = sinks.writer(make_writer(args.format, out, source.watches))   # history: --db alone
    failed: list[BaseException] = []

    def work() -> None:
        try:
            source.run(feed, stop)
        except BaseException as exc:     # a bug: said in one line at the exit, which it causes
            failed.append(exc)
            stop.set()

    worker = threading.Thread(target=work, name="probe-worker", daemon=True)
    worker.start()
    if args.ready_file:
        open(args.ready_file, "w").close()
    deadline = time.monotonic() + args.duration if args.duration is not None else None
    bpf_stats = None
    stats_every = args.stats or (2.0 if args.verbose else None)
    if stats_every:
        from sniff_tui.probes.selfcost import BpfStats
        bpf_stats = BpfStats()
        bpf_stats.enable()
    next_stats = time.monotonic() + stats_every if stats_every else None

    def report_stats() -> None:
        stats = source.stats_dict()
        if args.stats and args.format == "jsonl":
            writer.write_stats(stats)
        else:
            say(_stats_line(stats))
        if args.verbose >= 4:
            say(f"maps: {source.dump_maps()}")

    status = 0
    try:
        while True:
            if next_stats is not None and time.monotonic() >= next_stats:
                report_stats()
                next_stats = time.monotonic() + stats_every
            batch = feed.drain()
            sinks.take(batch, source, feed)          # history
            if batch:
                writer.write_many(batch)
                writer.flush()
            if deadline is not None and time.monotonic() >= deadline:
                stop.set()
            if stop.is_set() and not worker.is_alive() and not len(feed):
                break
            if not batch:
                feed.wait(0.05)
        if stats_every:
            report_stats()
        writer.flush()
    except BrokenPipeError:
        # The reader went away (`| head`): say so once, and stop quietly.
        stop.set()
        feed.close()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        say("output closed by the reader; stopping")
    except OSError as exc:
        stop.set()
        feed.close()
        where = args.output or "standard output"
        status = fail(f"writing {where} failed: {exc.strerror}; stopping")
        if args.output:
            _trim_to_whole_lines(out)
    finally:
        stop.set()
        feed.close()
        worker.join(timeout=5)
        lost = stream_loss_line(source.stats()) if source.probes is not None else ""
        status = sinks.close(source, feed, status)   # history: reads the probes' counters
        source.close()
        if bpf_stats is not None:
            bpf_stats.restore()
        if args.output:
            try:
                out.close()
            except OSError:
                pass
    if lost:
        say(lost)
    if failed:
        exc = failed[0]
        status = fail(f"reading the probes failed ({type(exc).__name__}: {exc}); stopped")
    return status
