"""ReplaySource: decoding, bad lines with their numbers, stats and process lines, pacing,
stopping, and never dropping a record into a full feed."""
from __future__ import annotations

import json
import threading
import time

import pytest

from sniff_tui.core.filters import Filters
from sniff_tui.core.feed import Feed
from sniff_tui.core.replay import MAX_ERRORS_KEPT, ReplaySource
from pathlib import Path

from records import rec

DEMO = Path(__file__).resolve().parents[1] / "ui" / "data" / "demo.jsonl"
WATCH = b"/home/dev/proj"


def play(source: ReplaySource, feed=None) -> list:
    feed = feed or Feed()
    source.run(feed, threading.Event())
    return feed.drain(10**9)


def write_lines(path, lines) -> str:
    with open(path, "wb") as fh:
        for line in lines:
            fh.write(line if isinstance(line, bytes) else line.encode())
            fh.write(b"\n")
    return str(path)


def test_demo_recording_plays_whole():
    source = ReplaySource(str(DEMO))
    records = play(source)
    assert len(records) == 796
    assert source.errors == [] and source.error_count == 0
    assert source.watches == [WATCH]                      # guessed from the paths
    assert source.live is False
    assert source.finished.is_set()
    stats = source.stats()
    assert stats.records == 796 and stats.truncated_paths == 1 and stats.evictions == 17
    assert [m.name for m in stats.maps] == ["watched", "pending", "rw_pending", "agg", "pidset"]
    assert source.process_info(1100)["cmdline"] == "make -j4 all"
    assert source.process_info(1500)["comm"] == b"evil\x1b[2J"
    assert source.process_info(4242) == {}
    assert any(r.path.endswith(b"bad\xff\xfename.bin") for r in records)   # exact bytes via b64


def test_bad_lines_are_skipped_and_reported_with_their_numbers(tmp_path):
    good = rec("write", 5, b"/w/ok").to_json()
    path = write_lines(tmp_path / "r.jsonl", [
        good,                                                   # 1
        "{not json",                                            # 2
        json.dumps({"op": "write", "pid": 1, "comm": "x", "path": "/w/a"}),   # 3: no ts
        json.dumps({"ts": 1, "op": "chmod", "pid": 1, "comm": "x", "path": "/w/a"}),  # 4
        b"\xff\xfe garbage",                                    # 5: not UTF-8
        "[1, 2, 3]",                                            # 6: not an object
        "",                                                     # 7: blank: ignored
        json.dumps({"op": "stats", "maps": [{"entries": 1}]}),  # 8: map without a name
        json.dumps({"ts": "NaN", "op": "open", "pid": 1, "comm": "x", "path": "/w/a"}),  # 9
        good,                                                   # 10
    ])
    source = ReplaySource(path)
    records = play(source)
    assert len(records) == 2
    assert [n for n, _ in source.errors] == [2, 3, 4, 5, 6, 8, 9]
    reasons = dict(source.errors)
    assert reasons[2].startswith("not JSON")
    assert "ts" in reasons[3]
    assert "chmod" in reasons[4]
    assert "UTF-8" in reasons[5]
    assert "object" in reasons[6]
    assert "name" in reasons[8]
    assert "finite" in reasons[9]
    assert source.error_count == 7


def test_error_list_is_bounded_but_counting_goes_on(tmp_path):
    path = write_lines(tmp_path / "bad.jsonl", ["nope"] * (MAX_ERRORS_KEPT + 50))
    source = ReplaySource(path)
    play(source)
    assert len(source.errors) == MAX_ERRORS_KEPT
    assert source.error_count == MAX_ERRORS_KEPT + 50
    assert source.errors[-1][0] == MAX_ERRORS_KEPT


def test_missing_file_fails_before_the_ui_starts(tmp_path):
    with pytest.raises(OSError):
        ReplaySource(str(tmp_path / "nope.jsonl"))


def test_speed_zero_never_overflows_a_small_feed(tmp_path):
    path = write_lines(tmp_path / "r.jsonl", [rec(ts=i).to_json() for i in range(3000)])
    feed = Feed(maxsize=100)
    source = ReplaySource(path)
    stop = threading.Event()
    worker = threading.Thread(target=source.run, args=(feed, stop))
    worker.start()
    got = []
    deadline = time.monotonic() + 20
    while (worker.is_alive() or len(feed)) and time.monotonic() < deadline:
        got.extend(feed.drain(37))
        time.sleep(0.001)
    worker.join(5)
    assert len(got) == 3000 and feed.dropped == 0
    assert [r.ts for r in got] == list(map(float, range(3000)))


def test_real_time_follows_the_timestamps(tmp_path):
    path = write_lines(tmp_path / "r.jsonl", [rec(ts=100 + i * 0.2).to_json() for i in range(4)])
    for speed, low, high in ((1.0, 0.55, 2.0), (4.0, 0.1, 0.5)):
        start = time.monotonic()
        assert len(play(ReplaySource(path, speed=speed))) == 4
        assert low <= time.monotonic() - start <= high, speed


def test_max_gap_caps_an_idle_stretch(tmp_path):
    path = write_lines(tmp_path / "r.jsonl", [rec(ts=0).to_json(), rec(ts=3600).to_json(),
                                              rec(ts=3600.1).to_json()])
    start = time.monotonic()
    assert len(play(ReplaySource(path, speed=1, max_gap=0.05))) == 3
    assert time.monotonic() - start < 1.0


def test_stop_ends_a_waiting_replay_promptly(tmp_path):
    path = write_lines(tmp_path / "r.jsonl", [rec(ts=0).to_json(), rec(ts=600).to_json()])
    source = ReplaySource(path, speed=1)
    feed, stop = Feed(), threading.Event()
    worker = threading.Thread(target=source.run, args=(feed, stop))
    worker.start()
    time.sleep(0.1)
    stop.set()
    worker.join(2)
    assert not worker.is_alive() and source.finished.is_set()
    assert len(feed) == 1


def test_commands_are_kept_and_do_not_filter(tmp_path):
    path = write_lines(tmp_path / "r.jsonl", [rec("read").to_json(), rec("write").to_json()])
    source = ReplaySource(path, watches=[b"/w"])
    source.set_filters(Filters(ops=frozenset({"read"})))
    source.set_watches([b"/elsewhere"])
    assert source.filters.ops == {"read"} and source.watches == [b"/elsewhere"]
    assert len(play(source)) == 2        # the dashboard filters; a replay delivers everything


def test_negative_speed_is_refused():
    with pytest.raises(ValueError):
        ReplaySource(str(DEMO), speed=-1)


def test_a_rejected_line_never_sets_the_watched_root(tmp_path):
    """Issue 11, item 6: {"path": "/x"} is rejected (no op, no pid): it must not widen the
    guessed root from /w to /."""
    path = write_lines(tmp_path / "r.jsonl", ['{"path": "/x"}', rec(path=b"/w/a/f").to_json(),
                                              rec(path=b"/w/a/g").to_json()])
    source = ReplaySource(path)
    assert source.watches == [b"/w/a"]
    play(source)
    assert [n for n, _ in source.errors] == [1]
