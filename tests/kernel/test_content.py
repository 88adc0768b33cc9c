"""--content: the bytes real processes write, captured by the real probes at the write's exit,
with the offset where they landed; and what is never captured."""
from __future__ import annotations

import base64
import json
import os
import stat
import subprocess

import pytest

from sniff_tui.core.filters import Filters
from sniff_tui.core.record import ContentRecord
from tests.kernel.kernel_support import PY, c_helper, script
from tests.kernel.test_stream_cli import Stream


@pytest.fixture
def capture(sniff):
    sniff.source.set_content(4096)
    yield sniff
    sniff.source.set_content(0)


def contents(run, path=None, base=False) -> list[ContentRecord]:
    """The run's captured writes (base: the reads of files' content sent before them)."""
    return [r for r in run.records if r.__class__ is ContentRecord and r.pid == run.pid
            and r.base == base and (path is None or r.path == os.fsencode(path))]


def test_write_at_the_file_position(capture):
    f = capture.dir / "a.txt"
    run = capture.run(script(
        "fd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY, 0o644)\n"
        "os.write(fd, b'hello ')\nos.write(fd, b'world\\n')\nos.close(fd)"), str(f))
    assert run.returncode == 0
    got = [(r.offset, r.length, r.data, r.data_truncated) for r in contents(run, f)]
    assert got == [(0, 6, b"hello ", False), (6, 6, b"world\n", False)]
    rec = contents(run, f)[0]
    assert rec.comm == b"python3" and rec.tid == run.pid and rec.cgroup is not None


def test_pwrite_at_an_offset(capture):
    f = capture.dir / "p"
    f.write_bytes(b"." * 200)
    run = capture.run(script(
        "fd = os.open(sys.argv[1], os.O_WRONLY)\nos.lseek(fd, 7, 0)\n"
        "os.pwrite(fd, b'XYZ', 100)\nos.write(fd, b'w')\nos.close(fd)"), str(f))
    got = [(r.offset, r.data) for r in contents(run, f)]
    assert got == [(100, b"XYZ"), (7, b"w")]     # pwrite leaves the position alone
    # the file's content when it was first seen opened went out before its first change
    (base,) = contents(run, f, base=True)
    assert run.records.index(base) < run.records.index(contents(run, f)[0])
    assert base.offset == 0 and base.length == len(base.data) and base.data.startswith(b".......")


def test_append_lands_at_the_end(capture):
    f = capture.dir / "log"
    f.write_bytes(b"0123456789")
    run = capture.run(script(
        "fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)\n"
        "os.write(fd, b'one\\n')\nos.pwrite(fd, b'two\\n', 0)\nos.close(fd)"), str(f))
    # pwrite on an O_APPEND file appends too (Linux ignores its offset)
    assert [(r.offset, r.data) for r in contents(run, f)] == [(10, b"one\n"), (14, b"two\n")]
    assert f.read_bytes() == b"0123456789one\ntwo\n"


def test_writev_and_pwritev(capture):
    f = capture.dir / "v"
    run = capture.run(script(
        "fd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY, 0o644)\n"
        "os.writev(fd, [b'abc', b'', b'defg'])\n"
        "os.pwritev(fd, [b'12', b'345'], 50)\n"                       # pwritev
        "os.pwritev(fd, [b'AP'], 0, os.RWF_APPEND)\n"                 # pwritev2, appending
        "os.close(fd)"), str(f))
    got = [(r.offset, r.length, r.data) for r in contents(run, f)]
    assert got == [(0, 7, b"abcdefg"), (50, 5, b"12345"), (55, 2, b"AP")]
    assert f.read_bytes()[50:] == b"12345AP"


def test_a_large_write_is_cut_to_content_max(capture):
    f = capture.dir / "big"
    data = bytes(range(256)) * 256                     # 64 KiB, every byte value
    run = capture.run(script(
        "data = bytes(range(256)) * 256\n"
        "with open(sys.argv[1], 'wb', buffering=0) as fh: fh.write(data)"), str(f))
    (rec,) = contents(run, f)
    assert (rec.offset, rec.length, rec.data_truncated) == (0, 65536, True)
    assert rec.data == data[:4096]
    capture.source.set_content(131072)
    run = capture.run(script(
        "data = bytes(range(256)) * 256\n"
        "with open(sys.argv[1], 'r+b', buffering=0) as fh: fh.seek(3); fh.write(data)"), str(f))
    (rec,) = contents(run, f)
    assert (rec.offset, rec.length, rec.data_truncated, rec.data) == (3, 65536, False, data)


def test_binary_bytes_are_exact(capture):
    f = capture.dir / "blob.bin"
    data = b"\x00\xff\x1b[31m\xc3(\n\r\x7f" * 10
    run = capture.run(script(
        "with open(sys.argv[1], 'wb', buffering=0) as fh: fh.write(bytes.fromhex(sys.argv[2]))"),
        str(f), data.hex())
    (rec,) = contents(run, f)
    assert rec.data == data
    line = json.loads(rec.to_json())
    assert ContentRecord.from_dict(line) == rec
    # another process changes 4 bytes: its version, from the real records of both, is diffed
    # against the first's and summarised, never dumped (base reads left out: one is read when
    # the open is seen, maybe after the write, which the shadow would rightly refuse to diff)
    again = capture.run(script(
        "with open(sys.argv[1], 'r+b', buffering=0) as fh: fh.seek(100); fh.write(b'\\xff' * 4)"),
        str(f))
    from sniff_tui.session.versions import ContentHistory, diff_lines
    history = ContentHistory()
    history.apply(r for r in run.records + again.records if r.pid in (run.pid, again.pid)
                  and not getattr(r, "base", False))
    _, second = history.versions(os.fsencode(f))
    assert diff_lines(second) == [("note", b"binary: 4 bytes changed at offset 100")]


def test_outside_the_tree_never_captured(capture):
    out = capture.root / "elsewhere"
    out.mkdir()
    run = capture.run(script(
        "for p in sys.argv[1:]:\n"
        "    with open(p, 'wb', buffering=0) as fh: fh.write(b'secret')"),
        str(out / "x"), str(capture.dir / "in"))
    assert [r.path for r in contents(run)] == [os.fsencode(capture.dir / "in")]
    assert {r.path for r in contents(run, base=True)} <= {os.fsencode(capture.dir / "in")}


def test_failed_and_empty_writes_capture_nothing(capture):
    f = capture.dir / "ro"
    f.write_bytes(b"keep")
    run = capture.run(script(
        "fd = os.open(sys.argv[1], os.O_RDONLY)\n"
        "try:\n    os.write(fd, b'nope')\nexcept OSError as e:\n    print('EBADF', e.errno)\n"
        "os.close(fd)\n"
        "fd = os.open(sys.argv[1], os.O_WRONLY)\nos.write(fd, b'')\nos.close(fd)"), str(f))
    assert run.returncode == 0
    assert contents(run) == []
    assert contents(run, base=True) == []      # opened, never changed: its content never sent
    assert f.read_bytes() == b"keep"


def ring(capture, *commands):
    """The io_uring helper (tests/kernel/helpers/uring.c) under the watch; results: each CQE's res."""
    assert capture.source.probes.missing == [], capture.source.probes.missing
    run = capture.run_exe([c_helper("uring"), *map(str, commands)], cwd=capture.dir)
    assert run.returncode == 0
    run.results = [line.split()[1] for line in run.stdout.decode().splitlines()[1:]]
    return run


def alphabet(n: int) -> bytes:
    return bytes(b"abcdefghijklmnopqrstuvwxyz"[k % 26] for k in range(n))


def test_io_uring_writes(capture):
    """Every io_uring write op, at the bytes of its completion and where they landed, named after
    the thread that submitted it (buffered writes complete in io_uring's worker threads)."""
    f, log = capture.dir / "ring.txt", capture.dir / "ring.log"
    log.write_bytes(b"0123456789")
    rw_creat, append = os.O_RDWR | os.O_CREAT, os.O_WRONLY | os.O_APPEND
    run = ring(capture, "alphabet", "openat", f, rw_creat, "write", 10, "writev", 20, "write_fixed", 30,
               "writev_fixed", 40, "pwrite", 5, 1000, "write_fixed_file", 7,
               "openat", log, append, "write", 3, "pwrite", 4, 0)
    del run.results[8], run.results[1]      # the two opens' fds
    assert run.results == ["-", "10", "20", "30", "40", "5", "7", "3", "4"], run.results
    got = [(r.path, r.offset, r.length, r.data, r.data_truncated) for r in contents(run)]
    name, lname = os.fsencode(f), os.fsencode(log)
    assert got == [(name, 0, 10, alphabet(10), False), (name, 10, 20, alphabet(20), False),
                   (name, 30, 30, alphabet(30), False), (name, 60, 40, alphabet(40), False),
                   (name, 1000, 5, alphabet(5), False),    # at its offset; the position stays
                   (name, 100, 7, alphabet(7), False),     # a fixed file: no fd, still captured
                   (lname, 10, 3, b"abc", False),          # O_APPEND: at the end
                   (lname, 13, 4, b"abcd", False)]         # ...whatever offset it was given
    assert log.read_bytes() == b"0123456789abcabcd"
    assert {(r.comm, r.tid) for r in contents(run)} == {(b"uring", run.pid)}
    # counting is as without capture: one write record's worth per request
    writes = [r for r in run.by_pid(run.pid) if r.op == "write"]
    assert sum(r.count for r in writes) == 8 and sum(r.bytes for r in writes) == 119
    assert capture.source.counters()["content_unreadable"] == 0


def test_io_uring_large_failed_and_outside_writes(capture):
    f, ro, out = capture.dir / "big", capture.dir / "ro", capture.root / "not-watched"
    ro.write_bytes(b"keep")
    run = ring(capture, "alphabet", "openat", f, os.O_RDWR | os.O_CREAT, "write", 65536,
               "writev", 65536, "openat", ro, os.O_RDONLY, "write", 10, "openat", out,
               os.O_RDWR | os.O_CREAT, "write", 10)
    assert [run.results[k] for k in (2, 3, 5, 7)] == ["65536", "65536", "-9", "10"], run.results
    got = [(r.path, r.offset, r.length, r.data, r.data_truncated) for r in contents(run)]
    assert got == [(os.fsencode(f), 0, 65536, alphabet(4096), True),
                   (os.fsencode(f), 65536, 65536, alphabet(4096), True)]
    assert ro.read_bytes() == b"keep"
    # the file that changed had its base sent (read when its open was seen: maybe after the
    # writes, which the shadow finds out); ro never changed
    assert [r.path for r in contents(run, base=True)] == [os.fsencode(f)]
    out.unlink()


def test_changes_without_a_buffer_are_counted_not_captured(capture):
    """copy_file_range, sendfile, splice and stores through a shared mapping change the file with
    no buffer of the process's to copy: counted (content_uncaptured), never a wrong capture."""
    src, dst = capture.root / "src.bin", capture.dir / "dst.bin"
    src.write_bytes(b"s" * 10000)
    before = capture.source.counters()
    run = capture.run(script("""
import mmap
src = os.open(sys.argv[1], os.O_RDONLY)
dst = os.open(sys.argv[2], os.O_RDWR | os.O_CREAT, 0o644)
assert os.copy_file_range(src, dst, 1000, 0, 0) == 1000
assert os.sendfile(dst, src, 0, 2000) == 2000
r, w = os.pipe()
os.write(w, b"p" * 300)
assert os.splice(r, dst, 300) == 300
os.ftruncate(dst, 8192)
os.fsync(dst)                   # the copies' dirty pages cleaned: the store dirties page 0 anew
m = mmap.mmap(dst, 8192, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
m[0:1] = b"m"
m.close()
os.write(dst, b"written")
"""), str(src), str(dst))
    assert run.returncode == 0
    after = capture.source.counters()
    path = os.fsencode(dst)
    assert run.summary(path, "write") == (4, 3307) and run.summary(path, "mmap_write")[1] == 4096
    # only write(2) was captured; the three copies and the page stored to were counted
    assert [(r.offset, r.data) for r in contents(run, dst)] == [(2300, b"written")]   # after sendfile+splice
    assert after["content_uncaptured"] - before["content_uncaptured"] == 4
    assert after["content_uncaptured_bytes"] - before["content_uncaptured_bytes"] == 3300 + 4096


def test_only_regular_files(capture):
    fifo = capture.dir / "fifo"
    os.mkfifo(fifo)
    capture.watch(capture.dir, filters=Filters(all_types=True))
    run = capture.run(script(
        "r = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)\n"
        "w = os.open(sys.argv[1], os.O_WRONLY)\nos.write(w, b'through a pipe')\n"
        "os.read(r, 100)\nos.close(w)\nos.close(r)"), str(fifo))
    assert any(r.op == "write" and r.path == os.fsencode(fifo) for r in run.by_pid(run.pid))
    assert contents(run) == []


def test_capture_never_changes_counting(sniff):
    body = script(
        "for i in range(50):\n"
        "    fd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o644)\n"
        "    os.write(fd, b'x' * (i + 1))\n    os.writev(fd, [b'ab', b'c'])\n    os.close(fd)")
    f = sniff.dir / "same"

    def counted(run):
        return sorted((r.op, r.count, r.bytes) for r in run.by_pid(run.pid)
                      if r.__class__ is not ContentRecord)

    before = counted(sniff.run(body, str(f)))
    f.unlink()
    sniff.source.set_content(4096)
    try:
        run = sniff.run(body, str(f))
    finally:
        sniff.source.set_content(0)
    assert counted(run) == before
    assert len(contents(run)) == 100
    assert b"".join(r.data for r in sorted(contents(run), key=lambda r: r.offset)) == f.read_bytes()


def test_stream_content_recording_is_private(tmp_path):
    watched = tmp_path / "w"
    watched.mkdir()
    out = tmp_path / "rec.jsonl"
    stream = Stream(watched, "--content", "--content-max", "8", out=out, ready=tmp_path / "ready")
    stream.wait_ready()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    (watched / "cfg").write_bytes(b"key = value\n")
    stream.wait_for(lambda text: '"op":"content"' in text)
    code, err = stream.stop()
    assert code == 0, err
    lines = [json.loads(line) for line in stream.text().splitlines()]
    (line,) = [x for x in lines if x["op"] == "content" and not x.get("base")]
    assert line["path"] == str(watched / "cfg") and line["length"] == 12
    assert base64.b64decode(line["data_b64"]) == b"key = va" and line["data_truncated"] is True
    assert set(line) == {"op", "ts", "pid", "tid", "comm", "path", "offset", "length", "data_b64",
                         "data_truncated", "cgroup", "container", "unit"}
    # without --content: no content lines, and the usual mode
    out2 = tmp_path / "plain.jsonl"
    stream = Stream(watched, out=out2, ready=tmp_path / "ready2")
    stream.wait_ready()
    (watched / "cfg").write_bytes(b"again\n")
    stream.wait_for(lambda text: '"op":"write"' in text)
    stream.stop()
    assert '"content"' not in stream.text()
    assert stat.S_IMODE(out2.stat().st_mode) == 0o644


def test_content_needs_writes(tmp_path):
    from tests.kernel.test_stream_cli import CLI, ENV
    proc = subprocess.run([*CLI, "stream", "-d", str(tmp_path), "--content", "--ops", "open"],
                          capture_output=True, env=ENV)
    assert proc.returncode == 2
    assert proc.stderr.decode().strip() == "sniff-tui: --content captures writes: --ops must include write"


def test_an_atomic_save_diffed_against_the_previous_content(tmp_path):
    """An editor's save: read the file, write a temporary file, rename it over the file. The
    diff of the file is against what it held before."""
    from tests.kernel.test_stream_cli import CLI, ENV
    watched = tmp_path / "w"
    watched.mkdir()
    conf = watched / "app.conf"
    conf.write_bytes(b"name = demo\nport = 8080\nlog = info\n")
    out = tmp_path / "rec.jsonl"
    stream = Stream(watched, "--content", out=out, ready=tmp_path / "ready")
    stream.wait_ready()
    editor = subprocess.Popen([PY, "-c", EDITOR, str(conf)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE)
    assert editor.stdout.readline() == b"read\n"
    # the stream has taken the editor's open (and read the file's content then)
    stream.wait_for(lambda text: '"op":"open"' in text and '"path":"%s"' % conf in text)
    editor.stdin.write(b"save\n")
    editor.stdin.close()
    assert editor.wait(10) == 0
    stream.wait_for(lambda text: '"op":"rename"' in text)
    code, err = stream.stop()
    assert code == 0, err
    diff = subprocess.run([*CLI, "diff", str(out), str(conf)], capture_output=True, env=ENV)
    assert diff.returncode == 0, diff.stderr
    lines = diff.stdout.decode().splitlines()
    assert lines[0].startswith(f"=== {conf}  ") and f"(pid {editor.pid})" in lines[0]
    assert lines[0].endswith(f"renamed over it from {watched}/.app.conf.swp")
    assert lines[1:] == [f"--- a{conf}", f"+++ b{conf}", "@@ -1,3 +1,3 @@", " name = demo",
                         "-port = 8080", "+port = 9090", " log = info"]


EDITOR = """
import os, sys
path = sys.argv[1]
with open(path, "rb") as fh:
    old = fh.read()
print("read", flush=True)
sys.stdin.readline()
tmp = os.path.join(os.path.dirname(path), ".app.conf.swp")
with open(tmp, "wb") as fh:
    fh.write(old.replace(b"8080", b"9090"))
os.rename(tmp, path)
"""


def test_history_keeps_the_captured_writes(tmp_path):
    from tests.kernel.test_stream_cli import CLI, ENV
    watched = tmp_path / "w"
    watched.mkdir()
    conf = watched / "c.txt"
    conf.write_bytes(b"alpha\nbeta\n")
    db = tmp_path / "h.db"
    out = tmp_path / "rec.jsonl"
    stream = Stream(watched, "--content", "--db", str(db), out=out, ready=tmp_path / "ready")
    stream.wait_ready()
    writer = subprocess.Popen([PY, "-c", IN_PLACE, str(conf)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE)
    assert writer.stdout.readline() == b"opened\n"
    stream.wait_for(lambda text: '"op":"open"' in text)     # its base has been read
    writer.stdin.write(b"go\n")
    writer.stdin.close()
    assert writer.wait(10) == 0
    stream.wait_for(lambda text: '"op":"close"' in text and '"op":"content"' in text)
    code, err = stream.stop()
    assert code == 0, err
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    for source in (db, out):
        diff = subprocess.run([*CLI, "diff", str(source), str(conf)], capture_output=True, env=ENV)
        assert diff.returncode == 0, diff.stderr
        assert diff.stdout.decode().splitlines()[1:] == [
            f"--- a{conf}", f"+++ b{conf}", "@@ -1,2 +1,2 @@", " alpha", "-beta", "+BETA"]


IN_PLACE = """
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
print("opened", flush=True)
sys.stdin.readline()
os.pwrite(fd, b"BETA", 6)
os.close(fd)
"""
