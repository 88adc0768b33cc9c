"""The dashboard: ``SniffApp`` (``tui.startup.run_dashboard`` runs it on a real terminal).

Data flows one way. The source runs in a worker thread (which first loads it: the first frame
never waits for BCC) and pushes Records into a bounded Feed; on the UI thread a drain loop
(``_pump``) takes the feed in chunks of ``CHUNK`` records, hands each to ``apply_batch``, and
on its redraw clock refreshes the panes inside one ``batch_update``. The worker never touches
a widget and widgets only read the session. User commands flow back only through
``source.set_filters`` / ``source.set_watches``.

Refresh cadence: the header and the stream every tick (5/s); the process tree, the top
files, the map gauges and the loss counts every ``SLOW_EVERY`` ticks, or at once after a
user action. While paused only the counters move.
"""
from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from functools import partial
from pathlib import Path
from typing import Callable, Iterable, Optional

from textual.app import App, SystemCommand
from textual.screen import Screen

from sniff_tui.core.feed import Feed
from sniff_tui.core.filters import Filters
from sniff_tui.core.record import Record
from sniff_tui.core.source import Source
from sniff_tui.session import Limits, SessionRecording, SessionState
from sniff_tui.core.textfmt import one_line, visible
from sniff_tui.tui.content_view import ContentActions
from sniff_tui.tui.export import ExportMixin
from sniff_tui.tui.filtering import FilterActions
from sniff_tui.tui.keys import HELP_NOTES, KEYMAP
from sniff_tui.tui.screen import DashboardScreen
from sniff_tui.tui.terminal import Terminal
from sniff_tui.widgets.event_stream import EventStream, EventStreamPane
from sniff_tui.widgets.header import DashboardHeader
from sniff_tui.widgets.help_screen import HelpScreen
from sniff_tui.widgets.losses import LossesPane
from sniff_tui.widgets.map_gauges import MapGaugesPane
from sniff_tui.widgets.process_tree import ProcessTreePane
from sniff_tui.widgets.prompt import PromptScreen
from sniff_tui.widgets.top_files import TopFilesPane

TICK_SECONDS = 0.2              # stream and header redraws: 5/s
SLOW_EVERY = 5                  # ticks between refreshes of the heavier panes (1 s)
CHUNK = 4_096                   # records folded between two looks at the event loop
EXIT_CHECKS_PER_POLL = 4_096    # /proc look-ups per second for exited processes
HANGUP_GRACE = 3.0              # seconds a signalled exit may take before the process ends


class SniffApp(FilterActions, ExportMixin, ContentActions, App[int]):
    TITLE = "sniff-tui"
    CSS_PATH = str(Path(__file__).with_name("app.tcss"))   # absolute: subclasses live elsewhere
    first_frame_hook: Optional[Callable[[], None]] = None  # called once the first frame is drawn
    terminal: Optional[Terminal] = None     # the real terminal drawn on (run_dashboard)

    def __init__(self, source: Source, filters: Filters, watches: list[bytes], *,
                 feed: Optional[Feed] = None, load: Optional[Callable[[], None]] = None,
                 utc: bool = False, own_usage: bool = True,
                 tick_seconds: float = TICK_SECONDS, chunk: int = CHUNK,
                 spool_dir: Optional[str] = None, limits: Limits = Limits(),
                 handle_signals: bool = False, driver_class=None) -> None:
        """``load``: called in the worker thread before ``source.run`` (loading the probes);
        what it raises ends the app with exit code 1 and is kept in ``load_error``. ``utc``:
        times in UTC. ``own_usage``: sniff-tui's CPU and memory in the header (off: the same
        header on every machine). ``handle_signals``: exit cleanly on SIGTERM/SIGHUP."""
        super().__init__(driver_class=driver_class)
        self.source = source
        self.feed: Feed = feed if feed is not None else Feed()
        self.load = load
        self.utc = utc
        self.own_usage = own_usage
        self.tick_seconds = tick_seconds
        self.chunk = chunk
        self.handle_signals = handle_signals
        self.state = SessionState(watches or list(getattr(source, "watches", []) or []), filters,
                                  process_info=source.process_info,
                                  recording=SessionRecording(spool_dir), limits=limits)
        self.exports: list[str] = []                  # files written by `e`
        self._exporting: list[threading.Thread] = []
        self.ticks = 0
        self._stop = threading.Event()
        self._loaded = threading.Event()
        self.load_error: Optional[BaseException] = None
        self._source_thread: Optional[threading.Thread] = None
        self._source_error: Optional[str] = None
        self._source_error_shown = False
        self._errors_shown = 0
        self._missing_shown = 0          # lines of the source's missing list said so far
        self._usage: Optional[tuple[float, int]] = None
        self._proc = None
        self.dashboard: DashboardScreen

    # ------------------------------------------------------------------ lifecycle
    def get_default_screen(self) -> Screen:
        self.dashboard = DashboardScreen(utc=self.utc)
        return self.dashboard

    def on_mount(self) -> None:
        if self.handle_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGHUP):
                try:
                    loop.add_signal_handler(sig, partial(self._on_signal, sig))
                except (NotImplementedError, RuntimeError, ValueError):
                    pass
        self.call_after_refresh(self._first_paint)

    def _on_signal(self, sig: int) -> None:
        """SIGTERM/SIGHUP: exit cleanly. After a hang-up the terminal may be gone, and
        Textual's input thread then spins on the dead tty while the exit waits for it (an
        orphan at 60 % CPU was seen): if the clean exit has not happened in HANGUP_GRACE
        seconds, the process ends at once. Nothing is left behind: the kernel frees the
        probes with the process, and the spool is an unlinked file."""
        self._stop.set()
        timer = threading.Timer(HANGUP_GRACE, os._exit, args=(128 + sig,))
        timer.daemon = True
        timer.start()
        self.exit(None, 128 + sig)

    def _first_paint(self) -> None:
        """Once the first frame is on the screen: start the source and the drain loop. Not
        before: loading the probes (importing bcc, starting the compiler) or reading a
        recording holds the GIL for much of the first 0.2 s, and on a busy machine takes a
        core, which is what drawing the first frame needs (measured in bench_first_frame.py)."""
        if not self.dashboard.query("#stream"):
            self.call_after_refresh(self._first_paint)     # the panes are still composing
            return
        if self._source_thread is None and not self._stop.is_set():
            self._start_source()
            if self.first_frame_hook is not None:
                self.first_frame_hook()
        self.dashboard.focus_pane(1)
        self.refresh_now()

    def _start_source(self) -> None:
        if self.own_usage:
            try:
                import psutil       # here, not at the top: the first frame does not need it
                self._proc = psutil.Process()
                self._proc.cpu_percent(None)      # the first call only starts the meter
            except Exception:
                self._proc = None
        flushes = self.terminal.flushes if self.terminal is not None else None
        self._source_thread = threading.Thread(target=self._run_source, args=(flushes,),
                                               name="sniff-source", daemon=True)
        self._source_thread.start()
        self.run_worker(self._pump, name="pump", group="pump", exit_on_error=False)

    def _run_source(self, flushes: Optional[int] = None) -> None:
        """Worker thread: load the source, then run it. The only code off the UI thread
        (besides exports). ``flushes``: the terminal's count when the first frame was queued;
        the load waits for that frame to be out (see Terminal)."""
        if flushes is not None:
            self.terminal.wait_flush(flushes, timeout=1.0)
        try:
            if self.load is not None:
                self.load()
        except BaseException as exc:
            self.load_error = exc
            self._call_ui(partial(self.exit, 1, 1))
            return
        self._loaded.set()
        if self._stop.is_set():
            return
        try:
            self.source.set_filters(self.state.filters)
        except Exception as exc:
            self._call_ui(self.say, f"could not apply the start-up filters: {exc}", "error")
        try:
            self.source.run(self.feed, self._stop)
        except BaseException as exc:            # shown in the header and as a notification
            self._source_error = f"{type(exc).__name__}: {exc}"

    def _call_ui(self, fn, *args) -> None:
        try:
            self.call_from_thread(fn, *args)
        except RuntimeError:                    # the app is gone already
            pass

    def on_unmount(self) -> None:
        # Only signal here: the terminal is given back first, then run_dashboard waits for
        # the worker (a flood takes it up to a second to stop), never on a blank screen.
        self._stop.set()

    def stop_source(self, timeout: float = 10.0) -> bool:
        """After the app: detach (a stop under a flood is quick), drain what the worker still
        delivers (into the store with --db: it never waits for room), wait; whether it ended."""
        self._stop.set()
        self.source.detach()
        thread = self._source_thread
        deadline = time.monotonic() + timeout
        while thread is not None and thread.is_alive() and time.monotonic() < deadline:
            self.feed.drain(1 << 30)
            thread.join(0.02)
        ended = thread is None or not thread.is_alive()
        if ended:
            self.feed.drain(1 << 30)
        return ended

    @property
    def source_running(self) -> bool:
        """Running, or to be started once the first frame is out (and not stopped)."""
        if self._source_thread is None:
            return not self._stop.is_set()
        return self._source_thread.is_alive()

    @property
    def loading(self) -> bool:
        # Only a source with something to load (the live probes): a replay's first frames,
        # before its worker has started, are not "loading probes".
        return self.load is not None and not self._loaded.is_set() and self.load_error is None

    @property
    def mode(self) -> str:
        if self.loading:
            return "LOADING PROBES…"
        if self.state.paused:
            return "PAUSED"
        if self._source_error is not None:
            return "SOURCE FAILED"
        if self.source.live:
            later = self.state.source_stats.loading      # mmap, close_range, io_uring: phase two
            return f"LIVE (loading {', '.join(later)})" if later else "LIVE"
        return "REPLAY" if self.source_running or len(self.feed) else "REPLAY DONE"

    @property
    def now(self) -> float:
        """The session's present: the wall clock live, the last record in a replay."""
        if self.source.live:
            return time.time()
        return self.state.last_ts or 0.0

    # ------------------------------------------------------------------ the drain loop
    def apply_batch(self, batch: list[Record]) -> None:
        """The one place a drained batch enters the session (a sink hooks in here)."""
        self.state.apply(self.take_content(batch))

    async def _pump(self) -> None:
        """The drain loop (an asyncio task on the UI thread, not a thread): folds the feed in
        chunks and yields to the event loop after each, so a key press waits behind one chunk
        (~20 ms at 50k records/s), never behind a whole backlog; redraws on its own clock."""
        next_draw = time.monotonic() + self.tick_seconds
        while True:
            try:
                batch = self.feed.drain(self.chunk)
                self.apply_batch(batch)
                now = time.monotonic()
                if now >= next_draw:
                    next_draw = now + self.tick_seconds
                    self._draw_tick()
            except Exception as exc:        # a refresh bug must not take the terminal with it
                self.say(f"refresh failed: {type(exc).__name__}: {exc}", "error")
                await asyncio.sleep(1.0)
                continue
            if len(batch) == self.chunk:
                await asyncio.sleep(0)      # more waiting: let keys and painting in first
            else:
                await asyncio.sleep(max(0.0, min(next_draw - time.monotonic(), 0.05)))

    def _draw_tick(self) -> None:
        self.state.set_ui_drops(self.feed.dropped)
        if self.source.live:
            self.state.advance_clock(time.time())
        self.ticks += 1
        self.refresh_now(all_panes=self.ticks % SLOW_EVERY == 0)

    def drain_and_refresh(self) -> None:
        """Drain the feed empty and redraw every pane at once (tests, screenshots)."""
        while True:
            batch = self.feed.drain(self.chunk)
            self.apply_batch(batch)
            if len(batch) < self.chunk:
                break
        self.state.set_ui_drops(self.feed.dropped)
        self.refresh_now(all_panes=True)

    def refresh_now(self, all_panes: bool = True, force: bool = False) -> None:
        """Redraw from the state inside one batch update. ``force``: also redraw the frozen
        panes while paused (after a user action such as a filter change)."""
        if all_panes:
            self._poll_source()
        screen = self.dashboard          # ticks go on while a modal screen is on top
        state = self.state
        with self.batch_update():
            screen.query_one(DashboardHeader).update_from(state, mode=self.mode, usage=self._usage,
                                                        frozen=not self.own_usage)
            screen.query_one(EventStreamPane).update_from(state, force=force)
            if all_panes:
                if force or not state.paused:
                    screen.query_one(ProcessTreePane).update_from(state, force=force)
                    screen.query_one(TopFilesPane).update_from(state, force=force, now=self.now)
                screen.query_one(MapGaugesPane).update_from(state)
                screen.query_one(LossesPane).update_from(state)
                screen.set_losses(sum(v for _, v in state.losses()))

    def _poll_source(self) -> None:
        """Once a second: source health, bad recording lines, a failed worker, exited
        processes, own usage."""
        if self.loading:
            return
        try:
            self.state.set_source_stats(self.source.stats())
        except Exception as exc:
            self.say(f"could not read the source's statistics: {exc}", "warning")
        error_count, errors = self.source.warnings()
        if errors:
            self.state.set_replay_errors(error_count)
            if len(errors) > self._errors_shown:
                new = errors[self._errors_shown:self._errors_shown + 3]
                lines = "; ".join(f"line {n}: {reason}" for n, reason in new)
                more = len(errors) - self._errors_shown - len(new)
                self.say(f"recording: skipped bad line(s) {lines}" + (f" (+{more} more)" if more else ""),
                         "warning")
                self._errors_shown = len(errors)
        missing = self.state.source_stats.missing
        if len(missing) > self._missing_shown:
            # each said once: what the kernel cannot follow, and what went live late
            self.say("; ".join(missing[self._missing_shown:]), "warning", timeout=15)
            self._missing_shown = len(missing)
        if self._source_error is not None and not self._source_error_shown:
            self._source_error_shown = True
            self.say(f"the event source stopped: {self._source_error}", "error", timeout=30)
        if self.source.live:
            self._mark_exited()
        if self._proc is not None:
            try:
                self._usage = (self._proc.cpu_percent(None), self._proc.memory_info().rss)
            except Exception:
                self._usage = None

    def _mark_exited(self) -> None:
        now = time.time()
        for pid in self.state.running_pids()[:EXIT_CHECKS_PER_POLL]:
            if not os.path.exists(f"/proc/{pid}"):
                self.state.mark_exited(pid, now)

    def say(self, message: str, severity: str = "information", timeout: float | None = None) -> None:
        """A notification that never interprets markup (messages quote file names)."""
        self.notify(one_line(message, 300), severity=severity, timeout=timeout,  # type: ignore[arg-type]
                    markup=False)

    # ------------------------------------------------------------------ watches
    def action_watch_dir(self) -> None:
        current = ", ".join(visible(w) for w in self.state.watches)
        self.push_screen(PromptScreen("Watch a directory",
                                      placeholder="/path/to/dir   or   +/path/to/add",
                                      hint=f"Now: {current or '(nothing)'} · prefix + to add · Esc cancels"),
                         self.change_watch)

    def change_watch(self, text: Optional[str]) -> bool:
        if text is None or not text.strip():
            return False
        text = text.strip()
        add = text.startswith("+")
        path = os.path.realpath(os.path.expanduser(text[1:].strip() if add else text))
        if not os.path.isdir(path):
            self.say(f"not a directory: {path}", "error")
            return False
        wanted = os.fsencode(path)
        watches = list(self.state.watches) + [wanted] if add else [wanted]
        watches = list(dict.fromkeys(watches))
        try:
            self.source.set_watches(watches)
        except Exception as exc:
            self.say(f"could not watch {path}: {exc}", "error")
            return False
        self.state.set_watches(watches, fresh=not add)
        if self.state.filters.by_path:     # the patterns are relative to each watched directory
            self.apply_path_rules(self.state.filters)
        self.dashboard.query_one(ProcessTreePane).forget_opened()
        self.refresh_now(force=True)
        self.say(("also watching " if add else "now watching (a fresh view) ") + path)
        return True

    # ------------------------------------------------------------------ view
    def action_toggle_pause(self) -> None:
        if self.state.paused:
            self.state.resume()
        else:
            self.state.pause()
        self.refresh_now(force=True)

    def action_cycle_sort(self) -> None:
        """The Processes pane when it has focus, else the Top files."""
        procs = self.dashboard.query_one(ProcessTreePane)
        focused = self.dashboard.focused
        if focused is not None and (focused is procs or procs in focused.ancestors):
            procs.cycle_sort()
            procs.update_from(self.state, force=True)
            return
        pane = self.dashboard.query_one(TopFilesPane)
        pane.cycle_sort()
        pane.update_from(self.state, force=True, now=self.now)

    def action_focus_pane(self, number: int) -> None:
        if self.screen.maximized is not None:
            self.screen.minimize()
        self.dashboard.focus_pane(number)

    def action_toggle_maximize(self) -> None:
        screen = self.screen
        if screen.maximized is not None:
            screen.minimize()
            return
        if screen.focused is None:
            screen.set_focus(screen.query_one(EventStream))
        screen.maximize(screen.focused)

    def action_help(self) -> None:
        self.push_screen(HelpScreen([(k.shown, k.help) for k in KEYMAP]
                                    + [("ctrl+p", "Command palette"),
                                       ("f / End", "Follow the event stream")],
                                    HELP_NOTES))

    def action_quit(self) -> None:
        if any(t.is_alive() for t in self._exporting):
            # Quitting now would leave a cut JSONL behind: finish it first.
            self.say("finishing the export before quitting…")
            self.set_timer(0.1, self.action_quit)
            return
        self.exit(1 if self._source_error is not None else 0)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for key in KEYMAP:
            yield SystemCommand(f"{key.title} ({key.shown})", key.help, partial(self.run_action, key.action))


__all__ = ["KEYMAP", "SniffApp"]
