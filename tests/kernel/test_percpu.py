"""The per-CPU scratch state the probes share between programs (walk_job, the scratch record)
relies on one thing: a program on the syscall tracepoints runs to its end before another starts
on the same CPU (no preemption inside it, no nesting). Provoked here with more busy tasks than
CPUs and a program long enough for the scheduler's tick to land inside it often."""
from __future__ import annotations

import json
import os
import subprocess

from bcc import BPF

OVERLAP = r"""
BPF_PERCPU_ARRAY(busy, u64, 1);
BPF_ARRAY(res, u64, 3);
int on_enter(struct bpf_raw_tracepoint_args *ctx)
{
    u32 zero = 0, one = 1, two = 2;
    u64 *b = busy.lookup(&zero);
    if (!b)
        return 0;
    if (*b) {    /* another run on this CPU is in the middle of its work */
        u64 *r = res.lookup(&one);
        if (r)
            __sync_fetch_and_add(r, 1);
    }
    *b = 1;
    u64 x = 0;
    for (int i = 0; i < 3000; i++) {
        u64 *r = res.lookup(&two);
        if (r)
            x += *r;
    }
    *b = 0;
    u64 *runs = res.lookup(&zero);
    if (runs)
        __sync_fetch_and_add(runs, 1);
    return x == 12345;
}
"""
BUSY = "import os, time\nt = time.time() + 4\nwhile time.time() < t:\n    os.getppid()\n"


def test_programs_on_one_cpu_never_interleave():
    bpf = BPF(text=OVERLAP, cflags=["-w"])
    try:
        bpf.attach_raw_tracepoint(tp="sys_enter", fn_name="on_enter")
        procs = [subprocess.Popen(["/usr/bin/python3", "-c", BUSY]) for _ in range(2 * os.cpu_count() + 1)]
        for p in procs:
            assert p.wait() == 0
        res = bpf["res"]
        runs, overlapped = res[res.Key(0)].value, res[res.Key(1)].value
        info = json.loads(subprocess.run(["bpftool", "prog", "show", "name", "on_enter", "-j"],
                                         capture_output=True, check=True).stdout or b"{}")
        infos = info if isinstance(info, list) else [info]
        misses = sum(i.get("recursion_misses", 0) for i in infos)
    finally:
        bpf.cleanup()
    assert runs > 10_000
    # Neither interleaved nor skipped because another run was in progress (recursion_misses).
    assert (overlapped, misses) == (0, 0)
