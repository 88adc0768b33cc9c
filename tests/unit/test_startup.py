"""The live source made in the dashboard's worker (tui/startup.py): what the UI asks of it
before the probes are loaded is kept and applied once they are, never lost or faked."""
from __future__ import annotations

import pytest

from sniff_tui.core.filters import Filters
from sniff_tui.tui.startup import DeferredLiveSource, leave


class Loaded:
    """What probes.live.LiveSource answers, once made and opened."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.watches = [b"/made"]

    def open(self) -> None:
        self.calls.append(("open",))

    def set_watches(self, watches) -> None:
        self.calls.append(("set_watches", list(watches)))

    def set_filters(self, filters) -> None:
        self.calls.append(("set_filters", filters))

    def detach(self) -> None:
        self.calls.append(("detach",))

    def process_info(self, pid: int) -> dict:
        return {"ppid": 1}

    def stats_dict(self, programs: bool = True) -> dict:
        return {"op": "stats", "records": 7}


def test_before_the_load_it_is_a_source_with_nothing_yet():
    made = []
    source = DeferredLiveSource([b"/w"], lambda: made.append(1) or Loaded())
    assert source.live and source.watches == [b"/w"]
    assert source.process_info(1) == {} and source.warnings() == (0, [])
    assert source.stats().records == 0
    source.set_filters(Filters(pid=5))            # the app sends its filters after the load
    with pytest.raises(RuntimeError):
        source.stats_dict()                       # not zeros: nothing was measured
    assert made == []                             # nothing made before the worker asks


def test_what_was_asked_while_loading_is_applied_once_loaded():
    loaded = Loaded()
    source = DeferredLiveSource([b"/w"], lambda: loaded)
    source.set_watches([b"/other"])               # `d` while the probes load
    source.detach()                               # `q` while the probes load
    assert source.watches == [b"/other"]
    source.open()
    assert loaded.calls == [("open",), ("set_watches", [b"/other"]), ("detach",)]
    assert source.watches == [b"/made"] and source.process_info(3) == {"ppid": 1}
    assert source.stats_dict()["records"] == 7


def test_a_load_failure_is_raised_to_the_worker():
    class Failing(Loaded):
        def open(self) -> None:
            raise OSError("no BTF")
    source = DeferredLiveSource([b"/w"], Failing)
    with pytest.raises(OSError):
        source.open()
    assert source.process_info(1) == {}


def test_leave_ends_nothing_without_a_terminal():
    # pytest's stdin is not a terminal: no dashboard ran, so the process goes on.
    assert leave(3) == 3
