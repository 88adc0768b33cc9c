"""The JSONL writer's flood path (cached line parts) writes exactly what Record.to_json_bytes
writes, for any record, repeated or not."""
import io
import json

from hypothesis import given, settings, strategies as st

from sniff_tui.core.record import OPS, VIAS, Record
from sniff_tui.commands.formats import JsonlWriter

names = st.binary(min_size=0, max_size=12)
records = st.builds(
    Record, ts=st.floats(min_value=0, max_value=4e9, allow_nan=False), op=st.sampled_from(OPS),
    pid=st.integers(0, 5), tid=st.integers(0, 5), ppid=st.integers(0, 3), uid=st.integers(0, 2),
    comm=names, path=names.map(lambda b: b"/w/" + b), new_path=st.none() | names,
    bytes=st.none() | st.integers(0, 1 << 40), count=st.integers(1, 1 << 40),
    fd=st.none() | st.integers(0, 9), file_type=st.sampled_from(["file", "dir"]),
    dev=st.none() | st.just("8:1"), ino=st.none() | st.integers(0, 9), truncated=st.booleans(),
    err=st.none() | st.sampled_from(["ENOENT", "EACCES"]), via=st.none() | st.sampled_from(VIAS),
    cgroup=st.none() | names.map(lambda b: b"/" + b), container=st.none() | st.just("3f2a9c1b7d10"),
    unit=st.none() | names)


@settings(max_examples=300, deadline=None)
@given(st.lists(records, max_size=12), st.integers(1, 3))
def test_write_many_writes_what_to_json_writes(recs, repeat):
    out = io.BytesIO()
    writer = JsonlWriter(out)
    writer.write_many(recs * repeat)
    lines = out.getvalue().splitlines()
    assert lines == [r.to_json_bytes() for r in recs * repeat]
    for line in lines:
        json.loads(line)


def test_records_differing_only_in_via_get_their_own_lines():
    # One process writing the same file by write(2) and through io_uring: two counters whose
    # records differ in nothing else, so the cache of line parts must tell them apart.
    plain = Record(ts=1.0, op="write", pid=1, tid=1, ppid=0, uid=0, comm=b"db", path=b"/w/f",
                   bytes=4096, fd=3)
    uring = Record(ts=1.0, op="write", pid=1, tid=1, ppid=0, uid=0, comm=b"db", path=b"/w/f",
                   bytes=4096, fd=3, via="io_uring")
    out = io.BytesIO()
    JsonlWriter(out).write_many([plain, uring, plain])
    lines = out.getvalue().splitlines()
    assert lines == [plain.to_json_bytes(), uring.to_json_bytes(), plain.to_json_bytes()]
    assert [json.loads(line).get("via") for line in lines] == [None, "io_uring", None]
