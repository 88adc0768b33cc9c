"""--content in the dashboard: the captured writes go to the session's versions (the counted
records on to the session as ever), the export keeps them, and `D` opens the changes of the
file selected in Top files, or of the event at the bottom of the Event stream."""
from __future__ import annotations

from sniff_tui.core.record import ContentRecord
from sniff_tui.widgets.changes import ChangesScreen
from sniff_tui.widgets.messages import ChangesWanted
from sniff_tui.widgets.top_files import TopFilesPane


class ContentActions:
    """Part of ``SniffApp``: needs ``state``, ``source``, ``say`` and ``push_screen``."""

    def take_content(self, batch: list) -> list:
        """The counted records of a batch; the captured writes, and the closes and renames that
        cut versions, also go to state.content (made when the source captures)."""
        history = self.state.content
        if history is None:
            if not (getattr(self.source, "content_max", 0) or getattr(self.source, "has_content", False)):
                return batch
            history = self.state.keep_content()
        if not any(r.__class__ is ContentRecord for r in batch):
            history.apply(r for r in batch if r.op in ("close", "rename", "truncate"))
            return batch
        history.apply(batch)
        captured = [r for r in batch if r.__class__ is ContentRecord]
        self.state.record_content(captured)
        return [r for r in batch if r.__class__ is not ContentRecord]

    def action_show_changes(self) -> None:
        """D where no pane takes it (Top files and the Event stream post ChangesWanted): the
        file selected in Top files."""
        self.show_changes(self.dashboard.query_one(TopFilesPane).selected_path)

    def on_changes_wanted(self, message: ChangesWanted) -> None:
        message.stop()
        self.show_changes(message.path)

    def show_changes(self, path) -> None:
        history = self.state.content
        if history is None:
            self.say("no content is captured: start sniff-tui with --content", "warning")
            return
        if path is None:
            self.say("select a file in Top files (3), or an event in the Event stream (1), first", "warning")
            return
        self.push_screen(ChangesScreen(path, history.versions(path), utc=self.utc))
