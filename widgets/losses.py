"""Pane 5: everything that was lost or cut on the way, each count calm at zero and loud
otherwise, so a user never trusts a view that silently missed events."""
from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from sniff_tui.session.panes import LossesView
from sniff_tui.core.losses import HINTS
from sniff_tui.core.textfmt import fit_right, human_count

LABEL_W = 22


class LossesPane(Static, can_focus=True):
    ALLOW_MAXIMIZE = True

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.border_title = "5 Losses"

    def update_from(self, state: LossesView, force: bool = False) -> None:
        rows = state.losses()
        # The number is what matters: on a narrow pane the label gives way, never the value.
        label_w = max(min(LABEL_W, self.size.width - 2 - 10), 4)
        text = Text(no_wrap=True, overflow="ellipsis")
        for i, (label, value) in enumerate(rows):
            if i:
                text.append("\n")
            text.append(fit_right(label, label_w))
            if value:
                text.append(f"{human_count(value):>9}", style="bold white on red3")
                text.append(f"  {HINTS.get(label, '')}", style="red1")
            else:
                text.append(f"{0:>9}", style="green3")
        self.set_class(any(v for _, v in rows), "-lossy")
        self.update(text)
