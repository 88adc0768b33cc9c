"""Cgroups: from the kernel's cgroup v2 id to a path, a container and a systemd unit, and from the
user's --cgroup/--container/--unit to the cgroup ids the kernel filters on.

On cgroup v2 a cgroup's id is the inode number of its directory in the cgroup2 mount, so a walk
of that tree maps ids to paths. The mount is looked up in /proc/self/mountinfo: hybrid hosts put
it at /sys/fs/cgroup/unified, pure v2 hosts at /sys/fs/cgroup, others elsewhere. On a hybrid host
the v2 path may name nothing (every process at "/") while a v1 hierarchy (name=systemd, memory...)
names the container; for a live process /proc/PID/cgroup then gives the container and unit.

Names in cgroup paths are bytes anyone who can create a cgroup chose: kept as bytes, never
interpreted beyond the patterns below.
"""
from __future__ import annotations

import os
import re
import time
from typing import NamedTuple, Optional

from sniff_tui.core.filters import FilterError
from .procfs import read_proc

# Deepest level of a cgroup the kernel filter can take as a root (sniff.h SNIFF_CG_LEVELS);
# deeper roots are filtered in userspace only.
KERNEL_LEVELS = 16
KERNEL_SET_MAX = 1024          # sniff.h SNIFF_CGSET_MAX
WALK_MAX = 100_000             # directories one walk of the tree visits at most
SHORT_ID = 12                  # docker ps's short container id

_HEX64 = rb"([0-9a-f]{64})"
_CONTAINER = re.compile(
    rb"(?:^|/)(?:(?:docker|cri-containerd|crio|libpod|containerd)-" + _HEX64 + rb"\.scope"
    rb"|" + _HEX64 + rb")(?=/|$)")
_POD = re.compile(rb"pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})"
                  rb"(?:\.slice)?(?=/|$)")
_UNIT = re.compile(rb"\.(?:service|scope)$")


class CgroupInfo(NamedTuple):
    path: bytes                    # relative to the cgroup2 root, "/" for the root
    container: Optional[str]       # short id (12 hex), or "pod-<uid>" for a pod's own cgroup
    unit: Optional[bytes]          # innermost systemd .service or .scope


def names_in(path: bytes) -> tuple[Optional[str], Optional[bytes]]:
    """(container, unit) a cgroup path names, from the usual runtime and systemd patterns."""
    container = None
    found = [m for m in _CONTAINER.finditer(path)]
    if found:
        last = found[-1]
        container = (last.group(1) or last.group(2)).decode()[:SHORT_ID]
    else:
        pod = _POD.search(path) if b"kubepods" in path else None
        if pod:
            container = "pod-" + pod.group(1).decode().replace("_", "-")
    unit = None
    for part in reversed(path.split(b"/")):
        if _UNIT.search(part):
            unit = part
            break
    return container, unit


def info_for(path: bytes) -> CgroupInfo:
    container, unit = names_in(path)
    return CgroupInfo(path, container, unit)


def _unescape(field: bytes) -> bytes:
    # mountinfo escapes space, tab, newline and backslash as \ooo
    return re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), field)


MOUNTINFO = "/proc/self/mountinfo"


def find_cgroup2(mountinfo: Optional[str] = None) -> tuple[Optional[bytes], bool]:
    """(mount point of cgroup2 or None, whether v1 hierarchies are mounted too)."""
    mountinfo = mountinfo or MOUNTINFO
    mount, v1 = None, False
    try:
        with open(mountinfo, "rb") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None, False
    for line in lines:
        left, sep, right = line.partition(b" - ")
        if not sep:
            continue
        fstype = right.split(b" ", 1)[0]
        fields = left.split(b" ")
        if fstype == b"cgroup2" and mount is None and len(fields) > 4 and fields[3] == b"/":
            mount = _unescape(fields[4])
        elif fstype == b"cgroup":
            v1 = True
    return mount, v1


def normalize_path(text: str) -> bytes:
    """A cgroup path from the cgroup2 root, '/'-separated, without '.', '..' or empty parts."""
    parts = [p for p in text.encode("utf-8", "surrogateescape").split(b"/") if p and p != b"."]
    if b".." in parts:
        raise FilterError(f"--cgroup {text!r}: '..' is not allowed")
    return b"/" + b"/".join(parts)


def normalize_unit(name: str) -> bytes:
    unit = name.strip().encode("utf-8", "surrogateescape")
    if not unit or b"/" in unit:
        raise FilterError(f"--unit {name!r}: not a unit name (e.g. nginx.service)")
    return unit if _UNIT.search(unit) else unit + b".service"


def normalize_container(text: str) -> str:
    prefix = text.strip().lower()
    if not prefix or not re.fullmatch(r"[0-9a-f]+|pod-[0-9a-f-]+", prefix):
        raise FilterError(f"--container {text!r}: not a container id (hex digits, or pod-<uid>)")
    return prefix[:SHORT_ID] if prefix[0] != "p" else prefix


class CgroupResolver:
    """cgroup id -> CgroupInfo, cached; a miss walks the cgroup2 tree again (bounded), and an id
    still unknown is not looked for again for a second (a removed cgroup's records)."""

    def __init__(self, mountinfo: Optional[str] = None, proc: str = "/proc",
                 root: Optional[bytes] = None, hybrid: Optional[bool] = None) -> None:
        found, v1 = find_cgroup2(mountinfo)
        self.root = root if root is not None else found
        self.hybrid = v1 if hybrid is None else hybrid
        self.proc = proc.encode() if isinstance(proc, str) else proc
        self._ids: dict[int, CgroupInfo] = {}
        self._missing: dict[int, float] = {}
        self._by_pid: dict[int, tuple[int, float, Optional[CgroupInfo]]] = {}
        self.walks = 0

    @property
    def available(self) -> bool:
        return self.root is not None

    # ---- ids to names ------------------------------------------------------------------

    def lookup(self, cgid: int, pid: int = 0) -> Optional[CgroupInfo]:
        """What the record of process pid in cgroup cgid names; None when unknown."""
        info = self._ids.get(cgid)
        if info is None:
            info = self._miss(cgid)
            if info is None:
                return None
        if self.hybrid and pid and info.container is None and info.unit is None:
            return self._v1(cgid, pid, info)
        return info

    def _miss(self, cgid: int) -> Optional[CgroupInfo]:
        if not self.available or cgid == 0:
            return None
        now = time.monotonic()
        if now - self._missing.get(cgid, -10.0) < 1.0:
            return None
        self.refresh()
        info = self._ids.get(cgid)
        if info is None:
            if len(self._missing) > 4096:
                self._missing.clear()
            self._missing[cgid] = now
        return info

    def refresh(self) -> dict[int, CgroupInfo]:
        """Walk the cgroup2 tree: every cgroup's id (inode) and path."""
        self.walks += 1
        ids: dict[int, CgroupInfo] = {}
        if not self.available:
            return ids
        root = self.root
        stack = [(root, b"/")]
        visited = 0
        while stack and visited < WALK_MAX:
            directory, rel = stack.pop()
            visited += 1
            try:
                if rel == b"/":
                    ids[os.stat(directory).st_ino] = info_for(rel)
                with os.scandir(directory) as it:
                    for entry in it:
                        if entry.is_dir(follow_symlinks=False):
                            path = (rel.rstrip(b"/") + b"/" + entry.name)
                            ids[entry.inode()] = info_for(path)
                            stack.append((entry.path, path))
            except OSError:        # removed while we looked
                continue
        # A cgroup that is gone keeps its name: records of it may still be in flight.
        self._ids.update(ids)
        if len(self._ids) > 4 * WALK_MAX:
            self._ids = ids
        return ids

    def _v1(self, cgid: int, pid: int, v2: CgroupInfo) -> CgroupInfo:
        # Read again after a second: a move in a v1 hierarchy alone changes no v2 id.
        hit = self._by_pid.get(pid)
        now = time.monotonic()
        if hit is not None and hit[0] == cgid and now - hit[1] < 1.0:
            return hit[2] or v2
        found = None
        for path in self._v1_paths(pid):
            container, unit = names_in(path)
            if container or unit:
                found = CgroupInfo(v2.path, container, unit)
                break
        if len(self._by_pid) > 8192:
            self._by_pid.clear()
        self._by_pid[pid] = (cgid, now, found)
        return found or v2

    def _v1_paths(self, pid: int) -> list[bytes]:
        """The v1 paths of a live process, name=systemd first."""
        lines = read_proc(b"%s/%d/cgroup" % (self.proc, pid), 65536).splitlines()
        out = []
        for line in lines:
            hid, _, rest = line.partition(b":")
            controllers, _, path = rest.partition(b":")
            if hid == b"0" or not path:
                continue
            if controllers == b"name=systemd":
                out.insert(0, path)
            else:
                out.append(path)
        return out

    def forget(self, pid: int) -> None:
        """The process exited: its pid may come back as another process."""
        self._by_pid.pop(pid, None)

    # ---- the user's filters to cgroup ids ----------------------------------------------

    def cgroup_path(self, text: str) -> bytes:
        """--cgroup: a path relative to the cgroup2 root (as in /proc/PID/cgroup), or an
        absolute path under the mount point; it must exist."""
        self.require("--cgroup")
        raw = text.encode("utf-8", "surrogateescape")
        root = self.root.rstrip(b"/")
        if raw == root or raw.startswith(root + b"/"):
            raw = raw[len(root):] or b"/"
        rel = normalize_path(os.fsdecode(raw))
        if not os.path.isdir(root + rel):
            raise FilterError(f"--cgroup {text!r}: no such cgroup under {os.fsdecode(self.root)}")
        return rel

    def require(self, option: str) -> None:
        if not self.available:
            raise FilterError(f"{option} needs cgroup v2, and no cgroup2 file system is mounted "
                              "(see /proc/self/mountinfo)")

    def targets(self, cgroup: Optional[bytes], container: Optional[str],
                unit: Optional[bytes]) -> Optional[list[tuple[int, int]]]:
        """(id, level) of the topmost cgroups the kernel should keep (each with everything below
        it), or None when the kernel cannot decide (no cgroup filter, or the names are only in
        v1 hierarchies, or too deep): then userspace does, from the records' fields."""
        if cgroup is None and container is None and unit is None:
            return None
        self.require("--cgroup" if cgroup is not None else "--container" if container is not None
                     else "--unit")
        ids = self.refresh()
        chosen = []
        for cgid, info in ids.items():
            if cgroup is not None and not under(info.path, cgroup):
                continue
            if container is not None and not (info.container or "").startswith(container):
                continue
            if unit is not None and unit not in info.path.split(b"/"):
                continue
            chosen.append((info.path, cgid))
        chosen.sort()
        roots: list[tuple[bytes, int]] = []
        for path, cgid in chosen:
            if not any(under(path, top) for top, _ in roots):
                roots.append((path, cgid))
        if not roots and self.hybrid and (container is not None or unit is not None):
            return None          # maybe named by a v1 hierarchy only: decided per record
        out = [(cgid, level_of(path)) for path, cgid in roots]
        if any(level >= KERNEL_LEVELS for _, level in out) or len(out) > KERNEL_SET_MAX:
            return None
        if any(level == 0 for _, level in out):
            return None          # the root: everything
        return out


def under(path: bytes, top: bytes) -> bool:
    return top == b"/" or path == top or path.startswith(top + b"/")


def level_of(path: bytes) -> int:
    return len([p for p in path.split(b"/") if p])


def load_cgset(table, cfg, targets: Optional[list[tuple[int, int]]]) -> None:
    """Into the kernel's cgset map and config: the cgroups it keeps (each with what is below
    it), or no cgroup check at all when targets is None (no such filter, or userspace decides)."""
    import ctypes
    have, want = {k.value for k in table.keys()}, {i for i, _ in targets or ()}
    for cgid in want - have:          # added before the stale ones go: no gap
        table[table.Key(cgid)] = ctypes.c_uint8(1)
    for cgid in have - want:
        del table[table.Key(cgid)]
    cfg.use_cgroup = int(targets is not None)
    cfg.cg_level_lo = min((level for _, level in targets or ()), default=0)
    cfg.cg_level_hi = max((level for _, level in targets or ()), default=0)
