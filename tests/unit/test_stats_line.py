"""The stats line is one JSONL line kind: what `stream --stats` writes and what the dashboard's
export writes replay the same, and lines of the earlier layout still replay."""
import json
import threading

from sniff_tui.core.feed import Feed
from sniff_tui.core.record import MapHealth, SourceStats
from sniff_tui.core.replay import ReplaySource


def replayed(tmp_path, line: dict) -> SourceStats:
    path = tmp_path / "rec.jsonl"
    rec = {"ts": 1.0, "op": "write", "pid": 1, "tid": 1, "ppid": 0, "uid": 0, "comm": "w",
           "path": "/w/f", "bytes": 1, "count": 1}
    path.write_text(json.dumps(rec) + "\n" + json.dumps(line) + "\n")
    source = ReplaySource(str(path), watches=[b"/w"])
    source.run(Feed(100), threading.Event())
    assert source.error_count == 0, source.errors
    return source.stats()


def test_a_stats_line_round_trips(tmp_path):
    stats = SourceStats(records=5, ringbuf_drops=2, lost_calls=9, proc_drops=1, name_drops=3,
                        truncated_paths=4, evictions=6, maps=[MapHealth("agg", 10, 100, 6)],
                        counters={"ringbuf_drops": 2, "lost_calls": 9})
    back = replayed(tmp_path, stats.to_dict())
    assert (back.ringbuf_drops, back.lost_calls, back.proc_drops, back.name_drops,
            back.truncated_paths, back.evictions) == (2, 9, 1, 3, 4, 6)
    assert back.maps == [MapHealth("agg", 10, 100, 6)]


def test_a_stats_line_of_the_earlier_layout_replays(tmp_path):
    old = {"op": "stats", "maps": {"agg": {"entries": 7, "max": 70, "utilization": 0.1}},
           "counters": {"ringbuf_drops": 3, "truncated": 2, "agg_full": 5}, "records": 1}
    back = replayed(tmp_path, old)
    assert (back.ringbuf_drops, back.truncated_paths, back.evictions) == (3, 2, 5)
    assert back.maps == [MapHealth("agg", 7, 70, 0)]


def test_what_the_kernel_cannot_follow_is_part_of_the_stats_line(tmp_path):
    stats = SourceStats(records=1, missing=["io_uring is not followed: no raw tracepoint io_uring_complete"])
    assert replayed(tmp_path, stats.to_dict()).missing == stats.missing
