"""What the benchmarks share: a real `sniff-tui stream` process, started the way a user would,
ready once its probes are attached."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
def entry_module(root: Path = ROOT) -> str:
    """The module of the checkout at root that `-m` runs: a checkout from before the sniff_tui
    namespace has its entry point at tui.cli."""
    return "sniff_tui.commands.cli" if (root / "sniff_tui").is_dir() else "tui.cli"


def sniff_command(root: Path = ROOT, python: str = str(ROOT / ".venv/bin/python")) -> list[str]:
    """The command that runs the checkout at root (from it, as its cwd)."""
    return [python, "-m", entry_module(root)]


SNIFF = sniff_command()


class Stream:
    """root: the checkout whose code runs (another commit's, for an A/B run), with this
    checkout's venv."""

    def __init__(self, watched: Path, out: Path, *extra: str, root: Path = ROOT, settle: bool = True) -> None:
        ready = out.with_suffix(".ready")
        ready.unlink(missing_ok=True)
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen([*sniff_command(root), "stream", "-d", str(watched), "-o", str(out),
                                      "--ready-file", str(ready), *extra], cwd=root,
                                     stderr=subprocess.PIPE)
        while not ready.exists():
            if self.proc.poll() is not None:
                raise SystemExit(f"sniff-tui stream failed: {self.proc.stderr.read().decode()}")
            time.sleep(0.01)
        self.ready_s = time.perf_counter() - self.t0
        self.out = out
        self.settled_s = self.settle() if settle else None

    def settle(self, quiet: float = 0.5, timeout: float = 60.0) -> float:
        """Wait until the stream has finished its start-up work, and return the seconds since
        it was started. The ready file appears once the syscall probes are live; the later
        programs (mmap, close_range, io_uring) are verified after it, on every core, for about
        a second. A cost measured meanwhile is the verifier's, not the probes'. Settled: the
        process used under 10% of a core over `quiet` seconds."""
        end = time.perf_counter() + timeout
        last = self.cpu_seconds()
        while time.perf_counter() < end:
            time.sleep(quiet)
            now = self.cpu_seconds()
            if now - last < 0.1 * quiet:
                break
            last = now
        return time.perf_counter() - self.t0

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> tuple[float, str]:
        """SIGINT, as a user's Ctrl-C: (seconds until it exited, its stderr). A non-zero exit
        ends the benchmark."""
        t0 = time.perf_counter()
        self.proc.send_signal(signal.SIGINT)
        _, err = self.proc.communicate(timeout=120)
        if self.proc.returncode != 0:
            raise SystemExit(f"sniff-tui stream exited {self.proc.returncode}: {err.decode()}")
        return time.perf_counter() - t0, err.decode(errors="replace")

    def records(self) -> list[dict]:
        """The file records it wrote (stats lines left out)."""
        out = []
        for line in self.out.read_text().splitlines():
            obj = json.loads(line)
            if obj.get("op") != "stats":
                out.append(obj)
        return out
