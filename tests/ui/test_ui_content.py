"""--content in the dashboard: the CONTENT badge, `D` on a file of Top files (its versions and
their diffs, at 80x24 and 200x60), and the export keeping the captured writes (mode 0600)."""
from __future__ import annotations

import json
import os
import stat

from sniff_tui.core.filters import Filters
from test_ui_app import header_text, plain
from ui_support import DATA, SpyApp, SpyReplay, settle
from sniff_tui.widgets.changes import ChangesScreen
from sniff_tui.widgets.top_files import TopFilesPane

CONTENT = DATA / "content.jsonl"
WATCH = b"/home/dev/proj"
CONF = WATCH + b"/etc/app.conf"


def content_app(tmp_path) -> SpyApp:
    return SpyApp(SpyReplay(str(CONTENT), speed=0, watches=[WATCH]), Filters(), [WATCH],
                  spool_dir=str(tmp_path))


async def select(pilot, path: bytes) -> None:
    """Focus Top files and move its cursor to path."""
    await pilot.press("3")
    pane = pilot.app.dashboard.query_one(TopFilesPane)
    for _ in range(10):
        if pane.selected_path == path:
            return
        await pilot.press("down")
    raise AssertionError(f"{path!r} not in Top files")


def opened(*extra: str):
    async def run_before(pilot) -> None:
        await settle(pilot.app, pilot)
        await select(pilot, CONF)
        await pilot.press("D", *extra)
        await pilot.pause()
    return run_before


def test_changes_80x24(snap_compare, tmp_path):
    assert snap_compare(content_app(tmp_path), terminal_size=(80, 24), run_before=opened())


def test_changes_200x60(snap_compare, tmp_path):
    assert snap_compare(content_app(tmp_path), terminal_size=(200, 60), run_before=opened("up"))


async def test_d_lists_the_versions_and_shows_the_selected_diff(tmp_path):
    app = content_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        assert "CONTENT" in header_text(app)
        await select(pilot, CONF)
        await pilot.press("D")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ChangesScreen)
        assert [v.kind for v in screen.versions] == ["rename", "write", "rename"]
        diff = plain(screen.query_one("#changes-diff"))
        assert "-workers = 8" in diff and "+workers = 16" in diff     # the latest first
        await pilot.press("up")
        await pilot.pause()
        diff = plain(screen.query_one("#changes-diff"))
        assert "+# tuned by deploy" in diff and "workers = 16" not in diff
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ChangesScreen)


async def test_d_in_the_event_stream_opens_the_file_of_the_bottom_event(tmp_path):
    from sniff_tui.widgets.event_stream import EventStream
    app = content_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("1")
        stream = app.dashboard.query_one(EventStream)
        assert app.focused is stream and stream.follow
        await pilot.press("D")
        await pilot.pause()
        screen = app.screen
        # following: the newest event, dd's close of blob.bin, whose one change is binary
        assert isinstance(screen, ChangesScreen) and screen.path == WATCH + b"/data/blob.bin"
        assert "binary: 16 bytes changed at offset 100" in plain(screen.query_one("#changes-diff"))


async def test_d_without_content_says_so(tmp_path):
    from ui_support import demo_app
    app = demo_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert "CONTENT" not in header_text(app)
        await pilot.press("3", "D")
        await pilot.pause()
        assert not isinstance(app.screen, ChangesScreen)
        assert app.notices[-1] == ("warning", "no content is captured: start sniff-tui with --content")


async def test_export_keeps_the_captured_writes_privately(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = content_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("e")
        for _ in range(200):
            if app.exports:
                break
            await pilot.pause(0.05)
    (jsonl,) = [p for p in app.exports if p.endswith(".jsonl")]
    assert stat.S_IMODE(os.stat(jsonl).st_mode) == 0o600
    lines = [json.loads(x) for x in open(jsonl)]
    original = [json.loads(x) for x in open(CONTENT)]
    assert [x for x in lines if x["op"] == "content"] == [x for x in original if x["op"] == "content"]
    counted = [x["op"] for x in lines if x["op"] not in ("content", "stats", "process")]
    assert counted == [x["op"] for x in original if x["op"] != "content"]
