"""Verifier work per BPF program: compile sniff.bpf.c as probes.loader does, load every program
alone (no attach), and print accepted/rejected and the kernel's verified_insns (from
/proc/self/fdinfo) per program, largest first, with the total and the load time.

    sudo PYTHONPATH=. .venv/bin/python bench/verifier_insns.py [--log NAME] [--json FILE]

--log NAME prints the verifier's log for one program (BCC's debug flag; E2BIG prints none).
--json FILE keeps the rows; --table LABEL=FILE... prints a markdown table of several such files
side by side (before/after, kernels), as in bench/BENCHMARKS.md. Run it inside a VM of another
kernel (virtme-ng, the checkout shared read-only) to see what that kernel's verifier says."""
import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sniff_tui.probes import abi, loader, uring  # noqa: E402
from sniff_tui.probes.btf import BTF, VMLINUX_BTF, kernel_offsets  # noqa: E402

PROGRAM = re.compile(r"^int\s+(\w+)\s*\(", re.M)


def programs() -> list[str]:
    return PROGRAM.findall((abi.BPF_DIR / "sniff.bpf.c").read_text())


def verified_insns(fd: int) -> int:
    for line in open(f"/proc/self/fdinfo/{fd}"):
        if line.startswith("verified_insns:"):
            return int(line.split()[1])
    return -1


def table(columns: list[str]) -> int:
    runs = []
    for col in columns:
        label, _, path = col.partition("=")
        runs.append((label, {r["program"]: r for r in json.loads(Path(path).read_text())["rows"]}))
    names = sorted({n for _, rows in runs for n in rows},
                   key=lambda n: -max((rows.get(n) or {}).get("insns") or 10**7 for _, rows in runs))

    def cell(r):
        return "—" if r is None else "**rejected**" if not r["ok"] else f"{r['insns']:,}"
    print("| program | " + " | ".join(label for label, _ in runs) + " |")
    print("| --- |" + " ---: |" * len(runs))
    for n in names:
        print(f"| {n} | " + " | ".join(cell(rows.get(n)) for _, rows in runs) + " |")
    print("| **total** | " + " | ".join(
        f"**{sum(r['insns'] or 0 for r in rows.values()):,}**" for _, rows in runs) + " |")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--log", help="print the verifier log of this program")
    ap.add_argument("--json", help="also write the rows to this file")
    ap.add_argument("--table", nargs="+", metavar="LABEL=FILE", help="compare saved --json runs")
    args = ap.parse_args()
    if args.table:
        return table(args.table)
    try:
        import bcc     # a benchmark compiles in its own process, as probes/compile.py does
    except ImportError:
        sys.exit("verifier_insns: BCC's Python module is missing (python3-bpfcc)")
    btf = BTF(os.environ.get("SNIFF_TUI_BTF", VMLINUX_BTF))
    plan = uring.plan(btf)
    cflags = loader.build_cflags(kernel_offsets(btf), 1024, btf) + plan.cflags()
    t0 = time.monotonic()
    # debug 0x2 (DEBUG_BPF): BCC asks the kernel for the verifier log (level 1) and prints it
    bpf = bcc.BPF(src_file=str(abi.BPF_DIR / "sniff.bpf.c").encode(), cflags=cflags,
                  debug=0x2 if args.log else 0)
    compiled = time.monotonic() - t0
    rows = []
    names = [args.log] if args.log else [n for n in programs() if plan.enabled or "uring" not in n]
    t1 = time.monotonic()
    for name in names:
        start = time.monotonic()
        try:
            fn = bpf.load_func(name, bcc.BPF.RAW_TRACEPOINT)
        except Exception as exc:  # BCC raises bare Exception
            msg = str(exc).strip().splitlines()
            rows.append({"program": name, "ok": False, "insns": None,
                         "s": round(time.monotonic() - start, 2), "error": msg[-1] if msg else "?"})
            continue
        rows.append({"program": name, "ok": True, "insns": verified_insns(fn.fd),
                     "s": round(time.monotonic() - start, 2)})
    loaded = time.monotonic() - t1
    rows.sort(key=lambda r: -(r["insns"] or 10**9))
    print(f"kernel {os.uname().release}: compile {compiled:.1f} s, verify {loaded:.1f} s")
    for r in rows:
        state = f"{r['insns']:>9,}" if r["ok"] else "REJECTED"
        print(f"{r['program']:<22} {state} {r['s']:>6.2f} s  {r.get('error', '')}")
    total = sum(r["insns"] or 0 for r in rows)
    bad = [r["program"] for r in rows if not r["ok"]]
    print(f"total {total:,} verified instructions, {len(rows) - len(bad)}/{len(rows)} accepted"
          + (f"; rejected: {' '.join(bad)}" if bad else ""))
    if args.json:
        Path(args.json).write_text(json.dumps({"kernel": os.uname().release, "rows": rows,
                                               "compile_s": compiled, "verify_s": loaded}, indent=1))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
