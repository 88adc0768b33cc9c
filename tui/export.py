"""`e`: the session so far as a JSONL recording (written by a thread from the spool, while
the UI keeps appending) and an SVG of the screen, named by the time."""
from __future__ import annotations

import os
import threading
import time


class ExportMixin:
    """Part of ``SniffApp``: needs ``state``, ``say``, ``save_screenshot``, ``call_from_thread``,
    ``exports`` and ``_exporting``."""

    def action_export(self) -> None:
        """JSONL of every record kept so far + an SVG of the screen, named by the time."""
        base = os.path.join(os.getcwd(), "sniff-tui-" + time.strftime("%Y%m%d-%H%M%S"))
        n = 1
        stem = base
        while os.path.exists(stem + ".jsonl") or os.path.exists(stem + ".svg"):
            n += 1
            stem = f"{base}-{n}"
        svg_path, jsonl_path = stem + ".svg", stem + ".jsonl"
        try:
            self.save_screenshot(filename=os.path.basename(svg_path), path=os.path.dirname(svg_path))
            _give_to_sudo_user(svg_path)
        except OSError as exc:
            self.say(f"screenshot not written: {exc}", "error")
            svg_path = ""
        upto = self.state.recording.size if self.state.recording else 0
        # A plain thread (not a Textual worker) so quitting can wait for it: see action_quit.
        thread = threading.Thread(target=self._export_jsonl, args=(jsonl_path, upto, svg_path),
                                  name="sniff-export", daemon=True)
        self._exporting = [t for t in self._exporting if t.is_alive()] + [thread]
        thread.start()

    def _export_jsonl(self, path: str, upto: int, svg_path: str) -> None:
        """Export thread: reads the spool up to ``upto`` while the UI keeps appending."""
        try:
            n = self.state.export_jsonl(path, upto=upto)
            _give_to_sudo_user(path)
            message, severity = (f"exported {n:,} records to {path}"
                                 + (f" and a screenshot to {svg_path}" if svg_path else "")), "information"
            self.exports.extend(p for p in (path, svg_path) if p)
        except Exception as exc:
            message, severity = f"export failed: {exc}", "error"
        try:
            self.call_from_thread(self.say, message, severity)
        except RuntimeError:          # the app is gone already
            pass


def _give_to_sudo_user(path: str) -> None:
    """Under sudo, files written to the user's directory should be the user's."""
    uid, gid = os.environ.get("SUDO_UID"), os.environ.get("SUDO_GID")
    if os.geteuid() == 0 and uid and gid:
        try:
            os.chown(path, int(uid), int(gid))
        except (OSError, ValueError):
            pass
