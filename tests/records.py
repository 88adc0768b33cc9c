"""The one record factory of the unit and UI tests: a Record with plausible defaults, any field
overridden by keyword (``nbytes`` for ``bytes``, which is a builtin's name)."""
from __future__ import annotations

from typing import Optional

from sniff_tui.core.record import Record


def rec(op: str = "write", pid: int = 100, path: bytes = b"/w/a.txt", *, ts: float = 1000.0,
        ppid: int = 1, comm: bytes = b"proc", nbytes: Optional[int] = None, count: int = 1,
        uid: int = 1000, file_type: str = "file", tid: Optional[int] = None, **kw) -> Record:
    if "bytes" in kw:
        nbytes = kw.pop("bytes")
    elif nbytes is None and op in ("read", "write"):
        nbytes = 100
    return Record(ts=ts, op=op, pid=pid, tid=pid if tid is None else tid, ppid=ppid, uid=uid,
                  comm=comm, path=path, bytes=nbytes, count=count, file_type=file_type, **kw)
