"""SniffApp driven by Pilot: every key, every pane update, the error paths.

The demo recording is replayed at full speed; `settle` waits for it and folds it in, so each
test starts from the same 796 records (793 shown: the three fifo writes need `a`).
"""
from __future__ import annotations

import asyncio
import os
import re

import pytest

from sniff_tui.core.filters import FilterError, Filters
from sniff_tui.core.record import OPS
from sniff_tui.tui.app import SniffApp
from sniff_tui.core.feed import Feed
from sniff_tui.core.replay import ReplaySource
from sniff_tui.widgets.event_stream import EventStream, EventStreamPane, render_row
from sniff_tui.widgets.header import DashboardHeader
from sniff_tui.widgets.help_screen import HelpScreen
from sniff_tui.widgets.losses import LossesPane
from sniff_tui.widgets.map_gauges import MapGaugesPane
from sniff_tui.widgets.process_tree import ProcessTree
from sniff_tui.widgets.prompt import PromptScreen
from sniff_tui.widgets.top_files import MIN_FILE_W, FileList, TopFilesPane, header_line, layout
from ui_support import SIZE, WATCH, FakeSource, SpyApp, demo_app, rec, settle


def plain(widget) -> str:
    """What a Static currently shows, as plain text."""
    from rich.console import Console
    console = Console(width=200, record=True, file=open(os.devnull, "w"))
    console.print(widget.content)
    return console.export_text()


def screen_text(app: SniffApp) -> str:
    """The whole screen as the terminal would show it (text only)."""
    from rich.console import Console
    console = Console(width=app.size.width, record=True, file=open(os.devnull, "w"),
                      force_terminal=True, color_system="truecolor")
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text()


def header_text(app) -> str:
    from rich.console import Console
    console = Console(width=app.size.width, record=True, file=open(os.devnull, "w"))
    console.print(app.dashboard.query_one(DashboardHeader).content)
    return console.export_text()


def stream_rows(app):
    return app.dashboard.query_one(EventStream).rows


async def select_process(app, pilot, pid: int) -> None:
    await pilot.press("2")
    tree = app.dashboard.query_one(ProcessTree)
    for _ in range(40):
        if tree.cursor_node is not None and tree.cursor_node.data == f"p{pid}":
            return
        await pilot.press("down")
    raise AssertionError(f"pid {pid} not in the tree")


# ------------------------------------------------------------------ the panes
async def test_all_panes_show_the_replay(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.state.records_received == 796 and app.state.matched_total == 793
        assert len(stream_rows(app)) == 793
        header = header_text(app)
        assert "/home/dev/proj" in header and "REPLAY DONE" in header and "filters none" in header
        assert f"received {app.state.received:,} · recorded 793" in header
        files = app.dashboard.query_one(FileList)
        assert len(files.rows) == 29                      # every file, no top-N cut
        first = files.render_row(files.rows[0], 120).plain
        assert first.split()[0] == "build/app" and "2.2 MiB" in first and "ld (1150)" in first
        tree = app.dashboard.query_one(ProcessTree)
        top = [node.data for node in tree.root.children]
        assert sorted(top) == ["p1100", "p1300", "p1400", "p1500"]
        make = [n for n in tree.root.children if n.data == "p1100"][0]
        assert sorted(n.data for n in make.children) == ["p1110", "p1120", "p1130", "p1140", "p1150"]
        gauges = plain(app.dashboard.query_one(MapGaugesPane))
        assert "agg" in gauges and "rw_pending" in gauges and "100%" in gauges and "evicted 17" in gauges
        assert "inflight" not in gauges and "paths " not in gauges     # names the probes really have
        losses = app.dashboard.query_one(LossesPane)
        assert re.search(r"kernel evictions\s+17", plain(losses))
        assert losses.has_class("-lossy")
        screen = screen_text(app)
        assert "1 Events" in screen and "5 Losses" in screen


async def test_stream_follows_the_end_and_scrolling_back_stops_it(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        stream = app.dashboard.query_one(EventStream)
        assert stream.follow and stream.scroll_y == stream.max_scroll_y > 0
        await pilot.press("up")
        assert not stream.follow
        pane = app.dashboard.query_one(EventStreamPane)
        app.refresh_now()
        assert "scrolled back" in str(pane.border_subtitle)
        await pilot.press("end")
        assert stream.follow


async def test_hostile_names_stay_literal(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        rows = [render_row(r, 140, [WATCH], True).plain for r in stream_rows(app)]
        assert any("[bold red]x[/].txt" in row for row in rows)      # markup not interpreted
        assert any("\\x1b[31mred\\x1b[0m.txt" in row for row in rows)  # ESC as 4 characters
        assert any("bad\\xff\\xfename.bin" in row for row in rows)
        assert any("line\\nbreak.txt" in row for row in rows)
        assert any("evil\\x1b[2J (1500)" in row for row in rows)
        assert not any("\x1b" in row or "\n" in row for row in rows)
        tree = app.dashboard.query_one(ProcessTree)
        evil = [n for n in tree.root.children if n.data == "p1500"][0]
        assert str(evil.label).startswith("evil\\x1b[2J")
        screen = screen_text(app)
        assert "[bold red]x[/].txt" in screen
        await select_process(app, pilot, 1500)
        assert "./evil --make-hostile-names" in plain(app.dashboard.query_one("#proc-details"))


async def test_long_paths_keep_their_end(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        deep = [r for r in stream_rows(app) if b"deep/deep" in r.path][0]
        for width in (100, 140):
            row = render_row(deep, width, [WATCH], True).plain
            assert len(row) <= width
            path = row.split("open", 1)[1].strip()
            assert path.startswith("…") and len(path) == width - 61     # the path column
            assert ("deep/" * 12 + "a_very_long_file_name_that_keeps_going_and_going.txt").endswith(path[1:])


def test_io_uring_rows_are_marked():
    row = render_row(rec(via="io_uring", path=WATCH + b"/db"), 140, [WATCH], True).plain
    assert row.rstrip().endswith("db [io_uring]")
    assert "io_uring" not in render_row(rec(path=WATCH + b"/db"), 140, [WATCH], True).plain


# ------------------------------------------------------------------ operation toggles
@pytest.mark.parametrize("key, ops", [("r", {"read"}), ("w", {"write"}), ("o", {"open", "close"}),
                                       ("n", {"rename"}), ("u", {"unlink"}),
                                       ("t", {"truncate", "fallocate"})])
async def test_op_keys_hide_and_show_again(tmp_path, key, ops):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert any(r.op in ops for r in stream_rows(app))
        calls = len(app.source.filter_calls)
        await pilot.press(key)
        sent = app.source.filter_calls[-1]
        assert len(app.source.filter_calls) == calls + 1
        assert not (sent.ops & ops) and sent.ops == frozenset(OPS) - ops
        assert app.state.filters == sent
        assert stream_rows(app) and not any(r.op in ops for r in stream_rows(app))
        assert "ops=" in header_text(app)
        await pilot.press(key)
        assert app.source.filter_calls[-1].ops == frozenset(OPS)
        assert any(r.op in ops for r in stream_rows(app))


async def test_w_hides_writes_from_the_top_files_too(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("w")
        files = app.dashboard.query_one(FileList)
        assert {fe.bytes_written for fe in files.rows} == {0}
        tree = app.dashboard.query_one(ProcessTree)
        logrotate = [n for n in tree.root.children if n.data == "p1400"][0]   # still renames
        assert "W 0 B" in str(logrotate.label) and app.state.procs[1400].write_bytes == 0


async def test_a_toggles_all_file_types(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert not any(r.file_type == "fifo" for r in stream_rows(app))
        await pilot.press("a")
        assert app.source.filter_calls[-1].all_types is True
        assert sum(r.file_type == "fifo" for r in stream_rows(app)) == 3
        assert "all types" in header_text(app)
        await pilot.press("a")
        assert not any(r.file_type == "fifo" for r in stream_rows(app))


# ------------------------------------------------------------------ text, process, clear
async def test_slash_sets_a_text_filter_and_escape_cancels(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("slash")
        assert isinstance(app.screen, PromptScreen)
        await pilot.press("q", "x")                  # keys type into the prompt: no quit
        await pilot.press("escape")
        assert not isinstance(app.screen, PromptScreen) and app.state.filters.text == ""
        await pilot.press("slash", *"app.log", "enter")
        assert app.state.filters.text == "app.log"
        assert app.source.filter_calls[-1].text == "app.log"
        rows = stream_rows(app)
        assert rows and all(b"app.log" in r.path for r in rows)
        assert "/app.log" in header_text(app)
        await pilot.press("slash")
        app.screen.query_one("Input").value = ""
        await pilot.press("enter")
        assert app.state.filters.text == ""


async def test_p_and_shift_p_filter_to_the_selected_process(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await select_process(app, pilot, 1100)
        details = plain(app.dashboard.query_one("#proc-details"))
        assert "make -j4 all" in details and "pid 1100" in details and "(dev)" in details
        await pilot.press("p")
        assert app.source.filter_calls[-1].pid == 1100
        assert {r.pid for r in stream_rows(app)} == {1100}
        await pilot.press("c")
        assert app.source.filter_calls[-1] == Filters()
        await select_process(app, pilot, 1100)
        await pilot.press("P")
        assert app.state.filters.tree == 1100 and app.state.filters.pid is None
        pids = {r.pid for r in stream_rows(app)}
        assert 1111 in pids and 1150 in pids and 1400 not in pids and 1300 not in pids
        assert "tree=1100" in header_text(app)


async def test_p_without_a_selection_says_so(tmp_path):
    app = SpyApp(FakeSource(), Filters(), [b"/w"], spool_dir=str(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("p")
        assert app.notices[-1][0] == "warning" and "select a process" in app.notices[-1][1]
        assert app.state.filters == Filters()


async def test_c_clears_every_filter(tmp_path):
    app = demo_app(tmp_path, filters=Filters(ops=frozenset({"read"}), text="src", all_types=True))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.source.filter_calls[0].text == "src"      # start-up filters reach the source
        assert all(r.op == "read" for r in stream_rows(app))
        await pilot.press("c")
        assert app.state.filters == Filters() and app.source.filter_calls[-1] == Filters()
        assert len(stream_rows(app)) == 793


# ------------------------------------------------------------------ watches
async def test_d_changes_adds_and_validates_the_watched_directory(tmp_path):
    app = demo_app(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("d", *str(tmp_path / "missing"), "enter")
        assert app.source.watch_calls == []
        assert app.notices[-1][0] == "error" and "not a directory" in app.notices[-1][1]
        await pilot.press("d", *("+" + str(other)), "enter")
        assert app.source.watch_calls[-1] == [WATCH, os.fsencode(str(other))]
        assert app.state.watches == [WATCH, os.fsencode(str(other))]
        assert len(app.dashboard.query_one(FileList).rows) == 29
        await pilot.press("d", *str(other), "enter")
        assert app.source.watch_calls[-1] == [os.fsencode(str(other))]
        assert str(other) in header_text(app)
        # A different directory starts a fresh view: the old directory's rows are gone.
        assert stream_rows(app) == [] and app.dashboard.query_one(FileList).rows == []
        assert app.state.active_processes() == {}


# ------------------------------------------------------------------ sort, export
async def test_s_cycles_the_sort_column(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        pane = app.dashboard.query_one(TopFilesPane)
        files = app.dashboard.query_one(FileList)

        def first() -> str:
            return files.render_row(files.rows[0], 120).plain.split()[0]

        def columns() -> str:
            return plain(pane.query_one("#files-columns"))
        assert pane.sort_key == "bytes_written" and first() == "build/app"
        assert "written ▼" in columns()
        await pilot.press("s")
        assert pane.sort_key == "writes" and first() == "var/log/app.log"
        assert "writes ▼" in columns() and "written ▼" not in columns()
        await pilot.press("s")
        assert pane.sort_key == "bytes_read" and first() == "include/app.h"
        await pilot.press("s", "s")
        assert pane.sort_key == "last_ts" and first() == "var/log/app.log"
        assert "last activity ▼" in columns()
        await pilot.press("s")
        assert pane.sort_key == "path" and "file ▲" in columns()
        await pilot.press("s")
        assert pane.sort_key == "bytes_written"


async def test_selecting_a_file_shows_who_touched_it(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("3", "down")
        await pilot.pause()
        text = plain(app.dashboard.query_one("#file-touches"))
        assert "who touched var/log/app.log" in text
        assert "logrotate (1400) write" in text and "rename" in text and "truncate" in text


async def test_e_exports_jsonl_and_svg(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.chdir(out)
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("w")                         # what is hidden now was kept before
        await pilot.press("e")
        for _ in range(500):
            if app.exports:
                break
            await asyncio.sleep(0.01)
        await pilot.pause()
        names = sorted(p.name for p in out.iterdir())
        assert len(names) == 2
        assert re.fullmatch(r"sniff-tui-\d{8}-\d{6}\.jsonl", names[0])
        assert names[1] == names[0].replace(".jsonl", ".svg")
        assert "<svg" in (out / names[1]).read_text()
        replay = ReplaySource(str(out / names[0]))
        feed = Feed()
        replay.run(feed, __import__("threading").Event())
        assert len(feed) == 793 and replay.errors == []
        assert replay.stats().evictions == 17                # the closing stats line
        assert app.notices[-1][0] == "information" and names[0] in app.notices[-1][1]
        await pilot.press("e")                               # same second: no overwrite
        for _ in range(500):
            if len(app.exports) == 4:
                break
            await asyncio.sleep(0.01)
        assert len(list(out.iterdir())) == 4


# ------------------------------------------------------------------ focus, maximize, help, quit
async def test_number_keys_focus_panes_and_m_maximizes(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        expected = {"1": "stream", "2": "proc-tree", "3": "files-table", "4": "maps", "5": "losses"}
        for key, wid in expected.items():
            await pilot.press(key)
            assert app.focused is not None and app.focused.id == wid
        await pilot.press("3", "m")
        assert app.screen.maximized is app.dashboard.query_one(TopFilesPane)
        await pilot.pause()
        assert app.screen.maximized.outer_size.width == SIZE[0]    # the whole screen, no more
        await pilot.press("m")
        assert app.screen.maximized is None
        await pilot.press("1", "m")
        assert app.screen.maximized is app.dashboard.query_one(EventStreamPane)
        await pilot.press("2")                              # focusing another pane restores
        assert app.screen.maximized is None


async def test_question_mark_shows_every_key(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        # What the user reads, against a list written out here (not built from KEYMAP).
        text = screen_text(app)
        for key, words in (("q", "Quit sniff-tui"), ("space", "Pause or resume"),
                           ("/", "old or new name"), ("w", "write events"), ("P", "descendants"),
                           ("d", "fresh view"), ("s", "processes"), ("m", "Maximize"),
                           ("5", "losses"), ("ctrl+p", "Command palette")):
            assert re.search(rf"(^|\s){re.escape(key)}\s+.*{re.escape(words)}", text, re.M), key
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_every_key_is_a_palette_command(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        assert {"Quit (q)", "Pause (space)", "Search (/)", "Toggle read (r)", "Toggle write (w)",
                "Toggle open/close (o)", "Toggle rename (n)", "Toggle unlink (u)",
                "Toggle truncate/fallocate (t)", "Toggle mmap (M)", "File types (a)", "This process (p)", "This tree (P)",
                "Clear (c)", "Watch (d)", "Sort (s)", "Export (e)", "Pane 1 (1)", "Pane 5 (5)",
                "Maximize (m)", "Help (?)"} <= set(commands)
        await commands["Toggle write (w)"].callback()
        assert "write" not in app.state.filters.ops


async def test_footer_lists_the_main_keys(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        footer = screen_text(app).splitlines()[-1]
        for word in ("Quit", "Pause", "Search", "Export", "Help"):
            assert word in footer


async def test_q_quits_with_zero(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_value == 0
    assert not app.source_running


# ------------------------------------------------------------------ live updates, pause
async def test_timer_drains_in_batches_not_per_record(tmp_path):
    source = FakeSource()
    app = SpyApp(source, Filters(), [b"/w"], spool_dir=str(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        stream = app.dashboard.query_one(EventStream)
        shows = []
        original = stream.show
        stream.show = lambda *a, **k: (shows.append(len(a[0])), original(*a, **k))[1]
        source.emit([rec(ts=1000 + i / 1e4, pid=10 + i % 5) for i in range(20_000)])
        for _ in range(200):
            if app.state.received == 20_000:
                break
            await asyncio.sleep(0.02)
        await pilot.pause(0.3)
        assert app.state.received == 20_000           # the UI timer alone got them in
        assert 1 <= len(shows) <= 10                   # a handful of redraws, not 20,000
        assert len(stream.rows) == app.state.limits.recent
        assert app.mode == "LIVE"


async def test_space_pauses_the_view_while_counting_goes_on(tmp_path):
    source = FakeSource()
    app = SpyApp(source, Filters(), [b"/w"], spool_dir=str(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        source.emit([rec(ts=1.0), rec(ts=2.0)])
        await settle(app, pilot)
        await pilot.press("space")
        assert app.state.paused and app.mode == "PAUSED"
        before = list(stream_rows(app))
        source.emit([rec(ts=3.0 + i) for i in range(5)])
        await settle(app, pilot)
        assert list(stream_rows(app)) == before
        assert app.state.received == 7 and app.state.new_since_pause == 5
        assert "+5 new" in str(app.dashboard.query_one(EventStreamPane).border_subtitle)
        assert "PAUSED" in header_text(app)
        await pilot.press("space")
        assert not app.state.paused and len(stream_rows(app)) == 7


# ------------------------------------------------------------------ errors stay in the UI
async def test_a_failing_source_is_reported_not_raised(tmp_path):
    source = FakeSource()
    source.fail = RuntimeError("perf buffer lost")
    app = SpyApp(source, Filters(), [b"/w"], spool_dir=str(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(100):
            if not app.source_running:
                break
            await asyncio.sleep(0.01)
        app.drain_and_refresh()
        await pilot.pause()
        assert app.notices[-1][0] == "error" and "perf buffer lost" in app.notices[-1][1]
        assert "SOURCE FAILED" in header_text(app)
        await pilot.press("q")
    assert app.return_value == 1


async def test_what_the_kernel_cannot_follow_is_said_once(tmp_path):
    source = FakeSource()
    source.missing = ["io_uring is not followed: no raw tracepoint io_uring_submit_req"]
    app = SpyApp(source, Filters(), [b"/w"], spool_dir=str(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        for _ in range(3):
            app._poll_source()
        said = [n for n in app.notices if "io_uring is not followed" in n[1]]
        assert said == [("warning", source.missing[0])]
        await pilot.press("q")


async def test_the_header_says_what_is_still_loading_and_late_features_are_said_once(tmp_path):
    source = FakeSource()
    source.loading = ["close_range", "io_uring"]
    app = SpyApp(source, Filters(), [b"/w"], spool_dir=str(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        app._poll_source()
        app.drain_and_refresh()
        await pilot.pause()
        assert "LIVE (loading close_range, io_uring)" in header_text(app)
        source.loading = []
        source.missing = ["close_range followed from 2.1 s after start", "io_uring followed from 3.4 s after start"]
        for _ in range(3):
            app._poll_source()
        app.drain_and_refresh()
        await pilot.pause()
        assert "LIVE" in header_text(app) and "loading" not in header_text(app)
        said = [n for n in app.notices if "followed from" in n[1]]
        assert said == [("warning", "; ".join(source.missing))]
        await pilot.press("q")


async def test_a_refused_filter_keeps_the_old_one(tmp_path):
    source = FakeSource()
    app = SpyApp(source, Filters(), [b"/w"], spool_dir=str(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        # The source starts once the first frame is out: refuse the key's filter, not the
        # start-up one.
        for _ in range(500):
            if source.filter_calls:
                break
            await asyncio.sleep(0.01)
        source.refuse = FilterError("too many comm filters for the kernel map")
        await pilot.press("w")
        assert app.state.filters == Filters()
        assert app.notices[-1] == ("error", "filter not applied: too many comm filters for the kernel map")


async def test_bad_replay_lines_are_notified_with_line_numbers(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(rec().to_json() + "\n{oops\n" + rec().to_json() + "\n[1]\n")
    source = ReplaySource(str(path), watches=[b"/w"])
    app = SpyApp(source, Filters(), [b"/w"], spool_dir=str(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        warning = [m for s, m in app.notices if s == "warning"]
        assert warning and "line 2: not JSON" in warning[-1] and "line 4:" in warning[-1]
        assert re.search(r"bad recording lines\s+2", plain(app.dashboard.query_one(LossesPane)))


async def test_a_full_feed_makes_the_worker_wait_and_loses_nothing(tmp_path):
    source = FakeSource()
    app = SpyApp(source, Filters(), [b"/w"], feed=Feed(maxsize=10), spool_dir=str(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        source.emit([rec(ts=float(i)) for i in range(50)])
        for _ in range(100):      # the worker waits for room five times over: give it time
            if source.delivered == 50 and not len(app.feed):
                break
            await pilot.pause(0.05)
        await settle(app, pilot)
        assert source.delivered == 50 and app.feed.dropped == 0
        assert app.state.received == 50
        assert re.search(r"UI queue drops\s+0", plain(app.dashboard.query_one(LossesPane)))


async def test_feed_drops_show_in_the_loss_pane(tmp_path):
    """Records pushed once the consumer has closed the feed are dropped, counted and shown."""
    source = FakeSource()
    feed = Feed(maxsize=10)
    app = SpyApp(source, Filters(), [b"/w"], feed=feed, spool_dir=str(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        feed.close()
        source.emit([rec(ts=float(i)) for i in range(40)])
        await settle(app, pilot)
        losses = app.dashboard.query_one(LossesPane)
        assert re.search(r"UI queue drops\s+40", plain(losses)) and losses.has_class("-lossy")


async def test_a_failing_refresh_is_notified_and_the_app_keeps_running(tmp_path, monkeypatch):
    source = FakeSource()
    app = SpyApp(source, Filters(), [b"/w"], spool_dir=str(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        def boom(*a, **k):
            raise KeyError("oops")
        monkeypatch.setattr(app.state, "apply", boom)
        await pilot.pause(0.6)
        assert any(s == "error" and "refresh failed" in m for s, m in app.notices)
        assert app.is_running


def test_top_files_columns_follow_the_width():
    wide_file, wide = layout(160)
    narrow_file, narrow = layout(70)
    assert len(wide) == 6 and wide_file >= MIN_FILE_W
    # Narrow: the least telling columns go so the path keeps a readable width.
    names = [c[0] for c in narrow]
    assert narrow_file >= MIN_FILE_W and "reads" not in names and "written" in names
    for width in (40, 70, 120, 160):
        assert header_line(width, "bytes_written").cell_len <= width


def test_run_dashboard_refuses_without_a_terminal(capsys):
    from sniff_tui.tui.startup import run_dashboard
    code = run_dashboard(FakeSource(), Filters(), [b"/w"])      # pytest's stdin is no tty
    assert code == 2 and "needs a terminal" in capsys.readouterr().err


async def test_scrolled_back_stream_keeps_its_rows_while_the_ring_rotates(tmp_path):
    from sniff_tui.session import Limits
    source = FakeSource()
    app = SpyApp(source, Filters(), [b"/w"], spool_dir=str(tmp_path),
                   limits=Limits(recent=200))
    async with app.run_test(size=SIZE) as pilot:
        source.emit([rec(ts=float(i)) for i in range(200)])
        await settle(app, pilot)
        await pilot.press("1", "pageup")
        stream = app.dashboard.query_one(EventStream)
        assert not stream.follow
        top = stream.rows[round(stream.scroll_y)].ts
        source.emit([rec(ts=float(i)) for i in range(200, 230)])      # 30 fall off the front
        await settle(app, pilot)
        assert stream.rows[-1].ts == 229.0
        assert stream.rows[round(stream.scroll_y)].ts == top            # same record on top
