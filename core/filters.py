"""What the user asked to see. The probes API pushes these into BPF maps (so the kernel drops
what nobody wants); ``matches`` is the same decision in userspace, for replayed recordings and
for the parts that cannot run in the kernel (text search, comm globs)."""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Callable, Optional

from .record import OPS, Record

if TYPE_CHECKING:
    from .pathrules import PathRules


class FilterError(ValueError):
    """A filter value the user gave that cannot be used; the message is one line for the user."""


def parse_ops(text: str) -> frozenset[str]:
    ops = {part.strip() for part in text.split(",") if part.strip()}
    unknown = sorted(ops - set(OPS))
    if unknown:
        raise FilterError(f"unknown operation {', '.join(unknown)} (choose from {','.join(OPS)})")
    if not ops:
        raise FilterError("--ops needs at least one operation")
    return frozenset(ops)


@dataclass(frozen=True)
class Filters:
    ops: frozenset[str] = frozenset(OPS)
    pid: Optional[int] = None          # one process (tgid)
    tree: Optional[int] = None         # a process and all its descendants
    uid: Optional[int] = None
    comm: Optional[str] = None         # exact name, or a glob (* ? [)
    exclude_comm: tuple[str, ...] = ()
    all_types: bool = False            # pipes, sockets, devices... too (default: regular files)
    text: str = ""                     # dashboard only: substring of path or comm
    cgroup: Optional[bytes] = None     # a cgroup v2 path (from its root) and everything below it
    container: Optional[str] = None    # a container id prefix (probes.cgroups.normalize_container)
    unit: Optional[bytes] = None       # a systemd unit, and everything below it
    exclude: tuple[str, ...] = ()      # gitignore patterns, relative to each watched directory
    include: tuple[str, ...] = ()      # keep only paths matching one of these
    gitignore: bool = False            # every .gitignore under the watched dirs, and .git/
    # The patterns compiled for the watched directories (probes.pathrules.with_rules): shared
    # by the source and the session, so the .gitignore files are read once.
    rules: Optional["PathRules"] = field(default=None, compare=False, repr=False)

    @property
    def by_path(self) -> bool:
        return self.rules is not None and self.rules.active

    @property
    def by_cgroup(self) -> bool:
        return self.cgroup is not None or self.container is not None or self.unit is not None

    def with_(self, **changes) -> "Filters":
        return replace(self, **changes)

    def describe(self) -> str:
        """Short human summary for the dashboard header; '' when nothing is filtered."""
        parts = []
        if self.ops != frozenset(OPS):
            parts.append("ops=" + ",".join(op for op in OPS if op in self.ops))
        for name in ("pid", "tree", "uid", "comm"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={value}")
        if self.exclude_comm:
            parts.append("not " + ",".join(self.exclude_comm))
        for name in ("cgroup", "container", "unit"):
            value = getattr(self, name)
            if value is not None:
                text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
                parts.append(f"{name}={text}")
        if self.rules is not None and self.rules.active:
            parts.append(self.rules.describe())
        if self.all_types:
            parts.append("all types")
        if self.text:
            parts.append(f"/{self.text}")
        return " ".join(parts)

    def matches(self, rec: Record, is_descendant: Optional[Callable[[int, int], bool]] = None) -> bool:
        if rec.op not in self.ops:
            return False
        return self._matches_who(rec, is_descendant)

    def matches_content(self, rec, is_descendant: Optional[Callable[[int, int], bool]] = None) -> bool:
        """A captured write (record.ContentRecord): kept with the writes."""
        return "write" in self.ops and self._matches_who(rec, is_descendant)

    def _matches_who(self, rec, is_descendant) -> bool:
        if self.pid is not None and rec.pid != self.pid:
            return False
        if self.tree is not None:
            if rec.pid != self.tree and not (is_descendant and is_descendant(rec.pid, self.tree)):
                return False
        if self.uid is not None and rec.uid != self.uid:
            return False
        comm = rec.comm.decode("utf-8", "surrogateescape")
        if self.comm is not None and not comm_matches(self.comm, comm):
            return False
        if any(comm_matches(pattern, comm) for pattern in self.exclude_comm):
            return False
        if not self.all_types and rec.file_type not in ("file", "dir"):
            return False
        if self.by_cgroup and not self.cgroup_matches(rec):
            return False
        if self.rules is not None and not self.rules.keeps(rec):
            return False
        if self.text:
            needle = self.text.lower()
            hay = rec.path.decode("utf-8", "replace").lower()
            if needle not in hay and needle not in comm.lower() and needle != str(rec.pid):
                return False
        return True

    def cgroup_matches(self, rec) -> bool:
        """The cgroup filters on what a record (or cell) names: the kernel decides the same from
        the task's cgroup ancestors; this is for replays, counters older than the filter and
        names found only in a v1 hierarchy (hybrid hosts)."""
        path = rec.cgroup
        if self.cgroup is not None:
            if path is None or not (self.cgroup == b"/" or path == self.cgroup
                                    or path.startswith(self.cgroup + b"/")):
                return False
        if self.container is not None and not (rec.container or "").startswith(self.container) \
                and not _in_pod(path, self.container):
            return False
        if self.unit is not None and rec.unit != self.unit and (
                path is None or self.unit not in path.split(b"/")):
            return False
        return True


def _in_pod(path: Optional[bytes], container: str) -> bool:
    """A pod's containers are in it: --container pod-<uid> keeps them (their own id is their
    container field)."""
    if path is None or not container.startswith("pod-") or b"kubepods" not in path:
        return False
    uid = container[4:].encode()
    return b"pod" + uid in path or b"pod" + uid.replace(b"-", b"_") in path


def is_glob(pattern: str) -> bool:
    return any(ch in pattern for ch in "*?[")


COMM_MAX = 15   # the kernel keeps this many bytes of a process name


def comm_matches(pattern: str, comm: str) -> bool:
    if is_glob(pattern):
        return fnmatch.fnmatchcase(comm, pattern)
    # A longer name than the kernel keeps matches on the part the kernel kept.
    limit = COMM_MAX
    wanted = pattern.encode("utf-8", "surrogateescape")[:limit]
    return comm.encode("utf-8", "surrogateescape")[:limit] == wanted
