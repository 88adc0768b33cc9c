"""Every runtime filter, changed through the probes API while the probes run (map updates, no
reload), proven against real processes."""
import os
import subprocess

import pytest

from sniff_tui.core.filters import Filters
from tests.kernel.kernel_support import script

WRITE = script("""
with open(sys.argv[1], "w") as f:
    f.write("data")
with open(sys.argv[1]) as f:
    f.read()
""")


def ops_of(run):
    return {r.op for r in run.by_pid(run.pid)}


def test_ops_filter_changes_at_run_time(sniff):
    target = str(sniff.dir / "f")
    sniff.source.set_filters(Filters(ops=frozenset({"write"})))
    assert ops_of(sniff.run(WRITE, target)) == {"write"}
    sniff.source.set_filters(Filters(ops=frozenset({"open", "close"})))
    assert ops_of(sniff.run(WRITE, target)) == {"open", "close"}
    sniff.source.set_filters(Filters())
    assert ops_of(sniff.run(WRITE, target)) == {"open", "read", "write", "close"}


def test_pid_filter_keeps_one_process(sniff):
    # A long-lived writer whose pid we know, and another process doing the same.
    target = sniff.dir / "pidf"
    proc = subprocess.Popen(["/usr/bin/python3", "-I", "-S", "-c",
                             "import sys\nfor line in sys.stdin:\n    open(sys.argv[1],'a').write(line)\n"
                             "    print('ok', flush=True)",
                             str(target)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def write_line(text):
        proc.stdin.write(text); proc.stdin.flush()
        assert proc.stdout.readline() == "ok\n"

    try:
        sniff.source.set_filters(Filters(pid=proc.pid))
        sniff.flush()
        write_line("x\n")
        first = sniff._sync()
        other = sniff.run(WRITE, str(target))
        write_line("y\n")
        recs = first + other.records + sniff._sync()
        assert {r.pid for r in recs} == {proc.pid}
        assert sum(r.bytes for r in recs if r.op == "write") == 4
    finally:
        proc.stdin.close()
        proc.wait()


def test_tree_filter_follows_forks(sniff):
    # The parent is in the tree; a child forked after the filter is set is followed at fork.
    body = script("""
import time
target = sys.argv[1]
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.read(r, 1)
    with open(target + ".child", "w") as f: f.write("c")
    os._exit(0)
print(pid, flush=True)
sys.stdin.readline()
os.write(w, b"x")
os.waitpid(pid, 0)
with open(target + ".parent", "w") as f: f.write("p")
""")
    proc = subprocess.Popen(["/usr/bin/python3", "-I", "-S", "-c", body, str(sniff.dir / "t")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    parent = int(proc.stdout.readline())
    child = int(proc.stdout.readline())
    sniff.source.set_filters(Filters(tree=parent))
    sniff.flush()
    outsider = sniff.run(WRITE, str(sniff.dir / "outsider"))
    proc.stdin.write("go\n"); proc.stdin.flush()
    proc.wait()
    recs = sniff._sync()
    got = {(r.pid, r.op, os.path.basename(r.path)) for r in outsider.records + recs}
    assert got == {(child, "open", b"t.child"), (child, "write", b"t.child"), (child, "close", b"t.child"),
                   (parent, "open", b"t.parent"), (parent, "write", b"t.parent"), (parent, "close", b"t.parent")}


def test_uid_filter(sniff):
    target = str(sniff.dir / "u")
    nobody = 65534
    sniff.source.set_filters(Filters(uid=nobody))
    root_run = sniff.run(WRITE, target + ".root")
    assert root_run.by_pid(root_run.pid) == []
    # pytest's tmp dirs are private to root: the unprivileged writer gets an open fd instead.
    fd = os.open(target + ".nobody", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        proc = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                               "/usr/bin/python3", "-I", "-S", "-c",
                               f"import os\nos.write({fd}, b'abcd')\nos.pread({fd}, 4, 0)\nos.close({fd})"],
                              capture_output=True, pass_fds=(fd,))
    finally:
        os.close(fd)
    assert proc.returncode == 0, proc.stderr
    recs = sniff._sync()
    assert {r.uid for r in recs} == {nobody}
    assert {(r.op, r.bytes) for r in recs} == {("write", 4), ("read", 4), ("close", None)}


@pytest.mark.parametrize("pattern, kept", [("cp", True), ("c?", True), ("c*", True), ("cat", False)])
def test_comm_filter_exact_and_glob(sniff, pattern, kept):
    src = sniff.dir / "src"
    src.write_bytes(b"z" * 1000)
    sniff.source.set_filters(Filters(comm=pattern))
    sniff.flush()
    subprocess.run(["/bin/cp", str(src), str(sniff.dir / "dst")], check=True)
    recs = sniff._sync()    # before resetting: userspace filters apply as records are delivered
    comms = {r.comm for r in recs}
    assert comms == ({b"cp"} if kept else set())


def test_exclude_comm(sniff):
    src = sniff.dir / "src"
    src.write_bytes(b"z" * 10)
    sniff.source.set_filters(Filters(exclude_comm=("c[p]",)))
    sniff.flush()
    subprocess.run(["/bin/cp", str(src), str(sniff.dir / "dst")], check=True)
    subprocess.run(["/bin/cat", str(src)], check=True, stdout=subprocess.DEVNULL)
    recs = sniff._sync()
    assert {r.comm for r in recs} == {b"cat"}


def test_file_type_filter(sniff):
    fifo = sniff.dir / "fifo"
    os.mkfifo(fifo)
    body = script("""
fd = os.open(sys.argv[1], os.O_RDWR)
os.write(fd, b"through a fifo")
os.read(fd, 14)
os.close(fd)
""")
    run = sniff.run(body, str(fifo))
    assert run.by_pid(run.pid) == []
    sniff.source.set_filters(Filters(all_types=True))
    run = sniff.run(body, str(fifo))
    got = run.by_pid(run.pid)
    assert {r.op for r in got} == {"open", "write", "read", "close"}
    assert {r.file_type for r in got} == {"fifo"}
    assert run.summary(fifo, "write") == (1, 14)


def test_watches_added_and_removed_at_run_time(sniff):
    second = sniff.root / "second"
    second.mkdir()
    run = sniff.run(WRITE, str(second / "a"))
    assert run.by_pid(run.pid) == []
    sniff.source.set_watches([sniff.dir, second])
    run = sniff.run(WRITE, str(second / "a"))
    assert {r.path for r in run.by_pid(run.pid)} == {os.fsencode(second / "a")}
    sniff.source.set_watches([sniff.dir])
    run = sniff.run(WRITE, str(second / "a"))
    assert run.by_pid(run.pid) == []
