"""Cgroup names: the runtime and systemd patterns, the cgroup2 mount found in mountinfo, the
id -> path resolver over a directory tree (a real one made in tmp_path: ids are its inodes, as
they are in the cgroup2 mount), the hybrid fall-back to /proc/PID/cgroup, and the filters."""
from __future__ import annotations

import json
import os

import pytest

from sniff_tui.probes import cgroups
from sniff_tui.probes.cgroups import CgroupResolver, find_cgroup2, names_in, normalize_container, normalize_unit
from sniff_tui.core.filters import FilterError, Filters
from sniff_tui.core.record import Record
from records import rec

H = "0123456789abcdef" * 4
POD = "1f2e3d4c-5b6a-4798-8877-665544332211"


@pytest.mark.parametrize("path, container, unit", [
    (f"/system.slice/docker-{H}.scope", H[:12], f"docker-{H}.scope"),
    (f"/docker/{H}", H[:12], None),
    (f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{POD.replace('-', '_')}.slice"
     f"/cri-containerd-{H}.scope", H[:12], f"cri-containerd-{H}.scope"),
    (f"/kubepods/besteffort/pod{POD}/{H}", H[:12], None),
    (f"/kubepods.slice/kubepods-pod{POD.replace('-', '_')}.slice", f"pod-{POD}", None),
    (f"/machine.slice/libpod-{H}.scope/container", H[:12], f"libpod-{H}.scope"),
    (f"/system.slice/crio-{H}.scope", H[:12], f"crio-{H}.scope"),
    ("/system.slice/nginx.service", None, "nginx.service"),
    ("/system.slice/nginx.service/worker", None, "nginx.service"),
    ("/user.slice/user-1000.slice/user@1000.service/app.slice/vte-spawn-1.scope", None,
     "vte-spawn-1.scope"),
    ("/", None, None),
    ("/process_api/19a6ea9f48bce0580b80ff71f3f74253", None, None),    # 32 hex: not a container
    (f"/docker-{H}.scopex", None, None),
    (f"/system.slice/docker-{H[:63]}.scope", None, f"docker-{H[:63]}.scope"),
])
def test_names_in_paths(path, container, unit):
    assert names_in(path.encode()) == (container, unit.encode() if unit else None)


def test_find_cgroup2_in_mountinfo(tmp_path):
    hybrid = tmp_path / "hybrid"
    hybrid.write_text(
        "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
        "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
        "41 31 0:38 / /sys/fs/cgroup/uni\\040fied rw,relatime - cgroup2 cgroup2 rw\n")
    assert find_cgroup2(str(hybrid)) == (b"/sys/fs/cgroup/uni fied", True)
    pure = tmp_path / "pure"
    pure.write_text("30 23 0:27 / /sys/fs/cgroup rw shared:9 - cgroup2 cgroup2 rw,nsdelegate\n")
    assert find_cgroup2(str(pure)) == (b"/sys/fs/cgroup", False)
    v1 = tmp_path / "v1"
    v1.write_text("32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n")
    assert find_cgroup2(str(v1)) == (None, True)
    assert find_cgroup2(str(tmp_path / "absent")) == (None, False)


def make_tree(root, *paths):
    for p in paths:
        os.makedirs(os.path.join(root, p.lstrip("/")), exist_ok=True)


def ino(root, path):
    return os.stat(os.path.join(root, path.lstrip("/"))).st_ino


def resolver(tmp_path, hybrid=False) -> CgroupResolver:
    root = tmp_path / "cg"
    root.mkdir(exist_ok=True)
    (tmp_path / "proc").mkdir(exist_ok=True)
    return CgroupResolver(root=os.fsencode(root), proc=str(tmp_path / "proc"), hybrid=hybrid)


def test_resolver_maps_ids_and_refreshes_on_a_miss(tmp_path):
    r = resolver(tmp_path)
    root = str(tmp_path / "cg")
    make_tree(root, f"/system.slice/docker-{H}.scope")
    info = r.lookup(ino(root, f"/system.slice/docker-{H}.scope"))
    assert info == (f"/system.slice/docker-{H}.scope".encode(), H[:12], f"docker-{H}.scope".encode())
    assert r.lookup(ino(root, "/")).path == b"/"
    walks = r.walks
    make_tree(root, "/system.slice/new.service")          # made after the last walk
    assert r.lookup(ino(root, "/system.slice/new.service")).unit == b"new.service"
    assert r.walks == walks + 1
    # An id that is nowhere is looked for once, not on every record.
    assert r.lookup(987654321) is None and r.lookup(987654321) is None
    assert r.walks == walks + 2
    # A removed cgroup keeps its name (its records may still be in flight).
    os.rmdir(os.path.join(root, "system.slice/new.service"))
    r.refresh()
    assert r._ids and any(i.unit == b"new.service" for i in r._ids.values())


def test_hybrid_falls_back_to_the_v1_hierarchies(tmp_path):
    r = resolver(tmp_path, hybrid=True)
    root = str(tmp_path / "cg")
    proc = tmp_path / "proc" / "42"
    proc.mkdir()
    (proc / "cgroup").write_bytes(
        b"4:memory:/process_api/19a6ea9f48bce0580b80ff71f3f74253\n"
        b"9:name=systemd:/system.slice/docker-" + H.encode() + b".scope\n0::/\n")
    top = ino(root, "/")
    assert r.lookup(top, 42) == (b"/", H[:12], f"docker-{H}.scope".encode())
    assert r.lookup(top, 43) == (b"/", None, None)         # gone (or never there): v2 only
    assert r.lookup(top) == (b"/", None, None)             # no pid: v2 only
    # Where v2 names the cgroup, v1 is not read.
    make_tree(root, "/system.slice/a.service")
    assert r.lookup(ino(root, "/system.slice/a.service"), 42).unit == b"a.service"


def test_unavailable_without_cgroup2(tmp_path):
    mountinfo = tmp_path / "mi"
    mountinfo.write_text("32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n")
    r = CgroupResolver(mountinfo=str(mountinfo))
    assert not r.available and r.lookup(1, 1) is None
    for kw, option in (({"cgroup": b"/x"}, "--cgroup"), ({"container": "ab"}, "--container"),
                       ({"unit": b"a.service"}, "--unit")):
        with pytest.raises(FilterError, match=f"{option} needs cgroup v2"):
            r.targets(kw.get("cgroup"), kw.get("container"), kw.get("unit"))
    assert r.targets(None, None, None) is None


def test_targets_are_the_topmost_matching_cgroups_with_their_levels(tmp_path):
    r = resolver(tmp_path)
    root = str(tmp_path / "cg")
    pod = POD.replace("-", "_")
    kube = f"/kubepods.slice/kubepods-pod{pod}.slice"
    make_tree(root, f"/system.slice/docker-{H}.scope/inner", f"{kube}/cri-containerd-{'a' * 64}.scope",
              "/system.slice/foo.service/worker", "/other")
    assert r.targets(None, H[:6], None) == [(ino(root, f"/system.slice/docker-{H}.scope"), 2)]
    assert r.targets(None, "pod-" + POD[:8], None) == [(ino(root, kube), 2)]
    assert r.targets(None, None, b"foo.service") == [(ino(root, "/system.slice/foo.service"), 2)]
    assert r.targets(b"/system.slice", None, None) == [(ino(root, "/system.slice"), 1)]
    assert r.targets(b"/system.slice", None, b"foo.service") == [(ino(root, "/system.slice/foo.service"), 2)]
    assert r.targets(b"/", None, None) is None              # the root: everything
    assert r.targets(None, "fff", None) == []               # nothing yet: the kernel keeps nothing
    assert resolver(tmp_path, hybrid=True).targets(None, "fff", None) is None   # maybe in v1


def test_cgroup_path_option(tmp_path):
    r = resolver(tmp_path)
    root = str(tmp_path / "cg")
    make_tree(root, "/system.slice/foo.service")
    assert r.cgroup_path("/system.slice/foo.service/") == b"/system.slice/foo.service"
    assert r.cgroup_path("system.slice") == b"/system.slice"
    assert r.cgroup_path(root + "/system.slice") == b"/system.slice"
    assert r.cgroup_path("/") == b"/"
    with pytest.raises(FilterError, match="no such cgroup"):
        r.cgroup_path("/nope")
    with pytest.raises(FilterError, match=r"'\.\.'"):
        r.cgroup_path("/system.slice/../..")


def test_normalized_container_and_unit_names():
    assert normalize_container(H.upper()) == H[:12]
    assert normalize_container("3f2a") == "3f2a"
    assert normalize_container("pod-" + POD) == "pod-" + POD
    assert normalize_unit("nginx") == b"nginx.service"
    assert normalize_unit("x.scope") == b"x.scope"
    for bad in ("", "xyz!", "docker ps"):
        with pytest.raises(FilterError):
            normalize_container(bad)
    with pytest.raises(FilterError):
        normalize_unit("a/b")


def test_filters_match_the_records_fields():
    docker = rec(cgroup=f"/system.slice/docker-{H}.scope".encode(), container=H[:12],
                 unit=f"docker-{H}.scope".encode())
    sub = rec(cgroup=b"/system.slice/foo.service/worker", unit=b"foo.service")
    kube = rec(cgroup=f"/kubepods.slice/kubepods-pod{POD.replace('-', '_')}.slice/cri-containerd-{H}.scope"
               .encode(), container=H[:12])
    bare = rec()
    assert Filters(container=H[:3]).matches(docker) and not Filters(container="ff").matches(docker)
    assert Filters(container="pod-" + POD).matches(kube) and not Filters(container="pod-" + POD).matches(docker)
    assert Filters(unit=b"foo.service").matches(sub) and not Filters(unit=b"foo.service").matches(docker)
    assert Filters(cgroup=b"/system.slice").matches(sub) and Filters(cgroup=b"/system.slice").matches(docker)
    assert not Filters(cgroup=b"/system.sl").matches(sub)      # a component, not a string prefix
    assert not any(Filters(**kw).matches(bare) for kw in
                   ({"cgroup": b"/system.slice"}, {"container": "0"}, {"unit": b"foo.service"}))
    assert Filters(cgroup=b"/x", container="ab", unit=b"u.service").describe() == \
        "cgroup=/x container=ab unit=u.service"


def test_record_fields_round_trip_and_old_lines_replay():
    r = rec(cgroup=b"/system.slice/evil\xff\x1b.service", container=H[:12], unit=b"evil\xff\x1b.service")
    obj = json.loads(r.to_json())
    assert obj["container"] == H[:12] and "cgroup_b64" in obj and "unit_b64" in obj
    assert Record.from_dict(obj) == r
    old = {"ts": 1.0, "op": "write", "pid": 1, "comm": "x", "path": "/w/a"}
    back = Record.from_dict(old)
    assert (back.cgroup, back.container, back.unit) == (None, None, None)
    assert "cgroup" not in json.loads(back.to_json())
    with pytest.raises(ValueError):
        Record.from_dict({**old, "container": 5})


def test_cli_refuses_cgroup_filters_without_cgroup_v2(tmp_path, monkeypatch, capsys):
    from sniff_tui.commands.cli import main
    mountinfo = tmp_path / "mi"
    mountinfo.write_text("32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n")
    monkeypatch.setattr(cgroups, "MOUNTINFO", str(mountinfo))
    for args in (["--cgroup", "/a"], ["--container", "abc"], ["--unit", "x"]):
        assert main(["stream", *args]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "needs cgroup v2" in err
    monkeypatch.undo()
    if not CgroupResolver().available:
        return
    assert main(["stream", "--container", "not hex"]) == 2
    assert "not a container id" in capsys.readouterr().err


def test_decoder_names_the_cgroup_of_a_kernel_record(tmp_path):
    from sniff_tui.probes import abi
    from sniff_tui.probes.decode import Decoder
    from sniff_tui.probes.scope import Watches
    from sniff_tui.probes.layout import layout
    event = layout("sniff_event")
    watched = tmp_path / "w"
    watched.mkdir()
    w = Watches()
    w.add(os.fsencode(watched), 0, os.stat(watched))
    r = resolver(tmp_path)
    root = str(tmp_path / "cg")
    make_tree(root, f"/system.slice/docker-{H}.scope")
    dec = Decoder(w, cgroups=r)
    walk = b"leaf\0"

    def decode(cgid):
        raw = bytes(event.pack({"op": abi.OP_CODES["write"], "pid": 7, "tid": 7, "ret": 3, "count": 1,
                                "mode": 0o100644, "cgroup": cgid, "names.0.watch": 1,
                                "names.0.walk_len": len(walk), "data_len": len(walk)}))
        return dec.decode(raw[:event.offset("data")] + walk)

    got = decode(ino(root, f"/system.slice/docker-{H}.scope"))
    assert (got.cgroup, got.container, got.unit) == (
        f"/system.slice/docker-{H}.scope".encode(), H[:12], f"docker-{H}.scope".encode())
    assert json.loads(got.to_json())["container"] == H[:12]
    unknown = decode(123456789)                 # removed before it could be named
    assert (unknown.cgroup, unknown.container, unknown.unit) == (None, None, None)
    assert "cgroup" not in json.loads(unknown.to_json())


def test_kernels_before_5_12_get_no_cgroup_filter_in_the_kernel():
    from sniff_tui.probes.loader import kernel_can_filter_cgroups
    assert not kernel_can_filter_cgroups("5.10.0-28-amd64")
    assert not kernel_can_filter_cgroups("4.19.0")
    assert kernel_can_filter_cgroups("5.12.0") and kernel_can_filter_cgroups("6.18.0-1-cloud")
