"""The exactness of coalescing, independent of the kernel: whatever order harvests, renames and
exits arrive in, every syscall and byte is emitted exactly once."""
from hypothesis import given, settings, strategies as st

from sniff_tui.probes.coalesce import Coalescer
from sniff_tui.core.record import Record

KEY = b"K" * 24
TGID = 100


def named(path=b"/w/f", nbytes=1):
    return Record(ts=1.0, op="write", pid=TGID, tid=TGID, ppid=1, uid=0, comm=b"w", path=path,
                  bytes=nbytes, count=1)


def test_update_emits_growth_only():
    c = Coalescer()
    c.named(KEY, TGID, 7, named())
    rec = c.update(KEY, 7, 10, 40, 2.0, 101)
    assert (rec.count, rec.bytes, rec.tid, rec.path) == (10, 40, 101, b"/w/f")
    assert c.update(KEY, 7, 10, 40, 3.0, 101) is None
    rec = c.update(KEY, 7, 15, 60, 4.0, 101)
    assert (rec.count, rec.bytes) == (5, 20)


def test_ops_without_bytes_stay_without_bytes():
    c = Coalescer()
    tmpl = Record(ts=1.0, op="open", pid=TGID, tid=TGID, ppid=1, uid=0, comm=b"w", path=b"/w/f")
    c.named(KEY, TGID, 7, tmpl)
    rec = c.update(KEY, 7, 3, 0, 2.0, TGID)
    assert (rec.op, rec.count, rec.bytes) == ("open", 3, None)


def test_rename_splits_totals_between_old_and_new_name():
    c = Coalescer()
    c.named(KEY, TGID, 7, named(b"/w/old"))
    assert c.update(KEY, 7, 4, 4, 2.0, TGID).count == 4
    before = c.renamed(KEY, 7, named(b"/w/new"), 6, 6, 3.0)   # 2 more under the old name
    assert (before.path, before.count, before.bytes) == (b"/w/old", 2, 2)
    rec = c.update(KEY, 7, 9, 9, 4.0, TGID)
    assert (rec.path, rec.count, rec.bytes) == (b"/w/new", 3, 3)


def test_a_recreated_counter_is_a_new_one():
    c = Coalescer()
    c.named(KEY, TGID, 7, named())
    c.update(KEY, 7, 3, 3, 2.0, TGID)
    c.named(KEY, TGID, 9, named())
    rec = c.update(KEY, 9, 4, 4, 3.0, TGID)
    assert (rec.count, rec.bytes) == (4, 4)
    assert c.update(KEY, 7, 99, 99, 4.0, TGID) is None    # the old serial: not ours


def test_out_of_scope_counters_emit_nothing_and_are_evictable():
    c = Coalescer()
    c.named(KEY, TGID, 7, None)
    assert c.update(KEY, 7, 50, 0, 2.0, TGID) is None
    assert [k for k, _ in c.evictable(2)] == [KEY]


def test_idle_counters_become_evictable():
    c = Coalescer()
    c.named(KEY, TGID, 7, named())
    c.update(KEY, 7, 1, 1, 2.0, TGID)
    assert list(c.evictable(2)) == []
    c.update(KEY, 7, 1, 1, 3.0, TGID)
    c.update(KEY, 7, 1, 1, 4.0, TGID)
    assert [k for k, _ in c.evictable(2)] == [KEY]


def test_forgetting_a_process_forgets_its_counters():
    c = Coalescer()
    c.named(KEY, TGID, 7, named())
    c.named(b"L" * 24, TGID, 8, named())
    assert c.keys_of(TGID) == {KEY, b"L" * 24}
    c.forget(KEY, TGID)
    assert c.keys_of(TGID) == {b"L" * 24}
    c.forget_process(TGID)
    assert c.counters == {} and c.keys_of(TGID) == set()


def test_totals_without_a_name_are_counted_not_invented():
    c = Coalescer()
    assert c.update(KEY, 7, 2, 2, 2.0, TGID) is None and c.unnamed == 1


@settings(max_examples=200)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 100), st.sampled_from(["none", "read", "rename"])),
                max_size=40))
def test_any_interleaving_emits_each_call_once(steps):
    """Totals grow by random steps; harvests and renames happen at random points; a final read."""
    c = Coalescer()
    c.named(KEY, TGID, 1, named(b"/w/0"))
    total_c = total_b = 0
    emitted = []
    for i, (dc, db, event) in enumerate(steps):
        if event == "rename":
            emitted.append(c.renamed(KEY, 1, named(b"/w/%d" % (i + 1)), total_c, total_b, 1.0))
        total_c += dc
        total_b += db
        if event == "read":
            emitted.append(c.update(KEY, 1, total_c, total_b, 1.0, TGID))
    emitted.append(c.update(KEY, 1, total_c, total_b, 9.0, TGID))
    recs = [r for r in emitted if r is not None]
    assert (sum(r.count for r in recs), sum(r.bytes for r in recs)) == (total_c, total_b)
