"""The cgroup keys driven by Pilot: `g` groups the Processes pane by container/unit (with
totals), `C` narrows to the selected process's container or unit through the source's
set_filters and back; Top files names the container; the header shows the filter."""
from __future__ import annotations

from sniff_tui.core.filters import Filters
from sniff_tui.widgets.process_tree import ProcessTree, ProcessTreePane
from ui_support import SIZE, FakeSource, SpyApp, rec, settle
from test_ui_app import header_text, plain, select_process

CID = "3f2a9c1b7d10"
DOCKER = f"/system.slice/docker-{CID}{'0' * 52}.scope".encode()
UNIT = b"nginx.service"
EVIL = b"/system.slice/evil\x1b[31m.service"


def records():
    return [
        rec("write", 201, b"/w/a.log", comm=b"app", nbytes=100, ppid=1, cgroup=DOCKER, container=CID,
            unit=DOCKER.rsplit(b"/", 1)[1]),
        rec("write", 202, b"/w/a.log", comm=b"helper", nbytes=50, ppid=201, cgroup=DOCKER,
            container=CID, unit=DOCKER.rsplit(b"/", 1)[1]),
        rec("write", 301, b"/w/b.log", comm=b"nginx", nbytes=7, ppid=1,
            cgroup=b"/system.slice/" + UNIT, unit=UNIT),
        rec("write", 401, b"/w/c.log", comm=b"evil", nbytes=1, ppid=1, cgroup=EVIL,
            unit=EVIL.rsplit(b"/", 1)[1]),
        rec("write", 501, b"/w/d.log", comm=b"shell", nbytes=3, ppid=1, cgroup=b"/"),
    ]


async def test_g_groups_by_container_and_unit_with_totals(tmp_path):
    source = FakeSource()
    app = SpyApp(source, Filters(), [b"/w"], spool_dir=str(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        source.emit(records())
        await settle(app, pilot)
        pane = app.dashboard.query_one(ProcessTreePane)
        tree = app.dashboard.query_one(ProcessTree)
        assert not pane.by_cgroup and "group" not in str(pane.border_subtitle)
        await pilot.press("g")
        await pilot.pause()
        assert pane.by_cgroup and "in 4 groups" in str(pane.border_subtitle)
        top = [str(node.label) for node in tree.root.children]
        # Sorted by bytes written: the container (150 B from two processes) first.
        assert top[0].startswith(f"▣ container {CID}") and "2 processes" in top[0] and "150 B" in top[0]
        assert any(t.startswith("▣ unit nginx.service") for t in top)
        assert any(t.startswith("▣ cgroup /") for t in top)
        evil = next(t for t in top if "evil" in t)
        assert "\x1b" not in evil and "\\x1b" in evil          # the name cannot drive the terminal
        container = tree.root.children[0]
        assert {c.data for c in container.children} == {"p201"}       # 202 nested under 201
        assert [c.data for c in container.children[0].children] == ["p202"]
        await pilot.press("g")
        await pilot.pause()
        assert not pane.by_cgroup and all(n.data.startswith("p") for n in tree.root.children)


async def test_shift_c_narrows_to_the_container_and_back(tmp_path):
    source = FakeSource()
    app = SpyApp(source, Filters(), [b"/w"], spool_dir=str(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        source.emit(records())
        await settle(app, pilot)
        await select_process(app, pilot, 202)
        details = plain(app.dashboard.query_one("#proc-details"))
        assert f"container {CID}" in details
        await pilot.press("C")
        assert source.filter_calls[-1] == Filters(container=CID)
        assert f"container={CID}" in header_text(app)
        assert {p for p, pr in app.state.procs.items() if pr.ops} == {201, 202}
        # Top files: who touched a.log names the container.
        await pilot.press("3")
        await pilot.press("down")
        await pilot.pause()
        touches = plain(app.dashboard.query_one("#file-touches"))
        assert "a.log" in touches and f"container {CID}" in touches
        await pilot.press("C")                      # back: every cgroup
        assert source.filter_calls[-1] == Filters()
        assert {p for p, pr in app.state.procs.items() if pr.ops} == {201, 202, 301, 401, 501}
        # A unit: the nginx process; from a group row in grouped mode too.
        await select_process(app, pilot, 301)
        await pilot.press("C")
        assert source.filter_calls[-1] == Filters(unit=UNIT)
        assert "unit=nginx.service" in header_text(app)
        await pilot.press("C")
        await pilot.press("g")
        await pilot.pause()
        tree = app.dashboard.query_one(ProcessTree)
        await pilot.press("2")
        for _ in range(10):
            if tree.cursor_node is not None and str(tree.cursor_node.label).startswith("▣ cgroup /"):
                break
            await pilot.press("down")
        await pilot.press("C")
        assert source.filter_calls[-1] == Filters(cgroup=b"/")


async def test_shift_c_refused_by_the_source_says_so(tmp_path):
    source = FakeSource()
    app = SpyApp(source, Filters(), [b"/w"], spool_dir=str(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        source.emit(records())
        await settle(app, pilot)
        await select_process(app, pilot, 301)
        from sniff_tui.core.filters import FilterError
        source.refuse = FilterError("--unit needs cgroup v2")
        await pilot.press("C")
        assert app.state.filters == Filters()
        assert app.notices[-1][0] == "error" and "cgroup v2" in app.notices[-1][1]
