"""Records about open files are placed from the struct file behind the fd, however the process
got that fd: opened before we watched, inherited, dup'ed. Reads and writes report the bytes
the syscalls returned (coalesced per process, file and op: a first record, then totals at close,
so sums are exact); copies report a read on the source and a write on the destination."""
import os
import subprocess

import pytest

from sniff_tui.probes.live import LiveSource
from tests.kernel.kernel_support import PY, Sniff, script


def own(records, pid) -> list[tuple]:
    """(op, path, bytes) of one process's records, in order (one thread: the kernel's order)."""
    return [(r.op, r.path, r.bytes) for r in records if r.pid == pid]


# Opens its file, says so, then waits for a line on stdin before writing to it.
OPEN_THEN_WAIT = script("""
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
print("opened", flush=True)
sys.stdin.readline()
os.write(fd, b"written later")
os.close(fd)
""")


class Waiter:
    """A child that opened a file and waits for the go-ahead (its stdin) to write to it."""

    def __init__(self, path) -> None:
        self.proc = subprocess.Popen([PY, "-I", "-S", "-c", OPEN_THEN_WAIT, str(path)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.pid = int(self.proc.stdout.readline())
        assert self.proc.stdout.readline() == b"opened\n"

    def go(self) -> None:
        self.proc.stdin.write(b"go\n")
        self.proc.stdin.close()
        assert self.proc.wait(timeout=10) == 0
        self.proc.stdout.close()


def test_fd_opened_before_the_directory_was_watched(sniff):
    later = sniff.root / "watched-later"
    later.mkdir()
    path = os.fsencode(later / "f")
    child = Waiter(path.decode())
    try:
        sniff.watch(later)   # the open happened before this: the kernel never saw it in scope
        sniff.flush()
        child.go()
    finally:
        child.proc.kill()
    recs = sniff._sync()
    assert own(recs, child.pid) == [("write", path, 13), ("close", path, None)]


def test_fd_opened_before_the_probes_were_loaded(sniff):
    # A second, entirely new source, loaded after the child opened its file.
    later = sniff.root / "loaded-later"
    later.mkdir()
    path = os.fsencode(later / "f")
    child = Waiter(path.decode())
    fresh = LiveSource([later])
    try:
        fresh.open()
        second = Sniff(fresh)
        try:
            second.watch(later)
            second.flush()
            child.go()
            recs = second._sync()
        finally:
            second.close()
    finally:
        child.proc.kill()
    assert own(recs, child.pid) == [("write", path, 13), ("close", path, None)]


def test_fd_inherited_across_fork(sniff):
    path = os.fsencode(sniff.dir / "shared")
    pidfile = sniff.root / "child.pid"
    run = sniff.run(script("""
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
child = os.fork()
if child == 0:
    with open(sys.argv[2], "w") as f:   # outside the watched directory
        f.write(str(os.getpid()))
    os.write(fd, b"abc")
    os.close(fd)
    os._exit(0)
_, status = os.waitpid(child, 0)
os.write(fd, b"defg")
os.close(fd)
sys.exit(status)
"""), str(sniff.dir / "shared"), str(pidfile))
    assert run.returncode == 0
    child = int(pidfile.read_text())
    assert own(run.records, child) == [("write", path, 3), ("close", path, None)]
    assert {(r.pid, r.ppid) for r in run.by_pid(child)} == {(child, run.pid)}
    assert own(run.records, run.pid) == [("open", path, None), ("write", path, 4),
                                         ("close", path, None)]
    assert {r.pid for r in run.records} == {run.pid, child}


def test_fd_inherited_across_exec(sniff):
    # Opened by the test process (never reported: it is the tool's own process), used by a child.
    path = os.fsencode(sniff.dir / "passed")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        run = sniff.run(script("os.write(int(sys.argv[1]), b'via exec')"), str(fd), pass_fds=(fd,))
    finally:
        os.close(fd)
    assert run.returncode == 0
    assert own(run.records, run.pid) == [("write", path, 8)]
    assert run.by_pid(run.pid)[0].fd == fd


def test_dup2_reports_the_path_and_the_new_fd_number(sniff):
    path = os.fsencode(sniff.dir / "dup")
    run = sniff.run(script("""
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
os.dup2(fd, 57)
os.write(57, b"via-57")
os.close(57)
os.write(fd, b"x")
os.close(fd)
"""), str(sniff.dir / "dup"))
    assert run.returncode == 0
    recs = run.by_pid(run.pid)
    first = recs[0].fd
    # Counted per file, not per fd: the first write and close of the file name fd 57, the
    # second of each is added to the same counters.
    assert [(r.op, r.path, r.bytes, r.fd) for r in recs[:3]] == [
        ("open", path, None, first), ("write", path, 6, 57), ("close", path, None, 57)]
    assert run.summary(path, "write") == (2, 7) and run.summary(path, "close")[0] == 2
    assert first not in (None, 57)


# Raw syscalls for what glibc would route elsewhere (os.preadv/os.pwritev become preadv2/pwritev2).
RAW = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
def vec(*bufs):
    keep = [ctypes.create_string_buffer(b, len(b)) for b in bufs]
    return keep, (iovec * len(bufs))(*[iovec(ctypes.addressof(k), len(b)) for k, b in zip(keep, bufs)])
def raw(nr, fd, bufs, off):
    keep, iov = vec(*bufs)
    n = libc.syscall(nr, fd, iov, len(bufs), ctypes.c_long(off), ctypes.c_long(0))
    if n < 0:
        raise OSError(ctypes.get_errno(), "syscall %d" % nr)
    return n
"""
SYS_PREADV, SYS_PWRITEV = 295, 296   # x86_64

VECTORED = {
    # name: (statement on fd, op, bytes); the file holds 64 bytes before each case.
    "read": ("os.read(fd, 10)", "read", 10),
    "read-short": ("os.lseek(fd, 60, 0); os.read(fd, 100)", "read", 4),
    "pread64": ("os.pread(fd, 7, 50)", "read", 7),
    "readv": ("os.readv(fd, [bytearray(3), bytearray(5)])", "read", 8),
    "preadv": (f"raw({SYS_PREADV}, fd, [b'.' * 6, b'.' * 6], 10)", "read", 12),
    "preadv2": ("os.preadv(fd, [bytearray(9)], 0, os.RWF_HIPRI)", "read", 9),
    "write": ("os.write(fd, b'w' * 11)", "write", 11),
    "pwrite64": ("os.pwrite(fd, b'p' * 13, 100)", "write", 13),
    "writev": ("os.writev(fd, [b'ab', b'cde', b''])", "write", 5),
    "pwritev": (f"raw({SYS_PWRITEV}, fd, [b'1234', b'56'], 3)", "write", 6),
    "pwritev2": ("os.pwritev(fd, [b'xy', b'z'], 0, os.RWF_DSYNC)", "write", 3),
}


@pytest.mark.parametrize("case", VECTORED)
def test_read_and_write_syscalls_report_the_bytes_transferred(sniff, case):
    stmt, op, nbytes = VECTORED[case]
    f = sniff.dir / "data"
    f.write_bytes(bytes(range(64)))
    path = os.fsencode(f)
    run = sniff.run(script(RAW + f"""
fd = os.open(sys.argv[1], os.O_RDWR)
{stmt}
os.close(fd)
"""), str(f))
    assert run.returncode == 0
    assert own(run.records, run.pid) == [("open", path, None), (op, path, nbytes),
                                         ("close", path, None)]


def test_every_read_and_write_syscall_on_one_file_sums_exactly(sniff):
    # All of them in one process: coalesced into few records, the totals stay exact.
    f = sniff.dir / "data"
    f.write_bytes(bytes(range(64)))
    stmts = "\n".join(f"os.lseek(fd, 0, 0); {stmt}" for stmt, _, _ in VECTORED.values())
    run = sniff.run(script(RAW + f"""
fd = os.open(sys.argv[1], os.O_RDWR)
{stmts}
os.close(fd)
"""), str(f))
    assert run.returncode == 0
    for op in ("read", "write"):
        cases = [n for _, o, n in VECTORED.values() if o == op]
        assert run.summary(f, op) == (len(cases), sum(cases)), op
    assert {r.op for r in run.by_pid(run.pid)} == {"open", "read", "write", "close"}


def test_reads_at_eof_and_empty_writes_are_not_reported(sniff):
    f = sniff.dir / "empty"
    f.write_bytes(b"")
    path = os.fsencode(f)
    run = sniff.run(script("""
fd = os.open(sys.argv[1], os.O_RDWR)
assert os.read(fd, 100) == b""
assert os.write(fd, b"") == 0
os.close(fd)
"""), str(f))
    assert run.returncode == 0
    assert own(run.records, run.pid) == [("open", path, None), ("close", path, None)]


COPY = script("""
src = os.open(sys.argv[1], os.O_RDONLY)
dst = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT, 0o644)
n = {call}
assert n == int(sys.argv[3]), n
os.close(src)
os.close(dst)
""")


@pytest.mark.parametrize("call", [
    "os.copy_file_range(src, dst, 1000)",
    "os.sendfile(dst, src, None, 1000)",
    "os.sendfile(dst, src, 100, 1000)",
])
def test_copies_between_watched_files_read_the_source_and_write_the_destination(sniff, call):
    src, dst = sniff.dir / "src", sniff.dir / "dst"
    src.write_bytes(b"s" * 300)   # fewer than asked for: bytes are what was really copied
    copied = 200 if ", 100," in call else 300
    s, d = os.fsencode(src), os.fsencode(dst)
    run = sniff.run(COPY.replace("{call}", call), str(src), str(dst), str(copied))
    assert run.returncode == 0
    assert own(run.records, run.pid) == [
        ("open", s, None), ("open", d, None), ("read", s, copied), ("write", d, copied),
        ("close", s, None), ("close", d, None)]


@pytest.mark.parametrize("source", ["read-/dev/zero", "sendfile-outside", "splice-pipe"])
def test_a_copy_from_outside_reports_only_the_write(sniff, source):
    dst = os.fsencode(sniff.dir / "dst")
    # sendfile from a file outside the tree: from /dev/zero, 6.1 refuses it (EINVAL; no splice there)
    (sniff.root / "outside").write_bytes(b"o" * 4096)
    body = {
        "read-/dev/zero": "z = os.open('/dev/zero', os.O_RDONLY)\nn = os.write(dst, os.read(z, 4096))",
        "sendfile-outside": f"z = os.open({os.fspath(sniff.root / 'outside')!r}, os.O_RDONLY)\n"
                            "n = os.sendfile(dst, z, None, 4096)",
        "splice-pipe": "r, w = os.pipe()\nos.write(w, b'p' * 4096)\nn = os.splice(r, dst, 4096)",
    }[source]
    run = sniff.run(script(f"""
dst = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
{body}
assert n == 4096, n
os.close(dst)
"""), os.fsdecode(dst))
    assert run.returncode == 0
    assert own(run.records, run.pid) == [("open", dst, None), ("write", dst, 4096),
                                         ("close", dst, None)]


def test_a_splice_into_a_pipe_reports_only_the_read(sniff):
    f = sniff.dir / "src"
    f.write_bytes(b"q" * 500)
    src = os.fsencode(f)
    run = sniff.run(script("""
src = os.open(sys.argv[1], os.O_RDONLY)
r, w = os.pipe()
assert os.splice(src, w, 1000) == 500
os.close(src)
"""), str(f))
    assert run.returncode == 0
    assert own(run.records, run.pid) == [("open", src, None), ("read", src, 500),
                                         ("close", src, None)]


CLOSE_RANGE = script("""
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
paths = sys.argv[1:]
fds = []
for i, p in enumerate(paths):
    fds.append(os.open(p, os.O_WRONLY | os.O_CREAT, 0o644))
    if i % 2 == 0:
        fds.extend(os.pipe())   # out-of-scope fds in between
{close}
""")


@pytest.mark.parametrize("how", ["os.closerange", "close_range-to-max"])
def test_close_range_reports_a_close_for_each_in_scope_file(sniff, how):
    names = [sniff.dir / f"cr{i}" for i in range(5)] + [sniff.root / "outside"]
    close = {
        "os.closerange": "os.closerange(min(fds), max(fds) + 1)",   # close_range(lo, hi, 0)
        "close_range-to-max": "assert libc.syscall(436, min(fds), ctypes.c_uint(0xFFFFFFFF), 0) == 0",
    }[how]
    run = sniff.run(CLOSE_RANGE.replace("{close}", close), *map(str, names))
    assert run.returncode == 0
    want = [os.fsencode(n) for n in names[:5]]
    recs = run.by_pid(run.pid)
    assert [(r.op, r.path) for r in recs] == [("open", p) for p in want] + [("close", p) for p in want]
    # Each close carries the fd that was open on that file.
    assert [r.fd for r in recs[5:]] == [r.fd for r in recs[:5]]


def test_close_range_cloexec_closes_nothing_and_reports_nothing(sniff):
    f = sniff.dir / "kept"
    run = sniff.run(script("""
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
assert libc.syscall(436, fd, fd, 4) == 0    # CLOSE_RANGE_CLOEXEC: only marks the fd
os.write(fd, b"still open")
"""), str(f))
    assert run.returncode == 0
    path = os.fsencode(f)
    # No close at all: the file is closed by the exit, which is no close syscall.
    assert own(run.records, run.pid) == [("open", path, None), ("write", path, 10)]


def test_a_thread_is_reported_under_its_process_with_its_own_tid(sniff):
    f = sniff.dir / "threaded"
    tidfile = sniff.root / "tid"
    run = sniff.run(script("""
import threading
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
def work():
    with open(sys.argv[2], "w") as t:    # outside the watched directory
        t.write(str(threading.get_native_id()))
    os.write(fd, b"from a thread")
t = threading.Thread(target=work)
t.start()
t.join()
os.close(fd)
"""), str(f), str(tidfile))
    assert run.returncode == 0
    tid = int(tidfile.read_text())
    path = os.fsencode(f)
    assert [(r.op, r.path, r.bytes, r.tid) for r in run.by_pid(run.pid)] == [
        ("open", path, None, run.pid), ("write", path, 13, tid), ("close", path, None, run.pid)]
    assert tid != run.pid


def test_writes_after_dup2_replaced_a_counted_file_go_to_the_right_file(sniff):
    # Five rounds: each makes the freed struct file available for reuse by the next open.
    run = sniff.run(script("""
d = sys.argv[1]
for i in range(5):
    old = os.open(f"{d}/old{i}", os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(old, b"o")
    os.write(old, b"oo")             # counted, not yet flushed
    other = os.open(f"{d}/other{i}", os.O_WRONLY | os.O_CREAT, 0o644)
    os.dup2(other, old)              # releases old{i}'s file: no close syscall
    new = os.open(f"{d}/new{i}", os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(new, b"nnnn")
    os.write(new, b"nnnnn")
    os.close(new)
    os.close(old)
    os.close(other)
"""), str(sniff.dir))
    assert run.returncode == 0
    want = {**{f"old{i}": (2, 3) for i in range(5)}, **{f"new{i}": (2, 9) for i in range(5)}}

    def totals():
        return {name: run.summary(sniff.dir / name, "write") for name in want}
    # A counter stranded by the implicit close is taken at the exit record, which run() has seen.
    assert totals() == want
