"""The `D` screen (--content): the changes of one file, a list of its versions (time, process,
lines added and removed) and the selected version's diff, coloured and scrollable."""
from __future__ import annotations

from typing import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from sniff_tui.session.versions import Version, diff_lines
from sniff_tui.core.textfmt import clock, visible

STYLES = {"---": "bold", "+++": "bold", "@@": "cyan", "-": "red", "+": "green", "note": "yellow"}


def version_label(v: Version, utc: bool = False) -> Text:
    when = clock(v.ts, utc=utc)
    added, removed = v.counts()
    what = "rename" if v.kind == "rename" else "write"
    text = Text.assemble((when, "dim"), " ", (visible(v.comm), "bold"), f"[{v.pid}] ",
                         (what, "magenta"), " ")
    if v.before is None or v.after is None:
        text.append("no diff", "yellow")
    else:
        text.append(f"+{added}", "green")
        text.append(" ")
        text.append(f"-{removed}", "red")
    return text


def diff_text(v: Version) -> Text:
    out = Text(no_wrap=True, overflow="ellipsis")
    if v.kind == "rename" and v.renamed_from:
        out.append(f"renamed over it from {visible(v.renamed_from)}\n", "magenta")
    for kind, line in diff_lines(v):
        out.append(visible(line) + "\n", STYLES.get(kind, ""))
    return out


class ChangesScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Close"),
        Binding("q", "app.pop_screen", "Close", show=False),
        Binding("D", "app.pop_screen", "Close", show=False),
        Binding("pagedown", "scroll_diff(1)", "Scroll diff", show=False),
        Binding("pageup", "scroll_diff(-1)", "Scroll diff", show=False),
    ]

    DEFAULT_CSS = """
    ChangesScreen { align: center middle; }
    ChangesScreen > Vertical {
        width: 100%; height: 100%; max-width: 160;
        border: thick $primary; background: $surface;
    }
    ChangesScreen OptionList { height: auto; max-height: 35%; border: none; padding: 0; }
    ChangesScreen VerticalScroll { height: 1fr; border-top: solid $primary-darken-2; }
    ChangesScreen #changes-diff { width: auto; }
    """

    def __init__(self, path: bytes, versions: Sequence[Version], utc: bool = False) -> None:
        super().__init__()
        self.path = path
        self.utc = utc
        self.versions = list(versions)

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = f"changes of {visible(self.path)}"
            box.border_subtitle = "↑/↓ version · PgUp/PgDn diff · esc closes"
            if self.versions:
                yield OptionList(*(Option(version_label(v, self.utc)) for v in self.versions), id="changes-list")
            with VerticalScroll(id="changes-scroll"):
                yield Static(Text("no captured change of this file yet", "dim") if not self.versions
                             else diff_text(self.versions[-1]), id="changes-diff")

    def on_mount(self) -> None:
        if self.versions:
            listing = self.query_one(OptionList)
            listing.highlighted = len(self.versions) - 1     # the latest change first
            listing.focus()

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self.query_one("#changes-diff", Static).update(diff_text(self.versions[event.option_index]))
        self.query_one("#changes-scroll", VerticalScroll).scroll_home(animate=False)

    def action_scroll_diff(self, direction: int) -> None:
        scroll = self.query_one("#changes-scroll", VerticalScroll)
        scroll.scroll_page_down(animate=False) if direction > 0 else scroll.scroll_page_up(animate=False)
