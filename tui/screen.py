"""The dashboard's main screen: the header, the five panes, the tab line and the footer.

Wide terminals (``WIDE`` and up) show every pane at once. Below that, at 80x24 for instance,
five bordered panes cannot each show their essential columns, so the screen switches to one
pane at a time (class ``-compact``), full width, with a tab line naming the others; `1`–`5`
switch, as they focus panes on a wide screen.
"""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Static

from sniff_tui.tui.keys import KEYMAP, PANE_NAMES
from sniff_tui.widgets.event_stream import EventStreamPane
from sniff_tui.widgets.header import DashboardHeader
from sniff_tui.widgets.losses import LossesPane
from sniff_tui.widgets.map_gauges import MapGaugesPane
from sniff_tui.widgets.process_tree import ProcessTreePane
from sniff_tui.widgets.top_files import TopFilesPane

WIDE = (100, 30)                # (columns, rows) from which every pane is shown at once
# pane number -> (the pane, what gets the focus in it)
PANES = {1: ("#events-pane", "#stream"), 2: ("#procs-pane", "#proc-tree"),
         3: ("#files-pane", "#files-table"), 4: ("#maps", "#maps"), 5: ("#losses", "#losses")}
TAB_TITLES = dict(PANE_NAMES)


class DashboardScreen(Screen):
    """Keys live here, not on the App, so they are inert in modal screens (typing `q` in the
    filter prompt types a q)."""

    BINDINGS = [Binding(k.key, k.action, k.title, show=k.footer, priority=k.priority)
                for k in KEYMAP] + [Binding("ctrl+c", "app.quit", "Quit", show=False)]

    def __init__(self, utc: bool) -> None:
        super().__init__(id="dashboard")
        self.utc = utc
        self.current = 1                # the pane shown in compact mode
        self.losses = 0

    def compose(self) -> ComposeResult:
        # Words on the very first frame, before the first refresh fills the header in.
        yield DashboardHeader(Text.assemble(("sniff-tui ", "bold"), ("starting…", "dim")),
                              id="header")
        yield Static(id="tabs")
        with Vertical(id="panes"):
            with Horizontal(id="top-row"):
                yield EventStreamPane(utc=self.utc, id="events-pane", classes="pane")
                yield ProcessTreePane(utc=self.utc, id="procs-pane", classes="pane")
            with Horizontal(id="bottom-row"):
                yield TopFilesPane(utc=self.utc, id="files-pane", classes="pane")
                with Vertical(id="health"):
                    yield MapGaugesPane(id="maps", classes="pane")
                    yield LossesPane(id="losses", classes="pane")
        yield Footer(compact=True)

    @property
    def compact(self) -> bool:
        return self.has_class("-compact")

    def on_resize(self) -> None:
        if not self.query("#losses"):
            return                      # not composed yet
        width, height = self.size
        self.set_class(width < WIDE[0] or height < WIDE[1], "-compact")
        self.show_pane(self.current)

    def pane(self, number: int) -> Widget:
        return self.query_one(PANES[number][0])

    def focus_pane(self, number: int) -> None:
        """Show (compact) and focus pane ``number`` before the next key is handled:
        ``set_focus`` is immediate, where ``Widget.focus`` waits for the message queue."""
        self.show_pane(number)
        self.set_focus(self.query_one(PANES[number][1]))

    def show_pane(self, number: int) -> None:
        self.current = number
        current = self.pane(number)
        for n in PANES:
            self.pane(n).set_class(n == number, "-current")
        for box in ("#top-row", "#bottom-row", "#health"):
            container = self.query_one(box)
            holds = container is current.parent or current in container.query(".pane")
            container.set_class(not holds, "-empty")
        self.draw_tabs()

    def draw_tabs(self) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        for n, title in TAB_TITLES.items():
            label = f" {n} {title} "
            if n == 5 and self.losses:
                label = f" {n} {title} {self.losses:,} "
            style = "reverse bold" if n == self.current else ("bold red1" if n == 5 and self.losses else "")
            text.append(label, style)
        self.query_one("#tabs", Static).update(text)

    def set_losses(self, total: int) -> None:
        if total != self.losses:
            self.losses = total
            self.draw_tabs()

    def on_descendant_focus(self, event) -> None:
        # Tab / shift+tab / a click move the focus: compact mode follows to that pane.
        widget = event.widget
        for n, (pane, _) in PANES.items():
            node = self.query_one(pane)
            if widget is node or node in widget.ancestors:
                if n != self.current:
                    self.show_pane(n)
                return
