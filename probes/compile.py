"""The compiler child: `python -m sniff_tui.probes.compile OUT` reads {"src": path, "cflags": [...]} as
JSON on stdin, compiles with BCC and writes the compiled object (probes/bpfobj.py) to OUT.

It runs in a process of its own so that BCC, and the LLVM it maps (about 100 MiB), never enter
the long-running process. BCC creates the maps while compiling: their fds in the instructions
become relocations (instruction, map) that the loader fills with its own maps' fds.
"""
from __future__ import annotations

import ctypes
import json
import struct
import sys

from .bpfobj import PSEUDO_MAP_FD, LD_IMM64, serialize


def compile_object(src: str, cflags: list[str]) -> dict:
    import bcc
    from bcc.libbcc import lib
    lib.bpf_num_tables.restype = ctypes.c_size_t
    lib.bpf_num_tables.argtypes = [ctypes.c_void_p]
    lib.bpf_table_name.restype = ctypes.c_char_p
    lib.bpf_table_name.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    for fn in ("bpf_table_key_size_id", "bpf_table_leaf_size_id"):
        getattr(lib, fn).restype = ctypes.c_size_t
        getattr(lib, fn).argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    b = bcc.BPF(src_file=src.encode(), cflags=cflags)
    mod = b.module
    maps, by_fd = [], {}
    for i in range(lib.bpf_num_tables(mod)):
        name = lib.bpf_table_name(mod, i)
        tid = lib.bpf_table_id(mod, name)
        key = lib.bpf_table_key_desc(mod, name)
        leaf = lib.bpf_table_leaf_desc(mod, name)
        by_fd[lib.bpf_table_fd(mod, name)] = len(maps)
        maps.append({"name": name.decode(), "type": lib.bpf_table_type_id(mod, tid),
                     "key_size": lib.bpf_table_key_size_id(mod, tid),
                     "value_size": lib.bpf_table_leaf_size_id(mod, tid),
                     "max_entries": lib.bpf_table_max_entries_id(mod, tid),
                     "flags": lib.bpf_table_flags_id(mod, tid),
                     "key": json.loads(key) if key else None, "leaf": json.loads(leaf) if leaf else None})
    programs = []
    for i in range(lib.bpf_num_functions(mod)):
        name = lib.bpf_function_name(mod, i)
        code = ctypes.string_at(lib.bpf_function_start(mod, name), lib.bpf_function_size(mod, name))
        relocs = []
        for n in range(len(code) // 8):
            op, regs = code[8 * n], code[8 * n + 1]
            if op == LD_IMM64 and regs >> 4 == PSEUDO_MAP_FD:
                fd = struct.unpack_from("<i", code, 8 * n + 4)[0]
                if fd not in by_fd:
                    raise RuntimeError(f"{name.decode()}: instruction {n} refers to an unknown map fd {fd}")
                relocs.append([n, by_fd[fd]])
            elif op == LD_IMM64 and regs >> 4 not in (0, 4):    # map values, BTF ids: not ours
                raise RuntimeError(f"{name.decode()}: unsupported ld_imm64 source {regs >> 4}")
        programs.append({"name": name.decode(), "code": code, "relocs": relocs})
    return {"license": lib.bpf_module_license(mod).decode(), "maps": maps, "programs": programs}


def main() -> int:
    out = sys.argv[1]
    request = json.loads(sys.stdin.read())
    try:
        import bcc  # noqa: F401
    except ImportError:
        print("sniff-compile-error: no-bcc", file=sys.stderr)
        return 3
    try:
        obj = compile_object(request["src"], request["cflags"])
    except Exception as exc:     # BCC raises bare Exceptions; the parent shows the first line
        print(f"sniff-compile-error: {exc}", file=sys.stderr)
        return 1
    data = serialize(obj, request.get("key", ""))
    with open(out, "wb") as f:
        f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
