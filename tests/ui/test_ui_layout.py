"""Issue 11: keys go where they are typed, a usable 80x24, a stable footer, the first frame
before the source is loaded."""
from __future__ import annotations

import threading

from textual.widgets import Footer

from sniff_tui.core.filters import Filters
from sniff_tui.tui.screen import PANES
from ui_support import FakeSource, SpyApp, demo_app, rec, settle


async def test_a_key_right_after_a_focus_change_goes_to_the_new_pane(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(app, pilot)
        for sequence in ((3,), (2, 3), (1, 4, 3), (5, 2, 1, 3), (2, 4, 5, 1, 3)):
            await pilot.press(*(str(n) for n in sequence), "m")   # no pause in between
            assert app.screen.maximized is app.dashboard.query_one(PANES[3][0])
            await pilot.press("m")


async def test_80x24_shows_one_pane_at_a_time_with_its_essential_columns(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        screen = app.dashboard
        assert screen.compact
        stream = screen.query_one(PANES[1][1])
        assert stream.region.width >= 70 and stream.region.height >= 14
        await pilot.press("3")
        assert screen.query_one(PANES[3][0]).display and not screen.query_one(PANES[1][0]).display
        files = screen.query_one(PANES[3][1])
        assert files.region.height >= 8 and len(files.rows) == 29
        await pilot.pause()
        row = files.render_row(files.rows[0], files.scrollable_content_region.width).plain
        assert "build/app" in row and "MiB" in row
        await pilot.resize_terminal(160, 48)
        await pilot.pause()
        assert not screen.compact and screen.query_one(PANES[1][0]).display


async def test_the_footer_is_the_same_whatever_pane_has_focus(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(app, pilot)
        seen = set()
        for n in (1, 2, 3, 4, 5):
            await pilot.press(str(n))
            await pilot.pause()
            footer = app.screen.query_one(Footer)
            seen.add(frozenset(str(k.description) for k in footer.query("FooterKey")))
        assert len(seen) == 1 and {"Quit", "Pause", "Sort"} <= next(iter(seen))


async def test_the_first_frame_does_not_wait_for_the_source_to_load(tmp_path):
    release = threading.Event()
    source = FakeSource()
    app = SpyApp(source, Filters(), [b"/w"], spool_dir=str(tmp_path), load=lambda: release.wait(10))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert app.mode == "LOADING PROBES…"
        release.set()
        for _ in range(100):
            if not app.loading:
                break
            await pilot.pause(0.02)
        assert app.mode == "LIVE"


async def test_a_load_failure_ends_the_app_with_its_error(tmp_path):
    def load():
        raise RuntimeError("cannot load the probes: no BTF")
    app = SpyApp(FakeSource(), Filters(), [b"/w"], spool_dir=str(tmp_path), load=load)
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(100):
            if not app.is_running:
                break
            await pilot.pause(0.02)
    assert app.return_code == 1 and "no BTF" in str(app.load_error)


def screen_text(app) -> str:
    import os
    from rich.console import Console
    console = Console(width=app.size.width, record=True, file=open(os.devnull, "w"),
                      force_terminal=True, color_system="truecolor")
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text()


async def test_a_long_path_keeps_its_end_with_the_scrollbar_shown_at_every_size(tmp_path):
    """Issue 11, item 2: `…ker.tx` for `probe_marker.txt` once the scrollbar appeared."""
    path = b"/w/" + b"some/deeper/directory/" * 3 + b"probe_marker.txt"
    for size in ((80, 24), (120, 40), (200, 60)):
        app = SpyApp(FakeSource(), Filters(), [b"/w"], spool_dir=str(tmp_path))
        async with app.run_test(size=size) as pilot:
            app.source.emit([rec("write", 7, path, ts=1000 + i) for i in range(300)])
            await settle(app, pilot)
            stream = app.dashboard.query_one(PANES[1][1])
            assert stream.virtual_size.height > stream.scrollable_content_region.height  # scrolls
            rows = [line for line in screen_text(app).splitlines() if " write " in line and "100 B" in line]
            assert rows and all("…" in line and "probe_marker.txt" in line for line in rows), size
