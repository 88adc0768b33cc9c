"""Reassembling names and placing string paths by identity (no kernel needed)."""
import os

import pytest

from sniff_tui.probes import abi
from sniff_tui.probes.scope import ScopeResolver, Watches, join, kernel_dev, normalize, walk_components
from sniff_tui.probes.live import canonical_dir, mount_kdev, WatchError


def test_walk_components_reverses_leaf_first_names():
    assert walk_components(b"c\0b\0a\0") == b"a/b/c"
    assert walk_components(b"") == b""
    assert walk_components(b"we ird\nname\0sub\0") == b"sub/we ird\nname"


@pytest.mark.parametrize("raw, clean", [
    (b"/a/./b//c/", b"/a/b/c"), (b"/a/b/../c", b"/a/c"), (b"/../..", b"/"), (b"//x", b"/x"),
])
def test_normalize(raw, clean):
    assert normalize(raw) == clean


def test_join():
    assert join(b"/", b"x") == b"/x"
    assert join(b"/w/", b"x") == b"/w/x"
    assert join(b"/w", b"") == b"/w"


def watches_for(*dirs):
    w = Watches()
    for d in dirs:
        path = os.fsencode(os.path.realpath(d))
        w.add(path, 0, os.stat(path))
    return w


def test_place_by_identity_not_by_prefix(tmp_path):
    watched = tmp_path / "watched"
    sibling = tmp_path / "watched-sibling"
    (watched / "sub").mkdir(parents=True)
    sibling.mkdir()
    (tmp_path / "link").symlink_to(watched / "sub")
    resolver = ScopeResolver(watches_for(watched))
    w = os.fsencode(watched)
    assert resolver.place(w + b"/sub/f")[1] == w + b"/sub/f"
    assert resolver.place(os.fsencode(sibling) + b"/f") is None
    assert resolver.place(os.fsencode(tmp_path) + b"/link/f")[1] == w + b"/sub/f"
    assert resolver.place(w + b"/missing-dir/f")[1] == w + b"/missing-dir/f"
    assert resolver.place(w) is not None      # the watched directory itself


def test_nested_watches_pick_the_deepest(tmp_path):
    outer = tmp_path / "outer"
    inner = outer / "inner"
    inner.mkdir(parents=True)
    resolver = ScopeResolver(watches_for(outer, inner))
    watch, path = resolver.place(os.fsencode(inner) + b"/f")
    assert watch.path == os.fsencode(inner)


def test_canonical_dir_errors(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(WatchError, match="no such directory"):
        canonical_dir(tmp_path / "nope")
    with pytest.raises(WatchError, match="not a directory"):
        canonical_dir(tmp_path / "file")
    (tmp_path / "l").symlink_to(tmp_path)
    assert canonical_dir(tmp_path / "l") == os.fsencode(os.path.realpath(tmp_path))


def test_mount_kdev_matches_stat_on_this_filesystem(tmp_path):
    st = os.stat(tmp_path)
    kdev = mount_kdev(os.fsencode(os.path.realpath(tmp_path)))
    # btrfs subvolumes differ; the filesystems CI uses (ext4, tmpfs, overlay) agree.
    assert kdev == kernel_dev(os.major(st.st_dev), os.minor(st.st_dev))


def test_abi_reads_the_header():
    text = (
        "#define SNIFF_A 4\n"
        "#define SNIFF_B (SNIFF_A + 1)   /* five */\n"
        "enum x {\n"
        "    SNIFF_X = 3,\n"
        "    SNIFF_Y = 0x10,    /* sixteen */\n"
        "};\n"
    )
    values = abi.parse_header(text)
    assert values == {"SNIFF_A": 4, "SNIFF_B": 5, "SNIFF_X": 3, "SNIFF_Y": 16}
    assert set(abi.OP_CODES) == {"open", "read", "write", "close", "rename", "unlink", "truncate",
                                 "mmap", "mmap_write", "fallocate"}
    assert abi.ops_mask(["read", "write"]) == (1 << abi.OP_CODES["read"]) | (1 << abi.OP_CODES["write"])
    with pytest.raises(ValueError):
        abi.parse_header("#define SNIFF_BAD some_function()")
