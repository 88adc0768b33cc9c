"""`sniff-tui replay DB`: the dashboard on a stored session shows what it shows for the JSONL
recording of the same records."""
from __future__ import annotations

import threading


from sniff_tui.history.replay_db import DbReplaySource
from sniff_tui.history.store import HistoryStore
from sniff_tui.core.feed import Feed
from sniff_tui.core.filters import Filters
from sniff_tui.core.replay import ReplaySource
from sniff_tui.tui.app import SniffApp
from sniff_tui.widgets.process_tree import ProcessTree
from sniff_tui.widgets.top_files import FileList
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
    files = app.dashboard.query_one(FileList)
    return [files.render_row(fe, 120).plain for fe in files.rows]


async def test_a_stored_session_looks_like_its_recording(tmp_path):
    db = demo_db(tmp_path)
    views = []
    for source in (ReplaySource(str(DEMO), watches=[WATCH]), DbReplaySource(db)):
        app = SniffApp(source, Filters(), source.watches, utc=True, own_usage=False,
                       spool_dir=str(tmp_path))
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            app.state.set_source_stats(source.stats())     # the last stats line, polled or not
            tree = app.dashboard.query_one(ProcessTree)
            views.append((app.state.records_received, app.state.matched_total, top_files(app),
                          [n.data for n in tree.root.children],
                          app.state.source_stats.ringbuf_drops,
                          app.state.source_stats.evictions))
    assert views[0][0] == 796
    assert views[1] == views[0]
