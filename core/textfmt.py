"""Everything that turns values into text for a terminal, defined once: safe names, cell widths,
elision, sizes, counts, clocks, "3 seconds ago". Used by the panes and by the stream writers.

Names (file and process names) are arbitrary bytes: everything that reaches a terminal or a
Rich renderable goes through ``visible``, which turns control characters and bytes that are
not UTF-8 into visible escapes (``\\x1b``), so a name can neither move the cursor nor change
colours. Widgets must still render the result as plain text (``rich.text.Text``), never as
markup, so ``[red]`` in a name stays literal.
"""
from __future__ import annotations

import unicodedata
from datetime import datetime, timezone
from typing import Callable, Optional, Union

import humanize
from rich.cells import cell_len

# One colour per operation, chosen to read on dark and light themes alike.
OP_STYLES = {
    "open": "dodger_blue1",
    "read": "green3",
    "write": "dark_orange",
    "close": "grey58",
    "rename": "medium_purple1",
    "unlink": "bold red1",
    "truncate": "gold1",
    "fallocate": "khaki3",
    "mmap": "orange3",
    "mmap_write": "dark_orange3",
}


# ---------------------------------------------------------------------- untrusted names
def _escape_char(ch: str) -> str:
    code = ord(ch)
    if code < 0x20 or code == 0x7F:
        return {"\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(ch, f"\\x{code:02x}")
    if 0x80 <= code < 0xA0 or code in (0x2028, 0x2029) or 0xD800 <= code <= 0xDFFF:
        # C1 controls and line separators; surrogateescape'd bytes show as the byte they were;
        # any other lone surrogate (str input only) could not even be encoded for the terminal.
        return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"
    if ch == "\\":
        return "\\\\"
    return ch


def visible(raw: Union[bytes, str]) -> str:
    """Text safe for a terminal: no control characters, invalid UTF-8 shown as \\xNN."""
    text = raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else raw
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(_escape_char(ch) for ch in text)


def cgroup_text(container, unit, cgroup) -> str:
    """What names a process's cgroup, shortest first: its container, else its unit, else the
    path ('' when none is known). Escaped: cgroup names are anyone's bytes."""
    if container is not None:
        return f"container {visible(container)}"
    if unit is not None:
        return f"unit {visible(unit)}"
    return f"cgroup {visible(cgroup)}" if cgroup is not None else ""


def relative_to_watch(path: bytes, watches: list[bytes]) -> bytes:
    """The path relative to the deepest watched directory containing it ('.' for the root)."""
    best = None
    for root in watches:
        root = root.rstrip(b"/") or b"/"
        if path == root:
            return b"."
        prefix = root if root.endswith(b"/") else root + b"/"
        if path.startswith(prefix) and (best is None or len(root) > len(best)):
            best = root
    if best is None:
        return path
    return path[len(best.rstrip(b"/")) + 1:]


# ---------------------------------------------------------------------- cell widths
# Terminal cells, not code points, decide whether a line wraps: CJK and most emoji take two.
# ``cell_width`` counts every other character as one, over-estimating zero-width ones: a plain
# line (the stream writers) may come out a little short, never too long. ``elide_left`` measures
# as Rich does, since the panes render through Rich.
def cell_width(text: str) -> int:
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _char_width(ch: str) -> int:
    return 2 if unicodedata.east_asian_width(ch) in "WF" else 1


def elide_left(text: str, width: int, char_width: Callable[[str], int] = cell_len) -> str:
    """Keep the end of a path (the file name matters most); mark the cut with an ellipsis.
    Width in terminal cells as ``char_width`` measures them (Rich's, by default)."""
    if text.isascii() and text.isprintable():    # one cell per character
        if len(text) <= width:
            return text
        if width <= 0:
            return ""
        return "…" if width == 1 else "…" + text[len(text) - width + 1:]
    if sum(map(char_width, text)) <= width:
        return text
    if width <= 0:
        return ""
    if width == 1:
        return "…"
    kept: list[str] = []
    used = 0
    for ch in reversed(text):
        w = char_width(ch)
        if used + w > width - 1:
            break
        kept.append(ch)
        used += w
    return "…" + "".join(reversed(kept))


def elide_left_plain(text: str, width: int) -> str:
    """``elide_left`` measured as ``cell_width`` measures: for plain terminal lines."""
    return elide_left(text, width, _char_width)


def clip_right(text: str, width: int) -> str:
    """Cut the end to fit ``width`` cells (short fields: names, errno names, numbers)."""
    if cell_width(text) <= width:
        return text
    if width <= 0:
        return ""
    keep, used = 0, 1
    while keep < len(text) and used + _char_width(text[keep]) <= width:
        used += _char_width(text[keep])
        keep += 1
    return text[:keep] + "…"


def fit_right(text: str, width: int) -> str:
    """``clip_right``, then padded to exactly ``width`` cells."""
    if width <= 0:
        return ""
    text = clip_right(text, width)
    return text + " " * (width - cell_width(text))


def one_line(message: str, limit: int = 200) -> str:
    """A message for one terminal line: control characters escaped, the middle of a long one
    cut (a 5,000-character directory name must not become a 5 KB error line)."""
    text = visible(message)
    if len(text) <= limit:
        return text
    keep = (limit - 1) // 2
    return text[:keep] + "…" + text[len(text) - (limit - 1 - keep):]


# ---------------------------------------------------------------------- numbers
def human_bytes(n: Optional[Union[int, float]]) -> str:
    """Compact binary size: '512 B', '4.0 KiB', '1.2 GiB'; '' when unknown."""
    if n is None:
        return ""
    if n < 1024:
        return f"{int(n)} B"
    return humanize.naturalsize(n, binary=True, format="%.1f")


def human_count(n: int) -> str:
    """Thousands separators up to a million, then 1.2M: counters stay narrow."""
    if n < 1_000_000:
        return humanize.intcomma(n)
    if n < 1_000_000_000:
        return f"{n / 1e6:.1f}M"
    return f"{n / 1e9:.1f}G"


def plural(n: int, word: str, words: Optional[str] = None) -> str:
    """'1 process', '2 processes', '1,576 files'."""
    return f"{human_count(n)} {word if n == 1 else (words or word + 's')}"


# ---------------------------------------------------------------------- times
def clock(ts: float, utc: bool = False, digits: int = 3) -> str:
    """HH:MM:SS with ``digits`` of the second (truncated, never rounded into the next second).
    A replayed record may carry any number: an absurd one shows as ??:??:??, never raises."""
    try:
        moment = datetime.fromtimestamp(ts, timezone.utc) if utc else datetime.fromtimestamp(ts)
    except (OverflowError, OSError, ValueError):
        return "??:??:??" + ("." + "?" * digits if digits else "")
    text = moment.strftime("%H:%M:%S.%f")
    return text[:8] if not digits else text[:9 + digits]


def ago(ts: float, now: float) -> str:
    """'3 seconds ago', 'a minute ago' (humanize); 'now' for the current second."""
    delta = now - ts
    if delta < 1:
        return "now"
    try:
        return humanize.naturaltime(delta)
    except (OverflowError, ValueError):
        return "long ago"


__all__ = ["OP_STYLES", "ago", "cell_width", "clip_right", "clock", "elide_left", "elide_left_plain", "fit_right",
           "human_bytes", "human_count", "one_line", "plural", "relative_to_watch", "visible"]
