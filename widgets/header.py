"""The dashboard header: mode, watched directories, active filters, the event-rate sparkline,
and sniff-tui's own CPU and memory (so a user sees what watching costs)."""
from __future__ import annotations

from typing import Optional, Sequence

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from sniff_tui.session.panes import HeaderView
from sniff_tui.core.textfmt import human_bytes, human_count, visible

SPARK = " ▁▂▃▄▅▆▇█"
MODE_STYLES = {
    "LIVE": "bold black on green3",
    "REPLAY": "bold black on dodger_blue1",
    "REPLAY DONE": "bold black on grey58",
    "PAUSED": "bold black on gold1",
    "SOURCE FAILED": "bold white on red3",
}


def sparkline(values: Sequence[int]) -> str:
    top = max(values, default=0)
    if top <= 0:
        return SPARK[0] * len(values)
    steps = len(SPARK) - 1
    return "".join(SPARK[min(steps, (v * steps + top - 1) // top)] if v else SPARK[0] for v in values)


def _row(left: Text, right: Text) -> Table:
    grid = Table.grid(expand=True)
    grid.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
    grid.add_column(justify="right", no_wrap=True)
    grid.add_row(left, right)
    return grid


class DashboardHeader(Static):
    DEFAULT_CSS = """
    DashboardHeader { height: 3; padding: 0 1; background: $panel; }
    """

    def update_from(self, state: HeaderView, *, mode: str,
                    usage: Optional[tuple[float, int]], frozen: bool = False) -> None:
        """``usage``: (cpu percent, rss bytes) of sniff-tui itself, None to show dashes.
        ``frozen`` (test mode) leaves out what depends on the machine or on timing (the spool
        size depends on how records were batched), so snapshots are stable."""
        watching = ", ".join(visible(w) for w in state.watches) or "(nothing)"
        # --content: people must see that the bytes written are being kept
        badge = [(" ", ""), (" CONTENT ", "bold white on dark_magenta")] if state.content is not None else []
        line1 = Text.assemble(("sniff-tui ", "bold"), (f" {mode} ", MODE_STYLES.get(mode.split(" (")[0], "bold")),
                              *badge, ("  watching ", "dim"), (watching, "bold"))
        own = "cpu –  mem –" if usage is None else f"cpu {usage[0]:4.1f}%  mem {human_bytes(usage[1])}"
        described = state.filters.describe()
        line2 = Text.assemble(("filters ", "dim"),
                              (visible(described) if described else "none", "bold" if described else "dim"))
        rec = state.recording
        kept = ""
        if rec is not None:
            kept = f"recorded {human_count(rec.kept)}"
            if not frozen:
                kept += f" ({human_bytes(rec.size)} on disk)"
        counts = Text(f"received {human_count(state.received)}" + (f" · {kept}" if kept else ""),
                      style="dim")
        rate = f" {human_count(state.current_rate())} ops/s"
        # The sparkline gives way to the counts: a cut number would be a wrong number.
        room = self.size.width - 2 - counts.cell_len - len(rate) - 10 - 2
        history = state.rate_history()[-max(min(room, 60), 0):] if room > 0 else []
        line3 = Text.assemble((sparkline(history), "cyan"), (rate, "bold"),
                              (f"  ({len(history)} s)" if history else "", "dim"))
        self.update(Group(_row(line1, Text(own, style="dim")), _row(line2, Text("? help", style="dim")),
                          _row(line3, counts)))
