"""The process table: exited processes kept for EXITED_TTL, forgotten oldest first, never more
than MAX_PROCS entries, parent links kept both ways."""
from sniff_tui.probes import proctable
from sniff_tui.probes.proctable import EXITED_TTL, ProcessTable


def table() -> ProcessTable:
    t = ProcessTable(snapshot=False)
    t.cmdlines = False
    return t


def test_exited_processes_are_kept_for_the_ttl_then_forgotten_in_exit_order():
    t = table()
    for pid in (10, 11, 12):
        t.fork(pid, 1, b"sh")
    t.exit(10, now=100.0)
    t.exit(11, now=130.0)
    t.exit(12, now=100.0 + EXITED_TTL)          # 10 is exactly at the TTL: still kept
    assert set(t.procs) == {10, 11, 12}
    t.exit(99, now=100.0 + EXITED_TTL + 1)      # an unknown pid's exit moves the clock on
    assert set(t.procs) == {11, 12}
    t.exit(99, now=130.0 + EXITED_TTL + 1)
    assert set(t.procs) == {12}


def test_a_pid_that_came_back_is_alive_and_kept():
    t = table()
    t.fork(20, 1, b"old")
    t.exit(20, now=0.0)
    t.fork(20, 1, b"new")                       # pid reused
    t.exit(21, now=EXITED_TTL + 5)
    assert t.procs[20].comm == b"new" and t.procs[20].exited is None


def test_a_pid_that_exited_twice_is_forgotten_after_its_last_exit():
    t = table()
    t.fork(30, 1, b"a")
    t.exit(30, now=0.0)
    t.fork(30, 1, b"b")
    t.exit(30, now=50.0)
    t.exit(0, now=EXITED_TTL + 1)
    assert 30 in t.procs                        # its second exit is 11 s old
    t.exit(0, now=50.0 + EXITED_TTL + 1)
    assert 30 not in t.procs and not t._exits


def test_never_more_than_max_procs_the_oldest_exited_go_first(monkeypatch):
    monkeypatch.setattr(proctable, "MAX_PROCS", 5)
    t = table()
    t.fork(1000, 1, b"alive")
    for pid in range(1, 10):
        t.fork(pid, 1000, b"child")
        t.exit(pid, now=float(pid))             # all within the TTL
    assert set(t.procs) == {1000, 6, 7, 8, 9}
    assert t.descendants(1000) == {1000, 6, 7, 8, 9}


def test_descendants_follow_forks_reparenting_and_forgetting():
    t = table()
    t.fork(2, 1, b"p")
    t.fork(3, 2, b"c")
    t.fork(4, 3, b"g")
    t.fork(5, 1, b"other")
    assert t.descendants(2) == {2, 3, 4} and t.is_descendant(4, 2) and not t.is_descendant(5, 2)
    assert t.descendants(3) == {3, 4}
    t.seen(4, 5, b"g")                          # reparented (a subreaper took it)
    assert t.descendants(3) == {3} and t.descendants(5) == {5, 4}
    t.seen(4, 2, b"g")
    t.exit(4, now=0.0)
    t.exit(0, now=EXITED_TTL + 1)
    assert t.descendants(2) == {2, 3}


def test_equal_names_are_held_once():
    t = table()
    t.fork(5, 1, bytes(b"worker"))
    t.fork(6, 1, b"work" + b"er")
    assert t.procs[5].comm is t.procs[6].comm


def test_pids_reused_under_churn_keep_the_table_and_its_exit_order_bounded():
    """pid_max 32768 and hundreds of exits a second: every pid comes back within the TTL."""
    t = table()
    now = 0.0
    for _ in range(200):
        for pid in range(100, 110):
            t.fork(pid, 1, b"sh")
            now += 1.0
            t.exit(pid, now=now)
    # The last EXITED_TTL seconds' exits are at most 61 entries; the exit order holds nothing else.
    assert len(t._exits) <= EXITED_TTL + 1
    assert set(t.procs) == set(range(100, 110))
    assert all(info is t.procs[info.pid] for info in t._exits if info.exited >= now - EXITED_TTL)
