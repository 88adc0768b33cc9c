"""What kernel tests share: a real live source fed into a Feed by a worker thread, processes
run under it, and the records they caused. Fixtures live in conftest.py; helpers live here."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from sniff_tui.core.feed import Feed
from sniff_tui.core.filters import Filters
from sniff_tui.core.record import Record

PY = "/usr/bin/python3"


@dataclass
class Run:
    pid: int
    records: list[Record]
    returncode: int
    stdout: bytes = b""

    def ops(self, *, pids=None) -> list[tuple[int, str, bytes]]:
        return [(r.pid, r.op, r.path) for r in self.records if pids is None or r.pid in pids]

    def by_pid(self, pid: int) -> list[Record]:
        return [r for r in self.records if r.pid == pid]

    def summary(self, path: bytes | str, op: str) -> tuple[int, int]:
        """(calls, bytes) of op on path."""
        path = os.fsencode(path)
        recs = [r for r in self.records if r.op == op and r.path == path]
        return sum(r.count for r in recs), sum(r.bytes or 0 for r in recs)


class Sniff:
    """The loaded live source plus a worker thread feeding a Feed."""

    def __init__(self, source) -> None:
        self.source = source
        self.feed: Feed = Feed(maxsize=2_000_000)
        self.stop = threading.Event()
        self.worker = threading.Thread(target=source.run, args=(self.feed, self.stop), daemon=True)
        self.worker.start()
        self.exited: set[int] = set()
        source.proc_listeners.append(lambda ev: ev.op == "exit" and self.exited.add(ev.pid))

    def watch(self, *dirs, filters: Filters | None = None) -> None:
        self.source.set_filters(filters or Filters())
        self.source.set_watches([os.fspath(d) for d in dirs])

    def _sync(self, timeout: float = 10.0) -> list[Record]:
        """Everything recorded up to now. Process exits are never filtered, and the ring buffer
        keeps the kernel's order, so once the exit of a process started now has been seen,
        every record of what happened before it is in the feed."""
        marker = subprocess.Popen(["/bin/true"])
        marker.wait()
        deadline = time.monotonic() + timeout
        while marker.pid not in self.exited:
            if time.monotonic() > deadline:
                raise AssertionError("no exit record for the marker process: the probes are not reporting")
            time.sleep(0.005)
        self.exited.discard(marker.pid)
        # Counters of processes still running are read every interval: read them now.
        assert self.source.harvest_now(timeout), "the worker did not harvest"
        return self.feed.drain(limit=len(self.feed) + 1)

    def flush(self) -> None:
        self._sync()

    def run(self, script: str, *args: str, cwd=None, env=None, pass_fds=()) -> Run:
        """Run a Python script in a real child process and return what it did under the watch."""
        self._sync()
        proc = subprocess.run([PY, "-I", "-S", "-c", script, *args], cwd=cwd, env=env,
                              pass_fds=pass_fds, capture_output=True)
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr.decode(errors="replace"))
        records = self._sync()
        pid = _pid_from(proc)
        return Run(pid, records, proc.returncode)

    def run_exe(self, argv: list, cwd=None, env=None) -> Run:
        """Run a program (which prints its pid first) and return what it did under the watch."""
        self._sync()
        proc = subprocess.run([os.fspath(a) for a in argv], cwd=cwd, env=env, capture_output=True)
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr.decode(errors="replace"))
        records = self._sync()
        return Run(_pid_from(proc), records, proc.returncode, proc.stdout)

    def run_shell(self, command: str, cwd=None) -> Run:
        self._sync()
        proc = subprocess.run(["/bin/sh", "-c", command], cwd=cwd, capture_output=True)
        records = self._sync()
        return Run(-1, records, proc.returncode)

    def close(self) -> None:
        self.stop.set()
        self.worker.join(timeout=5)
        self.source.close()


@contextmanager
def built_with(cflags: str, watched: Path, monkeypatch) -> Iterator[Sniff]:
    """A live source of its own, its probes compiled with extra flags (SNIFF_TUI_CFLAGS) as the
    loader builds them for another kind of kernel, watching `watched` (made here); closed after."""
    from sniff_tui.probes.live import LiveSource
    monkeypatch.setenv("SNIFF_TUI_CFLAGS", cflags)
    watched.mkdir()
    source = LiveSource([watched])
    source.open()
    sniff = Sniff(source)
    try:
        yield sniff
    finally:
        sniff.close()


def _pid_from(proc: subprocess.CompletedProcess) -> int:
    # Scripts print their pid first; the harness needs it to tell their records apart.
    first = proc.stdout.split(b"\n", 1)[0]
    return int(first) if first.strip().isdigit() else -1


HELPERS = Path(__file__).with_name("helpers")
_BUILT: dict[str, str] = {}


def c_helper(name: str) -> str:
    """tests/kernel/helpers/<name>.c compiled (once per session) with the machine's gcc."""
    if name not in _BUILT:
        out = Path(tempfile.mkdtemp(prefix="sniff-helper-")) / name
        subprocess.run(["gcc", "-O1", "-Wall", "-Werror", "-o", str(out), str(HELPERS / f"{name}.c")],
                       check=True)
        _BUILT[name] = str(out)
    return _BUILT[name]


# The scripts below print their pid first, then act.
PRELUDE = "import os, sys\nprint(os.getpid(), flush=True)\n"


def script(body: str) -> str:
    return PRELUDE + body


# Programs whose names are ours (other tests of the session may hold some loaded).
# Loaded before --ready-file appears (io_uring's programs follow in the background).
OUR_PROGRAMS = {"raw_enter", "raw_exit", "enter_openat", "exit_open", "enter_close", "on_fork", "verdict_walk"}


def _holders() -> dict[int, set[int]]:
    """prog id -> the pids holding an fd of it (a program, or its attachment)."""
    out: dict[int, set[int]] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for info in (proc / "fdinfo").iterdir():
                for line in info.read_text().splitlines():
                    if line.startswith("prog_id:"):
                        out.setdefault(int(line.split()[1]), set()).add(int(proc.name))
        except (OSError, ValueError):
            continue
    return out


def _descendants() -> set[int]:
    children: dict[int, list[int]] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(proc.name))
    out, todo = set(), [os.getpid()]
    while todo:
        pid = todo.pop()
        out.add(pid)
        todo += children.get(pid, [])
    return out


def our_program_ids() -> set:
    """Programs with our names held by this test process or its descendants, or by no process
    at all (left behind). The machine may run other sniff-tui processes: theirs are not ours."""
    out = subprocess.run(["bpftool", "prog", "show", "-j"], capture_output=True, check=True).stdout
    holders, mine = _holders(), _descendants()
    return {p["id"] for p in json.loads(out or b"[]") if p.get("name") in OUR_PROGRAMS
            and (not holders.get(p["id"]) or holders[p["id"]] & mine)}


def programs_held_by(pid: int) -> set:
    """The ids of the programs a process holds (its program and attachment fds)."""
    return {prog for prog, pids in _holders().items() if pid in pids}


def all_program_ids() -> set:
    out = subprocess.run(["bpftool", "prog", "show", "-j"], capture_output=True, check=True).stdout
    return {p["id"] for p in json.loads(out or b"[]")}
