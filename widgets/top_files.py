"""Pane 3: every file the session holds, ranked by bytes written (or the column `s` cycles to),
and for the selected file who touched it and when.

A Line-API list (``ScrollView`` + ``render_line``) over the session's ranked list: only the
rows on screen are rendered, so scrolling over 100,000 files costs what ten do, and there is
no top-N cut. A row whose per-process detail went past the session's bound is marked ``≈``.
"""
from __future__ import annotations

from typing import Optional, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Static

from sniff_tui.session import FILE_SORT_KEYS, FileEntry
from sniff_tui.session.panes import FilesView
from sniff_tui.widgets.messages import ChangesWanted
from sniff_tui.core.textfmt import OP_STYLES, ago, cgroup_text, clock, elide_left, fit_right, human_bytes, human_count, \
    plural, relative_to_watch, visible

TOUCHES_SHOWN = 6
SORT_TITLES = dict(FILE_SORT_KEYS)

# (title, width, sort key or None, drop order); the file column takes the rest of the width.
# On a narrow pane columns go, highest drop order first, until the file column keeps
# MIN_FILE_W cells: a path cut to a few characters says nothing.
COLUMNS = (
    ("written", 10, "bytes_written", 0),
    ("writes", 8, "writes", 4),
    ("read", 10, "bytes_read", 2),
    ("reads", 8, "reads", 5),
    ("last writer", 16, None, 1),
    ("last activity", 15, "last_ts", 3),
)
MIN_FILE_W = 24
NUMERIC = ("written", "writes", "read", "reads")


def layout(width: int) -> tuple[int, tuple]:
    """(file column width, the other columns shown) for rows ``width`` cells wide."""
    columns = list(COLUMNS)
    while True:
        file_w = width - sum(w + 1 for _, w, _, _ in columns) - 2     # 2: the partial mark
        if file_w >= MIN_FILE_W or len(columns) == 1:
            return max(file_w, 8), tuple(columns)
        columns.remove(max(columns, key=lambda c: c[3]))


def header_line(width: int, sort_key: str) -> Text:
    file_w, columns = layout(width)
    title = "file ▲" if sort_key == "path" else "file"
    text = Text(no_wrap=True)
    text.append("  " + title.ljust(file_w), "bold")
    for name, w, key, _ in columns:
        label = f"{name} ▼" if key == sort_key else name
        text.append(" " + (label.rjust(w) if name in NUMERIC else label.ljust(w)), "bold")
    return text


class FileList(ScrollView, can_focus=True):
    """The ranked files; a cursor row that follows its file, not its row number."""

    BINDINGS = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
        Binding("D", "changes", "Changes", show=False),
    ]
    DEFAULT_CSS = "FileList { overflow-x: hidden; scrollbar-gutter: stable; }"

    def __init__(self, *, utc: bool = False, id: Optional[str] = None) -> None:
        super().__init__(id=id)
        self.utc = utc
        self.rows: Sequence[FileEntry] = ()
        self.cursor = 0
        self.selected_path: Optional[bytes] = None
        self.watches: list[bytes] = []
        self.now = 0.0

    def show(self, rows: Sequence[FileEntry], watches: list[bytes], now: float) -> None:
        self.rows, self.watches, self.now = rows, watches, now
        if self.selected_path is not None:
            for i, fe in enumerate(rows):
                if fe.path == self.selected_path:
                    self.cursor = i
                    break
        self.cursor = min(self.cursor, max(len(rows) - 1, 0))
        self.virtual_size = Size(self.scrollable_content_region.width, len(rows))
        self._select(self.cursor, scroll=True)
        self.refresh()

    def _select(self, index: int, scroll: bool = True) -> None:
        if not self.rows:
            self.selected_path = None
            return
        index = max(0, min(index, len(self.rows) - 1))
        changed = self.rows[index].path != self.selected_path
        self.cursor = index
        self.selected_path = self.rows[index].path
        if scroll:
            self.scroll_to_region(self._row_region(index), animate=False, immediate=True,
                                  force=True)
        self.refresh()
        if changed:
            self.post_message(FileList.Selected())

    @staticmethod
    def _row_region(index: int) -> Region:
        return Region(0, index, 1, 1)

    class Selected(Message):
        """The cursor moved to another file."""

    def action_changes(self) -> None:
        self.post_message(ChangesWanted(self.selected_path))

    def action_cursor(self, delta: int) -> None:
        self._select(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self._select(self.cursor + direction * max(self.scrollable_content_region.height - 1, 1))

    def action_jump(self, index: int) -> None:
        self._select(len(self.rows) - 1 if index < 0 else index)

    def on_click(self, event) -> None:
        self._select(round(self.scroll_y) + event.y, scroll=False)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        index = round(self.scroll_y) + y
        style = self.rich_style
        if index >= len(self.rows) or width <= 0:
            return Strip.blank(width, style)
        text = self.render_row(self.rows[index], width)
        if index == self.cursor:
            text.stylize("reverse" if self.has_focus else "underline")
        text.style = style
        return Strip(text.render(self.app.console)).crop_extend(0, width, style)

    def render_row(self, fe: FileEntry, width: int) -> Text:
        file_w, columns = layout(width)
        path = visible(relative_to_watch(fe.path, self.watches))
        writer = ""
        if fe.last_writer is not None:
            pid, comm = fe.last_writer
            writer = f"{visible(comm)} ({pid})" if pid >= 0 else "(many)"
        cells = {
            "written": (human_bytes(fe.bytes_written), OP_STYLES["write"] if fe.bytes_written else "dim"),
            "writes": (human_count(fe.writes), ""),
            "read": (human_bytes(fe.bytes_read), OP_STYLES["read"] if fe.bytes_read else "dim"),
            "reads": (human_count(fe.reads), ""),
            "last writer": (writer, ""),
            "last activity": (ago(fe.last_ts, self.now) if fe.last_ts else "", "dim"),
        }
        text = Text(no_wrap=True)
        text.append("≈ " if fe.partial else "  ", "bold yellow")
        text.append(fit_right(elide_left(path, file_w), file_w))
        for name, w, _, _ in columns:
            value, style = cells[name]
            value = fit_right(value, w)
            text.append(" ")
            text.append(value.rstrip().rjust(w) if name in NUMERIC else value, style)
        return text


class TopFilesPane(Vertical):
    ALLOW_MAXIMIZE = True

    DEFAULT_CSS = """
    TopFilesPane > #files-columns { height: 1; }
    TopFilesPane > FileList { height: 1fr; }
    TopFilesPane > #file-touches { height: auto; max-height: 8; border-top: solid $primary-muted; }
    """

    def __init__(self, *, utc: bool = False, id: Optional[str] = None, classes: Optional[str] = None) -> None:
        super().__init__(id=id, classes=classes)
        self.utc = utc
        self.sort_key = FILE_SORT_KEYS[0][0]
        self.border_title = "3 Top files"
        self._state: Optional[FilesView] = None
        self._shown: tuple = ()
        self.shown_filter_gen = -1
        self.now = 0.0

    def compose(self) -> ComposeResult:
        yield Static(header_line(80, self.sort_key), id="files-columns")
        yield FileList(utc=self.utc, id="files-table")
        yield Static(Text("Select a file to see who touched it.", style="dim"), id="file-touches")

    @property
    def table(self) -> FileList:
        return self.query_one(FileList)

    @property
    def selected_path(self) -> Optional[bytes]:
        return self.table.selected_path

    def cycle_sort(self) -> str:
        keys = [k for k, _ in FILE_SORT_KEYS]
        self.sort_key = keys[(keys.index(self.sort_key) + 1) % len(keys)]
        return self.sort_key

    def on_resize(self) -> None:
        if self._state is not None:
            self.update_from(self._state, force=True)

    def update_from(self, state: FilesView, force: bool = False, now: Optional[float] = None) -> None:
        self._state = state
        if now is not None:
            self.now = now
        shown = (state.version, state.filter_gen, self.sort_key, self.size.width,
                 tuple(state.watches), int(self.now))
        if shown == self._shown and not force:
            return
        self._shown = shown
        files = state.sorted_files(self.sort_key)
        self.shown_filter_gen = state.filter_gen
        table = self.table
        table.show(files, state.watches, self.now)
        self._draw_header()
        partial = sum(1 for fe in files if fe.partial)
        title = SORT_TITLES[self.sort_key]
        self.border_subtitle = (plural(len(files), "file") + (f" · {partial:,} partial ≈" if partial else "")
                                + f" · by {title} (s)")
        self._show_touches()

    def _draw_header(self) -> None:
        # The rows' own width (the scrollbar's gutter is always kept), so titles sit over
        # their columns.
        width = self.table.scrollable_content_region.width or max(self.size.width - 2, 0)
        self.query_one("#files-columns", Static).update(header_line(width, self.sort_key))

    def _show_touches(self) -> None:
        out = self.query_one("#file-touches", Static)
        path = self.selected_path
        if path is None or self._state is None:
            out.update(Text("Select a file to see who touched it.", style="dim"))
            return
        touches = self._state.file_touches(path)
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append("who touched ", style="dim")
        text.append(visible(relative_to_watch(path, self._state.watches)))
        for cell in touches[:TOUCHES_SHOWN]:
            span = clock(cell.first_ts, self.utc)
            if cell.last_ts != cell.first_ts:
                span += "–" + clock(cell.last_ts, self.utc)
            text.append("\n")
            text.append(span.ljust(27), style="dim")
            who = f"{visible(cell.comm)} ({cell.pid}) " if cell.pid >= 0 else "(not itemised) "
            text.append(who)
            text.append(cell.op, style=OP_STYLES.get(cell.op, ""))
            text.append(f" ×{human_count(cell.count)}")
            if cell.bytes:
                text.append(f" {human_bytes(cell.bytes)}")
            where = cgroup_text(cell.container, cell.unit, None)
            if where:
                text.append(f"  {where}", style="magenta")
        if len(touches) > TOUCHES_SHOWN:
            text.append(f"\n… and {len(touches) - TOUCHES_SHOWN} more", style="dim")
        out.update(text)

    def on_file_list_selected(self, event: FileList.Selected) -> None:
        event.stop()
        self._show_touches()
