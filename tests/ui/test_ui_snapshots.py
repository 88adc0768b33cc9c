"""Snapshots (pytest-textual-snapshot) of the main states, from the fixed demo recording.

Test mode freezes what depends on the machine (own CPU/memory, spool size) and prints times
in UTC; the recording's own timestamps drive the sparkline. After a deliberate UI change:

    pytest tests/ui/test_ui_snapshots.py --snapshot-update

and look at the SVGs in tests/ui/__snapshots__/ before committing them.
"""
from __future__ import annotations

from ui_support import SIZE, demo_app, settle


def replayed(*keys: str):
    """A run_before that waits for the whole replay, then presses ``keys``."""
    async def run_before(pilot) -> None:
        await settle(pilot.app, pilot)
        if keys:
            await pilot.press(*keys)
        await pilot.pause()
    return run_before


def test_full_dashboard(snap_compare, tmp_path):
    assert snap_compare(demo_app(tmp_path), terminal_size=SIZE, run_before=replayed())


def test_help_screen(snap_compare, tmp_path):
    assert snap_compare(demo_app(tmp_path), terminal_size=SIZE, run_before=replayed("question_mark"))


def test_filtered_view(snap_compare, tmp_path):
    # Reads hidden, then only paths or processes mentioning "build".
    keys = ("r", "slash", *"build", "enter")
    assert snap_compare(demo_app(tmp_path), terminal_size=SIZE, run_before=replayed(*keys))


def test_process_tree_selected(snap_compare, tmp_path):
    # Pane 2, cursor on make (second top-level process): its command line shows below.
    assert snap_compare(demo_app(tmp_path), terminal_size=SIZE, run_before=replayed("2", "down", "down"))


def test_maximized_stream_paused(snap_compare, tmp_path):
    assert snap_compare(demo_app(tmp_path), terminal_size=SIZE, run_before=replayed("1", "m", "space"))


# Issue 11: the layout at the default terminal, a common one, and a large one.
def test_dashboard_80x24(snap_compare, tmp_path):
    assert snap_compare(demo_app(tmp_path), terminal_size=(80, 24), run_before=replayed())


def test_dashboard_120x40(snap_compare, tmp_path):
    assert snap_compare(demo_app(tmp_path), terminal_size=(120, 40), run_before=replayed())


def test_dashboard_200x60(snap_compare, tmp_path):
    assert snap_compare(demo_app(tmp_path), terminal_size=(200, 60), run_before=replayed())
