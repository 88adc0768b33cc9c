"""Cgroups with real probes: real cgroups made under the cgroup2 mount (named as Docker,
Kubernetes with containerd and systemd name theirs), real writer processes moved into them, and
the records' cgroup, container and unit fields and every cgroup filter checked in the kernel."""
from __future__ import annotations

import os
import secrets
import select
import sys
import subprocess
import time
import uuid

import pytest

from sniff_tui.probes.cgroups import CgroupResolver, find_cgroup2
from sniff_tui.core.filters import Filters
from tests.kernel.kernel_support import PY

WRITER = """
import sys
print("ready", flush=True)
for line in sys.stdin:
    with open(sys.argv[1], "a") as f:
        f.write(line)
    print("ok", flush=True)
"""


class Writer:
    """A real process that appends a line to its file each time it is asked to."""

    def __init__(self, path, prefix=()) -> None:
        self.path = str(path)
        self.proc = subprocess.Popen([*prefix, PY, "-I", "-S", "-c", WRITER, self.path], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline() == "ready\n"
        self.pid = self.proc.pid

    def write(self, text: str = "x\n") -> None:
        self.proc.stdin.write(text)
        self.proc.stdin.flush()
        assert self.proc.stdout.readline() == "ok\n"

    def move(self, cgroup_dir: str) -> None:
        with open(os.path.join(cgroup_dir, "cgroup.procs"), "w") as fh:
            fh.write(str(self.pid))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(10)


class Tree:
    """Cgroups made for one test under <cgroup2>/sniff-test-<random>/, removed afterwards
    (deepest first, once the writers in them have exited)."""

    def __init__(self, mount: bytes) -> None:
        self.mount = os.fsdecode(mount)
        self.top = "/sniff-test-" + secrets.token_hex(4)
        self.made: list[str] = []
        self.writers: list[Writer] = []
        self.make("")

    def make(self, rel: str) -> str:
        """rel below the test's top cgroup; returns its path from the cgroup2 root."""
        path = self.top + rel
        os.makedirs(self.mount + path)
        parts = rel.strip("/").split("/") if rel else []
        for i in range(len(parts) + 1):
            sub = self.top + ("/" + "/".join(parts[:i]) if i else "")
            if sub not in self.made:
                self.made.append(sub)
        return path

    def dir(self, path: str) -> str:
        return self.mount + path

    def writer(self, target, cgroup_path: str | None, prefix=()) -> Writer:
        w = Writer(target, prefix)
        self.writers.append(w)
        if cgroup_path is not None:
            w.move(self.dir(cgroup_path))
        return w

    def close(self) -> None:
        for w in self.writers:
            w.stop()
        for path in sorted(self.made, key=lambda p: -p.count("/")):
            if os.path.isdir(self.dir(path)):
                wait_unpopulated(self.dir(path))
                os.rmdir(self.dir(path))


def wait_unpopulated(cgdir: str, timeout: float = 10.0) -> None:
    """Until the kernel says no process is left in cgdir or below (cgroup.events: `populated
    0`, a change it signals with POLLPRI): a process that just exited leaves it a moment later,
    and rmdir fails until it has."""
    with open(os.path.join(cgdir, "cgroup.events"), "rb", buffering=0) as events:
        poller = select.poll()
        poller.register(events, select.POLLPRI | select.POLLERR)
        deadline = time.monotonic() + timeout
        while b"populated 0" not in os.pread(events.fileno(), 4096, 0):
            left = deadline - time.monotonic()
            assert left > 0, f"{cgdir} still holds a process"
            poller.poll(left * 1000)


@pytest.fixture
def cgtree():
    mount, _ = find_cgroup2()
    assert mount is not None, "this machine has cgroup v2 (PLATFORM.md): the mount must be found"
    tree = Tree(mount)
    yield tree
    tree.close()


DOCKER = secrets.token_hex(32)
CONTAINERD = secrets.token_hex(32)
POD = str(uuid.uuid4())


@pytest.fixture
def three(sniff, cgtree):
    """A Docker container, a Kubernetes (containerd) container, a systemd service with a
    sub-cgroup, and a process left where it was; each writes its own file."""
    docker = cgtree.make(f"/system.slice/docker-{DOCKER}.scope")
    pod = POD.replace("-", "_")
    kube = cgtree.make(f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{pod}.slice"
                       f"/cri-containerd-{CONTAINERD}.scope")
    service = cgtree.make("/system.slice/foo.service/worker")
    writers = {
        "docker": cgtree.writer(sniff.dir / "docker.log", docker),
        "kube": cgtree.writer(sniff.dir / "kube.log", kube),
        "service": cgtree.writer(sniff.dir / "service.log", service),
        "host": cgtree.writer(sniff.dir / "host.log", None),
    }
    return cgtree, {"docker": docker, "kube": kube, "service": service}, writers


def write_all(sniff, writers) -> dict[str, list]:
    """Each writer writes once; the records by writer."""
    sniff.flush()
    for w in writers.values():
        w.write()
    records = sniff._sync()
    return {name: [r for r in records if r.pid == w.pid] for name, w in writers.items()}


def own_v2_path(pid: int) -> bytes:
    with open(f"/proc/{pid}/cgroup", "rb") as fh:
        for line in fh.read().splitlines():
            if line.startswith(b"0::"):
                return line[3:]
    raise AssertionError("no cgroup v2 line")


def test_records_name_cgroup_container_and_unit(sniff, three):
    tree, paths, writers = three
    host_path = own_v2_path(writers["host"].pid)
    got = write_all(sniff, writers)
    for name, recs in got.items():
        assert {r.op for r in recs} >= {"open", "write", "close"}, name
    docker, kube, service, host = got["docker"], got["kube"], got["service"], got["host"]
    assert {(r.cgroup, r.container, r.unit) for r in docker} == {
        (paths["docker"].encode(), DOCKER[:12], f"docker-{DOCKER}.scope".encode())}
    assert {(r.cgroup, r.container, r.unit) for r in kube} == {
        (paths["kube"].encode(), CONTAINERD[:12], f"cri-containerd-{CONTAINERD}.scope".encode())}
    assert {(r.cgroup, r.container, r.unit) for r in service} == {
        (paths["service"].encode(), None, b"foo.service")}
    assert {r.cgroup for r in host} == {host_path}
    # The JSON line carries them; a replay reads them back.
    line = docker[0].to_json()
    assert f'"container":"{DOCKER[:12]}"' in line and f'"cgroup":"{paths["docker"]}"' in line
    # Coalesced counts (the counter's later writes) keep the cgroup of the first record.
    writers["docker"].write("y\n")
    writers["docker"].write("z\n")
    later = [r for r in sniff._sync() if r.pid == writers["docker"].pid]
    assert later and {r.container for r in later} == {DOCKER[:12]}


def test_fields_are_right_in_another_mount_namespace(sniff, cgtree):
    """A container's processes usually sit in their own mount namespace: the cgroup id is
    global, so the fields do not depend on it."""
    cid = secrets.token_hex(32)
    path = cgtree.make(f"/system.slice/docker-{cid}.scope")
    w = cgtree.writer(sniff.dir / "ns.log", path, prefix=("unshare", "--mount", "--propagation", "private"))
    assert os.readlink(f"/proc/{w.pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
    got = write_all(sniff, {"ns": w})["ns"]
    assert got and {(r.cgroup, r.container) for r in got} == {(path.encode(), cid[:12])}


def kept_by_kernel(sniff, writers, filters) -> dict[str, int]:
    """Records per writer under filters, after checking userspace removed none of them: what
    is missing was dropped in the kernel."""
    sniff.source.set_filters(filters)
    before = sniff.source.filtered_out
    got = write_all(sniff, writers)
    assert sniff.source.filtered_out == before, "userspace filtered: the kernel should have"
    assert sniff.source.probes["config"][0].use_cgroup == 1
    return {name: len(recs) for name, recs in got.items()}


def test_cgroup_filter_keeps_a_subtree_in_the_kernel(sniff, three):
    tree, paths, writers = three
    slice_ = (tree.top + "/system.slice").encode()
    kept = kept_by_kernel(sniff, writers, Filters(cgroup=slice_))
    assert kept["docker"] and kept["service"] and not kept["kube"] and not kept["host"]
    kept = kept_by_kernel(sniff, writers, Filters(cgroup=paths["kube"].encode()))
    assert kept["kube"] and not kept["docker"] and not kept["service"] and not kept["host"]


def test_container_filter_by_prefix_in_the_kernel(sniff, three):
    tree, paths, writers = three
    kept = kept_by_kernel(sniff, writers, Filters(container=DOCKER[:5]))
    assert kept["docker"] and not kept["kube"] and not kept["service"] and not kept["host"]
    kept = kept_by_kernel(sniff, writers, Filters(container="pod-" + POD))
    assert kept["kube"] and not kept["docker"] and not kept["service"] and not kept["host"]


def test_unit_filter_in_the_kernel_includes_sub_cgroups(sniff, three):
    tree, paths, writers = three
    kept = kept_by_kernel(sniff, writers, Filters(unit=b"foo.service"))
    assert kept["service"] and not kept["docker"] and not kept["kube"] and not kept["host"]


def test_container_started_after_the_filter_is_followed(sniff, cgtree):
    late = secrets.token_hex(32)
    sniff.source.set_filters(Filters(container=late[:12]))
    # Nothing matches yet: the kernel keeps nothing, or (hybrid host: a v1 hierarchy may name
    # it) userspace decides.
    assert not list(sniff.source.probes["cgset"].keys())
    path = cgtree.make(f"/system.slice/docker-{late}.scope")
    writer = cgtree.writer(sniff.dir / "late.log", path)
    other = cgtree.writer(sniff.dir / "other.log", None)
    got = write_all(sniff, {"late": writer, "other": other})   # the sync re-reads the tree
    assert got["late"] and {r.container for r in got["late"]} == {late[:12]}
    assert not got["other"]
    # Now the kernel keeps the new container's cgroup.
    assert sniff.source.probes["config"][0].use_cgroup == 1
    assert [k.value for k in sniff.source.probes["cgset"].keys()] == [
        os.stat(cgtree.dir(path)).st_ino]


def _v1_systemd_mount() -> str | None:
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            left, _, right = line.partition(" - ")
            fstype, _, options = right.strip().split(" ")[:3]
            if fstype == "cgroup" and "name=systemd" in options.split(","):
                return left.split(" ")[4]
    return None


def test_hybrid_host_names_container_from_v1(sniff, cgtree):
    """The v2 path names nothing (the process stays at the v2 root) while the name=systemd v1
    hierarchy puts it in a Docker scope: the record names the container, and --container
    still keeps it (decided in userspace: the kernel only knows the v2 cgroup)."""
    if not CgroupResolver().hybrid:
        pytest.skip("no cgroup v1 hierarchy on this host (not a hybrid host)")
    v1 = _v1_systemd_mount()
    assert v1 is not None, "hybrid host without a name=systemd hierarchy"
    cid = secrets.token_hex(32)
    v1_dir = os.path.join(v1, "sniff-test-" + secrets.token_hex(4), f"docker-{cid}.scope")
    os.makedirs(v1_dir)
    writer = other = None
    try:
        writer = cgtree.writer(sniff.dir / "v1.log", None)
        other = cgtree.writer(sniff.dir / "v1other.log", None)
        writer.move(v1_dir)
        got = write_all(sniff, {"v1": writer, "other": other})
        assert got["v1"] and {(r.container, r.unit) for r in got["v1"]} == {
            (cid[:12], f"docker-{cid}.scope".encode())}
        assert {r.cgroup for r in got["v1"]} == {own_v2_path(writer.pid)}
        sniff.source.set_filters(Filters(container=cid[:8]))
        assert sniff.source.probes["config"][0].use_cgroup == 0   # userspace decides
        got = write_all(sniff, {"v1": writer, "other": other})
        assert got["v1"] and not got["other"]
    finally:
        for w in (writer, other):
            if w is not None:
                w.stop()
        for d in (v1_dir, os.path.dirname(v1_dir)):
            for _ in range(50):
                try:
                    os.rmdir(d)
                    break
                except OSError:
                    time.sleep(0.02)


def test_cli_refuses_a_missing_cgroup_in_one_line():
    out = subprocess.run([sys.executable, "-m", "sniff_tui.commands.cli", "stream", "--cgroup", "/no/such/cgroup/here",
                          "--duration", "0"], capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "no such cgroup" in out.stderr


def test_kernels_without_the_helper_filter_in_userspace(tmp_path, cgtree, monkeypatch):
    """Before Linux 5.12 tracing programs may not call bpf_get_current_ancestor_cgroup_id: the
    probes are built without it (as the loader does on such kernels) and load, and the cgroup
    filters still keep exactly the right records, decided in userspace."""
    from tests.kernel.kernel_support import built_with
    watched = tmp_path / "w"
    with built_with("-DSNIFF_NO_CGROUP_FILTER", watched, monkeypatch) as sniff:
        source = sniff.source
        source.probes.cgroup_filter = False      # what the loader says on such a kernel
        cid = secrets.token_hex(32)
        path = cgtree.make(f"/system.slice/docker-{cid}.scope")
        writers = {"in": cgtree.writer(watched / "in.log", path), "out": cgtree.writer(watched / "out.log", None)}
        source.set_filters(Filters(container=cid[:12]))
        assert source.probes["config"][0].use_cgroup == 0
        before = source.filtered_out
        got = write_all(sniff, writers)
        assert got["in"] and {r.container for r in got["in"]} == {cid[:12]}
        assert not got["out"] and source.filtered_out > before
