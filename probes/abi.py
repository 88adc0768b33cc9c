"""Constants shared with the BPF programs, read from probes/bpf/sniff.h so they are defined once.

Only two C forms are read: ``#define NAME <integer or (expression of earlier names)>`` and
``NAME = <integer>`` entries inside an enum. Struct layouts are not parsed here: BCC gives us
them from the compiled program's debug info.
"""
from __future__ import annotations

import re
from pathlib import Path

from sniff_tui.core.record import OPS

BPF_DIR = Path(__file__).with_name("bpf")
HEADER = BPF_DIR / "sniff.h"

_DEFINE = re.compile(r"^#define[ \t]+(SNIFF_\w+)[ \t]+([^\n]+?)[ \t]*(?:/\*[^\n]*)?$", re.M)
_ENUM_ITEM = re.compile(r"^\s*(SNIFF_\w+)\s*=\s*(-?\w+)\s*,", re.M)


def parse_header(text: str) -> dict[str, int]:
    values: dict[str, int] = {}
    for name, expr in _ENUM_ITEM.findall(text):
        values[name] = int(expr, 0)
    for name, expr in _DEFINE.findall(text):
        # Expressions only combine integers and earlier names (e.g. MASK + 1 + PATH_MAX).
        py = re.sub(r"\b(SNIFF_\w+)\b", lambda m: str(values[m.group(1)]), expr)
        if not re.fullmatch(r"[\d\s+\-*()<>x]+", py):
            raise ValueError(f"sniff.h: cannot read #define {name} {expr}")
        values[name] = int(eval(py, {"__builtins__": {}}))  # digits and operators only
    return values


C = parse_header(HEADER.read_text())

OP_NAMES = {C["SNIFF_OP_" + name.upper()]: name for name in OPS}
OP_CODES = {name: code for code, name in OP_NAMES.items()}
PROC_OPS = {C["SNIFF_OP_FORK"]: "fork", C["SNIFF_OP_EXEC"]: "exec", C["SNIFF_OP_EXIT"]: "exit"}


def ops_mask(ops) -> int:
    mask = 0
    for op in ops:
        mask |= 1 << OP_CODES[op]
    return mask
