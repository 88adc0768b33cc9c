"""Real probes in the real kernel, driven by real processes.

The probes are loaded once per session (compiling takes seconds). Each test gets a fresh
watched directory; `sniff.run(...)` starts a real process and returns what it did, once the
exit record of a marker process started after it proves everything before has arrived.

As root, a probe that cannot load fails the suite: kernel tests never skip silently there.
"""
from __future__ import annotations

import os

import pytest

from sniff_tui.core.filters import Filters
from tests.kernel.kernel_support import Sniff


def pytest_collection_modifyitems(config, items):
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="kernel tests need root")
    for item in items:
        if "tests/kernel" in str(item.fspath):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def live_source(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("kernel tests need root")
    from sniff_tui.probes.live import LiveSource
    from sniff_tui.probes.loader import LoadError
    home = tmp_path_factory.mktemp("boot")
    source = LiveSource([home])
    try:
        source.open()
    except LoadError as exc:
        pytest.fail(f"probes did not load as root: {exc}\n{exc.detail[-4000:]}")
    # mmap, close_range and io_uring go live in the background: the tests use them all
    assert source.probes.wait_loaded(600), "the later probes never finished loading"
    sniff = Sniff(source)
    yield sniff
    sniff.close()


@pytest.fixture
def sniff(live_source, tmp_path):
    """A loaded source watching a fresh directory `sniff.dir` (tmp_path/'watched')."""
    watched = tmp_path / "watched"
    watched.mkdir()
    live_source.watch(watched)
    live_source.dir = watched
    live_source.root = tmp_path
    yield live_source
    live_source.source.set_filters(Filters())
