"""What the panes tell the app: typed messages that bubble up to it. A pane never calls the
app; the app decides what a message means (here: which screen opens)."""
from __future__ import annotations

from typing import Optional

from textual.message import Message


class ChangesWanted(Message):
    """`D` in a pane: the user wants the versions of the file the pane points at (None: the
    pane points at no file now). The Top files' selection, the Event stream's bottom event."""

    def __init__(self, path: Optional[bytes]) -> None:
        super().__init__()
        self.path = path
