"""Formatting shared by the panes: sizes, times, per-operation colours, safe names.

Every name that came from the kernel or a recording is untrusted: it goes through
``tui.text.visible`` and into a ``rich.text.Text`` as plain text, never through markup.
"""
from __future__ import annotations

import time

from rich.cells import cell_len, set_cell_size

from tui.text import elide_left as elide_left_cells  # noqa: F401  (the panes' name for it)


# One colour per operation, chosen to read on dark and light themes alike.
OP_STYLES = {
    "open": "dodger_blue1",
    "read": "green3",
    "write": "dark_orange",
    "close": "grey58",
    "rename": "medium_purple1",
    "unlink": "bold red1",
    "truncate": "gold1",
}

_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB")


def human_bytes(n: int | None) -> str:
    """Compact binary size: '512 B', '4.0 KiB', '1.2 GiB'; '' when unknown."""
    if n is None:
        return ""
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in _UNITS:
        value /= 1024.0
        if value < 1024 or unit == _UNITS[-1]:
            return f"{value:.1f} {unit}"
    return f"{n} B"   # pragma: no cover


def human_count(n: int) -> str:
    """Thousands separators up to a million, then 1.2M: counters stay narrow."""
    if n < 1_000_000:
        return f"{n:,}"
    if n < 1_000_000_000:
        return f"{n / 1e6:.1f}M"
    return f"{n / 1e9:.1f}G"


def clock(ts: float, utc: bool = False, millis: bool = True) -> str:
    """HH:MM:SS(.mmm) of a Unix time; UTC in test mode so snapshots do not depend on TZ."""
    parts = time.gmtime(ts) if utc else time.localtime(ts)
    text = time.strftime("%H:%M:%S", parts)
    if millis:
        text += f".{int((ts % 1) * 1000):03d}"
    return text


def fit_right(text: str, width: int) -> str:
    """Cut the end off (process names: the start says most), pad to exactly ``width`` cells."""
    if width <= 0:
        return ""
    if cell_len(text) > width:
        return set_cell_size(text, width - 1) + "…"
    return text + " " * (width - cell_len(text))
