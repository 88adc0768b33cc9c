"""What an op's own arguments say (struct sniff_args): mmap's offset, length, protection and
sharing; fallocate's offset, length and mode; ftruncate's new size. Names as the man pages spell
the flags."""
from __future__ import annotations

from sniff_tui.core.record import Record

_PROT = ((1, "read"), (2, "write"), (4, "exec"))
_MAP_SHARING = {1: "shared", 3: "shared_validate"}
_FALLOC_MODES = ((0x01, "keep_size"), (0x02, "punch_hole"), (0x04, "no_hide_stale"),
                 (0x08, "collapse_range"), (0x10, "zero_range"), (0x20, "insert_range"),
                 (0x40, "unshare_range"), (0x80, "write_zeroes"))


def _flag_names(value: int, names, none: str) -> str:
    out = [name for bit, name in names if value & bit]
    rest = value & ~sum(bit for bit, _ in names)
    if rest:
        out.append(hex(rest))
    return "|".join(out) or none


def put_args(rec: Record, off: int, length: int, how: int, ret: int) -> None:
    """The op's own arguments (the counter's first call for a coalesced op)."""
    if rec.op == "truncate":
        rec.length = length
    elif rec.op == "fallocate":
        rec.offset, rec.length = off, length
        rec.how = _flag_names(how, _FALLOC_MODES, "allocate")
        rec.bytes = length if ret >= 0 else 0
    else:   # mmap
        rec.offset, rec.length = off, length
        rec.how = (_flag_names(how & 0xFFFFFFFF, _PROT, "none") + " "
                   + _MAP_SHARING.get((how >> 32) & 3, "private"))
