"""Names are untrusted bytes: long, deep, or full of control characters, markup and invalid
UTF-8. Every one must come back byte-exact, complete, and survive the JSONL encoding."""
import json
import os

import pytest

from sniff_tui.core.record import Record
from tests.kernel.kernel_support import script

# Paths travel hex-encoded: argv would otherwise be at the mercy of the child's locale.
WRITE = script("""
p = bytes.fromhex(sys.argv[1])
fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, b"hello")
os.close(fd)
""")

# A failed open must not stop the script: the record of the failure is what we look at.
OPEN_MISSING = script("""
try:
    os.open(bytes.fromhex(sys.argv[1]), os.O_RDONLY)
except FileNotFoundError:
    pass
else:
    sys.exit("the file exists")
""")


def owp(run) -> list[tuple[str, bytes]]:
    """(op, path) of the script's own records, in order (one thread: the order is the kernel's)."""
    return [(r.op, r.path) for r in run.by_pid(run.pid)]


def write_and_check(sniff, path: bytes) -> list[Record]:
    run = sniff.run(WRITE, path.hex())
    assert run.returncode == 0
    assert owp(run) == [("open", path), ("write", path), ("close", path)]
    recs = run.by_pid(run.pid)
    assert [r.bytes for r in recs] == [None, 5, None]
    assert not any(r.truncated for r in recs)
    return recs


def long_path(base: bytes, total: int, comp: int) -> bytes:
    """base/aaa.../aaa.../fff...: exactly `total` bytes, directory names `comp` bytes long."""
    remaining = total - len(base)
    parts = []
    while remaining > comp + 1 + 56:  # keep the last name between 56 and 255 bytes
        parts.append(b"a" * comp)
        remaining -= comp + 1
    parts.append(b"f" * (remaining - 1))
    path = b"/".join([base, *parts])
    assert len(path) == total and all(len(p) <= 255 for p in parts)
    return path


def test_a_1500_byte_path_is_reported_in_full(sniff):
    path = long_path(os.fsencode(sniff.dir), 1500, comp=199)
    os.makedirs(os.path.dirname(path))
    write_and_check(sniff, path)


def test_a_path_just_under_path_max_is_reported_in_full(sniff):
    # 50-byte names: the walk runs out of its conservative budget before reaching the watch.
    path = long_path(os.fsencode(sniff.dir), 4000, comp=50)
    os.makedirs(os.path.dirname(path))
    write_and_check(sniff, path)


def test_a_40_level_deep_path_is_reported_in_full(sniff):
    path = os.fsencode(sniff.dir) + b"".join(b"/level%02d" % i for i in range(40)) + b"/leaf"
    os.makedirs(os.path.dirname(path))
    write_and_check(sniff, path)


def test_a_path_deeper_than_the_walk_limit_is_counted_not_silently_dropped(sniff):
    # 200 components below the watch: the walk (160 deep) cannot reach the watched directory,
    # so scope is unknown. Such files are not reported, but every attempt is counted.
    path = os.fsencode(sniff.dir) + b"/d" * 200 + b"/leaf"
    os.makedirs(os.path.dirname(path))
    before = sniff.source.counters()["too_deep"]
    run = sniff.run(WRITE, path.hex())
    assert run.returncode == 0
    assert run.by_pid(run.pid) == []
    assert sniff.source.counters()["too_deep"] - before >= 3    # open, write, close


# Relative paths under the watched directory; a name without "/" is used for a directory and
# for the file in it (both come from the walk). Rich markup needs "/": it spans two components.
NASTY = [
    b"with space",
    b"new\nline",
    b"cr\rtab\t",
    b"esc\x1b[31mred\x1b[0m",
    b"[bold red]x[/]",
    b"bad\xff\xfeutf8",
    b"\xc3\x28 lone-continuation",
    b"back\\slash",
    "日本語-ñ-🙂".encode(),
    b"\xe2\x80\xaertl-override",
]


@pytest.mark.parametrize("name", NASTY, ids=lambda n: repr(n)[2:-1])
def test_nasty_names_are_byte_exact_and_round_trip_through_jsonl(sniff, name):
    rel = name if b"/" in name else b"dir-" + name + b"/" + name
    path = os.fsencode(sniff.dir) + b"/" + rel
    os.makedirs(os.path.dirname(path))
    for rec in write_and_check(sniff, path):
        line = rec.to_json()
        assert "\n" not in line  # one record, one JSONL line, whatever the name holds
        back = Record.from_dict(json.loads(line))
        assert back.path == path
        assert back == rec


def canonical(sniff, *parts) -> bytes:
    return os.fsencode(os.path.join(os.path.realpath(sniff.dir), *parts))


@pytest.mark.parametrize("how", ["absolute", "dotdot-relative", "through-symlink"])
@pytest.mark.parametrize("name", [b"missing", b"miss\xffing\n"], ids=["ascii", "nasty"])
def test_failed_open_in_scope_carries_err_and_the_canonical_path(sniff, how, name):
    (sniff.dir / "sub").mkdir()
    cwd = None
    if how == "absolute":
        arg = os.fsencode(sniff.dir) + b"/" + name
    elif how == "dotdot-relative":
        cwd, arg = sniff.dir / "sub", b"./../sub/../" + name
    else:
        (sniff.root / "link").symlink_to(sniff.dir)
        arg = os.fsencode(sniff.root / "link" / "sub") + b"/../" + name
    run = sniff.run(OPEN_MISSING, arg.hex(), cwd=cwd)
    assert run.returncode == 0
    recs = run.by_pid(run.pid)
    assert owp(run) == [("open", os.fsencode(sniff.dir) + b"/" + name)]
    assert recs[0].err == "ENOENT" and recs[0].fd is None and not recs[0].truncated
    back = Record.from_dict(json.loads(recs[0].to_json()))
    assert back == recs[0]


def test_failed_open_in_a_missing_subdirectory_is_in_scope(sniff):
    path = os.fsencode(sniff.dir) + b"/no-such-dir/missing"
    run = sniff.run(OPEN_MISSING, path.hex())
    assert [(r.op, r.path, r.err) for r in run.by_pid(run.pid)] == [("open", path, "ENOENT")]


def test_failed_open_outside_is_not_reported(sniff):
    outside = sniff.root / "outside"
    outside.mkdir()
    # Both the plain case and a name that merely starts like the watched directory.
    for arg in (os.fsencode(outside / "missing"), os.fsencode(sniff.dir) + b"-sibling/missing"):
        run = sniff.run(OPEN_MISSING, arg.hex())
        assert run.returncode == 0
        assert run.records == []
