"""The exactness of coalescing, independent of the kernel: whatever order harvests and flushes
arrive in, every count and byte is emitted exactly once."""
from hypothesis import given, settings, strategies as st

from probes.coalesce import Coalescer
from records import rec

KEY = (100, 0xFFFF8880DEADBEEF, "write")


def named(nbytes=1):
    return rec("write", 100, b"/w/f", ts=1.0, uid=0, comm=b"w", nbytes=nbytes)


def test_harvest_emits_growth_only():
    c = Coalescer()
    c.named(KEY, 7, named())
    recs, delete = c.harvest([(KEY, 7, 10, 40, 2.0, 101)], gone=set())
    assert [(r.count, r.bytes, r.tid, r.path) for r in recs] == [(10, 40, 101, b"/w/f")]
    assert delete == []
    recs, _ = c.harvest([(KEY, 7, 10, 40, 3.0, 101)], gone=set())
    assert recs == []
    recs, _ = c.harvest([(KEY, 7, 15, 60, 4.0, 101)], gone=set())
    assert [(r.count, r.bytes) for r in recs] == [(5, 20)]


def test_flush_after_harvest_emits_the_rest_and_forgets():
    c = Coalescer()
    c.named(KEY, 7, named())
    c.harvest([(KEY, 7, 10, 40, 2.0, 100)], gone=set())
    rec = c.flush(KEY, 7, 12, 50, 5.0)
    assert (rec.count, rec.bytes) == (2, 10)
    assert KEY not in c.counters


def test_reused_address_is_a_new_counter():
    c = Coalescer()
    c.named(KEY, 7, named())
    c.flush(KEY, 7, 3, 3, 2.0)
    c.named(KEY, 9, named())
    recs, _ = c.harvest([(KEY, 9, 4, 4, 3.0, 100)], gone=set())
    assert [(r.count, r.bytes) for r in recs] == [(4, 4)]
    # A stale flush for the old serial changes nothing.
    assert c.flush(KEY, 7, 99, 99, 4.0) is None


def test_gone_process_counters_are_deleted():
    c = Coalescer()
    c.named(KEY, 7, named())
    recs, delete = c.harvest([(KEY, 7, 2, 2, 2.0, 100)], gone={100})
    assert delete == [KEY] and [(r.count, r.bytes) for r in recs] == [(2, 2)]
    assert KEY not in c.counters


def test_totals_without_a_name_are_counted_not_invented():
    c = Coalescer()
    recs, _ = c.harvest([(KEY, 7, 2, 2, 2.0, 100)], gone=set())
    assert recs == [] and c.unnamed == 1


@settings(max_examples=200)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 100), st.booleans()), max_size=40))
def test_any_interleaving_emits_each_byte_once(steps):
    """Totals grow by random steps; harvests happen at random points; one final flush."""
    c = Coalescer()
    c.named(KEY, 1, named())
    total_c = total_b = 0
    emitted_c = emitted_b = 0
    for dc, db, harvest_now in steps:
        total_c += dc
        total_b += db
        if harvest_now:
            recs, _ = c.harvest([(KEY, 1, total_c, total_b, 1.0, 100)], gone=set())
            emitted_c += sum(r.count for r in recs)
            emitted_b += sum(r.bytes for r in recs)
    rec = c.flush(KEY, 1, total_c, total_b, 9.0)
    if rec:
        emitted_c += rec.count
        emitted_b += rec.bytes
    assert (emitted_c, emitted_b) == (total_c, total_b)
