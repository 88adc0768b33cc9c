"""Which process is which: parent links, names and command lines, so every record can be
placed in a process tree. Seeded from psutil at start, then kept current from the kernel's
fork/exec/exit records; exited processes are kept a while (EXITED_TTL) so late records still
find them, then forgotten in the order they exited: under process churn (hundreds of short-lived
processes a second) the table holds the last minute's, not every process of the session."""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Optional

from .procfs import read_proc

try:
    import psutil
except ImportError:  # the dashboard and stream work without it, with less detail
    psutil = None

EXITED_TTL = 60.0
MAX_PROCS = 65536


@dataclass
class ProcInfo:
    pid: int
    ppid: int
    comm: bytes = b""
    cmdline: str = ""
    user: str = ""
    exited: Optional[float] = None
    children: set[int] = field(default_factory=set)


class ProcessTable:
    def __init__(self, snapshot: bool = True) -> None:
        self.procs: dict[int, ProcInfo] = {}
        self._exits: deque[tuple[float, int]] = deque()     # (time, pid), oldest first
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
        if old and old.ppid != ppid and old.ppid in self.procs:
            self.procs[old.ppid].children.discard(pid)
        info = old or ProcInfo(pid, ppid)
        info.ppid, info.comm, info.exited = ppid, comm or info.comm, None
        if user:
            info.user = user
        self.procs[pid] = info
        if ppid in self.procs:
            self.procs[ppid].children.add(pid)
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
        now = now or time.monotonic()
        info = self.procs.get(pid)
        if info:
            info.exited = now
            self._exits.append((now, pid))
        self._expire_exits(now)
        if len(self.procs) > MAX_PROCS:
            self.expire(now)

    def seen(self, pid: int, ppid: int, comm: bytes) -> None:
        """A record from a process we may not know yet (started before us, or missed)."""
        info = self.procs.get(pid)
        if info is None or info.ppid != ppid:
            self._set(pid, ppid, comm)

    def _expire_exits(self, now: float) -> None:
        """Forget the processes that exited more than EXITED_TTL ago (a pid that came back as
        another process since is alive: kept)."""
        exits = self._exits
        while exits and now - exits[0][0] > EXITED_TTL:
            _, pid = exits.popleft()
            info = self.procs.get(pid)
            if info is not None and info.exited is not None and now - info.exited > EXITED_TTL:
                self._forget(pid)

    def _forget(self, pid: int) -> None:
        info = self.procs.pop(pid)
        if info.ppid in self.procs:
            self.procs[info.ppid].children.discard(pid)

    def expire(self, now: Optional[float] = None) -> None:
        now = now or time.monotonic()
        self._expire_exits(now)
        for pid in [p for p, i in self.procs.items() if i.exited and now - i.exited > EXITED_TTL]:
            self._forget(pid)

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
        out, todo = set(), [pid]
        while todo:
            p = todo.pop()
            if p in out:
                continue
            out.add(p)
            info = self.procs.get(p)
            if info:
                todo.extend(info.children)
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
