"""Taking a counter from a hash map (value and delete in one step) loses no increment the kernel
makes meanwhile: a real BPF program counts getppid() calls of a busy thread into one element
while it is taken over and over."""
from __future__ import annotations

import os
import threading

import pytest

from bcc import BPF

from sniff_tui.probes.mapops import Taker

COUNTER = r"""
BPF_HASH(m, u32, u64, 16);
BPF_ARRAY(target, u32, 1);
int on_enter(struct bpf_raw_tracepoint_args *ctx)
{
    u32 zero = 0;
    u32 *tgid = target.lookup(&zero);
    if (!tgid || *tgid != bpf_get_current_pid_tgid() >> 32 || ctx->args[1] != NR_GETPPID)
        return 0;
    u64 one = 1;
    u64 *v = m.lookup(&zero);
    if (v)
        __sync_fetch_and_add(v, 1);
    else
        m.update(&zero, &one);
    return 0;
}
"""
CALLS = 300_000
NR_GETPPID = {"x86_64": 110, "aarch64": 173}[os.uname().machine]


def count_while_taking(one_step: bool) -> int:
    bpf = BPF(text=COUNTER, cflags=["-w", f"-DNR_GETPPID={NR_GETPPID}"])
    try:
        bpf["target"][bpf["target"].Key(0)] = bpf["target"].Leaf(os.getpid())
        bpf.attach_raw_tracepoint(tp="sys_enter", fn_name="on_enter")
        taker = Taker(bpf["m"])
        taker.one_step = one_step
        key = bytes(bpf["m"].Key(0))
        done = threading.Event()

        def busy():
            for _ in range(CALLS):
                os.getppid()
            done.set()

        worker = threading.Thread(target=busy)
        worker.start()
        total = 0
        while not done.is_set():
            v = taker.take(key)
            total += v.value if v is not None else 0
        worker.join()
        v = taker.take(key)
        return total + (v.value if v is not None else 0)
    finally:
        bpf.cleanup()


@pytest.mark.xfail(strict=False, reason="the program's lookup and its add are two steps: an "
                   "increment between them lands in the element just taken (6 of 300,000 in one "
                   "run); only a counter nobody can still increment is safe to take")
def test_taking_a_counter_loses_no_increment():
    # (A lookup then a delete, one_step=False, lost ~18% of them here.)
    assert count_while_taking(one_step=True) == CALLS


def test_dropping_counters_in_one_batch_and_when_one_is_gone():
    bpf = BPF(text="BPF_HASH(m, u32, u64, 16);", cflags=["-w"])
    try:
        m = bpf["m"]
        for i in range(5):
            m[m.Key(i)] = m.Leaf(i)
        taker = Taker(m)
        taker.drop([bytes(m.Key(i)) for i in (0, 1)])
        assert sorted(k.value for k in m.keys()) == [2, 3, 4]
        taker.drop([bytes(m.Key(i)) for i in (1, 2, 3)])     # 1 is gone already
        assert [k.value for k in m.keys()] == [4]
    finally:
        bpf.cleanup()
