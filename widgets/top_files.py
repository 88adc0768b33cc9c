"""Pane 3: the files ranked by bytes written (or the column `s` cycles to), and for the selected
file who touched it and when: one line per process and operation, newest first.

Only the top ``TOP_N`` rows are in the table (``heapq.nlargest`` over the bounded file set),
so a refresh costs the same with ten files or twenty thousand.
"""
from __future__ import annotations

from typing import Optional

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from tui.state import SORT_KEYS, FileEntry, SessionState
from tui.text import relative_to_watch, visible
from widgets.format import OP_STYLES, clock, elide_left_cells, human_bytes, human_count

TOP_N = 100
TOUCHES_SHOWN = 6

# (title, width, sort key or None, drop order); the file column takes the rest of the width.
# On a narrow pane columns go, highest drop order first, until the file column keeps
# MIN_FILE_W cells: a path cut to a few characters says nothing.
COLUMNS = (
    ("written", 9, "bytes_written", 0),
    ("writes", 7, "writes", 4),
    ("read", 9, "bytes_read", 2),
    ("reads", 7, "reads", 5),
    ("last writer", 16, None, 1),
    ("last activity", 13, "last_ts", 3),
)
CELL_PADDING = 2          # DataTable pads each cell by one on both sides
MIN_FILE_W = 24


def layout(width: int) -> tuple[int, tuple]:
    """(file column width, the other columns shown) for a pane ``width`` cells wide."""
    columns = list(COLUMNS)
    while True:
        fixed = sum(w + CELL_PADDING for _, w, _, _ in columns) + CELL_PADDING + 2   # scrollbar
        file_w = width - fixed
        if file_w >= MIN_FILE_W or len(columns) == 1:
            return max(file_w, 8), tuple(columns)
        columns.remove(max(columns, key=lambda c: c[3]))


def _num(text: str, style: str = "") -> Text:
    return Text(text, style=style, justify="right", no_wrap=True)


class TopFilesPane(Vertical):
    ALLOW_MAXIMIZE = True

    DEFAULT_CSS = """
    TopFilesPane > DataTable { height: 1fr; }
    TopFilesPane > #file-touches { height: auto; max-height: 8; border-top: solid $primary-muted; }
    """

    def __init__(self, *, utc: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.utc = utc
        self.sort_key = SORT_KEYS[0]
        self.border_title = "3 Top files"
        self._paths: list[bytes] = []          # row index -> path
        self._file_width = 0
        self._columns: tuple = ()
        self._sort_shown = ""
        self._state: Optional[SessionState] = None
        self.shown_filter_gen = -1
        self._shown: tuple = ()

    def compose(self) -> ComposeResult:
        table: DataTable = DataTable(id="files-table", cursor_type="row", zebra_stripes=True)
        yield table
        yield Static(Text("Select a file to see who touched it.", style="dim"), id="file-touches")

    @property
    def table(self) -> DataTable:
        return self.query_one(DataTable)

    @property
    def selected_path(self) -> Optional[bytes]:
        row = self.table.cursor_row
        return self._paths[row] if 0 <= row < len(self._paths) else None

    def cycle_sort(self) -> str:
        self.sort_key = SORT_KEYS[(SORT_KEYS.index(self.sort_key) + 1) % len(SORT_KEYS)]
        return self.sort_key

    def _ensure_columns(self) -> None:
        file_w, columns = layout(self.size.width)
        if (file_w, columns, self.sort_key) == (self._file_width, self._columns, self._sort_shown):
            return
        self._file_width, self._columns, self._sort_shown = file_w, columns, self.sort_key
        table = self.table
        table.clear(columns=True)
        table.add_column("file", width=file_w, key="file")
        for title, width, key, _ in columns:
            label = f"{title} ▼" if key == self.sort_key else title
            numeric = title in ("written", "writes", "read", "reads")
            table.add_column(Text(label, justify="right" if numeric else "left"),
                             width=width, key=title)

    def on_resize(self) -> None:
        if self._state is not None:
            self.update_from(self._state)

    def update_from(self, state: SessionState, force: bool = False) -> None:
        self._state = state
        shown = (state.version, state.filter_gen, self.sort_key, self.size.width, tuple(state.watches))
        if shown == self._shown and not force:
            return                      # nothing new: keep the table (and its scroll) as is
        self._shown = shown
        keep = self.selected_path
        self._ensure_columns()
        table = self.table
        files = state.top_files(self.sort_key, TOP_N)
        table.clear()
        self.shown_filter_gen = state.filter_gen
        self._paths = [fe.path for fe in files]
        for fe in files:
            table.add_row(*self._cells(fe, state.watches))
        if keep is not None and keep in self._paths:
            # The cursor follows its file, not its row number, across re-ranking.
            table.move_cursor(row=self._paths.index(keep), animate=False)
        active = state.active_file_count()
        self.border_subtitle = f"{len(files)} of {active:,} files · sorted by {self.sort_key.replace('_', ' ')} (s)"
        self._show_touches()

    def _cells(self, fe: FileEntry, watches: list[bytes]) -> list[Text]:
        path = visible(relative_to_watch(fe.path, watches))
        writer = ""
        if fe.last_writer is not None:
            pid, comm = fe.last_writer
            writer = f"{visible(comm)} ({pid})"
        cells = {
            "written": _num(human_bytes(fe.bytes_written), OP_STYLES["write"] if fe.bytes_written else "dim"),
            "writes": _num(human_count(fe.writes)),
            "read": _num(human_bytes(fe.bytes_read), OP_STYLES["read"] if fe.bytes_read else "dim"),
            "reads": _num(human_count(fe.reads)),
            "last writer": Text(writer, no_wrap=True, overflow="ellipsis"),
            "last activity": Text(clock(fe.last_ts, self.utc, millis=False) if fe.last_ts else "",
                                  no_wrap=True),
        }
        return [Text(elide_left_cells(path, self._file_width), no_wrap=True)] + \
            [cells[title] for title, _, _, _ in self._columns]

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
            text.append(f"{visible(cell.comm)} ({cell.pid}) ")
            text.append(cell.op, style=OP_STYLES.get(cell.op, ""))
            text.append(f" ×{human_count(cell.count)}")
            if cell.bytes:
                text.append(f" {human_bytes(cell.bytes)}")
        if len(touches) > TOUCHES_SHOWN:
            text.append(f"\n… and {len(touches) - TOUCHES_SHOWN} more", style="dim")
        out.update(text)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._show_touches()
