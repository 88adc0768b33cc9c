"""What the io_uring probes take from BTF (probes/uring.py): enumerator values, and a plan that
leaves io_uring out, and says so, when the kernel's types do not have what it reads."""
from __future__ import annotations

import os

import pytest
from test_btf import ENUM, ENUM64, Blob, kernelish

from sniff_tui.probes import abi, uring
from sniff_tui.probes.btf import VMLINUX_BTF, BTF, BTFError


def test_enumerators_of_named_anonymous_signed_and_64_bit_enums():
    b = Blob()
    kernelish(b)
    b.add(ENUM, "colour", 2, 4, [b.string("RED"), 0, b.string("GREEN"), 7])
    b.add(ENUM, "", 1, 4, [b.string("REQ_F_X_BIT"), 6])
    b.add(ENUM, "", 1, 4, [b.string("MINUS"), 0xFFFFFFFE], kflag=1)
    b.add(ENUM64, "big", 1, 8, [b.string("HUGE"), 1, 2])
    btf = BTF.from_bytes(b.build())
    assert [btf.enumerator(n) for n in ("GREEN", "REQ_F_X_BIT", "MINUS", "HUGE")] == [7, 6, -2, 1 | 2 << 32]
    with pytest.raises(BTFError, match="NOPE"):
        btf.enumerator("NOPE")


def test_a_kernel_without_io_uring_types_loses_io_uring_only():
    b = Blob()
    kernelish(b)
    plan = uring.plan(BTF.from_bytes(b.build()))
    assert not plan.enabled and plan.cflags() == [] and plan.opcodes == {}
    assert len(plan.missing) == 1 and "io_kiocb" in plan.missing[0]


@pytest.mark.skipif(not os.path.exists(VMLINUX_BTF), reason=f"no {VMLINUX_BTF}")
def test_the_running_kernels_plan():
    btf = BTF()
    plan = uring.plan(btf)
    assert plan.enabled and "-DSNIFF_URING=1" in plan.cflags()
    write = abi.C["SNIFF_OP_WRITE"] | abi.C["SNIFF_SHAPE_FD"] << 8
    assert plan.opcodes[btf.enumerator("IORING_OP_WRITE")] == write
    # --content: the write ops, by where their completion finds the bytes; nothing else
    assert plan.content == {btf.enumerator("IORING_OP_WRITE"): abi.C["SNIFF_CK_URING"],
                            btf.enumerator("IORING_OP_WRITE_FIXED"): abi.C["SNIFF_CK_URING"],
                            btf.enumerator("IORING_OP_WRITEV"): abi.C["SNIFF_CK_URING_V"],
                            btf.enumerator("IORING_OP_WRITEV_FIXED"): abi.C["SNIFF_CK_URING_V"]}
    assert "-DOFF_URING_RW_POS=%d" % (btf.offsetof("io_kiocb", "cmd") + btf.offsetof("io_rw", "kiocb.ki_pos")) \
        in plan.cflags()
    # Every op the kernel has is dispatched; one it lacks needs nothing, and is not a loss.
    assert plan.missing == []
    have = set()
    for name in uring.OPS:
        try:
            have.add(btf.enumerator(name))
        except BTFError:
            pass
    assert sorted(plan.opcodes) == sorted(have)
