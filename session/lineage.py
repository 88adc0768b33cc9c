"""Who is whose parent: the links records carry (ppid), completed by asking the source's
``process_info`` about ancestors that never touched a file. Used by the tree filter and the
process tree."""
from __future__ import annotations

import os
from typing import Callable, Optional

ProcessInfo = Callable[[int], dict]
MAX_DEPTH = 64                 # a loop in stale links must not hang the UI


class Lineage:
    def __init__(self, process_info: Optional[ProcessInfo], max_links: int) -> None:
        self.process_info = process_info
        self.max_links = max_links
        self.parents: dict[int, int] = {}
        self._no_info: set[int] = set()     # ancestors process_info could not tell us about
        self._unresolved: set[int] = set()  # pids a tree decision could not see past
        self.regrade = False                # a link arrived that an earlier decision lacked

    def link(self, pid: int, ppid: int) -> None:
        parents = self.parents
        if pid not in parents and len(parents) >= self.max_links:
            del parents[next(iter(parents))]            # the oldest link
        parents[pid] = ppid
        if pid in self._unresolved:
            self._unresolved.discard(pid)
            self.regrade = True

    def forget(self, pid: int) -> None:
        self._no_info.discard(pid)

    def is_descendant(self, pid: int, root: int) -> bool:
        """Whether ``root`` is an ancestor of ``pid``."""
        current = pid
        for _ in range(MAX_DEPTH):
            parent = self.parents.get(current)
            if parent is None:
                parent = self._ask_parent(current)
                if parent is None:
                    # A child can show up before its parent does: remember the gap so the
                    # decision is revisited when the link arrives (see link).
                    if len(self._unresolved) >= self.max_links:
                        self._unresolved.clear()
                    self._unresolved.add(current)
                    return False
            if parent == root:
                return True
            if parent <= 1 or parent == current:
                return False
            current = parent
        return False

    def _ask_parent(self, pid: int) -> Optional[int]:
        if self.process_info is None or pid in self._no_info or pid <= 1:
            return None
        try:
            ppid = (self.process_info(pid) or {}).get("ppid")
        except Exception:
            ppid = None
        if not ppid:
            if len(self._no_info) >= self.max_links:
                self._no_info.clear()
            self._no_info.add(pid)
            return None
        self.link(pid, int(ppid))
        return int(ppid)

    def display_parent(self, pid: int, shown) -> int:
        """The nearest ancestor of ``pid`` that is in ``shown``, or 0 for a top-level node."""
        current = pid
        for _ in range(MAX_DEPTH):
            parent = self.parents.get(current)
            if parent is None or parent <= 0 or parent == current:
                return 0
            if parent in shown:
                return parent
            current = parent
        return 0


def fill_info(proc, lineage: Lineage) -> bool:
    """cmdline, user and parent of ``proc`` from ``process_info``; whether anything came."""
    proc.info_done = True
    try:
        info = lineage.process_info(proc.pid) if lineage.process_info else None
    except Exception:       # a vanished process or an unreadable /proc: keep what we have
        info = None
    if not info:
        return False
    cmdline = info.get("cmdline")
    if isinstance(cmdline, (list, tuple)):
        cmdline = " ".join(os.fsdecode(a) if isinstance(a, bytes) else str(a) for a in cmdline)
    elif isinstance(cmdline, bytes):
        cmdline = cmdline.replace(b"\0", b" ").strip().decode("utf-8", "surrogateescape")
    proc.cmdline = cmdline or proc.cmdline
    if info.get("user") is not None:
        proc.user = str(info["user"])
    if not proc.ppid and info.get("ppid"):
        proc.ppid = int(info["ppid"])
        if proc.pid not in lineage.parents:
            lineage.link(proc.pid, proc.ppid)
    return True
