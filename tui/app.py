"""The dashboard: ``SniffApp`` and ``run_dashboard``.

Data flows one way. The source runs in a worker thread and pushes Records into a bounded
Feed; on the UI thread a drain loop (``_pump``) takes the feed in chunks of ``CHUNK``
records, folds each chunk into the SessionState with one call, and on its redraw clock
refreshes the panes inside one ``batch_update``. The worker never touches a widget and
widgets only read the state. User commands flow back only through ``source.set_filters`` /
``source.set_watches``.

Refresh cadence: the header and the stream every tick (5/s); the process tree, the top
files, the map gauges and the loss counts every ``SLOW_EVERY`` ticks, or at once after a
user action. While paused only the counters move.
"""
from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from functools import partial
from typing import Iterable, Optional

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer

from probes.filters import FilterError, Filters
from probes.source import Source
from probes.feed import Feed
from tui.state import Limits, SessionRecording, SessionState
from tui.text import visible
from widgets.event_stream import EventStream, EventStreamPane
from widgets.header import DashboardHeader
from widgets.help_screen import HelpScreen
from widgets.losses import LossesPane
from widgets.map_gauges import MapGaugesPane
from widgets.process_tree import ProcessTreePane
from widgets.prompt import PromptScreen
from widgets.top_files import TopFilesPane

TICK_SECONDS = 0.2              # stream and header redraws: 5/s
SLOW_EVERY = 5                  # ticks between refreshes of the heavier panes (1 s)
CHUNK = 4_096                   # records folded between two looks at the event loop


@dataclass(frozen=True)
class Key:
    key: str                    # Textual key name
    shown: str                  # as the user types it
    action: str
    title: str                  # short: footer and command palette
    help: str                   # long: help screen and palette
    footer: bool = False
    priority: bool = False      # over the focused pane's own bindings (space in a Tree)


OP_KEYS = (("r", "read", "read"), ("w", "write", "write"), ("o", "open,close", "open/close"),
           ("n", "rename", "rename"), ("u", "unlink", "unlink"), ("t", "truncate", "truncate"))

KEYMAP: tuple[Key, ...] = (
    Key("q", "q", "app.quit", "Quit", "Quit sniff-tui", footer=True),
    Key("space", "space", "app.toggle_pause", "Pause", "Pause or resume the view (counting goes on)",
        footer=True, priority=True),
    Key("slash", "/", "app.text_filter", "Search",
        "Filter by text in the path, the process name or the pid (empty clears)", footer=True),
    *(Key(k, k, f"app.toggle_op('{ops}')", f"Toggle {label}", f"Show or hide {label} events")
      for k, ops, label in OP_KEYS),
    Key("a", "a", "app.toggle_types", "File types",
        "Regular files and directories only / all file types (pipes, sockets, devices)"),
    Key("p", "p", "app.filter_process", "This process",
        "Only the process selected in pane 2", footer=True),
    Key("P", "P", "app.filter_tree", "This tree", "Only the selected process and its descendants"),
    Key("c", "c", "app.clear_filters", "Clear filters", "Clear all filters", footer=True),
    Key("d", "d", "app.watch_dir", "Watch dir",
        "Change the watched directory (prefix + to add one)", footer=True),
    Key("s", "s", "app.cycle_sort", "Sort", "Cycle the sort column of the top files", footer=True),
    Key("e", "e", "app.export", "Export",
        "Export the session so far (JSONL) and a screenshot (SVG) to the current directory",
        footer=True),
    *(Key(str(n), str(n), f"app.focus_pane({n})", f"Pane {n}", f"Focus pane {n}: {name}")
      for n, name in ((1, "events"), (2, "processes"), (3, "top files"), (4, "BPF maps"),
                      (5, "losses"))),
    Key("m", "m", "app.toggle_maximize", "Maximize", "Maximize or restore the focused pane",
        footer=True),
    Key("question_mark", "?", "app.help", "Help", "Show this help", footer=True),
)
HELP_NOTES = (
    "In the event pane: ↑/PgUp/Home scroll back (stops following), End or f follows again.",
    "In the process tree: enter folds a process. In the top files: ↑/↓ select a file.",
    "ctrl+p opens the command palette: every key above is a command there too.",
    "Filters apply in the kernel on a live source and to what is already on screen.",
)
PANES = {1: "#stream", 2: "#proc-tree", 3: "#files-table", 4: "#maps", 5: "#losses"}


class DashboardScreen(Screen):
    """The main screen. Keys live here, not on the App, so they are inert in modal screens
    (typing `q` in the filter prompt types a q)."""

    BINDINGS = [Binding(k.key, k.action, k.title, show=k.footer, priority=k.priority)
                for k in KEYMAP] + [Binding("ctrl+c", "app.quit", "Quit", show=False)]

    def __init__(self, utc: bool) -> None:
        super().__init__(id="dashboard")
        self.utc = utc

    def compose(self) -> ComposeResult:
        yield DashboardHeader(id="header")
        with Vertical(id="panes"):
            with Horizontal(id="top-row"):
                yield EventStreamPane(utc=self.utc, id="events-pane")
                yield ProcessTreePane(id="procs-pane")
            with Horizontal(id="bottom-row"):
                yield TopFilesPane(utc=self.utc, id="files-pane")
                with Vertical(id="health"):
                    yield MapGaugesPane(id="maps")
                    yield LossesPane(id="losses")
        yield Footer()


class SniffApp(App[int]):
    TITLE = "sniff-tui"
    CSS = """
    #panes { height: 1fr; }
    #top-row { height: 3fr; }
    #bottom-row { height: 2fr; }
    #events-pane { width: 3fr; }
    #procs-pane { width: 2fr; }
    #files-pane { width: 7fr; }
    #health { width: 3fr; }
    /* A maximized pane resolves its fr width alone (3fr would be three screens wide). */
    #top-row > .-maximized, #bottom-row > .-maximized, #health > .-maximized {
        width: 100%; height: 100%;
    }
    EventStreamPane, ProcessTreePane, TopFilesPane, MapGaugesPane, LossesPane {
        border: round $primary-muted;
        border-title-color: $text;
        border-subtitle-color: $text-muted;
    }
    EventStreamPane:focus-within, ProcessTreePane:focus-within, TopFilesPane:focus-within,
    MapGaugesPane:focus, LossesPane:focus {
        border: round $accent;
    }
    MapGaugesPane { height: 1fr; }
    LossesPane { height: auto; }
    MapGaugesPane, LossesPane { text-wrap: nowrap; text-overflow: ellipsis; }
    LossesPane.-lossy { border: heavy $error; }
    """

    def __init__(self, source: Source, filters: Filters, watches: list[bytes], *,
                 feed: Optional[Feed] = None, test_mode: bool = False,
                 tick_seconds: float = TICK_SECONDS, chunk: int = CHUNK,
                 spool_dir: Optional[str] = None, limits: Limits = Limits(),
                 handle_signals: bool = False) -> None:
        """``test_mode``: times in UTC and no own CPU/memory figures, so snapshots are the
        same on every machine. ``handle_signals``: exit cleanly on SIGTERM/SIGHUP (the real
        run; not under pytest)."""
        super().__init__()
        self.source = source
        self.feed: Feed = feed if feed is not None else Feed()
        self.test_mode = test_mode
        self.tick_seconds = tick_seconds
        self.chunk = chunk
        self.handle_signals = handle_signals
        self.state = SessionState(watches or list(getattr(source, "watches", []) or []), filters,
                                  process_info=source.process_info,
                                  recording=SessionRecording(spool_dir), limits=limits)
        self.notices: list[tuple[str, str]] = []      # (severity, message), last 50: for tests
        self.exports: list[str] = []                  # files written by `e`
        self._exporting: list[threading.Thread] = []
        self.ticks = 0
        self._stop = threading.Event()
        self._source_thread: Optional[threading.Thread] = None
        self._source_error: Optional[str] = None
        self._source_error_shown = False
        self._errors_shown = 0
        self._usage: Optional[tuple[float, int]] = None
        self._proc = None
        self.dashboard: DashboardScreen

    # ------------------------------------------------------------------ lifecycle
    def get_default_screen(self) -> Screen:
        self.dashboard = DashboardScreen(utc=self.test_mode)
        return self.dashboard

    def on_mount(self) -> None:
        if self.handle_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGHUP):
                try:
                    loop.add_signal_handler(sig, partial(self.exit, None, 128 + sig))
                except (NotImplementedError, RuntimeError, ValueError):
                    pass
        if not self.test_mode:
            try:
                import psutil
                self._proc = psutil.Process()
                self._proc.cpu_percent(None)      # the first call only starts the meter
            except Exception:
                self._proc = None
        try:
            self.source.set_filters(self.state.filters)
        except Exception as exc:
            self.say(f"could not apply the start-up filters: {exc}", "error")
        self._source_thread = threading.Thread(target=self._run_source, name="sniff-source",
                                               daemon=True)
        self._source_thread.start()
        self.call_after_refresh(self._first_paint)
        self.run_worker(self._pump, name="pump", group="pump", exit_on_error=False)

    def _first_paint(self) -> None:
        self.dashboard.query_one(EventStream).focus()
        self.refresh_now()

    def _run_source(self) -> None:
        """Worker thread: the only code that runs off the UI thread (besides exports)."""
        try:
            self.source.run(self.feed, self._stop)
        except BaseException as exc:            # shown in the header and as a notification
            self._source_error = f"{type(exc).__name__}: {exc}"

    def on_unmount(self) -> None:
        self.stop_source()
        self.state.close()

    def stop_source(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._source_thread is not None and self._source_thread.is_alive():
            self._source_thread.join(timeout)

    @property
    def source_running(self) -> bool:
        return self._source_thread is not None and self._source_thread.is_alive()

    @property
    def mode(self) -> str:
        if self.state.paused:
            return "PAUSED"
        if self._source_error is not None:
            return "SOURCE FAILED"
        if getattr(self.source, "live", False):
            return "LIVE"
        return "REPLAY" if self.source_running or len(self.feed) else "REPLAY DONE"

    # ------------------------------------------------------------------ the drain loop
    async def _pump(self) -> None:
        """The drain loop (an asyncio task on the UI thread, not a thread).

        Folds the feed in chunks of ``chunk`` records and yields to the event loop after each,
        so a key press waits behind one chunk (~20 ms at 50k records/s), never behind a whole
        backlog; redraws on its own clock (``tick_seconds``), whatever the load. A fixed-period
        timer draining a capped batch falls behind once a tick takes longer than its period
        (ticks are skipped, not queued), and the feed then overflows while the CPU idles."""
        next_draw = time.monotonic() + self.tick_seconds
        while True:
            try:
                batch = self.feed.drain(self.chunk)
                self.state.apply(batch)
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
        self.state.ui_drops = self.feed.dropped
        if getattr(self.source, "live", False):
            self.state.advance_clock(time.time())
        self.ticks += 1
        self.refresh_now(all_panes=self.ticks % SLOW_EVERY == 0)

    def drain_and_refresh(self) -> None:
        """Drain the feed empty and redraw every pane at once (tests, screenshots)."""
        while True:
            batch = self.feed.drain(self.chunk)
            self.state.apply(batch)
            if len(batch) < self.chunk:
                break
        self.state.ui_drops = self.feed.dropped
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
                                                        frozen=self.test_mode)
            screen.query_one(EventStreamPane).update_from(state, force=force)
            if all_panes:
                if force or not state.paused:
                    screen.query_one(ProcessTreePane).update_from(state, force=force)
                    screen.query_one(TopFilesPane).update_from(state, force=force)
                screen.query_one(MapGaugesPane).update_from(state)
                screen.query_one(LossesPane).update_from(state)

    def _poll_source(self) -> None:
        """Once a second: source health, bad recording lines, a failed worker, own usage."""
        try:
            self.state.set_source_stats(self.source.stats())
        except Exception as exc:
            self.say(f"could not read the source's statistics: {exc}", "warning")
        errors = getattr(self.source, "errors", None)
        if errors:
            self.state.replay_errors = int(getattr(self.source, "error_count", len(errors)))
            if len(errors) > self._errors_shown:
                new = errors[self._errors_shown:self._errors_shown + 3]
                lines = "; ".join(f"line {n}: {reason}" for n, reason in new)
                more = len(errors) - self._errors_shown - len(new)
                self.say(f"recording: skipped bad line(s) {lines}" + (f" (+{more} more)" if more else ""),
                         "warning")
                self._errors_shown = len(errors)
        if self._source_error is not None and not self._source_error_shown:
            self._source_error_shown = True
            self.say(f"the event source stopped: {self._source_error}", "error", timeout=30)
        if self._proc is not None:
            try:
                self._usage = (self._proc.cpu_percent(None), self._proc.memory_info().rss)
            except Exception:
                self._usage = None

    def say(self, message: str, severity: str = "information", timeout: float | None = None) -> None:
        """A notification that never interprets markup (messages quote file names)."""
        self.notices.append((severity, message))
        del self.notices[:-50]
        self.notify(message, severity=severity, timeout=timeout, markup=False)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ filters
    def apply_filters(self, new: Filters) -> bool:
        """Push ``new`` to the source (the kernel, live) and to the state (what is on screen)."""
        try:
            self.source.set_filters(new)
        except (FilterError, ValueError, OSError, RuntimeError) as exc:
            self.say(f"filter not applied: {exc}", "error")
            return False
        self.state.set_filters(new)
        # The stream (where the eye is) first; the aggregates, which need the totals rebuilt
        # from every cell, right after that frame is painted.
        self.refresh_now(all_panes=False, force=True)
        self.call_after_refresh(self.refresh_now, all_panes=True, force=True)
        return True

    def action_toggle_op(self, ops: str) -> None:
        wanted = frozenset(ops.split(","))
        current = self.state.filters.ops
        new_ops = current - wanted if current & wanted else current | wanted
        if self.apply_filters(self.state.filters.with_(ops=frozenset(new_ops))) and not new_ops:
            self.say("every operation is hidden: press r, w, o, n, u, t or c", "warning")

    def action_toggle_types(self) -> None:
        self.apply_filters(self.state.filters.with_(all_types=not self.state.filters.all_types))

    def _selected_pid(self) -> Optional[int]:
        pid = self.dashboard.query_one(ProcessTreePane).selected_pid
        if pid is None:
            self.say("select a process in pane 2 first (press 2, then ↑/↓)", "warning")
        return pid

    def action_filter_process(self) -> None:
        pid = self._selected_pid()
        if pid is not None:
            self.apply_filters(self.state.filters.with_(pid=pid, tree=None))

    def action_filter_tree(self) -> None:
        pid = self._selected_pid()
        if pid is not None:
            self.apply_filters(self.state.filters.with_(tree=pid, pid=None))

    def action_clear_filters(self) -> None:
        self.apply_filters(Filters())

    def action_text_filter(self) -> None:
        def done(text: Optional[str]) -> None:
            if text is not None:
                self.apply_filters(self.state.filters.with_(text=text.strip()))
        self.push_screen(PromptScreen("Filter: text in path or process name, or a pid",
                                      value=self.state.filters.text,
                                      placeholder="e.g. .log   make   1234",
                                      hint="Enter applies · empty clears · Esc cancels"), done)

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
        self.state.set_watches(watches)
        self.refresh_now(force=True)
        self.say(("also watching " if add else "now watching ") + path)
        return True

    # ------------------------------------------------------------------ view
    def action_toggle_pause(self) -> None:
        if self.state.paused:
            self.state.resume()
        else:
            self.state.pause()
        self.refresh_now(force=True)

    def action_cycle_sort(self) -> None:
        pane = self.dashboard.query_one(TopFilesPane)
        pane.cycle_sort()
        pane.update_from(self.state, force=True)

    def action_focus_pane(self, number: int) -> None:
        if self.screen.maximized is not None:
            self.screen.minimize()
        self.screen.query_one(PANES[number]).focus()

    def action_toggle_maximize(self) -> None:
        screen = self.screen
        if screen.maximized is not None:
            screen.minimize()
            return
        if screen.focused is None:
            screen.query_one(EventStream).focus()
        screen.maximize(screen.focused)

    def action_help(self) -> None:
        self.push_screen(HelpScreen([(k.shown, k.help) for k in KEYMAP]
                                    + [("ctrl+p", "Command palette"), ("f / End", "Follow the event stream")],
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

    # ------------------------------------------------------------------ export
    def action_export(self) -> None:
        """JSONL of every record kept so far + an SVG of the screen, named by the time."""
        base = os.path.join(os.getcwd(), "sniff-tui-" + time.strftime("%Y%m%d-%H%M%S"))
        n = 1
        stem = base
        while os.path.exists(stem + ".jsonl") or os.path.exists(stem + ".svg"):
            n += 1
            stem = f"{base}-{n}"
        svg_path, jsonl_path = stem + ".svg", stem + ".jsonl"
        try:
            self.save_screenshot(filename=os.path.basename(svg_path), path=os.path.dirname(svg_path))
            _give_to_sudo_user(svg_path)
        except OSError as exc:
            self.say(f"screenshot not written: {exc}", "error")
            svg_path = ""
        upto = self.state.recording.size if self.state.recording else 0
        # A plain thread (not a Textual worker) so quitting can wait for it: see action_quit.
        thread = threading.Thread(target=self._export_jsonl, args=(jsonl_path, upto, svg_path),
                                  name="sniff-export", daemon=True)
        self._exporting = [t for t in self._exporting if t.is_alive()] + [thread]
        thread.start()

    def _export_jsonl(self, path: str, upto: int, svg_path: str) -> None:
        """Export thread: reads the spool up to ``upto`` while the UI keeps appending."""
        try:
            n = self.state.export_jsonl(path, upto=upto)
            _give_to_sudo_user(path)
            message, severity = (f"exported {n:,} records to {path}"
                                 + (f" and a screenshot to {svg_path}" if svg_path else "")), "information"
            self.exports.extend(p for p in (path, svg_path) if p)
        except Exception as exc:
            message, severity = f"export failed: {exc}", "error"
        try:
            self.call_from_thread(self.say, message, severity)
        except RuntimeError:          # the app is gone already
            pass


def _give_to_sudo_user(path: str) -> None:
    """Under sudo, files written to the user's directory should be the user's."""
    uid, gid = os.environ.get("SUDO_UID"), os.environ.get("SUDO_GID")
    if os.geteuid() == 0 and uid and gid:
        try:
            os.chown(path, int(uid), int(gid))
        except (OSError, ValueError):
            pass


def run_dashboard(source: Source, filters: Filters, watches: list[bytes],
                  feed: Optional[Feed] = None) -> int:
    """Run the dashboard until the user quits; returns the process exit code. Textual puts
    the terminal back on every way out (quit, SIGTERM/SIGHUP, an exception)."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        print("sniff-tui: the dashboard needs a terminal (use the stream output instead)",
              file=sys.stderr)
        return 2
    try:
        app = SniffApp(source, filters, watches, feed=feed, handle_signals=True)
    except OSError as exc:
        print(f"sniff-tui: cannot create the session spool: {exc}", file=sys.stderr)
        return 1
    try:
        result = app.run()
    except KeyboardInterrupt:
        return 130
    finally:
        app.stop_source()
    if isinstance(result, int):
        return result
    return app.return_code or 0


__all__ = ["KEYMAP", "SniffApp", "run_dashboard"]
