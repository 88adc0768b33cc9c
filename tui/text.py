"""Making untrusted names (file and process names are arbitrary bytes) safe to show.

Everything that reaches a terminal or a Rich renderable goes through ``visible``: control
characters and bytes that are not UTF-8 become visible escapes (``\\x1b``), so a name can
neither move the cursor nor change colours. Widgets must still render the result as plain
text (``rich.text.Text``), never as markup, so ``[red]`` in a name stays literal.
"""
from __future__ import annotations

import os

from rich.cells import cell_len


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


def visible(raw: bytes | str) -> str:
    """Text safe for a terminal: no control characters, invalid UTF-8 shown as \\xNN."""
    text = raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else raw
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(_escape_char(ch) for ch in text)


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


def elide_left(text: str, width: int) -> str:
    """Keep the end of a path (the file name matters most); mark the cut with an ellipsis.
    Width is in terminal cells: wide characters (CJK, emoji) take two, so they cannot push
    the end of a path past its column, where the terminal would cut it."""
    if text.isascii() and text.isprintable():    # one cell per character
        if len(text) <= width:
            return text
        if width <= 0:
            return ""
        return "…" if width == 1 else "…" + text[len(text) - width + 1:]
    if cell_len(text) <= width:
        return text
    if width <= 0:
        return ""
    if width == 1:
        return "…"
    kept: list[str] = []
    used = 0
    for ch in reversed(text):
        w = cell_len(ch)
        if used + w > width - 1:
            break
        kept.append(ch)
        used += w
    return "…" + "".join(reversed(kept))

