"""x and X: excluding paths by a gitignore pattern from the dashboard, and removing one; the
figures on screen stay those of a session fed only the records the patterns keep."""
from __future__ import annotations

from sniff_tui.core.pathrules import with_rules
from sniff_tui.core.filters import Filters
from sniff_tui.session import SessionState
from sniff_tui.widgets.event_stream import EventStream
from sniff_tui.widgets.header import DashboardHeader
from sniff_tui.widgets.prompt import PromptScreen
from sniff_tui.widgets.top_files import FileList
from ui_support import DEMO, SIZE, WATCH, demo_app, settle
from sniff_tui.core.replay import ReplaySource


def demo_records():
    import threading
    from sniff_tui.core.feed import Feed
    feed = Feed(maxsize=100_000)
    ReplaySource(str(DEMO), speed=0, watches=[WATCH]).run(feed, threading.Event())
    return feed.drain(limit=100_000)


def figures(state: SessionState) -> dict:
    return {fe.path: (fe.bytes_written, fe.writes, fe.bytes_read, fe.reads, fe.ops)
            for fe in state.files.values() if fe.active}


def expected(filters: Filters) -> dict:
    fresh = SessionState([WATCH])
    fresh.apply([r for r in demo_records() if filters.matches(r)])
    return figures(fresh)


def header(app) -> str:
    import os
    from rich.console import Console
    console = Console(width=200, record=True, file=open(os.devnull, "w"))
    console.print(app.dashboard.query_one(DashboardHeader).content)
    return console.export_text()


async def type_into_prompt(pilot, app, text: str) -> None:
    assert isinstance(app.screen, PromptScreen)
    app.screen.query_one("Input").value = text
    await pilot.press("enter")


async def test_x_offers_the_selected_files_directory_and_X_removes_exclusions(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("3", "home")
        assert app.dashboard.query_one(FileList).selected_path == WATCH + b"/build/app"
        await pilot.press("x")
        assert app.screen.query_one("Input").value == "/build/"
        await pilot.press("enter")
        assert app.state.filters.exclude == ("/build/",)
        assert app.source.filter_calls[-1].exclude == ("/build/",)
        rows = app.dashboard.query_one(EventStream).rows
        assert rows and not any(r.path.startswith(WATCH + b"/build/") for r in rows)
        assert "not /build/" in header(app)
        assert figures(app.state) == expected(with_rules(Filters(exclude=("/build/",)), [WATCH]))

        await pilot.press("x")
        await type_into_prompt(pilot, app, "*.c")
        assert app.state.filters.exclude == ("/build/", "*.c")
        both = figures(app.state)
        assert both == expected(with_rules(Filters(exclude=("/build/", "*.c")), [WATCH]))
        assert not any(p.endswith(b".c") for p in both)

        await pilot.press("X")
        assert "1: /build/" in str(app.screen.query_one("#prompt-hint").content)
        await type_into_prompt(pilot, app, "1")
        assert app.state.filters.exclude == ("*.c",)
        assert figures(app.state) == expected(with_rules(Filters(exclude=("*.c",)), [WATCH]))
        await pilot.press("X")
        await type_into_prompt(pilot, app, "*.c")
        assert app.state.filters.exclude == () and "not " not in header(app)
        assert figures(app.state) == expected(Filters())


async def test_a_bad_pattern_is_said_and_changes_nothing(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        calls = len(app.source.filter_calls)
        await pilot.press("x")
        await type_into_prompt(pilot, app, "!")
        assert app.notices[-1][0] == "error" and "bad pattern" in app.notices[-1][1]
        assert app.state.filters.exclude == () and len(app.source.filter_calls) == calls
        await pilot.press("X")
        assert app.notices[-1][0] == "warning" and "nothing is excluded" in app.notices[-1][1]
