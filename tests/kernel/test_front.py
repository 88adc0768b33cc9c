"""A thread keeps its syscall state in the front slot tid % SNIFF_FRONT_SLOTS, held from its
first tracked syscall until it exits (struct sniff_front). A thread whose slot another live
thread holds keeps it in the hash maps instead: that path must stay exact, and it is taken only
by such a thread."""
from sniff_tui.probes import abi
from tests.kernel.kernel_support import built_with, script

# The parent holds its slot (it opened files), then forks until a child's pid falls on the same
# slot; that child works under the watch while the parent waits in an untracked syscall.
SHARED = """
slots, watched, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
os.close(os.open("/", os.O_RDONLY))
me = os.getpid() % slots
for tries in range(4 * slots):
    pid = os.fork()
    if pid == 0:
        if os.getpid() % slots != me:
            os._exit(0)
        f = os.path.join(watched, "shared")
        for i in range(n):
            fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.write(fd, b"abc")
            os.close(fd)
        fd = os.open(f, os.O_RDONLY)
        os.read(fd, 10)
        os.close(fd)
        a, b = os.path.join(watched, "a"), os.path.join(watched, "b")
        os.close(os.open(a, os.O_WRONLY | os.O_CREAT, 0o644))
        os.rename(a, b)
        os.unlink(b)
        os._exit(0)
    os.waitpid(pid, 0)
    if pid % slots == me:
        break
else:
    sys.exit(3)
"""


def test_a_thread_whose_front_slot_is_held_elsewhere_is_still_exact(sniff):
    slots = abi.C["SNIFF_FRONT_SLOTS"]
    n = 200
    before = sniff.source.counters()
    run = sniff.run(script(SHARED), str(slots), str(sniff.dir), str(n))
    assert run.returncode == 0
    shared = sniff.dir / "shared"
    assert run.summary(shared, "open")[0] == n + 1
    assert run.summary(shared, "write") == (n, 3 * n)
    assert run.summary(shared, "read") == (1, 10)
    assert run.summary(shared, "close")[0] == n + 1
    assert run.summary(sniff.dir / "a", "rename")[0] == 1
    assert run.summary(sniff.dir / "b", "unlink")[0] == 1
    # the child's state went to the hash maps: its n + 2 opens, n writes, the read, the rename
    # and the unlink (a close needs no state between enter and exit)
    shared_calls = sniff.source.counters()["front_shared"] - before["front_shared"]
    assert shared_calls >= 2 * n + 5


def test_a_thread_holding_its_slot_keeps_nothing_in_the_hash_maps(sniff):
    before = sniff.source.counters()
    run = sniff.run(script("""
f = os.path.join(sys.argv[1], "own")
for i in range(500):
    fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.write(fd, b"x")
    os.close(fd)
"""), str(sniff.dir))
    assert run.returncode == 0
    assert run.summary(sniff.dir / "own", "write") == (500, 500)
    # other processes of the machine may share a slot now and then, never 1,000 times here
    assert sniff.source.counters()["front_shared"] - before["front_shared"] < 100


def test_kernels_without_compare_and_swap_keep_every_state_in_the_hash_maps(tmp_path, monkeypatch):
    """Before Linux 5.12 there is no compare-and-swap on map memory: the probes are built
    without front slots (as the loader does on such kernels), and stay exact."""
    watched = tmp_path / "w"
    with built_with("-DSNIFF_NO_CGROUP_FILTER -DSNIFF_NO_FRONT", watched, monkeypatch) as sniff:
        source = sniff.source
        assert "front" not in source.probes.maps and "pending" in source.probes.maps
        run = sniff.run(script("""
f = os.path.join(sys.argv[1], "f")
for i in range(300):
    fd = os.open(f, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    os.write(fd, b"ab")
    os.close(fd)
fd = os.open(f, os.O_RDONLY)
os.read(fd, 7)
os.close(fd)
os.rename(f, f + ".2")
os.unlink(f + ".2")
"""), str(watched))
        assert run.returncode == 0
        f = watched / "f"
        assert run.summary(f, "open")[0] == 301 and run.summary(f, "close")[0] == 301
        assert run.summary(f, "write") == (300, 600) and run.summary(f, "read") == (1, 7)
        assert run.summary(f, "rename")[0] == 1 and run.summary(watched / "f.2", "unlink")[0] == 1
        assert source.counters()["front_shared"] == 0 and source.counters()["pending_full"] == 0
