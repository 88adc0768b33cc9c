"""The real `sniff-tui stream` command, as a user runs it: its own process, its own probes,
real writers, real signals. Output is only ever read from its -o file."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sniff_tui.core.record import Record
from tests.kernel.kernel_support import PY, script

REPO = Path(__file__).absolute().parents[2]
_SCRIPT = REPO / ".venv" / "bin" / "sniff-tui"
CLI = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "sniff_tui.commands.cli"]
# The command must run this checkout's code, whatever the venv was installed from.
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


class Stream:
    """A running `sniff-tui stream -d DIR ... -o OUT`, probes attached (its ready file exists)."""

    def __init__(self, watched: Path, *args: str, out: Path, ready: Path) -> None:
        self.dir, self.out, self.ready = watched, out, ready
        self.proc = subprocess.Popen(
            [*CLI, "stream", "-d", str(watched), *args, "--ready-file", str(ready), "-o", str(out)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)

    def wait_ready(self) -> None:
        # Loading takes ~10 s on a quiet machine, minutes on a saturated one: not the point here.
        deadline = time.monotonic() + 300
        while not self.ready.exists():
            if self.proc.poll() is not None:
                raise AssertionError(f"exited {self.proc.returncode} before ready: "
                                     f"{self.proc.stderr.read().decode(errors='replace')}")
            assert time.monotonic() < deadline, "the probes never attached"
            time.sleep(0.05)

    def text(self) -> str:
        return self.out.read_bytes().decode("utf-8")   # strict: the writers only emit UTF-8

    def wait_for(self, predicate, timeout: float = 15.0) -> None:
        """Poll the output file until predicate(text) holds."""
        deadline = time.monotonic() + timeout
        while not predicate(self.text()):
            assert time.monotonic() < deadline, f"never appeared in the output:\n{self.text()}"
            assert self.proc.poll() is None, "the stream exited early"
            time.sleep(0.05)

    def stop(self, sig=signal.SIGINT) -> tuple[int, str]:
        self.proc.send_signal(sig)
        return self.finish()

    def finish(self, timeout: float = 30) -> tuple[int, str]:
        _, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, err.decode(errors="replace")

    def records(self) -> list[Record]:
        # Every line is strict JSON and a whole record.
        return [Record.from_dict(json.loads(line)) for line in self.text().splitlines()]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


@pytest.fixture
def stream(tmp_path):
    """stream(*args, out=None) starts the command watching tmp_path/'watched'."""
    watched = tmp_path / "watched"
    watched.mkdir()
    started: list[Stream] = []

    def start(*args: str, out: Path | None = None, ready: Path | None = None) -> Stream:
        s = Stream(watched, *args, out=out or tmp_path / "out", ready=ready or tmp_path / "ready")
        started.append(s)
        s.wait_ready()
        return s

    start.dir = watched
    start.root = tmp_path
    yield start
    for s in started:
        s.kill()


# A writer that does a bit of everything, then writes its "done" file last: once that record
# is in the output, everything the writer did before it is too (one thread: ring buffer order).
WRITER = script("""
d = sys.argv[1]
fd = os.open(os.path.join(d, "data"), os.O_RDWR | os.O_CREAT, 0o644)
os.write(fd, b"x" * 1000)
os.writev(fd, [b"y" * 20, b"z" * 4])
os.pread(fd, 100, 0)
os.ftruncate(fd, 10)
os.close(fd)
os.rename(os.path.join(d, "data"), os.path.join(d, "data2"))
os.unlink(os.path.join(d, "data2"))
with open(os.path.join(d, "zz-done"), "wb") as f:
    f.write(b"done")
""")


def run_writer(stream, *extra, comm: str | None = None) -> int:
    code = WRITER
    if comm:   # set our own process name first (the kernel keeps 15 bytes of it)
        code = code.replace("d = sys.argv[1]", f"open('/proc/self/comm', 'w').write({comm!r})\n"
                                                   "d = sys.argv[1]")
    proc = subprocess.run([PY, "-I", "-S", "-c", code, str(stream.dir), *extra],
                          capture_output=True, check=True)
    return int(proc.stdout.split()[0])


def done_in(s: Stream, pid: int):
    """Has the writer's last record (the close of its "done" file) reached the output?"""
    done = str(s.dir / "zz-done")

    def check(text: str) -> bool:
        return any(f'"pid":{pid},' in line and done in line and '"op":"close"' in line
                   for line in text.splitlines())
    return check


def expected_writer(d: Path) -> dict[tuple, tuple[int, int]]:
    """(op, path, new_path) -> (calls, bytes) of the writer's records."""
    data, data2, done = (os.fsencode(d / n) for n in ("data", "data2", "zz-done"))
    return {("open", data, None): (1, 0), ("write", data, None): (2, 1024),
            ("read", data, None): (1, 100), ("truncate", data, None): (1, 0),
            ("close", data, None): (1, 0), ("rename", data, data2): (1, 0),
            ("unlink", data2, None): (1, 0),
            ("open", done, None): (1, 0), ("write", done, None): (1, 4), ("close", done, None): (1, 0)}


def own(records, pid) -> dict[tuple, tuple[int, int]]:
    """(op, path, new_path) -> (calls, bytes) of one process's records. Reads and writes are
    coalesced (a first record, then totals at close), so totals are what is exact, not the
    number of records."""
    out: dict[tuple, tuple[int, int]] = {}
    for r in records:
        if r.pid == pid:
            calls, nbytes = out.get((r.op, r.path, r.new_path), (0, 0))
            out[(r.op, r.path, r.new_path)] = (calls + r.count, nbytes + (r.bytes or 0))
    return out


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_jsonl_stream_until_interrupted(stream, sig):
    s = stream("--format", "jsonl")
    pid = run_writer(stream)
    s.wait_for(done_in(s, pid))
    code, err = s.stop(sig)
    assert code == 0, err
    assert "Traceback" not in err
    assert own(s.records(), pid) == expected_writer(stream.dir)


def test_the_tool_never_reports_its_own_activity(stream):
    # Its output and ready files are inside the watched directory, and it writes all the time.
    out, ready = stream.dir / "own.jsonl", stream.dir / "own.ready"
    s = stream(out=out, ready=ready)
    pid = run_writer(stream)
    # No polling here: reading the output would be activity under the watch (ours, reported).
    # Stopping drains what the kernel already handed over, so the writer's records are all in.
    code, err = s.stop()
    assert code == 0, err
    recs = s.records()
    assert own(recs, pid) == expected_writer(stream.dir)
    assert [r for r in recs if r.pid == s.proc.pid or r.path in (os.fsencode(out), os.fsencode(ready))] == []


def assert_clean(line: str) -> None:
    for ch in line:
        code = ord(ch)
        assert not (code < 0x20 or 0x7F <= code < 0xA0 or ch in "\u2028\u2029"), (repr(ch), line)


NASTY = b"zz-nasty\n\x1b[31m\x7f\xc2\x9b\xe2\x80\xa8[bold]\xff\xfe"


@pytest.mark.parametrize("fmt", ["plain", "table"])
def test_human_formats_one_line_per_record_no_control_characters(stream, fmt):
    s = stream("--format", fmt)
    path = os.fsencode(stream.dir) + b"/" + NASTY
    subprocess.run([PY, "-I", "-S", "-c", script("""
fd = os.open(bytes.fromhex(sys.argv[1]), os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, b"12345")
os.close(fd)
"""), path.hex()], check=True, capture_output=True)

    def mine(text):
        return [line for line in text.splitlines() if "zz-nasty" in line]
    s.wait_for(lambda text: any("close" in line.split() for line in mine(text)))
    code, err = s.stop()
    assert code == 0, err
    text = s.text()
    assert text.endswith("\n")
    lines = text[:-1].split("\n")
    header = lines.pop(0) if fmt == "table" else None
    if header is not None:
        assert header.split() == ["TIME", "PID", "COMM", "OP", "BYTES", "PATH"]
    # Every line is one record: the writer's three, nothing else, nothing split.
    assert len(lines) == 3 and lines == mine(text)
    assert [next(op for op in ("open", "write", "close") if op in line.split()) for line in lines] \
        == ["open", "write", "close"]
    for line in lines + ([header] if header else []):
        assert_clean(line)
    # The name is shown escaped, not interpreted.
    assert all("\\n\\x1b[31m\\x7f" in line for line in lines)


def test_duration_exits_by_itself(stream):
    s = stream("--duration", "1")
    started = time.monotonic()      # the clock started when the ready file was made, just before
    code, err = s.finish(timeout=30)
    assert code == 0, err
    assert time.monotonic() - started >= 0.8
    assert s.text() == ""     # nothing happened under the directory


def test_ops_filter_reports_only_writes(stream):
    s = stream("--ops", "write")
    pid = run_writer(stream)
    done = os.fsencode(stream.dir / "zz-done")
    s.wait_for(lambda text: any(r.path == done for r in s.records()))
    code, err = s.stop()
    assert code == 0, err
    data = os.fsencode(stream.dir / "data")
    assert own(s.records(), pid) == {("write", data, None): (2, 1024), ("write", done, None): (1, 4)}
    assert {r.op for r in s.records()} == {"write"}


WAIT_THEN_WRITE = """
import os, sys
print(os.getpid(), flush=True)
sys.stdin.readline()
""" + WRITER.split("\n", 2)[2]   # the writer's body, after a go-ahead on stdin


def test_pid_filter(stream):
    target = subprocess.Popen([PY, "-I", "-S", "-c", WAIT_THEN_WRITE, str(stream.dir)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        pid = int(target.stdout.readline())
        s = stream("--pid", str(pid))
        other = run_writer(stream)       # same files, another process: filtered out
        target.communicate(b"go\n", timeout=10)
        assert target.returncode == 0
        s.wait_for(done_in(s, pid))
        code, err = s.stop()
    finally:
        target.kill()
        target.wait()
    assert code == 0, err
    recs = s.records()
    assert own(recs, pid) == expected_writer(stream.dir)
    assert {r.pid for r in recs} == {pid} and other != pid


@pytest.mark.parametrize("pattern", ["sniff-target", "sniff-t?rg*"], ids=["exact", "glob"])
def test_comm_filter(stream, pattern):
    s = stream("--comm", pattern)
    other = run_writer(stream, comm="sniff-other")
    pid = run_writer(stream, comm="sniff-target")
    s.wait_for(done_in(s, pid))
    code, err = s.stop()
    assert code == 0, err
    recs = s.records()
    assert own(recs, pid) == expected_writer(stream.dir)
    assert {r.pid for r in recs} == {pid} and other != pid
    assert {r.comm for r in recs} == {b"sniff-target"}


def test_comm_filter_with_a_name_longer_than_the_kernel_keeps(stream):
    s = stream("--comm", "sniff-target-long-name")
    pid = run_writer(stream, comm="sniff-target-long-name")   # the kernel keeps "sniff-target-lo"
    code, err = s.stop()     # stopping drains everything the kernel handed over
    assert code == 0, err
    assert own(s.records(), pid) == expected_writer(stream.dir)


@pytest.mark.parametrize("args", [
    ["--ops", "bogus"],
    ["--ops", "write,bogus"],
    ["--pid", "abc"],
    ["--pid", "-5"],
    ["--duration", "-1"],
    ["--duration", "nan"],
    ["--format", "xml"],
    ["--interval", "0"],
    ["-d", "/nonexistent"],
    ["-d", "/etc/passwd"],
], ids=lambda a: " ".join(a))
def test_bad_input_is_one_line_and_exit_2(tmp_path, args):
    proc = subprocess.run([*CLI, "stream", "-d", str(tmp_path), *args, "-o", str(tmp_path / "out")],
                          capture_output=True, env=ENV, timeout=60)
    err = proc.stderr.decode(errors="replace")
    assert proc.returncode == 2, err
    assert "Traceback" not in err
    assert err.startswith("sniff-tui: ") and err.endswith("\n") and err.count("\n") == 1, err
    assert proc.stdout == b""
    assert not (tmp_path / "out").exists()   # refused before doing anything


def test_options_before_the_subcommand_are_not_silently_dropped(tmp_path):
    proc = subprocess.run([*CLI, "--ops", "bogus", "stream", "-d", str(tmp_path), "--duration", "0",
                           "-o", str(tmp_path / "out")], capture_output=True, env=ENV, timeout=60)
    err = proc.stderr.decode(errors="replace")
    assert proc.returncode == 2 and err.count("\n") == 1 and "bogus" in err, (proc.returncode, err)


NOISE = script("""
d = sys.argv[1]
for name in (".git/index", ".a.swp", "node_modules/m/i.js", "a.txt", "zz-done"):
    path = os.path.join(d, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"data")
""")


def test_stream_and_its_history_honour_the_exclusions(stream):
    from sniff_tui.history.query import History, QuerySpec
    (stream.dir / ".git").mkdir()
    (stream.dir / ".gitignore").write_text("node_modules/\n")
    db = stream.root / "h.db"
    s = stream("--gitignore", "--exclude", "*.swp", "--db", str(db))
    proc = subprocess.run([PY, "-I", "-S", "-c", NOISE, str(stream.dir)], capture_output=True, check=True)
    pid = int(proc.stdout.split()[0])
    s.wait_for(done_in(s, pid))
    code, err = s.stop()
    assert code == 0, err
    mine = {os.path.relpath(os.fsdecode(r.path), stream.dir) for r in s.records() if r.pid == pid}
    assert mine == {"a.txt", "zz-done"}
    with History(str(db)) as h:
        stored = {os.path.relpath(os.fsdecode(r.path), stream.dir)
                  for r in h.records(QuerySpec()) if r.pid == pid}
    assert stored == mine


def test_bpf_stats_enabled_is_put_back_after_a_killed_run(stream, tmp_path, monkeypatch):
    # A `stream --stats` killed with SIGKILL cannot restore the sysctl it switched on; the next
    # run, finding no other run holding it, puts back the value from before the killed one.
    sysctl = Path("/proc/sys/kernel/bpf_stats_enabled")
    original = sysctl.read_text().strip()
    monkeypatch.setitem(ENV, "SNIFF_TUI_RUN_DIR", str(tmp_path / "run"))
    try:
        sysctl.write_text("0")
        killed = stream("--stats", "1", out=tmp_path / "killed.jsonl", ready=tmp_path / "killed.ready")
        deadline = time.monotonic() + 120
        while sysctl.read_text().strip() != "1":     # switched on just after the ready file
            assert time.monotonic() < deadline and killed.proc.poll() is None
            time.sleep(0.02)
        killed.kill()
        assert sysctl.read_text().strip() == "1"
        assert (tmp_path / "run" / "bpf_stats_previous").read_text() == "0"
        nxt = stream("--stats", "1", out=tmp_path / "next.jsonl", ready=tmp_path / "next.ready")
        code, err = nxt.stop()
        assert code == 0, err
        assert sysctl.read_text().strip() == "0"
        assert not (tmp_path / "run" / "bpf_stats_previous").exists()
    finally:
        sysctl.write_text(original)
