"""The record every layer exchanges: decoded from the kernel, written as JSONL, replayed.

Names (paths, comm) are bytes end to end: the kernel hands us bytes and file names need not be
UTF-8. JSON gets them as text; when a name is not valid UTF-8 the text field carries U+FFFD for
the bad bytes and a sibling ``<field>_b64`` field carries the exact bytes (base64), so a
recording stays strict JSON and loses nothing.
"""
from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass, field
from typing import Any, Optional

OPS = ("open", "read", "write", "close", "rename", "unlink", "truncate")
BYTE_FIELDS = ("comm", "path", "new_path")


@dataclass
class Record:
    ts: float                      # Unix time, seconds
    op: str                        # one of OPS
    pid: int                       # process (tgid)
    tid: int
    ppid: int
    uid: int
    comm: bytes
    path: bytes                    # absolute, canonical
    new_path: Optional[bytes] = None   # rename only
    bytes: Optional[int] = None        # read/write: bytes transferred
    count: int = 1                     # syscalls this record stands for
    fd: Optional[int] = None
    file_type: str = "file"            # file dir fifo socket chr blk symlink unknown
    dev: Optional[str] = None          # "major:minor" of the file's filesystem
    ino: Optional[int] = None
    truncated: bool = False            # a path could not be completed
    err: Optional[str] = None          # errno name of a failed call (open, rename, ...)
    watch: Optional[bytes] = field(default=None, compare=False)  # the watched dir it is under

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in ("ts", "op", "pid", "tid", "ppid", "uid", "comm", "path", "new_path", "bytes",
                     "count", "fd", "file_type", "dev", "ino", "truncated", "err"):
            value = getattr(self, name)
            if name in BYTE_FIELDS:
                if value is None:
                    continue
                text, raw = encode_name(value)
                out[name] = text
                if raw is not None:
                    out[name + "_b64"] = raw
                continue
            if value is None and name in ("new_path", "bytes", "fd", "err", "dev", "ino"):
                continue
            out[name] = value
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> "Record":
        """Inverse of to_dict; raises ValueError with a short reason on a malformed object."""
        if not isinstance(obj, dict):
            raise ValueError("not a JSON object")
        try:
            op = obj["op"]
            if op not in OPS:
                raise ValueError(f"unknown op {op!r}")
            names = {n: decode_name(obj, n) for n in BYTE_FIELDS}
            if names["path"] is None or names["comm"] is None:
                raise ValueError("missing path or comm")
            ts = float(obj["ts"])
            if not math.isfinite(ts):  # json.loads accepts NaN/Infinity; to_json must stay strict
                raise ValueError("ts is not a finite number")
            return cls(
                ts=ts, op=op, pid=int(obj["pid"]), tid=int(obj.get("tid", obj["pid"])),
                ppid=int(obj.get("ppid", 0)), uid=int(obj.get("uid", 0)), comm=names["comm"],
                path=names["path"], new_path=names["new_path"],
                bytes=_opt_int(obj.get("bytes")), count=int(obj.get("count", 1)),
                fd=_opt_int(obj.get("fd")), file_type=str(obj.get("file_type", "file")),
                dev=obj.get("dev"), ino=_opt_int(obj.get("ino")),
                truncated=bool(obj.get("truncated", False)), err=obj.get("err"),
            )
        except KeyError as exc:
            raise ValueError(f"missing field {exc.args[0]!r}") from None
        except (TypeError, ValueError, OverflowError) as exc:  # int(1e999) overflows
            raise ValueError(str(exc)) from None


def _opt_int(value: Any) -> Optional[int]:
    return None if value is None else int(value)


def encode_name(raw: bytes) -> tuple[str, Optional[str]]:
    """(text for JSON, base64 of the exact bytes or None when the text is already exact)."""
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError:
        return raw.decode("utf-8", "replace"), base64.b64encode(raw).decode("ascii")


def decode_name(obj: dict[str, Any], name: str) -> Optional[bytes]:
    if name + "_b64" in obj:
        return base64.b64decode(obj[name + "_b64"], validate=True)
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} is not a string")
    return value.encode("utf-8", "surrogatepass")
