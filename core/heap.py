"""The C heap of a long session (`stream`, the dashboard).

glibc raises its mmap threshold to the size of any large block freed, after which blocks of that
size come from the heap instead. The big tables of a session (the process table's dict under
process churn, the path caches' dicts, a batch's list of records) are rebuilt from time to time:
each rebuild then takes a new stretch of heap beside the old one's hole, which little else can
fill, and the heap grows for minutes (bench/soak.py: +5 MB in the second minute, from 14 to 21 MB
of heap). With the threshold fixed, every large block is its own mapping, returned to the kernel
when freed, and the heap holds only small ones (8 MB flat).
"""
from __future__ import annotations

import ctypes
import os

_M_MMAP_THRESHOLD = -3          # malloc.h
LARGE_BLOCK = 128 << 10         # glibc's own starting threshold, kept


def keep_large_blocks_apart() -> bool:
    """Fix glibc's mmap threshold (unless the user set MALLOC_MMAP_THRESHOLD_ themselves).
    False where there is no glibc mallopt (another C library): nothing changes there."""
    if "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt      # the C library the interpreter runs on
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return mallopt(_M_MMAP_THRESHOLD, LARGE_BLOCK) == 1
