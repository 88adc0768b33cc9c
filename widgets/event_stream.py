"""Pane 1: the live stream of records, newest last, following the end unless scrolled back.

A Line-API widget (``ScrollView`` + ``render_line``): it holds the state's bounded row list
and renders only the rows on screen, so a refresh costs the same at 50 records/s and at
50,000 records/s. A DataTable or a RichLog would build a renderable per record.
"""
from __future__ import annotations

from typing import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Static

from sniff_tui.session import Record
from sniff_tui.session.panes import EventsView
from sniff_tui.widgets.messages import ChangesWanted
from sniff_tui.core.textfmt import OP_STYLES, clip_right, clock, elide_left, fit_right, human_bytes, human_count, \
    plural, relative_to_watch, visible

# (time, process, op, bytes) widths: the wide set from WIDE_FROM cells on, else the narrow
# one (80 columns keep every column and still give the path 30 cells).
WIDE = (12, 22, 8, 15)
NARROW = (8, 14, 8, 10)
WIDE_FROM = 100
MIN_PATH_W = 8


def widths(width: int) -> tuple[int, int, int, int]:
    return WIDE if width >= WIDE_FROM else NARROW


def column_header(width: int = WIDE_FROM) -> Text:
    time_w, proc_w, op_w, bytes_w = widths(width)
    return Text.assemble(
        ("time".ljust(time_w) + " ", "bold"),
        ("process".ljust(proc_w) + " ", "bold"),
        ("op".ljust(op_w) + " ", "bold"),
        ("bytes".rjust(bytes_w) + " ", "bold"),
        ("path", "bold"),
    )


def render_row(rec: Record, width: int, watches: list[bytes], utc: bool) -> Text:
    """One stream row, at most ``width`` cells wide; the path keeps its end."""
    time_w, proc_w, op_w, bytes_w = widths(width)
    fixed = time_w + proc_w + op_w + bytes_w + 4
    pid = f" ({rec.pid})"
    proc = fit_right(clip_right(visible(rec.comm), max(proc_w - len(pid), 1)) + pid, proc_w)
    size = human_bytes(rec.bytes) if rec.bytes is not None else ""
    if rec.count > 1:
        with_count = f"{size} ×{human_count(rec.count)}".strip()
        size = with_count if len(with_count) <= bytes_w or not size else size
    path = visible(relative_to_watch(rec.path, watches))
    if rec.new_path is not None:
        path += " → " + visible(relative_to_watch(rec.new_path, watches))
    notes = []
    if rec.err:
        notes.append((" " + visible(rec.err), "bold red"))
    if rec.truncated:
        notes.append((" (truncated)", "italic yellow"))
    if rec.file_type not in ("file", "dir"):
        notes.append((f" [{visible(rec.file_type)}]", "dim"))
    if rec.via:
        notes.append((f" [{visible(rec.via)}]", "cyan"))
    notes_w = sum(len(t) for t, _ in notes)
    path_w = max(width - fixed - notes_w, MIN_PATH_W)
    row = Text.assemble(
        (clock(rec.ts, utc, digits=3 if time_w > 8 else 0).ljust(time_w) + " ", "dim"),
        (proc + " ", ""),
        (rec.op.ljust(op_w) + " ", OP_STYLES.get(rec.op, "")),
        (size[:bytes_w].rjust(bytes_w) + " ", ""),
        (elide_left(path, path_w), ""),
        *notes,
        no_wrap=True,
    )
    return row


class EventStream(ScrollView, can_focus=True):
    """Rows are a snapshot list taken by ``show``; rendering reads only the visible slice."""

    BINDINGS = [
        Binding("f", "toggle_follow", "Follow", show=False),
        Binding("D", "changes", "Changes", show=False),
    ]

    DEFAULT_CSS = """
    EventStream { overflow-x: hidden; scrollbar-gutter: stable; }
    """

    def __init__(self, *, utc: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.utc = utc
        self.follow = True
        self.shown_version = (-1, -1)   # (filter_gen, version) of the state last shown
        self._rows: Sequence[Record] = ()
        self._watches: list[bytes] = []

    @property
    def rows(self) -> Sequence[Record]:
        return self._rows

    def bottom_path(self) -> bytes | None:
        """The file of the lowest row on screen that names one (the newest while following):
        what `D` opens with this pane focused."""
        top = round(self.scroll_y)
        for index in range(min(len(self._rows), top + self.scrollable_content_region.height) - 1, top - 1, -1):
            path = getattr(self._rows[index], "path", None)
            if path:
                return path
        return None

    def show(self, rows: Sequence[Record], watches: list[bytes], shift: int = 0) -> None:
        """Take a new row list. ``shift``: rows that fell off the front since the last call,
        so a reader scrolled back keeps looking at the same records."""
        self._rows = rows
        self._watches = watches
        self.virtual_size = Size(self.scrollable_content_region.width, len(rows))
        if self.follow:
            self._follow_end()
        elif shift:
            self.scroll_to(y=max(self.scroll_y - shift, 0), animate=False, immediate=True)
        self.refresh()

    def _follow_end(self) -> None:
        # force: right after the rows grow the scrollbar is not shown yet, and Textual only
        # scrolls a widget whose scrollbar is shown.
        self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        # ScrollView moves the thumb only while the scrollbar is shown; a scroll forced just
        # before it appears would leave the thumb at the top next to the newest rows.
        self.vertical_scrollbar.position = new_value

    def on_resize(self) -> None:
        self.virtual_size = Size(self.scrollable_content_region.width, len(self._rows))
        if self.follow:
            self._follow_end()

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        index = round(self.scroll_y) + y
        style = self.rich_style
        if index >= len(self._rows) or width <= 0:
            return Strip.blank(width, style)
        text = render_row(self._rows[index], width, self._watches, self.utc)
        text.style = style              # the pane's colours under the cells' own
        return Strip(text.render(self.app.console)).crop_extend(0, width, style)

    # Scrolling back stops following; End (or `f`) follows again.
    def action_scroll_up(self) -> None:
        self.follow = False
        super().action_scroll_up()

    def action_page_up(self) -> None:
        self.follow = False
        super().action_page_up()

    def action_scroll_home(self) -> None:
        self.follow = False
        super().action_scroll_home()

    def action_scroll_end(self) -> None:
        self.follow = True
        super().action_scroll_end()

    def _on_mouse_scroll_up(self, event) -> None:
        self.follow = False
        super()._on_mouse_scroll_up(event)

    def action_changes(self) -> None:
        self.post_message(ChangesWanted(self.bottom_path()))

    def action_toggle_follow(self) -> None:
        self.follow = not self.follow
        if self.follow:
            self._follow_end()


class EventStreamPane(Vertical):
    ALLOW_MAXIMIZE = True

    DEFAULT_CSS = """
    EventStreamPane > #stream-columns { height: 1; color: $text-muted; }
    EventStreamPane > EventStream { height: 1fr; }
    """

    def __init__(self, *, utc: bool = False, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.utc = utc
        self.border_title = "1 Events"
        self._last_shift = 0

    def compose(self) -> ComposeResult:
        yield Static(column_header(), id="stream-columns")
        yield EventStream(utc=self.utc, id="stream")

    def on_resize(self) -> None:
        width = self.stream.scrollable_content_region.width or self.size.width
        self.query_one("#stream-columns", Static).update(column_header(width))

    @property
    def stream(self) -> EventStream:
        return self.query_one(EventStream)

    def update_from(self, state: EventsView, force: bool = False) -> None:
        """Show the state's rows; while paused only the 'new since pause' count moves."""
        stream = self.stream
        version = (state.filter_gen, state.version)
        if force or (not state.paused and version != stream.shown_version):
            shift = 0
            if version[0] == stream.shown_version[0]:
                shift = state.recent_shift - self._last_shift
            self._last_shift = state.recent_shift
            stream.show(state.stream_rows(), state.watches, shift)
            stream.shown_version = version
        self.border_subtitle = self._status(state, stream)

    @staticmethod
    def _status(state: EventsView, stream: EventStream) -> str:
        rows = plural(len(stream.rows), "row")
        if state.paused:
            return f"PAUSED · {rows} · +{human_count(state.new_since_pause)} new (space resumes)"
        mode = "following" if stream.follow else "scrolled back (End follows)"
        return f"{rows} · {mode}"
