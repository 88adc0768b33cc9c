"""The export spool: every record the user asked to see, kept on disk until exported.

Every record that matched the filters in force when it arrived is appended to a
``SessionRecording``, an unlinked temporary file of zlib-compressed marshal batches. A list in
memory would have to be bounded and would then lose records the user asked to keep; JSON
encoding per record costs ~6 µs (30 % of a core at 50k records/s) against ~1 µs for
marshal+zlib, which also stores ~8x smaller. JSONL is produced only when the user exports.
"""
from __future__ import annotations

import dataclasses
import json
import marshal
import operator
import os
import shutil
import struct
import tempfile
import time
import zlib
from typing import Iterable, Iterator, Optional

from sniff_tui.core.record import ContentRecord, Record, encode_name
from sniff_tui.core.source import SourceStats

_ROW = operator.attrgetter(*(f.name for f in dataclasses.fields(Record)))

_CONTENT_ROW = operator.attrgetter(*(f.name for f in dataclasses.fields(ContentRecord) if f.init))

_FRAME = struct.Struct("<I")
_CONTENT_FRAME = 1 << 31        # a frame of ContentRecords (--content), flagged in its length
# Stop spooling (and count what is not kept) before the disk is full for everyone else.
MIN_FREE_BYTES = 256 * 1024 * 1024


def spool_directory() -> str:
    """Where the spool goes: $SNIFF_TUI_SPOOL_DIR, else /var/tmp (disk-backed on most systems,
    where /tmp is often RAM), else the system temp directory."""
    for candidate in (os.environ.get("SNIFF_TUI_SPOOL_DIR"), "/var/tmp"):
        if candidate and os.path.isdir(candidate) and os.access(candidate, os.W_OK):
            return candidate
    return tempfile.gettempdir()


class SessionRecording:
    """Every record the user asked to see, in arrival order, in an unlinked temporary file.

    Written by the UI thread (one frame per batch), read by an export thread with ``pread``
    up to a size taken when the export started, so both can run at once without a lock.
    """

    def __init__(self, directory: Optional[str] = None,
                 min_free_bytes: int = MIN_FREE_BYTES) -> None:
        directory = directory or spool_directory()
        fd, name = tempfile.mkstemp(prefix="sniff-tui-", suffix=".spool", dir=directory)
        os.unlink(name)          # anonymous: gone with the process, whatever way it exits
        self._fd: Optional[int] = fd
        self.directory = directory
        self.min_free_bytes = min_free_bytes
        self.size = 0
        self.kept = 0
        self.lost = 0            # records that could not be spooled (disk full, I/O error)
        self.error: Optional[str] = None
        self.has_content = False     # captured bytes: the export is created mode 0600
        self._frames_since_check = 0

    def append_content(self, records: list[ContentRecord]) -> None:
        if records:
            self.has_content = True
            self.append(records, _CONTENT_ROW, _CONTENT_FRAME)

    def append(self, records: list[Record], row=_ROW, flag: int = 0) -> None:
        if self._fd is None or not records:
            self.lost += len(records)
            return
        if self._frames_since_check <= 0:
            self._frames_since_check = 64
            try:
                if shutil.disk_usage(self.directory).free < self.min_free_bytes:
                    self.error = f"less than {self.min_free_bytes >> 20} MiB free in {self.directory}"
            except OSError as exc:
                self.error = str(exc)
        self._frames_since_check -= 1
        if self.error is not None:
            self.lost += len(records)
            return
        # A Record's fields are all marshal-able (bytes, str, int, float, bool, None); one C
        # attrgetter call makes the row.
        rows = [row(r) for r in records]
        payload = zlib.compress(marshal.dumps(rows), 1)
        frame = _FRAME.pack(len(payload) | flag) + payload
        try:
            written = os.write(self._fd, frame)
            while written < len(frame):
                written += os.write(self._fd, frame[written:])
        except OSError as exc:
            self.error = exc.strerror or str(exc)
            self.lost += len(records)
            # A partial frame would corrupt every frame after it: cut back to the last good one.
            try:
                os.ftruncate(self._fd, self.size)
                os.lseek(self._fd, self.size, os.SEEK_SET)
            except OSError:
                self._fd = None
            return
        self.size += len(frame)
        self.kept += len(records)

    def iter_records(self, upto: Optional[int] = None) -> Iterator[Record]:
        fd = self._fd
        if fd is None:
            return
        end = self.size if upto is None else upto
        offset = 0
        while offset < end:
            (length,) = _FRAME.unpack(os.pread(fd, _FRAME.size, offset))
            make = ContentRecord if length & _CONTENT_FRAME else Record
            length &= ~_CONTENT_FRAME
            payload = os.pread(fd, length, offset + _FRAME.size)
            offset += _FRAME.size + length
            for row in marshal.loads(zlib.decompress(payload)):
                yield make(*row)

    def export_jsonl(self, path: str, upto: Optional[int] = None,
                     stats: Optional[SourceStats] = None,
                     processes: Iterable[dict] = ()) -> int:
        """Write the records (and a closing stats line) as a recording ``replay`` reads back.
        ``processes``: ``{"op": "process", ...}`` lines first, so a replay can show the
        command lines the live session learnt from /proc."""
        n = 0
        if self.has_content:     # captured bytes may be anyone's secrets
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
            os.chmod(path, 0o600)
        with open(path, "w", encoding="utf-8", errors="surrogatepass") as out:
            for line in processes:
                out.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
            for rec in self.iter_records(upto):
                out.write(rec.to_json())
                out.write("\n")
                n += 1
            if stats is not None:
                line = {**stats.to_dict(), "ts": time.time()}
                out.write(json.dumps(line, separators=(",", ":")) + "\n")
        return n

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def process_lines(procs) -> list[dict]:
    """What a session knows of each process, as ``{"op": "process"}`` recording lines (the
    kind ``probes.replay`` reads back for ``process_info``)."""
    lines = []
    for proc in list(procs):
        text, raw = encode_name(proc.comm)
        line = {"op": "process", "pid": proc.pid, "ppid": proc.ppid, "comm": text}
        if raw is not None:
            line["comm_b64"] = raw
        if proc.cmdline:
            line["cmdline"] = proc.cmdline
        if proc.user:
            line["user"] = proc.user
        lines.append(line)
    return lines
