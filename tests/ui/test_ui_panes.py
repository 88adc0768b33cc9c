"""Issue 11, item 8 and 9: htop-grade panes (sortable processes, exited ones dimmed, short-lived
look-alikes grouped, every file reachable), `/` on rename destinations, the small things."""
from __future__ import annotations

from sniff_tui.core.filters import Filters
from sniff_tui.session import process_forest, ProcGroup
from sniff_tui.widgets.event_stream import EventStream
from sniff_tui.widgets.header import DashboardHeader
from sniff_tui.widgets.process_tree import ProcessTree, ProcessTreePane
from sniff_tui.widgets.top_files import FileList, TopFilesPane
from ui_support import FakeSource, SpyApp, rec, settle


def live_app(tmp_path, **kw) -> SpyApp:
    return SpyApp(FakeSource(live=True), Filters(), [b"/w"], spool_dir=str(tmp_path), **kw)


async def test_processes_sort_by_each_column(tmp_path):
    app = live_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        app.source.emit([rec("write", 10, b"/w/a", comm=b"zed", nbytes=10, ppid=1),
                         rec("write", 20, b"/w/b", comm=b"abe", nbytes=5_000, ppid=1),
                         rec("read", 30, b"/w/c", comm=b"moe", nbytes=900_000, ppid=1)])
        await settle(app, pilot)
        tree = app.dashboard.query_one(ProcessTree)

        def order():
            return [n.data for n in tree.root.children]
        assert order() == ["p20", "p10", "p30"]                 # bytes written
        await pilot.press("2", "s")
        assert order() == ["p30", "p10", "p20"]                 # bytes read
        await pilot.press("s", "s")
        assert order() == ["p20", "p30", "p10"]                 # name
        await pilot.press("s")
        assert order() == ["p10", "p20", "p30"]                 # pid
        assert "pid ▲" in str(app.dashboard.query_one("#proc-sort").content)


async def test_exited_processes_are_dimmed_with_their_exit_time(tmp_path):
    app = live_app(tmp_path, utc=True)
    gone = 4_000_000       # above pid_max: never a running process
    async with app.run_test(size=(160, 48)) as pilot:
        app.source.emit([rec("write", gone, b"/w/a", comm=b"ghost", ppid=1)])
        await settle(app, pilot)
        proc = app.state.procs[gone]
        assert proc.exit_ts is not None
        label = [n for n in app.dashboard.query_one(ProcessTree).root.children
                 if n.data == f"p{gone}"][0].label
        assert "exited" in label.plain
        assert any(str(s.style) == "dim" and s.start == 0 and s.end == len(label.plain)
                   for s in label.spans)


async def test_two_thousand_echos_are_one_expandable_row(tmp_path):
    app = live_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        app.source.emit([rec("write", 5000 + i, b"/w/out.log", comm=b"echo", ppid=42, nbytes=3)
                         for i in range(2000)] + [rec("write", 42, b"/w/x", comm=b"sh", ppid=1)])
        await settle(app, pilot)
        tree = app.dashboard.query_one(ProcessTree)
        sh = tree.root.children[0]
        assert sh.data == "p42" and len(sh.children) == 1
        group = sh.children[0]
        assert "echo ×2,000" in group.label.plain and "W 5.9 KiB" in group.label.plain
        assert not group.is_expanded
        group.expand()
        await pilot.pause()
        assert len(group.children) == 2000
        app.refresh_now(force=True)
        await pilot.pause()
        group = app.dashboard.query_one(ProcessTree).root.children[0].children[0]
        assert group.is_expanded                                 # survives a rebuild
        subtitle = app.dashboard.query_one(ProcessTreePane).border_subtitle
        assert subtitle.startswith("2,001 processes")


def test_grouping_leaves_parents_and_singletons_alone():
    from sniff_tui.session import SessionState
    state = SessionState([b"/w"])
    state.apply([rec("write", 1, b"/w/a", comm=b"make", ppid=0),
                 rec("write", 2, b"/w/b", comm=b"cc", ppid=1),
                 rec("write", 3, b"/w/c", comm=b"cc", ppid=1),
                 rec("write", 4, b"/w/d", comm=b"ld", ppid=1)])
    forest = process_forest(state)
    assert [n.proc.pid for n in forest] == [1]
    assert not any(isinstance(n, ProcGroup) for n in forest[0].children)   # 2 < GROUP_MIN


async def test_one_process_is_one_process(tmp_path):
    app = live_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        app.source.emit([rec("write", 7, b"/w/a")])
        await settle(app, pilot)
        assert app.dashboard.query_one(ProcessTreePane).border_subtitle.startswith("1 process ·")
        assert app.dashboard.query_one(TopFilesPane).border_subtitle.startswith("1 file ·")


async def test_top_files_scroll_over_every_file(tmp_path):
    app = live_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        app.source.emit([rec("write", 7, b"/w/f%05d" % i, nbytes=i + 1) for i in range(3280)])
        await settle(app, pilot)
        files = app.dashboard.query_one(FileList)
        assert len(files.rows) == 3280
        await pilot.press("3", "end")
        assert files.selected_path == b"/w/f00000"               # the smallest, last
        assert files.scroll_y > 3000
        touches = str(app.dashboard.query_one("#file-touches").content)
        assert "f00000" in touches


async def test_slash_finds_a_rename_by_its_new_name(tmp_path):
    app = live_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        app.source.emit([rec("rename", 7, b"/w/alpha.txt", new_path=b"/w/beta.txt"),
                         rec("write", 8, b"/w/gamma.txt")])
        await settle(app, pilot)
        await pilot.press("slash", *"beta", "enter")
        await pilot.pause()
        rows = app.dashboard.query_one(EventStream).rows
        assert [r.new_path for r in rows] == [b"/w/beta.txt"]


async def test_the_header_never_cuts_a_number_at_120_columns(tmp_path):
    app = live_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        app.source.emit([rec("write", 7, b"/w/a", ts=1000 + i * 0.01) for i in range(1576)])
        await settle(app, pilot)
        from rich.console import Console
        import os
        console = Console(width=120, record=True, file=open(os.devnull, "w"))
        console.print(app.dashboard.query_one(DashboardHeader).content)
        text = console.export_text()
        assert "received 1,576" in text and "…" not in text.splitlines()[2]
