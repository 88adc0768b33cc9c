"""Which process is which: parent links, names and command lines, so every record can be
placed in a process tree. Seeded from psutil at start, then kept current from the kernel's
fork/exec/exit records; exited processes are kept a while (EXITED_TTL) so late records still
find them, then forgotten in the order they exited: under process churn (hundreds of short-lived
processes a second) the table holds the last minute's, not every process of the session, and never
more than MAX_PROCS (beyond it the oldest exited go first, whatever their age).

An exited process is most of the table under churn, so an entry is kept small (slots, one copy of
each name, no set of children: the descendants of a process are found by one pass over the table,
done when a tree filter is set): the table is most of the stream's memory growth in its first
minute (bench/soak.py)."""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Optional

from .procfs import read_proc

try:
    import psutil
except ImportError:  # the dashboard and stream work without it, with less detail
    psutil = None

EXITED_TTL = 60.0
MAX_PROCS = 32768         # a default pid_max: the table is at most ~5 MB whatever the churn
_NAMES_HELD = 4096        # distinct process names shared between entries (then started afresh)


@dataclass(slots=True)
class ProcInfo:
    pid: int
    ppid: int
    comm: bytes = b""
    cmdline: str = ""
    user: str = ""
    exited: Optional[float] = None


class ProcessTable:
    def __init__(self, snapshot: bool = True) -> None:
        self.procs: dict[int, ProcInfo] = {}
        self._exits: deque[ProcInfo] = deque()     # in the order they exited, oldest first
        self._names: dict[bytes, bytes] = {}
        # Read at exec, the one moment a short-lived process's is there to read (the dashboard
        # shows it); a reader that shows none (`stream`) saves a /proc read per exec.
        self.cmdlines = True
        if snapshot and psutil is not None:
            self._snapshot()

    def _snapshot(self) -> None:
        for p in psutil.process_iter(["pid", "ppid", "name", "username"]):
            info = p.info
            self._set(info["pid"], info["ppid"] or 0, (info["name"] or "").encode()[:15],
                      user=info.get("username") or "")

    def _set(self, pid: int, ppid: int, comm: bytes, user: str = "") -> ProcInfo:
        old = self.procs.get(pid)
        # A pid that exited and came back is another process: a new entry, so that the old
        # one's place in the exit order (self._exits) cannot stand for the new one's.
        info = old if old is not None and old.exited is None else ProcInfo(pid, ppid)
        if comm:
            names = self._names
            shared = names.get(comm)
            if shared is None:
                if len(names) >= _NAMES_HELD:
                    names.clear()
                shared = names[comm] = comm
            info.comm = shared
        info.ppid, info.exited = ppid, None
        if user:
            info.user = user
        self.procs[pid] = info
        return info

    def fork(self, pid: int, ppid: int, comm: bytes) -> None:
        parent = self.procs.get(ppid)
        info = self._set(pid, ppid, comm)
        if parent:
            info.cmdline, info.user = parent.cmdline, parent.user

    def exec(self, pid: int, ppid: int, comm: bytes) -> None:
        info = self._set(pid, ppid, comm)
        if self.cmdlines:
            info.cmdline = self._read_cmdline(pid) or info.cmdline

    def exit(self, pid: int, now: Optional[float] = None) -> None:
        now = time.monotonic() if now is None else now
        info = self.procs.get(pid)
        if info and info.exited is None:
            info.exited = now
            self._exits.append(info)
        self._expire_exits(now)
        exits = self._exits
        while len(self.procs) > MAX_PROCS and exits:
            self._drop(exits.popleft())

    def seen(self, pid: int, ppid: int, comm: bytes) -> None:
        """A record from a process we may not know yet (started before us, or missed)."""
        info = self.procs.get(pid)
        if info is None or info.ppid != ppid:
            self._set(pid, ppid, comm)

    def _expire_exits(self, now: float) -> None:
        """Forget the processes that exited more than EXITED_TTL ago, oldest first. An entry in
        the exit order has exited and is never alive again (a pid that comes back is a new entry)."""
        exits = self._exits
        while exits:
            info = exits[0]
            if now - info.exited <= EXITED_TTL and self.procs.get(info.pid) is info:
                break       # the oldest exit still within the TTL: the rest are newer
            self._drop(exits.popleft())      # expired, or its pid came back since

    def _drop(self, info: ProcInfo) -> None:
        """Forget an exited entry, unless its pid is another process's by now."""
        if self.procs.get(info.pid) is info:
            del self.procs[info.pid]

    def refresh_children(self) -> None:
        """Re-read parent links from /proc (before seeding a process-tree filter)."""
        if psutil is None:
            return
        for p in psutil.process_iter(["pid", "ppid", "name"]):
            info = p.info
            if info["pid"] not in self.procs:
                self._set(info["pid"], info["ppid"] or 0, (info["name"] or "").encode()[:15])

    def is_descendant(self, pid: int, ancestor: int) -> bool:
        seen = set()
        while pid and pid not in seen:
            if pid == ancestor:
                return True
            seen.add(pid)
            info = self.procs.get(pid)
            if info is None:
                return False
            pid = info.ppid
        return False

    def descendants(self, pid: int) -> set[int]:
        children: dict[int, list[int]] = {}
        for p, info in self.procs.items():
            children.setdefault(info.ppid, []).append(p)
        out, todo = set(), [pid]
        while todo:
            p = todo.pop()
            if p not in out:
                out.add(p)
                todo.extend(children.get(p, ()))
        return out

    def info(self, pid: int) -> dict:
        info = self.procs.get(pid)
        if info is None:
            return {}
        if not info.cmdline and not info.exited:
            info.cmdline = self._read_cmdline(pid)
        return {"ppid": info.ppid, "comm": info.comm, "cmdline": info.cmdline, "user": info.user}

    @staticmethod
    def _read_cmdline(pid: int) -> str:
        raw = read_proc(b"/proc/%d/cmdline" % pid)
        return " ".join(part.decode("utf-8", "backslashreplace") for part in raw.split(b"\0") if part)
