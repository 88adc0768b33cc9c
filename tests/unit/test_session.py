"""SessionState: aggregation, retroactive filtering, pause, bounds, rate history, export.
Pure Python, no Textual."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sniff_tui.core.filters import Filters
from sniff_tui.core.record import OPS, Record
from sniff_tui.core.source import MapHealth, SourceStats
from sniff_tui.core.replay import ReplaySource
from sniff_tui.session import Limits, SessionRecording, SessionState
from records import rec


def make(tmp_path=None, filters=Filters(), info=None, limits=Limits(), record=True):
    recording = SessionRecording(str(tmp_path)) if (record and tmp_path is not None) else None
    return SessionState([b"/w"], filters, process_info=info, recording=recording, limits=limits)


def build_session() -> list[Record]:
    """bash(10) -> make(20) -> cc1(30); python3(40) under bash; logd(50) under init."""
    return [
        rec("open", 20, b"/w/Makefile", ppid=10, comm=b"make", ts=1.0),
        rec("read", 20, b"/w/Makefile", ppid=10, comm=b"make", ts=1.1, nbytes=4096),
        rec("read", 30, b"/w/a.c", ppid=20, comm=b"cc1", ts=2.0, nbytes=1000, count=3),
        rec("write", 30, b"/w/a.o", ppid=20, comm=b"cc1", ts=2.5, nbytes=700),
        rec("write", 50, b"/w/log", ppid=1, comm=b"logd", ts=3.0, nbytes=100, count=10),
        rec("write", 50, b"/w/log", ppid=1, comm=b"logd", ts=4.0, nbytes=300, count=30),
        rec("write", 40, b"/w/log", ppid=10, comm=b"python3", ts=3.5, nbytes=5),
        rec("rename", 50, b"/w/log", ppid=1, comm=b"logd", ts=5.0, new_path=b"/w/log.1"),
        rec("write", 50, b"/w/fifo", ppid=1, comm=b"logd", ts=5.5, nbytes=1, file_type="fifo"),
    ]


def test_file_aggregates_sum_counts_bytes_and_last_writer():
    state = make()
    assert state.apply(build_session()) == 8          # the fifo is hidden by default
    log = state.files[b"/w/log"]
    assert log.bytes_written == 405
    assert log.writes == 41                            # sum of record.count, not records
    assert log.last_writer == (50, b"logd")            # latest by ts (4.0), not python3 (3.5)
    assert log.last_ts == 5.0                          # the rename
    assert log.ops == {"write": 41, "rename": 1}
    src = state.files[b"/w/a.c"]
    assert (src.bytes_read, src.reads, src.bytes_written, src.writes) == (1000, 3, 0, 0)
    assert src.last_writer is None


def test_process_aggregates_and_info_looked_up_once():
    calls = []

    def info(pid):
        calls.append(pid)
        if pid == 30:
            raise ProcessLookupError(pid)              # gone already: tolerated
        return {"cmdline": ["make", "-j4"], "user": "dev"} if pid == 20 else {}
    state = make(info=info)
    state.apply(build_session())
    state.apply(build_session())
    make_proc = state.procs[20]
    assert make_proc.cmdline == "make -j4" and make_proc.user == "dev"
    assert make_proc.read_bytes == 2 * 4096 and make_proc.ops == {"open": 2, "read": 2}
    assert state.procs[50].write_bytes == 2 * 400
    assert sorted(calls) == [20, 30, 40, 50]            # once per process, not per record


def test_ops_filter_is_retroactive_and_reversible():
    state = make()
    state.apply(build_session())
    before = (state.files[b"/w/log"].bytes_written, len(state.recent))
    state.set_filters(Filters(ops=frozenset(OPS) - {"write"}))
    assert all(r.op != "write" for r in state.stream_rows())
    assert state.files[b"/w/log"].bytes_written == 0
    assert state.procs[50].write_bytes == 0
    assert not state.files[b"/w/a.o"].active            # only writes: gone from top files
    assert b"/w/a.o" not in [fe.path for fe in state.sorted_files()]
    state.set_filters(Filters())
    assert (state.files[b"/w/log"].bytes_written, len(state.recent)) == before


def test_tree_filter_follows_parent_links():
    state = make()
    state.apply(build_session())
    state.set_filters(Filters(tree=10))                 # bash never touched a file itself
    assert {r.pid for r in state.stream_rows()} == {20, 30, 40}
    state.set_filters(Filters(tree=20))
    assert {r.pid for r in state.stream_rows()} == {20, 30}
    assert state.is_descendant(30, 10) and not state.is_descendant(50, 10)


def test_tree_filter_asks_process_info_for_unknown_ancestors():
    info = {7: {"ppid": 3}}.get
    state = make(info=lambda pid: info(pid) or {})
    state.apply([rec("write", 9, b"/w/x", ppid=7)])
    assert state.is_descendant(9, 3)                    # 9 -> 7 (record), 7 -> 3 (asked)
    assert not state.is_descendant(9, 4)


def test_text_filter_matches_path_comm_or_pid():
    state = make()
    state.apply(build_session())
    state.set_filters(Filters(text="makefile"))
    assert {r.path for r in state.stream_rows()} == {b"/w/Makefile"}
    state.set_filters(Filters(text="cc1"))
    assert {r.pid for r in state.stream_rows()} == {30}
    state.set_filters(Filters(text="50"))
    assert {r.pid for r in state.stream_rows()} == {50}


def test_all_types_shows_the_fifo():
    state = make()
    state.apply(build_session())
    assert b"/w/fifo" not in [fe.path for fe in state.sorted_files()]
    state.set_filters(Filters(all_types=True))
    assert b"/w/fifo" in [fe.path for fe in state.sorted_files()]


def test_pause_freezes_rows_while_counting_continues():
    state = make()
    state.apply(build_session()[:3])
    state.pause()
    frozen = state.stream_rows()
    state.apply(build_session()[3:])
    assert state.stream_rows() == frozen
    assert state.new_since_pause == 5
    assert state.files[b"/w/log"].writes == 41          # aggregates kept counting
    state.resume()
    assert len(state.stream_rows()) == 8 and state.new_since_pause == 0


def test_recent_ring_is_bounded_and_counts_the_shift():
    state = make(limits=Limits(recent=10))
    state.apply([rec(ts=float(i)) for i in range(25)])
    rows = state.stream_rows()
    assert len(rows) == 10 and rows[-1].ts == 24.0 and rows[0].ts == 15.0
    assert state.recent_shift == 15


def test_every_collection_stays_bounded_and_what_passes_a_bound_is_counted():
    limits = Limits(recent=50, files=40, cells=100, processes=30, parents=60)
    state = make(limits=limits)
    total = 0
    for batch in range(20):
        records = []
        for i in range(200):
            n = batch * 200 + i
            records.append(rec("write", 1000 + n % 97, b"/w/tmp/%d" % (n % 60), ppid=2 + n % 89, ts=n / 1000))
            records.append(rec("write", 5, b"/w/noisy.log", ts=n / 1000))
        total += len(records)
        state.apply(records)
        assert len(state.files) <= limits.files
        assert sum(1 for fe in state.files.values() for c in fe.cells.values() if c.pid != -1) <= limits.cells
        assert len(state.procs) <= limits.processes
        assert len(state.parents) <= limits.parents
        assert len(state.recent) <= limits.recent and len(state.recent_all) <= limits.recent
    partial = dict(state.losses())["partial rows"]
    assert partial == state.unitemised + state.files_not_held + state.procs_not_held > 0
    held = sum(fe.writes for fe in state.files.values())
    assert held + state.files_not_held == total          # every write is in a file total or counted
    assert any(fe.partial for fe in state.files.values())


def test_a_log_appended_by_many_processes_keeps_exact_totals_under_toggles():
    """Issue 11, item 1: 100 `head -c 1000 >> big.log` processes, then `w` twice and `c`."""
    state = make()
    for i in range(100):
        pid = 2000 + i
        state.apply([rec("open", pid, b"/w/big.log", comm=b"head", ts=i),
                     rec("write", pid, b"/w/big.log", comm=b"head", nbytes=1000, ts=i + 0.1),
                     rec("close", pid, b"/w/big.log", comm=b"head", ts=i + 0.2)])

    def figures():
        fe = state.files[b"/w/big.log"]
        return fe.bytes_written, fe.writes, len(state.active_processes())
    assert figures() == (100_000, 100, 100)
    no_writes = Filters(ops=frozenset(OPS) - {"write"})
    state.set_filters(no_writes)
    assert figures()[:2] == (0, 0)
    state.set_filters(Filters())
    assert figures() == (100_000, 100, 100)
    state.set_filters(Filters(comm="head"))
    state.set_filters(Filters())
    assert figures() == (100_000, 100, 100)
    assert not state.files[b"/w/big.log"].partial


def test_past_the_cell_bound_rows_are_partial_and_ops_filters_stay_exact():
    state = make(limits=Limits(cells=5))
    state.apply([rec("write", pid, b"/w/shared.log", nbytes=10, ts=float(pid)) for pid in range(10)])
    fe = state.files[b"/w/shared.log"]
    assert fe.writes == 10 and fe.bytes_written == 100 and fe.partial
    state.set_filters(Filters(ops=frozenset({"read"})))
    state.set_filters(Filters())
    assert state.files[b"/w/shared.log"].writes == 10    # overflow decided by op: still exact
    state.set_filters(Filters(pid=7))
    assert state.files[b"/w/shared.log"].partial         # per-process figure may be short
    assert ("partial rows", 5) in state.losses()


def test_past_the_cell_bound_path_patterns_stay_exact():
    state = make(limits=Limits(cells=5))
    state.apply([rec("write", pid, path, nbytes=10, ts=float(pid))
                 for pid in range(10) for path in (b"/w/shared.log", b"/w/x.swp")])
    state.set_filters(_with_paths(Filters(), ("*.swp",), ()))
    assert state.files[b"/w/shared.log"].writes == 10    # overflow cells have their file's path
    assert not state.files[b"/w/x.swp"].active
    state.set_filters(_with_paths(Filters(), ("*.log",), ()))
    assert state.files[b"/w/x.swp"].writes == 10 and not state.files[b"/w/shared.log"].active


def test_rate_history_buckets_by_second_and_slides():
    state = make(limits=Limits(rate_window=5))
    state.apply([rec(ts=100.1), rec(ts=100.9), rec(ts=101.5)])
    assert state.rate_history() == [0, 0, 0, 2, 1]
    state.apply([rec(ts=103.0), rec(ts=99.0)])           # 99 is late but still in the window
    assert state.rate_history() == [1, 2, 1, 0, 1]
    state.advance_clock(105.2)                            # live: quiet seconds are zeros
    assert state.rate_history() == [1, 0, 1, 0, 0]
    assert state.current_rate() == 0
    state.apply([rec(ts=1000.0)])                        # a jump past the window clears it
    assert state.rate_history() == [0, 0, 0, 0, 1]


def test_top_files_sort_keys_and_stable_ties():
    state = make()
    state.apply(build_session())
    assert [fe.path for fe in state.sorted_files("bytes_written")[:2]] == [b"/w/a.o", b"/w/log"]
    assert state.sorted_files("writes")[0].path == b"/w/log"
    assert state.sorted_files("bytes_read")[0].path == b"/w/Makefile"
    assert state.sorted_files("reads")[0].path == b"/w/a.c"
    assert state.sorted_files("last_ts")[0].path == b"/w/log"
    with pytest.raises(ValueError):
        state.sorted_files("nope")


def test_file_touches_newest_first_and_filtered():
    state = make()
    state.apply(build_session())
    touches = state.file_touches(b"/w/log")
    assert [(c.pid, c.op) for c in touches] == [(50, "rename"), (50, "write"), (40, "write")]
    assert (touches[1].count, touches[1].bytes, touches[1].first_ts, touches[1].last_ts) == (40, 400, 3.0, 4.0)
    state.set_filters(Filters(pid=40))
    assert [(c.pid, c.op) for c in state.file_touches(b"/w/log")] == [(40, "write")]


def test_display_parent_is_the_nearest_shown_ancestor():
    state = make()
    state.apply(build_session())
    active = state.active_processes()
    assert 10 not in active                               # bash: no file activity
    assert state.display_parent(30, active) == 20
    assert state.display_parent(20, active) == 0          # bash is not shown: top level
    assert state.display_parent(30, {30}) == 0


def test_losses_report_source_and_ui_counts():
    state = make()
    state.set_source_stats(SourceStats(ringbuf_drops=3, truncated_paths=2, evictions=1,
                                       maps=[MapHealth("agg", 5, 5, evictions=7)]))
    state.ui_drops = 11
    state.apply([rec(truncated=True), rec(), rec(truncated=True)])
    losses = dict(state.losses())
    assert losses["ring-buffer drops"] == 3 and losses["UI queue drops"] == 11
    assert losses["kernel evictions"] == 7
    # Issue 11, item 9: what this session received truncated, as `stream` would record it,
    # not the kernel's counter (2 here), which also counts paths nobody asked about.
    assert losses["truncated paths"] == 2 and state.truncated_seen == 2
    state.apply([rec(truncated=True)])
    assert dict(state.losses())["truncated paths"] == 3
    assert "files not examined" not in losses and "kernel lacks" not in losses


def test_rarer_losses_get_a_row_once_they_happen():
    state = make()
    state.set_source_stats(SourceStats(unplaced=2, unnamed=1, ns_unresolved=4, name_drops=5,
                                       counters={"close_range_skipped": 10},
                                       missing=["no page-dirtying tracepoint"]))
    losses = dict(state.losses())
    assert losses["files not examined"] == 13
    assert losses["names not resolved"] == 4 and losses["string-path drops"] == 5
    assert losses["kernel lacks"] == 1


def test_io_uring_requests_without_completion_are_a_loss_only_when_there_are_some():
    state = make()
    state.set_source_stats(SourceStats(counters={"uring_no_cqe": 0}))
    assert "io_uring unseen" not in dict(state.losses())
    state.set_source_stats(SourceStats(counters={"uring_no_cqe": 4}))
    assert dict(state.losses())["io_uring unseen"] == 4


# ------------------------------------------------------------------ export
def test_export_round_trips_every_matching_record_through_replay(tmp_path):
    state = make(tmp_path)
    hostile = rec("write", 7, b"/w/bad\xff\x1b[31m[bold]x[/].txt", comm=b"ev\x1bil", ts=9.0)
    session = build_session() + [hostile]
    state.apply(session[:4])
    state.set_filters(Filters(ops=frozenset({"write"})))
    state.apply(session[4:])
    state.set_source_stats(SourceStats(ringbuf_drops=2, maps=[MapHealth("paths", 1, 8, 3)]))
    out = tmp_path / "export.jsonl"
    n = state.export_jsonl(str(out))
    expected = [r for r in session[:4]] + [r for r in session[4:] if r.op == "write" and r.file_type == "file"]
    assert n == len(expected) == state.recording.kept
    replay = ReplaySource(str(out), watches=[b"/w"])
    got = []

    class Sink:
        maxsize = 10_000

        def __len__(self):
            return 0

        def push_many(self, records):
            got.extend(records)
    replay.run(Sink(), __import__("threading").Event())
    assert [r.to_dict() for r in got] == [r.to_dict() for r in expected]
    assert got[-1].path == hostile.path and got[-1].comm == hostile.comm   # exact bytes
    assert replay.errors == []
    assert replay.stats().ringbuf_drops == 2 and replay.stats().maps[0].evictions == 3
    last = json.loads(out.read_text().splitlines()[-1])
    assert last["op"] == "stats"


def test_export_upto_ignores_records_appended_later(tmp_path):
    recording = SessionRecording(str(tmp_path))
    recording.append([rec(ts=1.0), rec(ts=2.0)])
    upto = recording.size
    recording.append([rec(ts=3.0)])
    assert [r.ts for r in recording.iter_records(upto)] == [1.0, 2.0]
    assert [r.ts for r in recording.iter_records()] == [1.0, 2.0, 3.0]
    recording.close()


def test_spool_counts_what_it_cannot_keep(tmp_path):
    recording = SessionRecording(str(tmp_path), min_free_bytes=1 << 62)   # "disk full"
    state = SessionState([b"/w"], recording=recording)
    state.apply([rec(), rec()])
    assert recording.kept == 0 and recording.lost == 2
    assert ("not kept for export", 2) in state.losses()
    assert recording.error and "free" in recording.error


def test_spool_file_is_anonymous(tmp_path):
    SessionRecording(str(tmp_path))
    assert list(Path(tmp_path).iterdir()) == []          # unlinked at once: nothing to leak


# ------------------------------------------------------------------ invariants
def test_slash_matches_the_rename_destination():
    state = make()
    state.apply([rec("rename", 3, b"/w/alpha.txt", new_path=b"/w/beta.txt")])
    state.set_filters(Filters(text="beta"))
    assert [r.new_path for r in state.stream_rows()] == [b"/w/beta.txt"]
    assert state.files[b"/w/alpha.txt"].ops == {"rename": 1}


def test_filters_fields_are_the_ones_the_matcher_memo_knows():
    """SessionState._matcher memoizes per (op, pid, uid, comm, file_type, cgroup, container,
    unit) unless `text` is set, i.e. it relies on no other Filters field looking at the path. A
    new field must be checked there first."""
    assert {f.name for f in dataclasses.fields(Filters)} == {
        "ops", "pid", "tree", "uid", "comm", "exclude_comm", "all_types", "text", "cgroup",
        "container", "unit", "exclude", "include", "gitignore", "rules"}


names = st.sampled_from([b"/w/a", b"/w/b.log", b"/w/c/d", b"/w/e\xff", b"/w/c/keep.log",
                         b"/w/x.swp", b"/w/node_modules/m/i.js"])


def _with_paths(f: Filters, exclude: tuple, include: tuple) -> Filters:
    from sniff_tui.core.pathrules import with_rules
    return with_rules(f.with_(exclude=exclude, include=include), [b"/w"])


path_rules = st.tuples(
    st.sampled_from([(), ("node_modules/",), ("*.swp", "c/"), ("*.log", "!keep.log"),
                     ("c/", "!c/keep.log"), ("/a",)]),
    st.sampled_from([(), ("*.log",), ("c/",)]))
records = st.builds(
    lambda op, pid, path, comm, ft, n, ts: rec(op, pid, path, comm=comm, file_type=ft, count=n,
                                               ts=ts, ppid=pid // 2),
    st.sampled_from(OPS), st.integers(2, 12), names, st.sampled_from([b"make", b"cc1", b"logd"]),
    st.sampled_from(["file", "file", "fifo"]), st.integers(1, 5), st.floats(0, 100))
filters = st.builds(
    lambda f, p: _with_paths(f, *p), st.builds(
    Filters,
    ops=st.frozensets(st.sampled_from(OPS)),
    pid=st.none() | st.integers(2, 12),
    tree=st.none() | st.integers(1, 6),
    comm=st.none() | st.sampled_from(["make", "c*"]),
    exclude_comm=st.sampled_from([(), ("logd",)]),
    all_types=st.booleans(),
    text=st.sampled_from(["", "log", "make", "7"]),
), path_rules)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(records, max_size=40), filters, filters)
def test_refiltering_equals_a_fresh_session_under_the_new_filters(rs, first, second):
    """Rebuilding from cells (matches() on a Cell) gives exactly the totals of a session
    that saw the same records under the new filters from the start."""
    state = make(filters=first)
    state.apply(rs)
    state.set_filters(second)
    fresh = make(filters=second)
    fresh.apply(rs)

    def files(s):
        return {fe.path: (fe.bytes_written, fe.writes, fe.bytes_read, fe.reads, fe.ops,
                          fe.last_ts, fe.last_writer)
                for fe in s.files.values() if fe.active}

    def procs(s):
        return {p.pid: (p.read_bytes, p.write_bytes, p.ops) for p in s.procs.values() if p.active}
    assert files(state) == files(fresh)
    assert procs(state) == procs(fresh)
    assert state.stream_rows() == fresh.stream_rows()


def test_a_child_seen_before_its_parent_joins_the_tree_when_the_link_arrives():
    state = make(filters=Filters(tree=1))
    state.apply([rec("write", 4, b"/w/x", ppid=2, ts=1.0)])     # 2's parent unknown yet
    assert state.stream_rows() == []
    state.apply([rec("open", 2, b"/w/y", ppid=1, ts=2.0)])      # now 4 -> 2 -> 1
    assert [r.pid for r in state.stream_rows()] == [4, 2]
    assert state.files[b"/w/x"].writes == 1


toggles = st.builds(
    lambda f, p: _with_paths(f, *p), st.builds(
    Filters,
    ops=st.frozensets(st.sampled_from(OPS)),
    pid=st.none() | st.integers(2, 12),
    comm=st.none() | st.sampled_from(["make", "c*"]),
    exclude_comm=st.sampled_from([(), ("logd",)]),
    all_types=st.booleans(),
    text=st.sampled_from(["", "log", "make", "7", "b."]),
), path_rules)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.lists(records, max_size=12), toggles), max_size=6), toggles)
def test_any_records_and_toggles_equal_a_fresh_session_fed_only_the_matching(steps, last):
    """Issue 11: whatever was applied under whatever filters, the figures under ``last`` are
    those of a fresh session (showing everything) fed only the records ``last`` matches."""
    from sniff_tui.session.matching import make_matcher
    state = make()
    seen = []
    for batch, toggle in steps:
        state.apply(batch)
        seen.extend(batch)
        state.set_filters(toggle)
    state.set_filters(last)
    matches = make_matcher(last, None)
    fresh = make(filters=Filters(all_types=True))
    fresh.apply([r for r in seen if matches(r)])

    def files(s):
        return {fe.path: (fe.bytes_written, fe.writes, fe.bytes_read, fe.reads, fe.ops,
                          fe.first_ts, fe.last_ts, fe.last_writer)
                for fe in s.files.values() if fe.active}

    def procs(s):
        return {p.pid: (p.read_bytes, p.write_bytes, p.ops, p.first_ts, p.last_ts)
                for p in s.procs.values() if p.active}
    assert files(state) == files(fresh)
    assert procs(state) == procs(fresh)


def test_export_writes_what_the_session_knows_of_each_process(tmp_path):
    """The `{"op": "process"}` lines a replay reads come from the export: command lines learnt
    live survive into the recording."""
    info = {7: {"ppid": 1, "cmdline": ["make", "-j4"], "user": "dev"}}
    state = make(tmp_path, info=lambda pid: info.get(pid, {}))
    state.apply([rec("write", 7, b"/w/a", comm=b"m\xffake")])
    out = tmp_path / "x.jsonl"
    state.export_jsonl(str(out))
    replay = ReplaySource(str(out))
    replay.run(type("Sink", (), {"maxsize": 10, "__len__": lambda s: 0,
                                 "push_many": lambda s, r: None})(), __import__("threading").Event())
    assert replay.process_info(7)["cmdline"] == "make -j4"
    assert replay.process_info(7)["comm"] == b"m\xffake"
    assert replay.errors == []
