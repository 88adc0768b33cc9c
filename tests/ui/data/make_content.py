"""Writes tests/ui/data/content.jsonl: a fixed recording made with --content for the UI tests
of `D` (the changes of a file). Deterministic: re-running it gives the same bytes.

    python tests/ui/data/make_content.py

Under /home/dev/proj: `vim` saves etc/app.conf twice the way editors do (a swap file renamed
over it), `sed -i`-like `deploy` rewrites a line in place, and `dd` patches a binary blob.
"""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from sniff_tui.core.record import ContentRecord, Record  # noqa: E402

ROOT = b"/home/dev/proj"
T0 = 1_700_000_000.0
CONF = ROOT + b"/etc/app.conf"
SWAP = ROOT + b"/etc/.app.conf.swp"
BLOB = ROOT + b"/data/blob.bin"

V1 = b"".join(b"option_%02d = %d\n" % (i, i) for i in range(30))
V2 = V1.replace(b"option_03 = 3", b"option_03 = 33").replace(b"option_20 = 20\n", b"")
V3 = V2 + b"# tuned by deploy\nworkers = 8\n"
V4 = V3.replace(b"workers = 8", b"workers = 16")

lines: list[bytes] = []


def rec(ts, op, pid, comm, path, **kw) -> None:
    lines.append(Record(ts=T0 + ts, op=op, pid=pid, tid=pid, ppid=1000, uid=1000, comm=comm,
                        path=path, **kw).to_json_bytes())


def content(ts, pid, comm, path, offset, data, base=False) -> None:
    lines.append(ContentRecord(T0 + ts, pid, pid, comm, path, offset, len(data), data,
                               cgroup=b"/user.slice", base=base).to_json_bytes())


def save(ts, pid, before, after) -> None:
    """An editor's save: read the file, write the swap file, rename it over the file."""
    rec(ts, "open", pid, b"vim", CONF, fd=3)
    if before is not None:
        content(ts + 0.001, pid, b"vim", CONF, 0, before, base=True)
    rec(ts + 0.002, "read", pid, b"vim", CONF, bytes=len(before or b""), fd=3)
    rec(ts + 0.003, "close", pid, b"vim", CONF, fd=3)
    rec(ts + 1.0, "open", pid, b"vim", SWAP, fd=4)
    content(ts + 1.001, pid, b"vim", SWAP, 0, b"", base=True)
    rec(ts + 1.002, "write", pid, b"vim", SWAP, bytes=len(after), fd=4)
    content(ts + 1.002, pid, b"vim", SWAP, 0, after)
    rec(ts + 1.003, "close", pid, b"vim", SWAP, fd=4)
    rec(ts + 1.004, "rename", pid, b"vim", SWAP, new_path=CONF)


save(1.0, 2001, V1, V2)
# deploy appends two lines in place
rec(5.0, "open", 2100, b"deploy", CONF, fd=5)
rec(5.001, "write", 2100, b"deploy", CONF, bytes=len(V3) - len(V2), fd=5)
content(5.001, 2100, b"deploy", CONF, len(V2), V3[len(V2):])
rec(5.002, "close", 2100, b"deploy", CONF, fd=5)
save(8.0, 2002, None, V4)
# a binary patch
rec(10.0, "open", 2200, b"dd", BLOB, fd=3)
content(10.0005, 2200, b"dd", BLOB, 0, bytes(range(256)) * 4, base=True)
rec(10.001, "write", 2200, b"dd", BLOB, bytes=16, fd=3)
content(10.001, 2200, b"dd", BLOB, 100, b"\xff" * 16)
rec(10.002, "close", 2200, b"dd", BLOB, fd=3)

if __name__ == "__main__":
    (HERE / "content.jsonl").write_bytes(b"\n".join(lines) + b"\n")
