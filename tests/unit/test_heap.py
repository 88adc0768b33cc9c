"""core/heap.py: with the mmap threshold fixed, large blocks freed and taken again stay out of the
heap (glibc alone moves them into it after the first free)."""
import subprocess
import sys

PROBE = r"""
import ctypes, sys
from sniff_tui.core.heap import keep_large_blocks_apart
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                               "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
fixed = keep_large_blocks_apart() if sys.argv[1] == "fixed" else False
first = bytearray(4 << 20)
del first                         # glibc raises its threshold past 4 MiB here
held = [bytearray(1 << 20) for _ in range(24)]
info = libc.mallinfo2()
print(int(fixed), info.hblkhd >> 20, info.arena >> 20)
"""


def run(mode: str) -> tuple[int, int, int]:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True,
                         env={"PATH": "/usr/bin:/bin"})
    return tuple(int(x) for x in out.stdout.split())


def test_large_blocks_stay_out_of_the_heap_once_the_threshold_is_fixed():
    fixed, mapped, heap = run("fixed")
    assert fixed == 1
    assert mapped >= 24 and heap < 8, (mapped, heap)
    # Without it (the control): glibc has moved them into the heap.
    _, mapped, heap = run("default")
    assert mapped < 4 and heap >= 24, (mapped, heap)
