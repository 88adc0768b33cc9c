"""Whatever bytes the kernel hands over (names are untrusted; lengths could be wrong), decoding
never raises and every record it makes is strict, lossless JSON."""
import json
import os
from types import SimpleNamespace

from hypothesis import given, settings, strategies as st

from probes import abi
from probes.decode import Decoder, Flush, ProcEvent, Watches
from probes.record import Record

OPS = list(abi.OP_NAMES) + list(abi.PROC_OPS) + [0, 99]


def make_decoder(tmp):
    w = Watches()
    w.add(os.fsencode(tmp), 0, os.stat(tmp))
    return Decoder(w)


name_st = st.builds(
    lambda watch, sl, wl, nc, fl: SimpleNamespace(watch=watch, str_len=sl, walk_len=wl, ncomp=nc, flags=fl),
    st.sampled_from([0, 1, 2]), st.integers(0, 300), st.integers(0, 300), st.integers(0, 64),
    st.integers(0, 15))

event_st = st.builds(
    lambda op, comm, ret, flags, mode, n0, n1: SimpleNamespace(
        op=op, ts=123456789, comm=comm.ljust(16, b"\0")[:16], pid=10, tid=11, ppid=1, uid=0, fd=3,
        ret=ret, flags=flags, mode=mode, dev=(8 << 20) | 1, ino=42, file=0xFFFF0000, serial=5,
        count=1, names=[n0, n1]),
    st.sampled_from(OPS), st.binary(max_size=16), st.integers(-200, 1 << 40), st.integers(0, 7),
    st.sampled_from([0o100644, 0o040755, 0o010600, 0o140777, 0]), name_st, name_st)


@settings(max_examples=400, deadline=None)
@given(ev=event_st, data=st.binary(max_size=700))
def test_decoding_arbitrary_records(tmp_path_factory, ev, data):
    tmp = tmp_path_factory.getbasetemp()
    out = make_decoder(tmp).decode(ev, data)
    assert out is None or isinstance(out, (Record, ProcEvent, Flush))
    if isinstance(out, Record):
        line = out.to_json()
        line.encode("utf-8", "strict")
        back = Record.from_dict(json.loads(line))
        assert back.path == out.path and back.comm == out.comm and back.new_path == out.new_path
