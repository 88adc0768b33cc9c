"""Writes that no write(2) shows, and scope holes around shared fd tables, other roots and big
fd ranges: each case is a real process (tests/kernel/helpers/cover.c) doing the real thing."""
import os

from tests.kernel.kernel_support import c_helper


def own(records, pid) -> list[tuple]:
    return [(r.op, r.path, r.bytes) for r in records if r.pid == pid]


def test_a_child_sharing_the_fd_table_is_seen_writing_after_the_parent_closed_and_it_reopened(sniff):
    # The child writes outside (verdict: out of scope), the parent closes that fd, the child
    # reopens the same fd number on a watched file: the kernel may hand back the same struct
    # file address, and a verdict cached for the child must not survive the parent's close.
    outside, inside = sniff.root / "outside.log", sniff.dir / "shared.log"
    run = sniff.run_exe(c_helper("cover"), "clone_files", str(outside), str(inside))
    assert run.returncode == 0
    path = os.fsencode(inside)
    assert run.summary(path, "write") == (20, 2000)
    assert {op for op, p, _ in own(run.records, run.pid) if p == path} == {"open", "write", "close"}
