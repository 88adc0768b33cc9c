"""Cached scope verdicts name a file's dentry and inode by address, and the kernel frees and
reuses that memory: a file deleted outside the watch and a file made under it can sit at the
same two addresses. Under stress-ng, one file in 500 of test_flood's went unreported that way
(its every syscall judged by the deleted file's out-of-scope verdict), and nothing counted it."""
import os

from tests.kernel.kernel_support import script

# Pinned to one CPU, so that the slab caches hand the freed dentry and inode straight back.
REUSE = """
import time
outside, watched, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
os.sched_setaffinity(0, {0})
for i in range(n):
    o = os.path.join(outside, f"o{i}")
    fd = os.open(o, os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, b"x")           # its scope is walked and cached: out of scope
    os.unlink(o)
    os.close(fd)                 # the last reference: dentry and inode are freed (after RCU)
    time.sleep(0.002)
    fd = os.open(os.path.join(watched, f"w{i}"), os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"y")
    os.close(fd)
"""


def test_a_file_made_where_a_deleted_one_was_is_judged_afresh(sniff, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    n = 300
    run = sniff.run(script(REUSE), str(outside), str(sniff.dir), str(n))
    assert run.returncode == 0
    missing = [i for i in range(n)
               if (run.summary(sniff.dir / f"w{i}", "open")[0], run.summary(sniff.dir / f"w{i}", "write"),
                   run.summary(sniff.dir / f"w{i}", "close")[0]) != (1, (1, 1), 1)]
    assert missing == []
    assert not [r for r in run.records if r.path.startswith(os.fsencode(outside))]


def test_the_verdict_caches_answer_repeated_syscalls_on_one_file(sniff, tmp_path):
    # The hot path's whole point: a cached verdict per (process, fd) and per dentry. A cache
    # entry that never validates (a check that never matches) is still exact, and costs a
    # dentry lookup per syscall: only these counters show it.
    out = tmp_path / "outside"
    for where in (sniff.dir / "f", out):
        before = sniff.source.counters()
        run = sniff.run(script("""
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
for i in range(20_000):
    os.write(fd, b"x")
os.close(fd)
for i in range(2_000):
    os.close(os.open(sys.argv[1], os.O_RDONLY))
"""), str(where))
        assert run.returncode == 0
        after = sniff.source.counters()
        assert after["verdict_miss"] - before["verdict_miss"] < 1_000
        assert after["dverdict_miss"] - before["dverdict_miss"] < 100
