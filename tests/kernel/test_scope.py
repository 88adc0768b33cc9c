"""Scope is decided from where the file really is, never from the string a process passed."""
import os
import subprocess


from tests.kernel.kernel_support import script

WRITE_REL = script("""
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, b"hello")
os.close(fd)
""")


def test_relative_paths_from_several_working_directories(sniff):
    w = sniff.dir
    (w / "a" / "b").mkdir(parents=True)
    outside = sniff.root / "elsewhere"
    outside.mkdir()
    cases = [(w, "f1"), (w / "a", "f2"), (w / "a" / "b", "../f3"), (outside, "../watched/a/b/f4"),
             (w / "a", "./b/../../f5")]
    expected = {os.fsencode(w / "f1"), os.fsencode(w / "a" / "f2"), os.fsencode(w / "a" / "f3"),
                os.fsencode(w / "a" / "b" / "f4"), os.fsencode(w / "f5")}
    seen = set()
    for cwd, rel in cases:
        run = sniff.run(WRITE_REL, rel, cwd=cwd)
        assert run.returncode == 0
        got = {(r.op, r.path) for r in run.by_pid(run.pid)}
        path = os.fsencode(os.path.realpath(os.path.join(cwd, rel)))
        assert got == {("open", path), ("write", path), ("close", path)}, (cwd, rel, got)
        seen.add(path)
    assert seen == expected


def test_prefix_named_sibling_is_out_of_scope(sniff):
    sibling = sniff.root / "watched-sibling"
    sibling.mkdir()
    run = sniff.run(WRITE_REL, str(sibling / "x"))
    assert run.by_pid(run.pid) == []
    run = sniff.run(WRITE_REL, str(sniff.dir / "x"))
    assert {r.op for r in run.by_pid(run.pid)} == {"open", "write", "close"}


def test_watched_directory_given_as_a_symlink(sniff):
    link = sniff.root / "link-to-watched"
    link.symlink_to(sniff.dir)
    sniff.watch(link)
    assert sniff.source.watches == [os.fsencode(sniff.dir)]
    run = sniff.run(WRITE_REL, str(link / "via-link"))
    assert {(r.op, r.path) for r in run.by_pid(run.pid)} == {
        (op, os.fsencode(sniff.dir / "via-link")) for op in ("open", "write", "close")}


def test_access_through_a_symlink_and_dotdot(sniff):
    outside = sniff.root / "out"
    outside.mkdir()
    (outside / "into").symlink_to(sniff.dir)
    (sniff.dir / "sub").mkdir()
    run = sniff.run(WRITE_REL, str(outside / "into" / "sub" / ".." / "t1"))
    assert {(r.op, r.path) for r in run.by_pid(run.pid)} == {
        (op, os.fsencode(sniff.dir / "t1")) for op in ("open", "write", "close")}
    # A symlink inside the watched tree that leads out of it: out of scope.
    (sniff.dir / "escape").symlink_to(outside)
    run = sniff.run(WRITE_REL, str(sniff.dir / "escape" / "t2"))
    assert run.by_pid(run.pid) == []


def test_access_through_a_bind_mount(sniff):
    mnt = sniff.root / "bind"
    mnt.mkdir()
    subprocess.run(["mount", "--bind", str(sniff.dir), str(mnt)], check=True)
    try:
        run = sniff.run(WRITE_REL, str(mnt / "through-bind"))
        assert {(r.op, r.path) for r in run.by_pid(run.pid)} == {
            (op, os.fsencode(sniff.dir / "through-bind")) for op in ("open", "write", "close")}
        # Unlink by name through the bind mount is placed by identity too.
        run = sniff.run("import os,sys\nprint(os.getpid(),flush=True)\nos.unlink(sys.argv[1])",
                        str(mnt / "through-bind"))
        assert [(r.op, r.path) for r in run.by_pid(run.pid)] == [
            ("unlink", os.fsencode(sniff.dir / "through-bind"))]
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_noise_outside_scope_never_appears(sniff):
    outside = sniff.root / "noise"
    outside.mkdir()
    run = sniff.run(script("""
import socket
d = sys.argv[1]
for i in range(200):
    p = os.path.join(d, f"n{i}")
    with open(p, "w") as f: f.write("x" * 100)
    with open(p) as f: f.read()
    os.rename(p, p + ".old"); os.unlink(p + ".old")
r, w = os.pipe(); os.write(w, b"pipe"); os.read(r, 4)
a, b = socket.socketpair(); a.send(b"sock"); b.recv(4)
"""), str(outside), cwd=outside)
    assert run.returncode == 0
    assert run.records == []
