"""Start-up: the compile cache with the real compiler and kernel, the phases (mmap, close_range
and io_uring go live after the syscall probes), a program the kernel refuses, and what is left
in the running process and in the kernel afterwards. Each test runs the real `stream` command."""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.kernel.kernel_support import PY, c_helper, script
from tests.kernel.test_stream_cli import CLI, ENV, Stream

# A real rejection: on_dirty_folio (the page-dirtying tracepoint's program, the only user of
# SNIFF_PAGE_SIZE) made to load from a constant address, which the verifier refuses.
REFUSE_DIRTY = "-DSNIFF_PAGE_SIZE=(*(u64*)0x1234)"


STARTED: list = []      # every stream a test starts: none outlives its test, failed or not


@pytest.fixture(autouse=True)
def no_stream_left():
    yield
    while STARTED:
        proc = STARTED.pop().proc
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=60)


def _ids(kind: str) -> set:
    out = subprocess.run(["bpftool", kind, "show", "-j"], capture_output=True, check=True).stdout
    return {p["id"] for p in json.loads(out or b"[]")}


def stream(tmp_path: Path, cache: Path, *args: str, env=None, name="s", wait=True) -> Stream:
    watched = tmp_path / f"watched-{name}"
    watched.mkdir(exist_ok=True)
    s = Stream.__new__(Stream)
    s.dir, s.out, s.ready = watched, tmp_path / f"{name}.jsonl", tmp_path / f"{name}.ready"
    s.proc = subprocess.Popen(
        [*CLI, "stream", "-d", str(watched), "--stats", "0.2", *args, "--ready-file", str(s.ready), "-o", str(s.out)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**ENV, "SNIFF_TUI_CACHE_DIR": str(cache), **(env or {})})
    STARTED.append(s)
    if wait:
        wait_ready(s)
    return s


def wait_ready(s: Stream) -> None:
    deadline = time.monotonic() + 600      # a cold start compiles, on a busy machine
    while not s.ready.exists():
        if s.proc.poll() is not None:
            raise AssertionError(f"exited {s.proc.returncode}: {s.proc.stderr.read().decode(errors='replace')}")
        assert time.monotonic() < deadline, "the probes never attached"
        time.sleep(0.05)


def lines(s: Stream) -> list[dict]:
    text = s.text()
    return [json.loads(line) for line in text[:text.rfind("\n") + 1].splitlines()]   # whole lines only


def stats_lines(s: Stream) -> list[dict]:
    return [r for r in lines(s) if r.get("op") == "stats"]


def wait_all_live(s: Stream) -> dict:
    s.wait_for(lambda text: any(not st.get("loading") for st in stats_lines(s)), timeout=600)
    return next(st for st in stats_lines(s) if not st.get("loading"))


def records(s: Stream) -> list[dict]:
    return [r for r in lines(s) if r.get("op") != "stats"]


WORKLOAD = script("""
import os, sys
d = sys.argv[1]
with open(os.path.join(d, "a"), "w") as f:
    f.write("x" * 1000)
with open(os.path.join(d, "a")) as f:
    f.read()
os.rename(os.path.join(d, "a"), os.path.join(d, "b"))
os.truncate(os.path.join(d, "b"), 10)
os.unlink(os.path.join(d, "b"))
""")


def run_workload(s: Stream) -> set:
    proc = subprocess.run([PY, "-c", WORKLOAD, str(s.dir)], check=True, capture_output=True)
    marker = s.dir / "done"
    marker.write_text("m")        # its write ends the workload's records in the output
    s.wait_for(lambda text: '"done"' in text or "/done" in text, timeout=30)
    s.stop()
    assert proc.returncode == 0
    return {(r["op"], r["path"].rsplit("/", 1)[-1], r.get("count"), r.get("bytes"))
            for r in records(s) if not r["path"].endswith("/done")}


def test_cold_and_warm_starts_give_the_same_records_and_leave_nothing(tmp_path):
    cache = tmp_path / "cache"
    progs, maps = _ids("prog"), _ids("map")
    cold = stream(tmp_path, cache, name="cold")
    assert [p.name for p in cache.iterdir()] and all(p.stat().st_mode & 0o777 == 0o600 for p in cache.iterdir())
    maps_text = Path(f"/proc/{cold.proc.pid}/maps").read_text()
    assert "libLLVM" not in maps_text and "libbcc" not in maps_text    # compiled in a child
    ours_p, ours_m = _ids("prog") - progs, _ids("map") - maps
    wait_all_live(cold)
    cold_records = run_workload(cold)
    entry = next(cache.iterdir())
    built = entry.stat().st_mtime_ns
    warm = stream(tmp_path, cache, "-v", name="warm")
    wait_all_live(warm)
    warm_records = run_workload(warm)
    assert entry.stat().st_mtime_ns == built, "a warm start compiled again"
    assert cold_records == warm_records
    assert {op for op, *_ in cold_records} >= {"write", "read", "rename", "truncate", "unlink"}
    assert ours_p and ours_m
    assert not (_ids("prog") & ours_p) and not (_ids("map") & ours_m), "left in the kernel after exit"


@pytest.fixture(scope="module")
def warm_cache(tmp_path_factory):
    """A compile cache filled by one start (the tests below share it)."""
    base = tmp_path_factory.mktemp("warm")
    code, err = stream(base, base / "cache", name="first").stop()
    assert code == 0, err
    return base / "cache"


def test_two_first_starts_at_once_both_work_and_leave_one_good_entry(tmp_path):
    cache = tmp_path / "cache"
    a = stream(tmp_path, cache, name="a", wait=False)
    b = stream(tmp_path, cache, name="b", wait=False)
    wait_ready(a)
    wait_ready(b)
    both_write_and_stop(a, b)
    [entry] = [p for p in cache.iterdir()]           # no temporary file left
    c = stream(tmp_path, cache, "-v", name="c")      # and it is whole: used as it is
    code, err = c.stop()
    assert code == 0 and "from the cache" in err, err


def test_a_warm_start_needs_no_headers_and_two_run_at_once(tmp_path, warm_cache):
    cache = warm_cache
    env = {"SNIFF_TUI_MODULES": "/nonexistent"}           # no kernel headers
    a = stream(tmp_path, cache, env=env, name="a")
    b = stream(tmp_path, cache, env=env, name="b")
    both_write_and_stop(a, b)


def both_write_and_stop(a: Stream, b: Stream) -> None:
    for s in (a, b):
        (s.dir / "f").write_text("hello")
    for s in (a, b):
        s.wait_for(lambda text: '"write"' in text and "/f" in text)
        code, err = s.stop()
        assert code == 0, err


def test_an_io_uring_write_after_loading_ends_is_reported(tmp_path, warm_cache):
    s = stream(tmp_path, warm_cache)
    first = stats_lines(s)
    live = wait_all_live(s)
    assert live["loading"] == [] and not any("io_uring is not" in m for m in live["missing"])
    if first:
        assert set(first[0]["loading"]) <= {"mmap", "close_range", "io_uring"}
    f = s.dir / "ring"
    run = subprocess.run([c_helper("uring"), "openat", str(f), str(os.O_RDWR | os.O_CREAT), "write", "4096", "close"],
                         cwd=s.dir, capture_output=True, check=True)
    assert run.returncode == 0
    s.wait_for(lambda text: any(r["op"] == "write" and r.get("via") == "io_uring" and r["path"].endswith("/ring")
                                for r in records(s)))
    s.stop()
    late = [m for m in stats_lines(s)[-1]["missing"] if "followed from" in m]
    assert any(m.startswith("io_uring followed from") for m in late)


def test_a_refused_program_costs_only_its_feature(tmp_path):
    s = stream(tmp_path, tmp_path / "cache", env={"SNIFF_TUI_CFLAGS": REFUSE_DIRTY})
    live = wait_all_live(s)
    said = [m for m in live["missing"] if "on_dirty_folio" in m]
    assert said and os.uname().release in said[0] and "mmap_write" in said[0]
    (s.dir / "f").write_text("still followed")
    s.wait_for(lambda text: any(r["op"] == "write" and r["path"].endswith("/f") for r in records(s)))
    code, err = s.stop()
    assert code == 0, err
    assert not any(r["op"] == "mmap_write" for r in records(s))


def test_a_refused_core_program_is_one_line_naming_it_and_the_kernel(tmp_path):
    env = {**ENV, "SNIFF_TUI_CACHE_DIR": str(tmp_path / "cache"),
           "SNIFF_TUI_CFLAGS": "-DSNIFF_MAX_DEPTH=100000"}    # a walk too deep for the verifier
    proc = subprocess.run([*CLI, "stream", "--no-cache", "-d", str(tmp_path), "--duration", "1"],
                          capture_output=True, text=True, env=env, timeout=900)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert "rejected BPF program" in lines[0] and os.uname().release in lines[0]
    assert not (tmp_path / "cache").exists()          # --no-cache: compiled, nothing kept


def test_a_truncated_entry_is_rebuilt_with_the_real_compiler(tmp_path, warm_cache):
    cache = tmp_path / "cache"          # (every kind of damage: tests/unit/test_compile_cache.py)
    cache.mkdir(mode=0o700)
    good = next(warm_cache.iterdir())
    entry = cache / good.name
    entry.write_bytes(good.read_bytes()[:1000])
    os.chmod(entry, 0o600)
    s = stream(tmp_path, cache, "-v", name="again")
    code, err = s.stop()
    assert code == 0 and "compiling" in err, err
    assert entry.stat().st_size > 1000 and entry.stat().st_mode & 0o777 == 0o600
