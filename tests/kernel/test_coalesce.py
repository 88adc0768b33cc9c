"""Reads and writes are counted in the kernel; the records' sums are exact at any rate."""
import os

from tests.kernel.kernel_support import script


def test_many_small_writes_sum_exactly(sniff):
    target = sniff.dir / "heavy"
    run = sniff.run(script("""
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
for i in range(200_000):
    os.write(fd, b"x")
os.lseek(fd, 0, 0)
rfd = os.open(sys.argv[1], os.O_RDONLY)
while os.read(rfd, 7):
    pass
os.close(rfd)
os.close(fd)
"""), str(target))
    assert run.returncode == 0
    assert run.summary(target, "write") == (200_000, 200_000)
    assert run.summary(target, "read") == (200_000 // 7 + 1, 200_000)
    writes = [r for r in run.by_pid(run.pid) if r.op == "write"]
    assert len(writes) < 50          # coalesced, not one record per syscall
    assert sniff.source.counters()["agg_full"] == 0


def test_totals_of_a_file_never_closed_arrive_after_exit(sniff):
    target = sniff.dir / "unclosed"
    run = sniff.run(script("""
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
for i in range(1000):
    os.write(fd, b"abc")
os._exit(0)
"""), str(target))
    # Taken at its exit record, which run() has seen (its marker exited after it): no wait.
    assert run.summary(target, "write") == (1000, 3000)
    assert not [k for k in sniff.source.coalescer.counters if k[0] == run.pid]


def test_threads_writing_one_file(sniff):
    target = sniff.dir / "threads"
    run = sniff.run(script("""
import threading
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
def work():
    for i in range(20_000):
        os.write(fd, b"ab")
ts = [threading.Thread(target=work) for _ in range(4)]
[t.start() for t in ts]; [t.join() for t in ts]
os.close(fd)
"""), str(target))
    assert run.summary(target, "write") == (80_000, 160_000)


def test_no_coalesce_gives_one_record_per_syscall(sniff):
    sniff.source.coalesce = False
    sniff.source.set_filters(sniff.source.filters)
    try:
        target = sniff.dir / "each"
        run = sniff.run(script("""
with open(sys.argv[1], "wb", buffering=0) as f:
    for i in range(500):
        f.write(b"q" * 3)
"""), str(target))
        writes = [r for r in run.by_pid(run.pid) if r.op == "write"]
        assert len(writes) == 500 and all(r.count == 1 and r.bytes == 3 for r in writes)
    finally:
        sniff.source.coalesce = True
        sniff.source.set_filters(sniff.source.filters)


def test_no_coalesce_rate_limit_counts_what_it_drops(sniff):
    sniff.source.coalesce = False
    sniff.source.rate_limit = 100
    sniff.source.set_filters(sniff.source.filters)
    before = sniff.source.counters()["rate_limited"]
    try:
        target = sniff.dir / "limited"
        run = sniff.run(script("""
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
for i in range(5000):
    os.write(fd, b"r")
os.close(fd)
"""), str(target))
        writes = [r for r in run.by_pid(run.pid) if r.op == "write"]
        dropped = sniff.source.counters()["rate_limited"] - before
        assert dropped > 0
        # What was kept plus what was counted as dropped is everything (other processes'
        # records, also rate-limited, may add to the dropped count).
        assert len(writes) + dropped >= 5000
        assert len(writes) < 5000
    finally:
        sniff.source.coalesce = True
        sniff.source.rate_limit = 100_000
        sniff.source.set_filters(sniff.source.filters)


def test_scope_cache_follows_renames_of_a_parent_directory(sniff):
    # The verdict for an open fd is cached; moving its directory out and back must be seen.
    outside = sniff.root / "outside"
    outside.mkdir()
    (sniff.dir / "d").mkdir()
    run = sniff.run(script("""
d, outside = sys.argv[1], sys.argv[2]
fd = os.open(os.path.join(d, "f"), os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, b"1")                                  # in scope
os.rename(d, os.path.join(outside, "d"))
os.write(fd, b"22")                                 # out of scope
os.rename(os.path.join(outside, "d"), d)
os.write(fd, b"333")                                # in scope again
os.close(fd)
"""), str(sniff.dir / "d"), str(outside))
    writes = [r for r in run.by_pid(run.pid) if r.op == "write"]
    assert sum(r.bytes for r in writes) == 4
    assert {r.path for r in writes} == {os.fsencode(sniff.dir / "d" / "f")}


def test_scope_cache_survives_a_released_file_address_coming_back(sniff):
    # A shell restores stdout with dup2 (no close): the out-of-scope file's struct file is freed
    # and the next redirection's file often gets the same address at the same fd. The cached
    # "out of scope" verdict must not stick to it.
    outside = sniff.root / "outside"
    outside.mkdir()
    run = sniff.run_shell(f'echo x > "{outside}/o"; echo yy > "{sniff.dir}/in"; '
                          f'echo z > "{outside}/o2"; echo www > "{sniff.dir}/in2"')
    writes = {(r.path, r.bytes) for r in run.records if r.op == "write"}
    assert writes == {(os.fsencode(sniff.dir / "in"), 3), (os.fsencode(sniff.dir / "in2"), 4)}
