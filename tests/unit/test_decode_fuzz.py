"""Whatever bytes the kernel hands over (names are untrusted; lengths could be wrong), decoding
never raises and every record it makes is strict, lossless JSON."""
import json
import os

from hypothesis import given, settings, strategies as st

from sniff_tui.probes import abi
from sniff_tui.probes.decode import Decoder, Named, ProcEvent
from sniff_tui.probes.scope import Watches
from sniff_tui.probes.layout import layout
from sniff_tui.core.record import Record

OPS = list(abi.OP_NAMES) + list(abi.PROC_OPS) + [0, 99]
EVENT = layout("sniff_event")
DATA_AT = EVENT.offset("data")


def make_decoder(tmp):
    w = Watches()
    w.add(os.fsencode(tmp), 0, os.stat(tmp))
    return Decoder(w)


name_st = st.tuples(st.sampled_from([0, 1, 2]), st.integers(0, 300), st.integers(0, 300),
                    st.integers(0, 64), st.integers(0, 15))


@st.composite
def kernel_record(draw):
    values = {"op": draw(st.sampled_from(OPS)), "ts": 123456789, "pid": 10, "tid": 11, "ppid": 1,
              "uid": 0, "fd": 3, "ret": draw(st.integers(-200, 1 << 40)), "flags": draw(st.integers(0, 15)),
              "mode": draw(st.sampled_from([0o100644, 0o040755, 0o010600, 0o140777, 0])),
              "dev": (8 << 20) | 1, "ino": 42, "count": 1, "serial": 5,
              "comm": draw(st.binary(max_size=16)).ljust(16, b"\0")[:16]}
    for i in range(2):
        watch, sl, wl, nc, fl = draw(name_st)
        values.update({f"names.{i}.watch": watch, f"names.{i}.str_len": sl, f"names.{i}.walk_len": wl,
                       f"names.{i}.ncomp": nc, f"names.{i}.flags": fl})
    data = draw(st.binary(max_size=700))
    values["data_len"] = draw(st.sampled_from([len(data), len(data) + 50, 0]))
    raw = bytes(EVENT.pack(values))[:DATA_AT] + data
    cut = draw(st.sampled_from([len(raw), DATA_AT, DATA_AT - 1, 10]))
    return raw[:cut]


@settings(max_examples=400, deadline=None)
@given(raw=kernel_record())
def test_decoding_arbitrary_records(tmp_path_factory, raw):
    tmp = tmp_path_factory.getbasetemp()
    out = make_decoder(tmp).decode(raw, 0, len(raw))
    assert out is None or isinstance(out, (Record, ProcEvent, Named))
    rec = out.rec if isinstance(out, Named) else out
    if isinstance(rec, Record):
        line = rec.to_json()
        line.encode("utf-8", "strict")
        back = Record.from_dict(json.loads(line))
        assert back.path == rec.path and back.comm == rec.comm and back.new_path == rec.new_path


def test_a_placed_write_decodes_from_bytes(tmp_path):
    dec = make_decoder(tmp_path)
    walk = b"leaf\0sub\0"
    raw = bytes(EVENT.pack({"op": abi.OP_CODES["write"], "pid": 7, "tid": 8, "ppid": 1, "fd": 4,
                            "ret": 12, "count": 1, "mode": 0o100644, "dev": (8 << 20) | 1, "ino": 9,
                            "comm": b"w\xffx", "names.0.watch": 1, "names.0.walk_len": len(walk),
                            "data_len": len(walk)}))[:DATA_AT] + walk
    rec = dec.decode(raw)
    assert (rec.op, rec.pid, rec.bytes, rec.fd, rec.comm) == ("write", 7, 12, 4, b"w\xffx")
    assert rec.path == os.fsencode(tmp_path) + b"/sub/leaf" and rec.dev == "8:1" and rec.ino == 9


def test_the_io_uring_flag_becomes_via(tmp_path):
    dec = make_decoder(tmp_path)
    walk = b"db\0"

    def placed(flags):
        return bytes(EVENT.pack({"op": abi.OP_CODES["write"], "pid": 7, "tid": 7, "ret": 4096, "count": 1,
                                 "mode": 0o100644, "flags": flags, "names.0.watch": 1,
                                 "names.0.walk_len": len(walk), "data_len": len(walk)}))[:DATA_AT] + walk

    assert dec.decode(placed(abi.C["SNIFF_EV_URING"])).via == "io_uring"
    assert dec.decode(placed(0)).via is None
    # A path given as a string (an unlink through io_uring) takes the other decoding path.
    path = os.fsencode(tmp_path / "db")
    unlink = bytes(EVENT.pack({"op": abi.OP_CODES["unlink"], "pid": 7, "tid": 7, "count": 1,
                               "flags": abi.C["SNIFF_EV_URING"], "names.0.str_len": len(path),
                               "names.0.flags": abi.C["SNIFF_NAME_AT_ROOT"],
                               "data_len": len(path)}))[:DATA_AT] + path
    rec = dec.decode(unlink)
    assert (rec.op, rec.path, rec.via) == ("unlink", path, "io_uring")


def test_layout_matches_the_compiled_struct_sizes():
    # struct sniff_agg_key travels inside every named record: its size is part of the protocol.
    assert layout("sniff_agg_key").size == 24
    assert EVENT.offset("key.id") % 8 == 0 and DATA_AT % 8 == 0


def test_the_mount_namespace_comes_from_the_record(tmp_path):
    """A path string of an exited process in our namespace is ours: nothing is asked of /proc
    and no loss is counted; one in another namespace whose process is gone is counted."""
    dec = make_decoder(tmp_path)
    path = os.fsencode(tmp_path / "gone")
    dead = 0x3FFFFF      # above pid_max: no such process

    def unlink(mntns):
        return bytes(EVENT.pack({"op": abi.OP_CODES["unlink"], "pid": dead, "tid": dead, "count": 1,
                                 "mntns": mntns, "names.0.str_len": len(path),
                                 "names.0.flags": abi.C["SNIFF_NAME_AT_ROOT"],
                                 "data_len": len(path)}))[:DATA_AT] + path

    own = os.stat("/proc/self/ns/mnt").st_ino
    assert dec.decode(unlink(own)).path == path
    assert dec.ns_unresolved == 0
    dec.decode(unlink(own + 1))
    assert dec.ns_unresolved == 1
