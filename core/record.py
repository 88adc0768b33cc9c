"""The record every layer exchanges: decoded from the kernel, written as JSONL, replayed.

Names (paths, comm) are bytes end to end: the kernel hands us bytes and file names need not be
UTF-8. JSON gets them as text; when a name is not valid UTF-8 the text field carries U+FFFD for
the bad bytes and a sibling ``<field>_b64`` field carries the exact bytes (base64), so a
recording stays strict JSON and loses nothing.
"""
from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import math

import orjson
from dataclasses import dataclass, field
from typing import Any, Optional

OPS = ("open", "read", "write", "close", "rename", "unlink", "truncate", "mmap", "mmap_write", "fallocate")
BYTE_FIELDS = ("comm", "path", "new_path", "cgroup", "unit")
# Ops whose bytes are data written into the file: write(2) and its family, and pages dirtied
# through a shared mapping (kept apart by their op, summed in "written" totals).
WRITTEN = frozenset(("write", "mmap_write"))
VIAS = ("io_uring",)               # how an op was submitted, when not by a syscall of its own


@dataclass(slots=True)
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
    cgroup: Optional[bytes] = None     # cgroup v2 path of the process, from the cgroup2 root
    container: Optional[str] = None    # container id (12 hex) or pod-<uid> its cgroup names
    unit: Optional[bytes] = None       # systemd unit (.service or .scope) its cgroup names
    offset: Optional[int] = None       # mmap, fallocate: where in the file (first call's)
    length: Optional[int] = None       # mmap, fallocate: how much; ftruncate: the new size
    how: Optional[str] = None          # mmap: protection and sharing; fallocate: mode flags
    via: Optional[str] = None          # "io_uring": submitted through io_uring, not by a syscall

    def to_dict(self) -> dict[str, Any]:
        # Written out field by field: this runs for every record written (150k/s under a flood).
        try:        # the common case: names that are UTF-8
            out: dict[str, Any] = {"ts": self.ts, "op": self.op, "pid": self.pid, "tid": self.tid,
                                   "ppid": self.ppid, "uid": self.uid, "comm": self.comm.decode(),
                                   "path": self.path.decode()}
            if self.new_path is not None:
                out["new_path"] = self.new_path.decode()
        except UnicodeDecodeError:
            out = {"ts": self.ts, "op": self.op, "pid": self.pid, "tid": self.tid,
                   "ppid": self.ppid, "uid": self.uid}
            _put_name(out, "comm", self.comm)
            _put_name(out, "path", self.path)
            if self.new_path is not None:
                _put_name(out, "new_path", self.new_path)
        if self.bytes is not None:
            out["bytes"] = self.bytes
        out["count"] = self.count
        if self.fd is not None:
            out["fd"] = self.fd
        out["file_type"] = self.file_type
        if self.dev is not None:
            out["dev"] = self.dev
        if self.ino is not None:
            out["ino"] = self.ino
        out["truncated"] = self.truncated
        if self.err is not None:
            out["err"] = self.err
        if self.cgroup is not None:
            _put_name(out, "cgroup", self.cgroup)
        if self.container is not None:
            out["container"] = self.container
        if self.unit is not None:
            _put_name(out, "unit", self.unit)
        if self.offset is not None:
            out["offset"] = self.offset
        if self.length is not None:
            out["length"] = self.length
        if self.how is not None:
            out["how"] = self.how
        if self.via is not None:
            out["via"] = self.via
        return out

    def to_json(self) -> str:
        return self.to_json_bytes().decode("utf-8")

    def to_json_bytes(self) -> bytes:
        """One JSONL line's content (no newline): strict JSON, UTF-8."""
        return _dumps(self.to_dict())

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
                cgroup=names["cgroup"], container=_opt_str(obj.get("container")), unit=names["unit"],
                offset=_opt_int(obj.get("offset")), length=_opt_int(obj.get("length")),
                how=_opt_str(obj.get("how")),
                via=_opt_via(obj.get("via")),
            )
        except KeyError as exc:
            raise ValueError(f"missing field {exc.args[0]!r}") from None
        except (TypeError, ValueError, OverflowError) as exc:  # int(1e999) overflows
            raise ValueError(str(exc)) from None


def _put_name(out: dict[str, Any], name: str, raw: bytes) -> None:
    try:
        out[name] = raw.decode("utf-8")
    except UnicodeDecodeError:
        out[name] = raw.decode("utf-8", "replace")
        out[name + "_b64"] = base64.b64encode(raw).decode("ascii")


def _dumps(obj: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(obj)
    except TypeError:    # a str with a lone surrogate (hand-made record): json escapes it
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "backslashreplace")


# ---- content (--content): the bytes a write put into a file ------------------------------------

@dataclass(slots=True)
class ContentRecord:
    """One captured write: ``{"op": "content", "ts", "pid", "tid", "comm", "path" (and
    ``path_b64`` as for every name), "offset", "length", "data_b64", "data_truncated", "cgroup",
    "container", "unit"}``. ``length`` is what the call wrote, ``data`` the first --content-max
    bytes of it (fewer when the process's buffer could not be read: data_truncated)."""
    ts: float
    pid: int
    tid: int
    comm: bytes
    path: bytes
    offset: int                    # where in the file the bytes landed
    length: int                    # bytes the call wrote
    data: bytes                    # the first of them (all, unless data_truncated)
    data_truncated: bool = False
    cgroup: Optional[bytes] = None
    container: Optional[str] = None
    unit: Optional[bytes] = None
    base: bool = False             # not a write: the file's content when first seen opened,
                                   # read by sniff-tui then (offset 0, length: the file's size)
    uid: int = field(default=0, compare=False)     # for the filters; not written
    ppid: int = field(default=0, compare=False)
    op: str = field(default="content", init=False)
    file_type: str = field(default="file", init=False)   # only regular files are captured

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"op": "content", "ts": self.ts, "pid": self.pid, "tid": self.tid}
        _put_name(out, "comm", self.comm)
        _put_name(out, "path", self.path)
        out["offset"] = self.offset
        out["length"] = self.length
        out["data_b64"] = base64.b64encode(self.data).decode("ascii")
        out["data_truncated"] = self.data_truncated
        out["cgroup"] = None
        if self.cgroup is not None:
            _put_name(out, "cgroup", self.cgroup)
        out["container"] = self.container
        out["unit"] = None
        if self.unit is not None:
            _put_name(out, "unit", self.unit)
        if self.base:
            out["base"] = True
        return out

    def to_json_bytes(self) -> bytes:
        return _dumps(self.to_dict())

    def to_json(self) -> str:
        return self.to_json_bytes().decode("utf-8")

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> "ContentRecord":
        """Inverse of to_dict; raises ValueError with a short reason on a malformed object."""
        if not isinstance(obj, dict) or obj.get("op") != "content":
            raise ValueError("not a content line")
        try:
            names = {n: decode_name(obj, n) for n in ("comm", "path", "cgroup", "unit")}
            if names["path"] is None or names["comm"] is None:
                raise ValueError("missing path or comm")
            ts = float(obj["ts"])
            if not math.isfinite(ts):
                raise ValueError("ts is not a finite number")
            data = obj["data_b64"]
            if not isinstance(data, str):
                raise ValueError("data_b64 is not a string")
            rec = cls(ts=ts, pid=int(obj["pid"]), tid=int(obj.get("tid", obj["pid"])),
                      comm=names["comm"], path=names["path"], offset=int(obj["offset"]),
                      length=int(obj["length"]), data=base64.b64decode(data, validate=True),
                      data_truncated=bool(obj.get("data_truncated", False)), cgroup=names["cgroup"],
                      container=_opt_str(obj.get("container")), unit=names["unit"],
                      base=obj.get("base") is True)
        except KeyError as exc:
            raise ValueError(f"missing field {exc.args[0]!r}") from None
        except (TypeError, ValueError, OverflowError, binascii.Error) as exc:
            raise ValueError(str(exc)) from None
        if rec.offset < 0 or rec.length < 0 or len(rec.data) > rec.length:
            raise ValueError("offset, length and data disagree")
        return rec


# ---- the other JSONL line kind: a statistics snapshot -----------------------------------------

@dataclass
class MapHealth:
    name: str
    entries: int
    max_entries: int
    evictions: int = 0


@dataclass
class SourceStats:
    """A source's health: what it delivered, what was lost and where, how full its maps are.
    Written as ``{"op": "stats", ...}`` lines by ``stream --stats`` and by the dashboard's
    export, and read back by replay (both through to_dict/from_dict). A snapshot, safe to hand
    to another thread."""
    records: int = 0                  # records delivered
    ringbuf_drops: int = 0            # file records the kernel could not queue...
    lost_calls: int = 0               # ...and the syscalls they stood for
    proc_drops: int = 0               # fork/exec/exit records the kernel could not queue
    name_drops: int = 0               # records of paths given as strings lost before their scope
                                      # was known (failed opens, unlinks, renames: maybe not ours)
    truncated_paths: int = 0          # delivered records whose path could not be completed
    evictions: int = 0                # syscalls sent one by one: the counter map was full
    unplaced: int = 0                 # syscalls whose file could not be placed (walk not run)
    feed_dropped: int = 0             # records dropped on the way to the consumer (it had gone)
    filtered_out: int = 0             # records removed by userspace filters
    ns_unresolved: int = 0            # paths of processes in another mount namespace that had
                                      # exited before /proc/PID/root could resolve them (resolved
                                      # against ours instead: maybe misplaced)
    unnamed: int = 0                  # syscalls in records that named their file by identity
                                      # (close_range) when its path was no longer known
    content_drops: int = 0            # --content: captured writes the ring buffer had no room
    content_lost_bytes: int = 0       # for, and the bytes those writes wrote
    content_unnamed: int = 0          # captured writes whose file's path was not known (its
                                      # write record was lost): not delivered
    missing: list[str] = field(default_factory=list)         # what this kernel lacks, and so
                                                              # what is not seen
    maps: list[MapHealth] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)   # every kernel counter, by name
    programs: dict[str, Any] = field(default_factory=dict)   # probe cost, by program
    missing: list[str] = field(default_factory=list)   # what this kernel cannot follow (io_uring...)
    loading: list[str] = field(default_factory=list)   # features not live yet (empty once all are)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"op": "stats"}
        for f in dataclasses.fields(self):
            out[f.name] = getattr(self, f.name)
        out["maps"] = [{"name": m.name, "entries": m.entries, "max_entries": m.max_entries,
                        "evictions": m.evictions,
                        "utilization": round(m.entries / m.max_entries, 4) if m.max_entries else 0.0}
                       for m in self.maps]
        return out

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> "SourceStats":
        """Inverse of to_dict. Also reads lines of earlier versions (maps as a {name: {entries,
        max}} object). Raises ValueError with a short reason."""
        try:
            raw_maps = obj.get("maps") or []
            if isinstance(raw_maps, dict):
                raw_maps = [{"name": k, **v} for k, v in raw_maps.items()]
            maps = [MapHealth(name=str(m["name"]), entries=int(m.get("entries", 0)),
                              max_entries=int(m.get("max_entries", m.get("max", 0))),
                              evictions=int(m.get("evictions", 0))) for m in raw_maps]
            counters = obj.get("counters") or {}
            ints = {f.name: int(obj.get(f.name, counters.get(f.name, 0)) or 0)
                    for f in dataclasses.fields(cls) if f.type in ("int", int)}
            # Lines that only carry the kernel's counters (stream --stats before this layout):
            # the same figures under the kernel's names.
            for field_name, counter in (("evictions", "agg_full"), ("truncated_paths", "truncated")):
                if field_name not in obj and counter in counters:
                    ints[field_name] = int(counters[counter])
            return cls(**ints, maps=maps, counters={str(k): int(v) for k, v in counters.items()},
                       missing=[str(m) for m in obj.get("missing") or []],
                       loading=[str(m) for m in obj.get("loading") or []],
                       programs=dict(obj.get("programs") or {}))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"bad stats line: {exc}") from None


def _opt_via(value: Any) -> Optional[str]:
    if value is None or value in VIAS:
        return value
    raise ValueError(f"unknown via {value!r}")


def _opt_int(value: Any) -> Optional[int]:
    return None if value is None else int(value)


def _opt_str(value: Any) -> Optional[str]:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{value!r} is not a string")
    return value


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
