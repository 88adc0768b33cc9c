"""The loaded probes: maps made from the compiled object, programs loaded (in parallel: the
kernel verifies privileged loads concurrently) and attached to raw tracepoints. Detaching
closes the attachment fds; closing frees everything (the kernel frees what is left at exit)."""
from __future__ import annotations

import ctypes
import os
import threading
import time
import queue
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Optional

from . import bpfobj, bpfsys, uring
from .maps import Map


@dataclass
class Rejected:
    program: str
    errno: int
    log: str = ""

    @property
    def reason(self) -> str:
        return os.strerror(self.errno) + (" (program too large for the verifier)" if self.errno == 7 else "")


@dataclass
class Probes:
    """The loaded programs and their maps."""
    obj: dict
    maps: dict = field(default_factory=dict)          # name -> maps.Map
    programs: dict = field(default_factory=dict)      # name -> program fd
    links: dict = field(default_factory=dict)         # raw tracepoint -> attachment fd
    attached: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)     # what is not (or was not) followed, one line each
    loading: list[str] = field(default_factory=list)     # features still being loaded
    late: list[str] = field(default_factory=list)        # features that went live after the rest
    rejected: dict = field(default_factory=dict)         # program -> Rejected
    uring_plan: Optional[uring.Plan] = None
    dirty_tracepoint: Optional[str] = None
    content: bool = False            # capture_write loaded: --content can capture
    cgroup_filter: bool = True       # the kernel can keep tasks by cgroup (see kernel_cflags)
    started: float = field(default_factory=time.monotonic)
    live_at: float = 0.0             # when the syscall probes went live (monotonic)
    log: object = None               # -v lines (a callable), set by the source
    closed: bool = False
    want_log: bool = False           # -v: load a refused program again for the verifier's log

    def __post_init__(self) -> None:
        self.lock = threading.RLock()
        self.phase: Optional[threading.Thread] = None
        # SNIFF_TUI_LOAD_THREADS: how many loads at once (bench/bench_start.py compares 1 and more)
        self.pool = _Verifiers(int(os.environ.get("SNIFF_TUI_LOAD_THREADS") or max(2, os.cpu_count() or 1)))

    def wait_loaded(self, timeout: Optional[float] = None) -> bool:
        """Wait until the later features are live too (loading is empty)."""
        if self.phase is not None:
            self.phase.join(timeout)
            return not self.phase.is_alive()
        return True

    def __getitem__(self, name: str) -> Map:
        return self.maps[name]

    def create_maps(self) -> None:
        try:    # kernels before 5.11 charge maps to RLIMIT_MEMLOCK (as BCC, raise it)
            import resource
            resource.setrlimit(resource.RLIMIT_MEMLOCK, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        except (ValueError, OSError):
            pass
        for spec in self.obj["maps"]:
            fd = bpfsys.map_create(spec["type"], spec["key_size"], spec["value_size"],
                                   spec["max_entries"], spec["flags"], spec["name"])
            self.maps[spec["name"]] = Map(spec, fd)

    def _load_one(self, name: str) -> tuple[str, int, str]:
        program = self._by_name[name]
        code = bpfobj.relocated(program, self._map_fds)
        fd, _ = bpfsys.prog_load(name, code, self.obj["license"].encode())
        if fd >= 0 or not self.want_log:
            return name, fd, ""
        _, log = bpfsys.prog_load(name, code, self.obj["license"].encode(), log=True)
        return name, fd, log

    def submit(self, names) -> dict[str, Future]:
        """Start loading the programs (those not loaded yet), each in a pool thread."""
        if not hasattr(self, "_by_name"):
            self._by_name = {p["name"]: p for p in self.obj["programs"]}
            self._map_fds = [self.maps[m["name"]].map_fd for m in self.obj["maps"]]
        return {n: self.pool.submit(self._load_one, n) for n in dict.fromkeys(names)
                if n not in self.programs and n not in self.rejected}

    def collect(self, futures: dict[str, Future]) -> None:
        for name, fut in futures.items():
            _, fd, log = fut.result()
            with self.lock:
                if fd >= 0 and self.closed:
                    os.close(fd)
                elif fd >= 0:
                    self.programs[name] = fd
                else:
                    self.rejected[name] = Rejected(name, -fd, log)

    def ok(self, *names: str) -> bool:
        return all(n in self.programs for n in names)

    def set_slot(self, table: str, index: int, value, ctype=ctypes.c_int) -> None:
        with self.lock:
            if not self.closed:
                t = self.maps[table]
                t[ctypes.c_int(index)] = ctype(value)

    def attach(self, tp: str, program: str) -> None:
        """Raises BPFError when the kernel has no such tracepoint."""
        with self.lock:
            if self.closed or program not in self.programs:
                return
            self.links[tp] = bpfsys.raw_tracepoint_open(tp, self.programs[program])

    def detach(self) -> None:
        """Stop every program from running; the maps stay readable until close()."""
        with self.lock:
            self.closed = True      # nothing attaches from now on (the phase thread checks it)
            links, self.links = self.links, {}
        # Last attached first: sys_enter goes before sys_exit (a syscall entered is still
        # finished), and the process table's programs go last.
        for fd in reversed(list(links.values())):
            os.close(fd)

    def close(self) -> None:
        """Without waiting for loads in progress: what they return is closed as it comes (the
        kernel frees the rest when the process exits)."""
        self.detach()
        self.pool.shutdown()
        with self.lock:
            programs, self.programs = self.programs, {}
            maps, self.maps = self.maps, {}
        for fd in programs.values():
            os.close(fd)
        for m in maps.values():
            m.close()


class _Verifiers:
    """Threads that load programs (each load is one bpf syscall: the kernel's verifier runs in
    it, without the GIL). Daemon threads: an exit during a load does not wait for it."""

    def __init__(self, workers: int) -> None:
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.stopped = False
        for i in range(workers):
            threading.Thread(target=self._work, name=f"bpf-verify-{i}", daemon=True).start()

    def submit(self, fn, *args) -> Future:
        fut: Future = Future()
        self.jobs.put((fut, fn, args))
        return fut

    def _work(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            fut, fn, args = job
            if self.stopped:
                fut.set_result((args[0], -125, ""))       # ECANCELED: not loaded
                continue
            try:
                fut.set_result(fn(*args))
            except BaseException as exc:   # handed to whoever waits for it
                fut.set_exception(exc)

    def shutdown(self) -> None:
        self.stopped = True
        for _ in range(8):
            self.jobs.put(None)


def rejected_detail(probes: Probes, names) -> str:
    return "\n".join(f"{r.program}: {r.reason}\n{r.log}" for n, r in probes.rejected.items() if n in names)

