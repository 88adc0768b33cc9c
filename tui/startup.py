"""The dashboard's start, kept to what its first frame needs (bench/bench_first_frame.py).

Two costs are moved out of the way of the first frame, and one out of the way of the exit:

- The garbage collector. Starting up allocates a few hundred thousand objects (Textual, Rich,
  the stylesheet, the panes); the collector walked them about 130 times before the first frame,
  50 ms of a 0.4 s start. It is off from the command's start to the first frame, which then
  freezes what exists (modules, classes, the stylesheet: they live as long as the process) so
  that no later full collection walks them again, a pause of about 25 ms each on the UI thread.
- The live source. Importing ``probes.live`` and the process-table snapshot its constructor
  takes cost 40-50 ms: ``DeferredLiveSource`` makes it in the dashboard's worker, just before
  loading the probes there.
- The interpreter's teardown (``leave``).
"""
from __future__ import annotations

import gc
import os
import sys
import threading
from functools import partial
from typing import Callable, Optional

from sniff_tui.core.exits import EXIT_USAGE, fail, say
from sniff_tui.core.feed import Feed
from sniff_tui.core.filters import Filters
from sniff_tui.core.record import SourceStats
from sniff_tui.core.source import Source


def resume_gc(freeze: bool = False) -> None:
    """``freeze``: only once start-up is over; what exists then stays for the process's life."""
    if freeze:
        gc.freeze()
    gc.enable()


def leave(code: int) -> int:
    """End the process now, once a dashboard has run and everything that matters is closed.
    The interpreter's own teardown frees the session object by object: 0.9 s after a minute
    of flood, on a prompt the user is waiting for. Nothing else is lost: the terminal is
    restored, the history closed, the spool an unlinked file, and the kernel frees the probes
    with the process. Not without a terminal (no dashboard ran: a test calling main())."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return code
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def run_dashboard(source: Source, filters: Filters, watches: list[bytes], *,
                  load: Optional[Callable[[], None]] = None, feed: Optional[Feed] = None,
                  drain: bool = True) -> int:
    """Run the dashboard until the user quits; returns the process exit code. Textual puts
    the terminal back on every way out (quit, SIGTERM/SIGHUP, an exception); the source is
    stopped after that. ``drain``: what the worker still delivers is wanted (--db stores
    it): wait for it. Otherwise, when the worker has not ended at once (a flood: reading what
    the ring buffer and the counters hold takes it seconds), the process ends there, without
    returning: a daemon thread still inside a bpf syscall must not meet the interpreter's teardown.
    A ``load`` failure: raised, after the terminal is restored."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return fail("the dashboard needs a terminal (use the stream output instead)", EXIT_USAGE)
    from sniff_tui.tui.app import SniffApp
    from sniff_tui.tui.terminal import terminal_driver
    driver = terminal_driver()
    try:
        app = SniffApp(source, filters, watches, load=load, feed=feed, handle_signals=True,
                       driver_class=driver)
    except OSError as exc:
        return fail(f"cannot create the session spool: {exc}")
    app.terminal = driver.terminal
    app.first_frame_hook = partial(resume_gc, freeze=True)
    try:
        result = app.run()
    except KeyboardInterrupt:
        result = 130
    finally:
        resume_gc()        # also when the app ended before its first frame
        ended = app.stop_source(timeout=0.5 if drain else 0.05)
        if not ended and drain:
            # The terminal is the user's again: say why the prompt does not come back yet.
            say("stopping the probes…")
            app.stop_source()
    if app.load_error is not None:
        raise app.load_error
    code = result if isinstance(result, int) else (app.return_code or 0)
    if not ended and not drain:
        leave(code)
    return code


class DeferredLiveSource:
    """The live source (``probes.live.LiveSource``), made and loaded by ``open`` in the
    dashboard's worker thread. Until then it answers as a source with nothing yet: the app
    does not read its statistics while loading, and no record can come before the probes."""

    live = True

    def __init__(self, watches: list[bytes], make: Callable[[], object]) -> None:
        self._watches = list(watches)
        self._make = make
        self._source = None
        self._lock = threading.Lock()
        self._detached = False
        self._asked_watches: Optional[list[bytes]] = None    # `d` while loading

    def open(self) -> None:
        """Worker thread. Raises what making or loading raises (LoadError, WatchError)."""
        source = self._make()
        source.open()
        with self._lock:
            self._source = source
            detached, asked = self._detached, self._asked_watches
        if asked is not None:
            source.set_watches(asked)
        if detached:
            source.detach()

    @property
    def watches(self) -> list[bytes]:
        source = self._source
        if source is not None:
            return source.watches
        return list(self._asked_watches or self._watches)

    def run(self, feed, stop: threading.Event) -> None:
        if self._source is not None:
            self._source.run(feed, stop)

    def stats(self) -> SourceStats:
        if self._source is None:
            return SourceStats()
        return self._source.stats()

    def stats_dict(self, programs: bool = True) -> dict:
        if self._source is None:        # not zeros: nothing was measured
            raise RuntimeError("the probes were not loaded")
        return self._source.stats_dict(programs)

    def warnings(self) -> tuple[int, list[tuple[int, str]]]:
        return 0, []

    def detach(self) -> None:
        with self._lock:
            self._detached = True
            source = self._source
        if source is not None:
            source.detach()

    def set_filters(self, filters: Filters) -> None:
        # Before the load there is nothing to set: the app applies its filters once loaded.
        if self._source is not None:
            self._source.set_filters(filters)

    def set_watches(self, watches: list[bytes]) -> None:
        with self._lock:
            source = self._source
            if source is None:
                self._asked_watches = list(watches)
                return
        source.set_watches(watches)

    def process_info(self, pid: int) -> dict:
        return self._source.process_info(pid) if self._source is not None else {}

    def close(self) -> None:
        if self._source is not None:
            self._source.close()
