"""`sniff-tui replay DB`: the dashboard on a stored session shows what it shows for the JSONL
recording of the same records."""
from __future__ import annotations

import threading

from textual.widgets import DataTable
from rich.text import Text

from history.replay_db import DbReplaySource
from history.store import HistoryStore
from probes.feed import Feed
from probes.filters import Filters
from probes.replay import ReplaySource
from tui.app import SniffApp
from widgets.process_tree import ProcessTree
from ui_support import DEMO, SIZE, WATCH, settle


def demo_db(tmp_path) -> str:
    source = ReplaySource(str(DEMO), watches=[WATCH])
    feed: Feed = Feed(maxsize=10**6)
    source.run(feed, threading.Event())
    records = feed.drain(10**9)
    db = str(tmp_path / "demo.db")
    store = HistoryStore(db)
    store.begin_session([WATCH], None, "dashboard")
    store.add(records)
    st = source.stats()
    assert store.close({"counters": {"ringbuf_drops": st.ringbuf_drops, "truncated": st.truncated_paths,
                                     "agg_full": st.evictions},
                        "maps": {m.name: {"entries": m.entries, "max": m.max_entries}
                                 for m in st.maps}}) is None
    return db


def top_files(app):
    table = app.dashboard.query_one(DataTable)
    return [[c.plain if isinstance(c, Text) else str(c) for c in table.get_row_at(i)]
            for i in range(table.row_count)]


async def test_a_stored_session_looks_like_its_recording(tmp_path):
    db = demo_db(tmp_path)
    views = []
    for source in (ReplaySource(str(DEMO), watches=[WATCH]), DbReplaySource(db)):
        app = SniffApp(source, Filters(), source.watches, test_mode=True,
                       spool_dir=str(tmp_path))
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            tree = app.dashboard.query_one(ProcessTree)
            views.append((app.state.received, app.state.matched_total, top_files(app),
                          [n.data for n in tree.root.children],
                          app.state.source_stats.ringbuf_drops,
                          app.state.source_stats.evictions))
    assert views[0][0] == 796
    assert views[1] == views[0]
