"""Names for people: untrusted bytes made safe for a terminal or a Markdown table.

The same escaping as the dashboard's (``tui.text.visible``), kept here because this package
must not import the UI: control characters and invalid UTF-8 become visible escapes (``\\x1b``,
``\\n``, ``\\xff``) and a backslash is doubled, so an escape can always be told from a name.
"""
from __future__ import annotations


def _escape_char(ch: str) -> str:
    code = ord(ch)
    if code < 0x20 or code == 0x7F:
        return {"\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(ch, f"\\x{code:02x}")
    if 0x80 <= code < 0xA0 or code in (0x2028, 0x2029) or 0xD800 <= code <= 0xDFFF:
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


_MARKDOWN_SPECIAL = set("\\`*_[]<>|~&")


def markdown_cell(text: str) -> str:
    """A table cell that renders as the text itself: Markdown punctuation is backslash-escaped
    (so ``*`` or ``|`` in a file name neither formats nor breaks the table)."""
    return "".join("\\" + ch if ch in _MARKDOWN_SPECIAL else ch for ch in text)
