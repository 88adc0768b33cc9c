"""Versions of captured files (--content): a bounded shadow of each file's content, rebuilt from
the captured writes, and a version cut at each close after writes and at each rename over the
file (an atomic save, `write tmp; rename(tmp, file)`, is a change of `file`).

A file's first base is its content when sniff-tui first saw it opened, read then (a content
line with ``base``). That read cannot be trusted when the file was written before it finished
(a captured write older than the read): the first version then says so instead of showing a
wrong diff. Bounds: ``per_file`` bytes of content per file, ``total`` bytes held in all (shadows
and the versions' contents); past either the file is partial (its versions say so) and counted.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Iterable, Optional

from sniff_tui.core.record import ContentRecord

PER_FILE = 1 << 20
TOTAL = 64 << 20
_CHANGED = "the file changed before its first content could be read: no diff"


@dataclass
class Version:
    path: bytes
    ts: float
    pid: int
    comm: bytes
    kind: str                          # "write" (closed after writes) or "rename" (from new_from)
    before: Optional[bytes]            # None: not known (see note)
    after: Optional[bytes]
    note: Optional[str] = None         # why the diff cannot be shown or is partial
    renamed_from: Optional[bytes] = None
    _counts: Optional[tuple[int, int]] = field(default=None, repr=False)

    def counts(self) -> tuple[int, int]:
        """(lines added, lines removed); (0, 0) when not shown."""
        if self._counts is None:
            added = removed = 0
            for kind, _ in diff_lines(self):
                added += kind == "+"
                removed += kind == "-"
            self._counts = (added, removed)
        return self._counts


class _Shadow:
    __slots__ = ("data", "base", "base_ts", "note", "dirty", "writer", "partial")

    def __init__(self) -> None:
        self.data: Optional[bytearray] = None      # None: the content is not known
        self.base: Optional[bytes] = None          # the content at the last version
        self.base_ts: Optional[float] = None       # when the base was read (first base only)
        self.note: Optional[str] = None            # why the base is not to be trusted
        self.dirty = False                         # writes since the last version
        self.writer: tuple = (0.0, 0, b"")         # (ts, pid, comm) of the last write
        self.partial: Optional[str] = None


class ContentHistory:
    def __init__(self, per_file: int = PER_FILE, total: int = TOTAL) -> None:
        self.per_file, self.total = per_file, total
        self._shadows: dict[bytes, _Shadow] = {}
        self._versions: dict[bytes, list[Version]] = {}
        self.held = 0                  # bytes held: shadows and versions
        self.partial_files = 0         # files past a bound (their versions say so)
        self.captured = 0              # content lines taken
        self.version_count = 0

    # ---- taking records ----------------------------------------------------------------
    def apply(self, records: Iterable) -> None:
        for r in records:
            if r.__class__ is ContentRecord:
                self._content(r)
            elif r.op == "close":
                self._close(r)
            elif r.op == "rename" and r.new_path is not None and r.err is None:
                self._rename(r)
            elif r.op == "truncate" and r.length is not None and r.err is None:
                self._truncate(r)

    def _shadow(self, path: bytes) -> _Shadow:
        s = self._shadows.get(path)
        if s is None:
            s = self._shadows[path] = _Shadow()
        return s

    def _content(self, r: ContentRecord) -> None:
        self.captured += 1
        s = self._shadow(r.path)
        if r.base:
            if s.data is None and s.base is None and not s.dirty:
                s.base_ts = r.ts
                if r.data_truncated:
                    self._mark_partial(s, f"larger than the {len(r.data)} bytes read")
                else:
                    s.data = bytearray(r.data)
                    s.base = r.data
                    self._hold(s, len(r.data))
            return
        if s.base_ts is not None and r.ts < s.base_ts and s.note is None and not s.dirty:
            s.note = _CHANGED
        s.dirty = True
        s.writer = (r.ts, r.pid, r.comm)
        if s.partial:
            return
        if r.data_truncated:
            self._mark_partial(s, f"a write of {r.length} bytes at {r.offset} was kept only in "
                                  f"part ({len(r.data)} bytes, --content-max)")
            return
        end = r.offset + len(r.data)
        if end > self.per_file:
            self._mark_partial(s, f"larger than {self.per_file} bytes")
            return
        if s.data is None:
            # never read: what was there before is unknown; writes still show the new bytes
            s.data = bytearray()
            if s.note is None:
                s.note = "its content before sniff-tui saw it is unknown"
        grow = max(0, end - len(s.data))
        if not self._hold(s, grow):
            return
        if r.offset > len(s.data):
            s.data.extend(bytes(r.offset - len(s.data)))     # a hole reads as zeros
        s.data[r.offset:end] = r.data

    def _truncate(self, r) -> None:
        s = self._shadows.get(r.path)
        if s is None or s.data is None or s.partial:
            return
        if r.length < len(s.data):
            self.held -= len(s.data) - r.length
            del s.data[r.length:]
        elif r.length > len(s.data) and self._hold(s, r.length - len(s.data)):
            s.data.extend(bytes(r.length - len(s.data)))
        s.dirty = True
        s.writer = (r.ts, r.pid, r.comm)

    def _close(self, r) -> None:
        s = self._shadows.get(r.path)
        if s is None or not s.dirty:
            return
        ts, pid, comm = s.writer
        self._cut(r.path, s, Version(r.path, r.ts, pid or r.pid, comm or r.comm, "write", None, None))

    def _rename(self, r) -> None:
        """rename(old, new) over a file: new's content becomes old's, a version of new."""
        old = self._shadows.pop(r.path, None)
        if old is None:
            return
        target = self._shadows.pop(r.new_path, None)
        if target is not None and target.base_ts is not None and r.ts < target.base_ts \
                and target.note is None and not target.dirty:
            target.note = _CHANGED       # the base was read after this rename replaced it
        before = after = None
        if target is not None and target.data is not None and not target.partial:
            before = bytes(target.data)
        if old.data is not None and not old.partial:
            after = bytes(old.data)
        note = (old.partial or (target.partial if target else None) or old.note
                or (target.note if target else None)
                or (None if before is not None else "its content before the rename is unknown"))
        for gone in (old, target):
            if gone is not None:
                self._release(gone)
        new = _Shadow()
        if after is not None and self._hold(new, len(after)):
            new.data, new.base = bytearray(after), after
        self._shadows[r.new_path] = new
        self._add(Version(r.new_path, r.ts, r.pid, r.comm, "rename", before, after, note,
                          renamed_from=r.path))

    def _cut(self, path: bytes, s: _Shadow, v: Version) -> None:
        if s.partial:
            v.note = s.partial
        elif s.note:
            v.note = s.note
            v.after = bytes(s.data)
        else:
            v.before, v.after = s.base, bytes(s.data)
        if v.after is not None and not self._hold(s, len(v.after)):
            v.after = v.before = None
            v.note = s.partial
        s.note = None
        s.base = v.after
        s.dirty = False
        self._add(v)

    def _add(self, v: Version) -> None:
        self._versions.setdefault(v.path, []).append(v)
        self.version_count += 1

    # ---- bounds ------------------------------------------------------------------------
    def _hold(self, s: _Shadow, n: int) -> bool:
        if self.held + n > self.total:
            self._mark_partial(s, f"over the {self.total >> 20} MiB kept for all files")
            return False
        self.held += n
        return True

    def _release(self, s: _Shadow) -> None:
        if s.data is not None:
            self.held -= len(s.data)

    def _mark_partial(self, s: _Shadow, why: str) -> None:
        if s.partial is None:
            self.partial_files += 1
            s.partial = f"partial: {why}"
        if s.data is not None:
            self.held -= len(s.data)
        s.data = None

    # ---- views -------------------------------------------------------------------------
    def paths(self) -> list[bytes]:
        return list(self._versions)

    def versions(self, path: bytes) -> list[Version]:
        return list(self._versions.get(path, ()))

    def knows(self, path: bytes) -> bool:
        return path in self._shadows or path in self._versions


def is_binary(data: bytes) -> bool:
    if b"\0" in data[:8192]:
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start < len(data) - 3      # a character cut at the end is still text
    return False


def diff_lines(v: Version, context: int = 3) -> list[tuple[str, bytes]]:
    """The change as (kind, line) pairs, lines without their newline: "note", "---", "+++",
    "@@", "-", "+", " ". Binary content is summarised, never shown. Lines are raw bytes: the
    caller escapes them (textfmt.visible) before they reach a terminal."""
    out: list[tuple[str, bytes]] = []
    if v.note:
        out.append(("note", v.note.encode()))
    if v.before is None or v.after is None:
        if not out:
            out.append(("note", b"not known"))
        return out
    a, b = v.before, v.after
    if is_binary(a) or is_binary(b):
        out.append(("note", binary_summary(a, b).encode()))
        return out
    if a == b:
        out.append(("note", b"no change"))
        return out
    path = _slash(v.path)
    lines = difflib.diff_bytes(difflib.unified_diff, a.splitlines(), b.splitlines(), b"a" + path,
                               b"b" + path, lineterm=b"", n=context)
    for i, line in enumerate(lines):
        kind = "---" if i == 0 else "+++" if i == 1 else "@@" if line.startswith(b"@@") else (
            chr(line[0]) if line else " ")
        out.append((kind, line))
    return out


def _slash(path: bytes) -> bytes:
    return path if path.startswith(b"/") else b"/" + path


def binary_summary(a: bytes, b: bytes) -> str:
    """``binary: 16 bytes changed at offset 100`` (and the size change, if any)."""
    n = min(len(a), len(b))
    diffs = [i for i in range(n) if a[i] != b[i]] if n <= 1 << 20 else []
    parts = []
    if diffs:
        parts.append(f"{len(diffs)} bytes changed at offset {diffs[0]}")
    if len(b) != len(a):
        parts.append(f"size {len(a)} -> {len(b)} bytes")
    return "binary: " + (", ".join(parts) if parts else "no change")
