"""The Processes pane's view: the active processes as a forest (each under its nearest active
ancestor), siblings sorted by the chosen key, and short-lived look-alikes grouped.

A build running 2,000 ``echo`` processes under one shell would otherwise be 2,000 flat rows:
childless siblings with the same name (``GROUP_MIN`` or more) become one ``ProcGroup`` row
with their count and summed totals, which the pane can expand.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union

from sniff_tui.session.entries import ProcEntry
from sniff_tui.session.limits import PROC_SORT_KEYS

GROUP_MIN = 3


@dataclass
class ProcNode:
    proc: ProcEntry
    children: list["Node"] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"p{self.proc.pid}"


@dataclass
class ProcGroup:
    """Childless siblings with one name under one parent."""
    parent: int
    comm: bytes
    members: list[ProcNode]
    read_bytes: int = 0
    write_bytes: int = 0
    op_count: int = 0
    last_ts: float = 0.0
    running: int = 0

    def __post_init__(self) -> None:
        for node in self.members:
            p = node.proc
            self.read_bytes += p.read_bytes
            self.write_bytes += p.write_bytes
            self.op_count += p.op_count
            self.last_ts = max(self.last_ts, p.last_ts)
            self.running += p.exit_ts is None

    @property
    def key(self) -> str:
        return f"g{self.parent}:{self.comm.hex()}"

    @property
    def pid(self) -> int:
        return min(n.proc.pid for n in self.members)


Node = Union[ProcNode, ProcGroup]


def _sort_value(node: Node, key: str):
    if isinstance(node, ProcGroup):
        values = {"write_bytes": node.write_bytes, "read_bytes": node.read_bytes,
                  "op_count": node.op_count, "name": node.comm, "pid": node.pid}
    else:
        p = node.proc
        values = {"write_bytes": p.write_bytes, "read_bytes": p.read_bytes,
                  "op_count": p.op_count, "name": p.comm, "pid": p.pid}
    return values[key]


def sort_nodes(nodes: list[Node], key: str) -> None:
    """Numbers descending, names and pids ascending; ties by pid, so the order is stable."""
    nodes.sort(key=lambda n: _sort_value(n, "pid"))
    if key in ("name", "pid"):
        nodes.sort(key=lambda n: _sort_value(n, key))
    else:
        nodes.sort(key=lambda n: _sort_value(n, key), reverse=True)


def process_forest(state, sort_key: str = "write_bytes",
                   group_min: int = GROUP_MIN, active: Optional[dict] = None) -> list[Node]:
    """The top-level nodes, each with its sorted subtree (of ``active``: all active processes
    unless given)."""
    if sort_key not in dict(PROC_SORT_KEYS):
        raise ValueError(f"unknown sort key {sort_key!r}")
    if active is None:
        active = state.active_processes()
    kids: dict[int, list[int]] = {}
    for pid in active:
        kids.setdefault(state.display_parent(pid, active), []).append(pid)
    placed: set[int] = set()

    def build(parent: int, depth: int) -> list[Node]:
        nodes: list[Node] = []
        by_name: dict[bytes, list[ProcNode]] = {}
        for pid in kids.get(parent, ()):
            if pid in placed:
                continue                      # a parent-link loop: each pid once
            placed.add(pid)
            node = ProcNode(active[pid], build(pid, depth + 1) if depth < 64 else [])
            if node.children:
                nodes.append(node)
            else:
                by_name.setdefault(node.proc.comm, []).append(node)
        for comm, leaves in by_name.items():
            if len(leaves) >= group_min:
                sort_nodes(leaves, sort_key)  # type: ignore[arg-type]
                nodes.append(ProcGroup(parent, comm, leaves))
            else:
                nodes.extend(leaves)
        sort_nodes(nodes, sort_key)
        return nodes

    forest = build(0, 0)
    # Pids whose links form a loop never hang from 0: show them at the top.
    for pid in sorted(set(active) - placed):
        placed.add(pid)
        forest.append(ProcNode(active[pid]))
    return forest


def find_parent_group(forest: list[Node], pid: int) -> Optional[ProcGroup]:
    for node in forest:
        if isinstance(node, ProcGroup):
            if any(m.proc.pid == pid for m in node.members):
                return node
        else:
            found = find_parent_group(node.children, pid)
            if found is not None:
                return found
    return None


# ---- grouping by container or unit ---------------------------------------------------------

@dataclass
class CgroupGroup:
    """The processes of one container, or else one systemd unit, or else one cgroup: a forest
    of their own (nested by parent within the group) and their totals."""
    kind: str                       # "container", "unit", "cgroup", or "none" (no cgroup known)
    name: Union[str, bytes]
    members: list[Node]
    procs: int = 0
    read_bytes: int = 0
    write_bytes: int = 0
    op_count: int = 0
    running: int = 0

    @property
    def key(self) -> str:
        name = self.name.encode() if isinstance(self.name, str) else self.name
        return f"k{self.kind}:{name.hex()}"

    @property
    def pid(self) -> int:
        return min((_sort_value(n, "pid") for n in self.members), default=0)

    @property
    def comm(self) -> bytes:
        return self.name.encode() if isinstance(self.name, str) else self.name

    def filter_fields(self) -> dict:
        """The Filters fields that narrow to this group ({} for processes with no cgroup)."""
        return {self.kind: self.name} if self.kind != "none" else {}


def cgroup_of(proc: ProcEntry) -> tuple[str, Union[str, bytes]]:
    if proc.container is not None:
        return "container", proc.container
    if proc.unit is not None:
        return "unit", proc.unit
    if proc.cgroup is not None:
        return "cgroup", proc.cgroup
    return "none", ""


def cgroup_filter_fields(proc: ProcEntry) -> dict:
    """The Filters fields that narrow to a process's container, else unit, else cgroup."""
    kind, name = cgroup_of(proc)
    return {kind: name} if kind != "none" else {}


def cgroup_forest(state, sort_key: str = "write_bytes", group_min: int = GROUP_MIN) -> list[CgroupGroup]:
    """One group per container (else unit, else cgroup), each with its own process forest,
    sorted like processes by the group totals."""
    if sort_key not in dict(PROC_SORT_KEYS):
        raise ValueError(f"unknown sort key {sort_key!r}")
    buckets: dict[tuple, dict[int, ProcEntry]] = {}
    for pid, proc in state.active_processes().items():
        buckets.setdefault(cgroup_of(proc), {})[pid] = proc
    groups = []
    for (kind, name), procs in buckets.items():
        group = CgroupGroup(kind, name, process_forest(state, sort_key, group_min, active=procs))
        for p in procs.values():
            group.procs += 1
            group.read_bytes += p.read_bytes
            group.write_bytes += p.write_bytes
            group.op_count += p.op_count
            group.running += p.exit_ts is None
        groups.append(group)
    groups.sort(key=lambda g: g.pid)
    if sort_key == "name":
        groups.sort(key=lambda g: g.comm)
    elif sort_key != "pid":
        groups.sort(key=lambda g: getattr(g, sort_key), reverse=True)
    return groups
