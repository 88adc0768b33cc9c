"""Issue 23: each pane reads only its own narrow view of the session (session/panes.py), never
the whole SessionState; and SessionState is every one of those views."""
from __future__ import annotations

import ast
from pathlib import Path

from sniff_tui.session import SessionState
from sniff_tui.session import panes

ROOT = Path(__file__).resolve().parents[2]
PANES = {"event_stream": panes.EventsView, "top_files": panes.FilesView,
         "process_tree": panes.ProcessesView, "header": panes.HeaderView,
         "losses": panes.LossesView, "map_gauges": panes.MapsView}


def members(protocol) -> set[str]:
    names = set()
    for cls in protocol.__mro__:
        if cls is object or not getattr(cls, "_is_protocol", False):
            continue
        names |= {n for n in vars(cls) if not n.startswith("_")}
    return names


def state_reads(source: str) -> set[str]:
    """Attributes read on `state` (an update_from argument) or `self._state` (kept for later)."""
    reads = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute):
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id == "state":
                reads.add(node.attr)
            elif (isinstance(owner, ast.Attribute) and owner.attr == "_state"
                  and isinstance(owner.value, ast.Name) and owner.value.id == "self"):
                reads.add(node.attr)
    return reads


def test_each_pane_reads_only_its_view():
    extra = {}
    for module, view in PANES.items():
        source = (ROOT / "widgets" / f"{module}.py").read_text()
        assert "SessionState" not in source
        reads = state_reads(source)
        assert reads, module
        if reads - members(view):
            extra[module] = sorted(reads - members(view))
    assert extra == {}


def test_the_forests_read_only_the_processes_view():
    reads = state_reads((ROOT / "session" / "views.py").read_text())
    assert reads and reads <= members(panes.ProcessesView)


def test_the_check_can_fail():
    assert state_reads("def f(state):\n    return state.files, state.losses()\n") == {"files", "losses"}
    assert "files" not in members(panes.LossesView)


def test_the_session_is_every_view():
    state = SessionState([b"/w"])
    for view in PANES.values():
        for name in members(view):
            assert hasattr(state, name), (view.__name__, name)
