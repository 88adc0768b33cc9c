"""io_uring: requests on watched files are reported like the syscalls they stand for (same ops,
bytes from their completions, coalesced), marked via="io_uring". A small C program drives the
ring with raw syscalls (tests/kernel/helpers/uring.c, compiled here with gcc)."""
from __future__ import annotations

import os

import pytest

from sniff_tui.core.filters import Filters
from tests.kernel.kernel_support import c_helper

O_RDONLY, O_RDWR_CREAT = 0, os.O_RDWR | os.O_CREAT


@pytest.fixture(scope="module")
def helper():
    return c_helper("uring")


@pytest.fixture
def uring(sniff, helper):
    """Run the helper's commands under the watch; fails unless every command did what it was
    asked (the results are the CQEs' res)."""
    assert sniff.source.probes.missing == [], sniff.source.probes.missing

    def run(*commands, expect_ok=True):
        run = sniff.run_exe([helper, *map(str, commands)], cwd=sniff.dir)
        assert run.returncode == 0 and run.pid > 0
        run.results = [line.split()[1] for line in run.stdout.decode().splitlines()[1:]]
        if expect_ok:
            assert all(r == "-" or int(r) >= 0 for r in run.results), run.results
        return run
    return run


def own(run, op, path=None):
    return [r for r in run.by_pid(run.pid) if r.op == op and (path is None or r.path == os.fsencode(path))]


def totals(records) -> tuple[int, int]:
    return sum(r.count for r in records), sum(r.bytes or 0 for r in records)


def test_a_write_of_65536_bytes_is_reported_with_its_bytes(sniff, uring):
    f = sniff.dir / "data"
    run = uring("openat", f, O_RDWR_CREAT, "write", 65536, "close")
    assert run.results[1:] == ["65536", "0"]
    writes = own(run, "write", f)
    assert totals(writes) == (1, 65536)
    assert {r.via for r in writes} == {"io_uring"}
    for op in ("open", "close"):
        recs = own(run, op, f)
        assert totals(recs)[0] == 1 and recs[0].via == "io_uring", op
    assert f.stat().st_size == 65536


def test_every_read_and_write_variant_counts_its_bytes(sniff, uring):
    f = sniff.dir / "variants"
    run = uring("openat", f, O_RDWR_CREAT, "write", 1000, "writev", 2000, "write_fixed", 3000,
                "writev_fixed", 4000, "read", 100, "readv", 200, "read_fixed", 300, "close")
    assert totals(own(run, "write", f)) == (4, 10_000)
    assert totals(own(run, "read", f)) == (3, 600)
    assert all(r.via == "io_uring" for r in run.by_pid(run.pid))
    # Buffered writes complete in io_uring worker threads: the records name the thread that asked.
    assert {(r.comm, r.tid) for r in run.by_pid(run.pid)} == {(b"uring", run.pid)}


def test_requests_are_coalesced_like_syscalls(sniff, uring):
    f = sniff.dir / "many"
    run = uring("openat", f, O_RDWR_CREAT, "writes", 2000, 100)
    assert run.results[1] == "200000"
    writes = own(run, "write", f)
    assert totals(writes) == (2000, 200_000)
    assert len(writes) <= 5     # the first write, then what the counter gained per interval


def test_a_fixed_file_has_no_fd_but_is_reported(sniff, uring):
    f = sniff.dir / "fixed"
    run = uring("openat", f, O_RDWR_CREAT, "write_fixed_file", 777)
    writes = own(run, "write", f)
    assert totals(writes) == (1, 777)
    assert writes[0].fd is None and writes[0].via == "io_uring"


def test_fallocate_and_ftruncate(sniff, uring):
    f = sniff.dir / "grown"
    run = uring("openat", f, O_RDWR_CREAT, "fallocate", 0, 1 << 20, 0, "ftruncate", 4096)
    assert [(r.op, r.count, r.via) for r in own(run, "fallocate", f)] == [("fallocate", 1, "io_uring")]
    assert [(r.op, r.count, r.via) for r in own(run, "truncate", f)] == [("truncate", 1, "io_uring")]
    assert f.stat().st_size == 4096


def test_splice_reports_the_file_side_with_the_bytes_moved(sniff, uring):
    f = sniff.dir / "spliced"
    run = uring("openat", f, O_RDWR_CREAT, "splice_in", 3000, "splice_out", 50)
    assert totals(own(run, "write", f)) == (1, 3000)
    assert totals(own(run, "read", f)) == (1, 50)
    assert {r.via for r in own(run, "write") + own(run, "read")} == {"io_uring"}


def test_renameat_and_unlinkat_by_path(sniff, uring):
    old, new = sniff.dir / "old", sniff.dir / "new"
    old.write_bytes(b"x")
    run = uring("renameat", "old", new, "unlinkat", "new")
    assert [(r.path, r.new_path, r.via) for r in own(run, "rename")] == [
        (os.fsencode(old), os.fsencode(new), "io_uring")]
    unlinks = own(run, "unlink")
    assert [(r.path, r.file_type, r.err, r.via) for r in unlinks] == [
        (os.fsencode(new), "file", None, "io_uring")]
    # unlinkat and renameat run in io_uring's worker threads: the record names the process.
    assert unlinks[0].comm == b"uring"


def test_failed_opens_are_counted_by_name(sniff, uring):
    run = uring("openat", "missing", O_RDONLY, "openat2", "missing", O_RDONLY, expect_ok=False)
    assert run.results == ["-2", "-2"]
    opens = own(run, "open", sniff.dir / "missing")
    assert totals(opens)[0] == 2
    assert {(r.err, r.via) for r in opens} == {("ENOENT", "io_uring")}


def test_an_open_into_the_fixed_file_table_is_counted_by_name(sniff, uring):
    f = sniff.dir / "direct"
    f.write_bytes(b"x")
    run = uring("openat_direct", f, O_RDONLY, "openat_direct", f, O_RDONLY)
    assert run.results == ["0", "0"]
    opens = own(run, "open", f)
    assert totals(opens)[0] == 2
    assert {(r.err, r.fd, r.via) for r in opens} == {(None, None, "io_uring")}


def test_syscalls_and_io_uring_on_one_file_are_told_apart(sniff, uring):
    f = sniff.dir / "mixed"
    run = uring("sysopen", f, O_RDWR_CREAT, "syswrite", 10, "write", 20, "syswrite", 30, "write", 40)
    by_via = {}
    for r in own(run, "write", f):
        calls, nbytes = by_via.get(r.via, (0, 0))
        by_via[r.via] = (calls + r.count, nbytes + r.bytes)
    assert by_via == {None: (2, 40), "io_uring": (2, 60)}


def test_outside_the_watched_tree_nothing_is_reported(sniff, uring):
    f = sniff.root / "elsewhere"
    run = uring("openat", f, O_RDWR_CREAT, "write", 4096, "close", "unlinkat", f)
    assert run.by_pid(run.pid) == []


def test_a_completion_that_cannot_be_seen_is_counted(sniff, uring):
    before = sniff.source.counters()["uring_no_cqe"]
    run = uring("openat", sniff.dir / "skipped", O_RDWR_CREAT, "write_skip", 100, "write", 5)
    assert sniff.source.counters()["uring_no_cqe"] - before == 1
    assert totals(own(run, "write")) == (1, 5)


def test_io_uring_close_forgets_the_fd_verdict(sniff, uring):
    """An fd closed by io_uring and reused at once for a watched file, often with the same
    struct file address: the (process, fd) verdict of the first file must not survive."""
    outside, inside = sniff.root / "out", sniff.dir / "in"
    steps = []
    for _ in range(50):
        steps += ["sysopen", outside, O_RDWR_CREAT, "syswrite", 1, "close",
                  "sysopen", inside, O_RDWR_CREAT, "syswrite", 1, "sysclose"]
    run = uring(*steps)
    assert totals(own(run, "write", inside)) == (50, 50)
    assert own(run, "write", outside) == []


def test_ops_filter_applies_in_the_kernel(sniff, uring):
    sniff.source.set_filters(Filters(ops=frozenset({"open"})))
    f = sniff.dir / "filtered"
    run = uring("openat", f, O_RDWR_CREAT, "write", 100, "close")
    assert [r.op for r in run.by_pid(run.pid)] == ["open"]


def test_a_ring_with_its_own_submission_thread(sniff, helper):
    """IORING_SETUP_SQPOLL: the kernel thread of the ring submits, not the process."""
    f = sniff.dir / "sqpoll"
    run = sniff.run_exe([helper, "openat", f, str(O_RDWR_CREAT), "write", "300", "close"], cwd=sniff.dir,
                        env={**os.environ, "URING_SQPOLL": "1"})
    assert run.returncode == 0
    assert totals(own(run, "write", f)) == (1, 300)
    assert [r.via for r in run.by_pid(run.pid)] == ["io_uring"] * 3
    assert {(r.comm, r.tid) for r in run.by_pid(run.pid)} == {(b"uring", run.pid)}


def test_a_rename_through_io_uring_moves_an_open_file_into_scope(sniff, uring):
    """Scope follows the file: after io_uring renames it into the tree, write(2) on the fd the
    process already had is reported (the rename invalidates cached verdicts)."""
    outside, inside = sniff.root / "before", sniff.dir / "after"
    run = uring("sysopen", outside, O_RDWR_CREAT, "syswrite", 3, "renameat", outside, inside, "syswrite", 5)
    assert totals(own(run, "write", inside)) == (1, 5)
    assert [(r.path, r.new_path) for r in own(run, "rename")] == [(os.fsencode(outside), os.fsencode(inside))]
