"""Directories to watch: checked, made canonical, and given the device number the kernel uses."""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Optional


class WatchError(ValueError):
    """A directory that cannot be watched; the message is one line for the user."""


def canonical_dir(path: str | bytes) -> bytes:
    raw = os.fsencode(path)
    real = os.path.realpath(raw)
    shown = os.fsdecode(raw)
    try:
        st = os.stat(real)
    except FileNotFoundError:
        raise WatchError(f"{shown}: no such directory") from None
    except PermissionError:
        raise WatchError(f"{shown}: cannot read this directory (permission denied)") from None
    except OSError as exc:
        raise WatchError(f"{shown}: {exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise WatchError(f"{shown}: not a directory")
    if not os.access(real, os.R_OK | os.X_OK):
        raise WatchError(f"{shown}: cannot read this directory (permission denied)")
    return real


def mount_kdev(path: bytes) -> Optional[int]:
    """The kernel dev_t of the filesystem holding path, from mountinfo (what super_block.s_dev
    holds; differs from stat()'s st_dev on btrfs subvolumes)."""
    # Imported here: the dashboard checks its directories with canonical_dir before its first
    # frame, which importing decode would delay by 9 ms.
    from .decode import kernel_dev
    best, best_len = None, -1
    try:
        lines = Path("/proc/self/mountinfo").read_bytes().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split(b" ")
        if len(fields) < 5:
            continue
        mnt = fields[4].replace(b"\\040", b" ").replace(b"\\011", b"\t").replace(b"\\012", b"\n") \
                       .replace(b"\\134", b"\\")
        inside = path == mnt or path.startswith(mnt.rstrip(b"/") + b"/")
        if inside and len(mnt) >= best_len:
            major, minor = fields[2].split(b":")
            best, best_len = kernel_dev(int(major), int(minor)), len(mnt)
    return best
