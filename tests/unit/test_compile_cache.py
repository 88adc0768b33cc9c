"""The compile cache (probes/bpfobj.py): what makes a key, and that no damaged, foreign or stale
entry is ever loaded. The compiler is a stand-in here (it writes a known object); the real one
runs in tests/kernel/test_startup_phases.py."""
import ctypes
import json
import multiprocessing
import os
import time
from pathlib import Path

import pytest

from sniff_tui.probes import bpfobj, bpfsys

OBJ = {"license": "GPL",
       "maps": [{"name": "m", "type": 1, "key_size": 4, "value_size": 8, "max_entries": 16, "flags": 0,
                 "key": "unsigned int", "leaf": "unsigned long long"}],
       "programs": [{"name": "p", "code": bytes.fromhex("18010000070000000000000000000000") + bytes(8),
                     "relocs": [[0, 0]]},
                    {"name": "q", "code": bytes(range(16)), "relocs": []}]}


def compiler(key, calls, delay=0.0):
    def compile_to(path):
        calls.append(path)
        time.sleep(delay)
        Path(path).write_bytes(bpfobj.serialize(OBJ, key))
    return compile_to


@pytest.fixture
def cache(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("SNIFF_TUI_CACHE_DIR", str(d))
    return d


def test_round_trip_and_relocation():
    obj = bpfobj.parse(bpfobj.serialize(OBJ, "k"), "k")
    assert [p["code"] for p in obj["programs"]] == [p["code"] for p in OBJ["programs"]]
    code = bpfobj.relocated(obj["programs"][0], [42])
    assert int.from_bytes(code[4:8], "little") == 42 and code[8:] == OBJ["programs"][0]["code"][8:]


def test_second_start_compiles_nothing(cache):
    calls = []
    first = bpfobj.obtain("k1", compiler("k1", calls))
    second = bpfobj.obtain("k1", compiler("k1", calls))
    assert len(calls) == 1 and first["maps"] == second["maps"]
    assert os.stat(cache).st_mode & 0o777 == 0o700
    assert os.stat(cache / "k1").st_mode & 0o777 == 0o600


def test_no_cache_compiles_and_writes_nothing(cache):
    calls = []
    bpfobj.obtain("k1", compiler("k1", calls), use_cache=False)
    bpfobj.obtain("k1", compiler("k1", calls), use_cache=False)
    assert len(calls) == 2 and not cache.exists()


def _damage_truncate(p):
    p.write_bytes(p.read_bytes()[:-5])


def _damage_flip(p):
    data = bytearray(p.read_bytes())
    data[-1] ^= 1
    p.write_bytes(bytes(data))


def _damage_mode(p):
    os.chmod(p, 0o644)


def _damage_owner(p):
    os.chown(p, 65534, 65534)


def _damage_stale(p):
    p.write_bytes(bpfobj.serialize(OBJ, "another key"))


@pytest.mark.parametrize("damage", [_damage_truncate, _damage_flip, _damage_mode, _damage_owner, _damage_stale])
def test_damaged_entries_are_rebuilt_not_loaded(cache, damage):
    if damage is _damage_owner and os.geteuid() != 0:
        pytest.skip("chown needs root")
    calls, said = [], []
    bpfobj.obtain("k1", compiler("k1", calls))
    damage(cache / "k1")
    obj = bpfobj.obtain("k1", compiler("k1", calls), log=said.append)
    assert len(calls) == 2, "the damaged entry was used"
    assert any("compiling" in line for line in said)
    assert obj["programs"][1]["code"] == OBJ["programs"][1]["code"]
    assert bpfobj.read_entry(cache, "k1")["key"] == "k1"      # replaced by a good one
    assert os.stat(cache / "k1").st_uid == os.geteuid()


def test_a_directory_others_can_write_is_not_trusted(cache):
    calls = []
    bpfobj.obtain("k1", compiler("k1", calls))
    os.chmod(cache, 0o777)          # anyone could have swapped the entry
    bpfobj.obtain("k1", compiler("k1", calls))
    assert len(calls) == 2
    assert os.stat(cache).st_mode & 0o777 == 0o700


def test_unwritable_directory_compiles_as_before(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("SNIFF_TUI_CACHE_DIR", str(blocker / "cache"))
    calls, said = [], []
    obj = bpfobj.obtain("k1", compiler("k1", calls), log=said.append)
    obj = bpfobj.obtain("k1", compiler("k1", calls), log=said.append)
    assert len(calls) == 2 and obj["license"] == "GPL"
    assert any("not usable" in line for line in said)


def _first_start(key, directory, out):
    os.environ["SNIFF_TUI_CACHE_DIR"] = directory
    obj = bpfobj.obtain(key, compiler(key, [], delay=0.3))
    Path(out).write_text(json.dumps([p["name"] for p in obj["programs"]]))


def test_concurrent_first_starts_do_not_corrupt_the_cache(cache, tmp_path):
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_first_start, args=("k1", str(cache), str(tmp_path / f"out{i}")))
             for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    for i in range(4):
        assert json.loads((tmp_path / f"out{i}").read_text()) == ["p", "q"]
    assert bpfobj.read_entry(cache, "k1")["key"] == "k1"
    assert [p.name for p in cache.iterdir()] == ["k1"]       # no temporary file left behind


def test_key_covers_sources_cflags_and_btf(tmp_path):
    src = tmp_path / "bpf"
    src.mkdir()
    (src / "a.c").write_text("int x;")
    btf = tmp_path / "vmlinux"
    btf.write_bytes(b"btf one")
    base = bpfobj.cache_key(["-DA=1"], str(btf), src)
    assert bpfobj.cache_key(["-DA=1"], str(btf), src) == base
    assert bpfobj.cache_key(["-DA=2"], str(btf), src) != base
    (src / "b.h").write_text("/* new header */")
    with_header = bpfobj.cache_key(["-DA=1"], str(btf), src)
    assert with_header != base
    btf.write_bytes(b"btf two")             # a kernel update
    assert bpfobj.cache_key(["-DA=1"], str(btf), src) != with_header


def test_bcc_descriptions_become_ctypes():
    desc = ["sniff_x", [["a", "unsigned int"], ["b", "char", [16]], ["", [["c", "unsigned long long"]], "union"],
                        ["bits", "unsigned int", 3]], "struct"]
    cls = bpfsys.ctype_of(desc)
    v = cls(a=7)
    v.c = 9
    v.b = b"hi"
    assert (v.a, v.c, v.b) == (7, 9, b"hi")
    assert ctypes.sizeof(cls) == 40     # a 4, b 16, pad 4, the union 8, bits 4, pad 4
    packed = bpfsys.ctype_of(["p", [["a", "unsigned char"], ["b", "unsigned int"]], "struct_packed"])
    assert ctypes.sizeof(packed) == 5
