"""Names for people: untrusted bytes made safe for a terminal or a Markdown table.

The same escaping as the dashboard's (``textfmt.visible``, the shared formatting module below
every UI layer): control characters and invalid UTF-8 become visible escapes and a backslash is
doubled, so an escape can always be told from a name.
"""
from __future__ import annotations

from sniff_tui.core.textfmt import visible  # noqa: F401  (the dashboard's escaping, shared)

_MARKDOWN_SPECIAL = set("\\`*_[]<>|~&")


def markdown_cell(text: str) -> str:
    """A table cell that renders as the text itself: Markdown punctuation is backslash-escaped
    (so ``*`` or ``|`` in a file name neither formats nor breaks the table)."""
    return "".join("\\" + ch if ch in _MARKDOWN_SPECIAL else ch for ch in text)
