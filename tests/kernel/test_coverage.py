"""Writes that no write(2) shows, and scope holes around shared fd tables, other roots and big
fd ranges: each case is a real process (tests/kernel/helpers/cover.c) doing the real thing."""
import os
import subprocess

import pytest

from sniff_tui.probes.abi import C
from sniff_tui.core.filters import Filters
from tests.kernel.kernel_support import PY, c_helper, script


def own(records, pid) -> list[tuple]:
    return [(r.op, r.path, r.bytes) for r in records if r.pid == pid]


def test_a_child_sharing_the_fd_table_is_seen_writing_after_the_parent_closed_and_it_reopened(sniff):
    # The child writes outside (verdict: out of scope), the parent closes that fd, the child
    # reopens the same fd number on a watched file: the kernel may hand back the same struct
    # file address, and a verdict cached for the child must not survive the parent's close.
    outside, inside = sniff.root / "outside.log", sniff.dir / "shared.log"
    run = sniff.run_exe([c_helper("cover"), "clone_files", str(outside), str(inside)])
    assert run.returncode == 0
    path = os.fsencode(inside)
    assert run.summary(path, "write") == (20, 2000)
    assert {op for op, p, _ in own(run.records, run.pid) if p == path} == {"open", "write", "close"}


def test_pages_written_through_a_shared_mapping_are_counted_to_the_page(sniff):
    f = sniff.dir / "mapped.bin"
    size = 1 << 20
    run = sniff.run_exe([c_helper("cover"), "mmap_write", str(f), str(size)])
    assert run.returncode == 0
    path = os.fsencode(f)
    mine = [r for r in run.by_pid(run.pid) if r.path == path]
    maps = [r for r in mine if r.op == "mmap"]
    # One shared writable mapping; the private and the read-only one cannot change the file.
    assert [(r.count, r.offset, r.length, r.how) for r in maps] == [(1, 0, size, "read|write shared")]
    # Every page dirtied twice (written, synced, written again), none by write(2).
    assert run.summary(path, "mmap_write")[1] == 2 * size
    assert run.summary(path, "write") == (0, 0)
    truncs = [r for r in mine if r.op == "truncate"]
    assert [(r.count, r.length) for r in truncs] == [(1, size)]


def test_write_syscalls_on_a_mapped_file_are_writes_not_mapped_pages(sniff):
    f = sniff.dir / "both.bin"
    run = sniff.run(script("""
import mmap
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
os.ftruncate(fd, 8192)
m = mmap.mmap(fd, 8192, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
m[0:1] = b"m"                   # dirties page 0 through the mapping
os.pwrite(fd, b"w" * 100, 4096)  # dirties page 1 inside a write syscall
m.close()
os.close(fd)
"""), str(f))
    assert run.returncode == 0
    path = os.fsencode(f)
    assert run.summary(path, "write") == (1, 100)
    assert run.summary(path, "mmap_write")[1] == 4096


def test_fallocate_reports_mode_offset_and_length(sniff):
    f = sniff.dir / "falloc.bin"
    run = sniff.run_exe([c_helper("cover"), "fallocate", str(f)])
    assert run.returncode == 0
    path = os.fsencode(f)
    recs = [r for r in run.by_pid(run.pid) if r.path == path and r.op == "fallocate"]
    # Coalesced per (process, file): the first call names the counter with its arguments,
    # the totals carry every call's length.
    assert recs[0].offset == 0 and recs[0].length == 1 << 20 and recs[0].how == "allocate"
    assert run.summary(path, "fallocate") == (4, (1 << 20) + 65536 + 8192 + (2 << 20))


def _path_ops_expected(records, pid, w):
    """What cover.c's path_ops did, as our records should show it (w: the watched dir)."""
    w = os.fsencode(w)
    got = [(r.op, r.path, r.new_path, r.err) for r in records if r.pid == pid and r.op in ("unlink", "rename", "open")]
    assert ("unlink", w + b"/gone", None, None) in got
    assert ("rename", w + b"/old", w + b"/new", None) in got
    assert ("rename", w + b"/new", w + b"/newer", None) in got
    assert ("open", w + b"/missing", None, "ENOENT") in got


def test_paths_of_a_chrooted_process_resolve_as_it_saw_them(sniff):
    jail = sniff.root / "jail"
    w = jail / "w"
    w.mkdir(parents=True)
    (w / "gone").write_bytes(b"")
    (w / "old").write_bytes(b"")
    sniff.watch(w)
    run = sniff.run_exe([c_helper("cover"), "chroot", str(jail)])
    assert run.returncode == 0
    _path_ops_expected(run.records, run.pid, w)


def test_paths_of_a_process_in_another_mount_namespace_resolve_through_its_root(sniff):
    # A container's view: pivot_root into a new root where the watched tree is bind-mounted
    # at /w. Its absolute paths name nothing in our namespace.
    newroot = sniff.root / "newroot"
    (newroot / "w").mkdir(parents=True)
    (sniff.dir / "gone").write_bytes(b"")
    (sniff.dir / "old").write_bytes(b"")
    run = sniff.run_exe([c_helper("cover"), "mntns", str(newroot), str(sniff.dir)])
    assert run.returncode == 0
    _path_ops_expected(run.records, run.pid, sniff.dir)
    assert not (newroot / "w" / "newer").exists()     # the bind mount went with the namespace


def _renames_so_far(sniff) -> int:
    gens = sniff.source.probes["gens"]
    return gens[gens.Key(C["SNIFF_GEN_RENAME"])].value


RENAMER = """
import os, sys, time
a, b = sys.argv[1] + "/x", sys.argv[1] + "/y"
open(a, "w").close()
while True:
    os.rename(a, b)
    os.rename(b, a)
    time.sleep(0.002)
"""


@pytest.mark.parametrize("n", [60, 1100, 3000])
def test_close_range_reports_the_close_of_every_watched_file(sniff, n):
    # Another process renames files outside the tree all along: every rename makes the placements
    # other ops cache stale, but cannot move these files, so close_range still needs no walk.
    outside = sniff.root / "outside"
    outside.mkdir()
    # close_range_skipped counts every process's: only the helper's closes are wanted, so that
    # another process closing fds on this shared machine cannot move it.
    sniff.watch(sniff.dir, filters=Filters(comm="cover"))
    renamer = subprocess.Popen([PY, "-c", RENAMER, str(outside)])
    try:
        renames = _renames_so_far(sniff)
        before = sniff.source.counters()
        run = sniff.run_exe([c_helper("cover"), "close_range", str(sniff.dir / "cr"), str(n)])
        renamed = _renames_so_far(sniff) - renames
    finally:
        renamer.kill()
        renamer.wait()
    assert run.returncode == 0
    assert renamed > 0
    mine = run.by_pid(run.pid)
    opened = {r.path for r in mine if r.op == "open"}
    closed = [r.path for r in mine if r.op == "close"]
    assert len(opened) == n
    counters = {k: v - before[k] for k, v in sniff.source.counters().items() if v != before[k]}
    assert (len(closed), counters.get("close_range_skipped", 0)) == (n, 0), counters
    assert sorted(closed) == sorted(opened)


EARLY = """
import ctypes, os, resource, sys
ctypes.CDLL(None).prctl(15, b"sniff-early")    # PR_SET_NAME: the test's filter keeps only this
d, n = sys.argv[1], int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_NOFILE, (n + 64, max(n + 64, resource.getrlimit(resource.RLIMIT_NOFILE)[1])))
fds = [os.open(f"{d}/e{i}", os.O_WRONLY | os.O_CREAT, 0o644) for i in range(n)]
print(os.getpid(), flush=True)
sys.stdin.readline()
for fd in fds:
    os.write(fd, b"w")
ctypes.CDLL(None, use_errno=True).syscall(436, fds[0], 0xFFFFFFFF, 0)    # close_range
"""


def test_close_range_reports_files_opened_before_the_watch_and_written_after(sniff):
    # Opened while their directory was not watched (as before the start: nothing placed them in
    # scope), then each written once: the first write places it, and the close needs no walk,
    # while another process renames files outside the tree.
    early = sniff.root / "early"
    early.mkdir()
    outside = sniff.root / "outside"
    outside.mkdir()
    n = 3000
    proc = subprocess.Popen([PY, "-c", EARLY, str(early), str(n)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    pid = int(proc.stdout.readline())
    sniff.watch(early, filters=Filters(comm="sniff-early"))    # see the test above
    renamer = subprocess.Popen([PY, "-c", RENAMER, str(outside)])
    try:
        seen = sniff._sync()
        skipped = sniff.source.counters()["close_range_skipped"]
        renames = _renames_so_far(sniff)
        proc.stdin.write(b"go\n")
        proc.stdin.close()
        assert proc.wait() == 0
        seen += sniff._sync()
        renamed = _renames_so_far(sniff) - renames
    finally:
        renamer.kill()
        renamer.wait()
    assert renamed > 0
    mine = [r for r in seen if r.pid == pid]
    names = sorted(os.fsencode(early / f"e{i}") for i in range(n))
    written = sorted(r.path for r in mine if r.op == "write")
    closed = sorted(r.path for r in mine if r.op == "close")
    assert (len(written), len(closed), sniff.source.counters()["close_range_skipped"] - skipped) == (n, n, 0)
    assert written == names and closed == names


MOVER = """
import ctypes, os, sys
print(os.getpid(), flush=True)
fd = os.open(sys.argv[1] + "/f", os.O_WRONLY | os.O_CREAT)
os.rename(sys.argv[1], sys.argv[2])
print("renamed", flush=True)
sys.stdin.readline()
ctypes.CDLL(None, use_errno=True).syscall(436, fd, 0xFFFFFFFF, 0)    # close_range
"""


def test_close_range_after_its_directory_moved_out_does_not_name_the_old_path(sniff):
    # A directory rename can move files out of scope: once Python has seen it, close_range no
    # longer takes the placement it kept across renames of regular files.
    (sniff.dir / "d").mkdir()
    outside = sniff.root / "outside"
    outside.mkdir()
    sniff.flush()
    proc = subprocess.Popen([PY, "-c", MOVER, str(sniff.dir / "d"), str(outside / "d")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    pid = int(proc.stdout.readline())
    assert proc.stdout.readline() == b"renamed\n"
    seen = sniff._sync()          # the rename has been decoded
    proc.stdin.write(b"go\n")
    proc.stdin.close()
    assert proc.wait() == 0
    seen += sniff._sync()
    mine = [(r.op, r.path) for r in seen if r.pid == pid]
    old = os.fsencode(sniff.dir / "d" / "f")
    assert ("open", old) in mine and ("rename", os.fsencode(sniff.dir / "d")) in mine
    assert ("close", old) not in mine
