"""Pane 4: one gauge per BPF map (entries / max entries) with its eviction count.

A map that fills up starts evicting (LRU maps) or refusing entries, which is where counts go
missing; the gauge turns yellow, then red, before that happens.
"""
from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from sniff_tui.session import MapHealth
from sniff_tui.session.panes import MapsView
from sniff_tui.core.textfmt import human_count, visible

BAR_W = 10
NAME_W = 10


def compact(n: int) -> str:
    """10240 -> '10k': map sizes are powers of two, the gauge needs the order of magnitude."""
    if n < 10_000:
        return str(n)
    if n < 10_000_000:
        return f"{n // 1000}k"
    return f"{n // 1_000_000}M"


def fill_style(ratio: float) -> str:
    if ratio >= 0.9:
        return "bold red1"
    if ratio >= 0.7:
        return "gold1"
    return "green3"


def gauge_line(m: MapHealth) -> Text:
    ratio = (m.entries / m.max_entries) if m.max_entries > 0 else 0.0
    ratio = min(max(ratio, 0.0), 1.0)
    filled = round(ratio * BAR_W)
    name = visible(m.name)
    name = name if len(name) <= NAME_W else name[:NAME_W - 1] + "…"
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append(name.ljust(NAME_W) + " ")
    line.append("█" * filled, style=fill_style(ratio))
    line.append("░" * (BAR_W - filled), style="grey35")
    line.append(f" {ratio * 100:3.0f}% {compact(m.entries)}/{compact(m.max_entries)}")
    if m.evictions:
        line.append(f"  evicted {human_count(m.evictions)}", style="bold red1")
    else:
        line.append("  evicted 0", style="green3")
    return line


class MapGaugesPane(Static, can_focus=True):
    ALLOW_MAXIMIZE = True

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.border_title = "4 BPF maps"

    def update_from(self, state: MapsView, force: bool = False) -> None:
        maps = state.source_stats.maps
        if not maps:
            self.update(Text("no BPF maps reported (replay without stats lines)", style="dim"))
            return
        self.update(Text("\n").join(gauge_line(m) for m in maps))
