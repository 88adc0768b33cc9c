"""Time to the first frame of the dashboard, in a real terminal (tmux), as a user starts it.

    sudo python bench/bench_first_frame.py [--rounds 7] [--baseline DIR] [--flood]

Measured from the exec of the command (the shell stamps ``$EPOCHREALTIME``, a builtin, then
``exec``s it) to the moment tmux reads the first frame from the pane (the header's
``sniff-tui`` and the ``Events`` pane title), and, live, to ``LIVE`` in the header (probes
loaded). The pane's output is timestamped as tmux reads it (``pipe-pane`` into a small reader),
so nothing polls the screen and steals the CPU the dashboard is starting on.

Cases: the live dashboard (as root; the probes load in the worker), a replay of the demo
recording (no root), and the floor: a one-widget Textual app started the same way, which says
what any Textual program costs on the machine. ``--baseline DIR`` (another checkout, e.g.
``git archive main | tar -x -C DIR``) runs its live and replay cases too; ``--flood`` adds a
live case with two writers flooding the watched directory. Every case ends with `q`, timed to
the end of the process (the prompt back). Rounds go case by case in turn, so a load that comes
and goes hits every case alike. Also reported: the command's CPU time to its first frame,
and its time runnable but waiting for a CPU (from /proc/PID/task/*/schedstat), which tell a
slow start from a busy machine. Target: first frame <= 0.5 s (median). Prints a markdown
table of medians and worst rounds.
"""
from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from harness import entry_module  # noqa: E402
TARGET = 0.5
FIRST = ("sniff-tui", "Events")
LIVE = ("LIVE",)
FLOODED = ("flood-",)
# --flood: two writers in the watched directory, one rewriting one file (one hot kernel
# counter), one cycling through 5,000 files (counters to harvest, new records all the time);
# `q` is pressed once their records are on the screen.
FLOOD = ("import itertools, os, sys\n"
         "os.chdir(sys.argv[1])\n"
         "if sys.argv[2] == 'one':\n"
         "    while True:\n"
         "        fd = os.open('flood-hot', os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)\n"
         "        os.write(fd, b'x')\n"
         "        os.close(fd)\n"
         "for i in itertools.count():\n"
         "    with open('flood-%d' % (i % 5000), 'w') as f:\n"
         "        f.write('y')\n")

# What any Textual app costs to start on this machine: the figure the others compare with.
FLOOR_APP = """
from textual.app import App
from textual.widgets import Static


class Floor(App):
    BINDINGS = [("q", "quit")]

    def compose(self):
        yield Static("sniff-tui Events")


Floor().run()
"""

# Reads the pane's output as tmux reads it from the terminal, strips the escape sequences,
# and writes "<label> <unix time>" once every word of a label has been seen.
STAMPER = r"""
import os, re, sys, time
out, start, labels = sys.argv[1], sys.argv[2], [arg.split(",") for arg in sys.argv[3:]]


# The command's CPU time so far, and its time spent runnable but waiting for a CPU (the
# machine's load), in seconds: /proc/PID/task/*/schedstat, over the threads alive now.
def cpu_and_wait():
    try:
        pid = int(open(start).read().split()[0])
        cpu = wait = 0
        for task in os.listdir(f"/proc/{pid}/task"):
            fields = open(f"/proc/{pid}/task/{task}/schedstat").read().split()
            cpu, wait = cpu + int(fields[0]), wait + int(fields[1])
        return cpu / 1e9, wait / 1e9
    except (OSError, ValueError, IndexError):
        return float("nan"), float("nan")


escape = re.compile(r"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z]|[@-_])")
found = [set() for _ in labels]
done = [False] * len(labels)
tail, pending = "", b""
open(out + ".ready", "w").close()
with open(out, "w") as fh:
    while not all(done):
        chunk = os.read(0, 1 << 16)
        now = time.time()
        if not chunk:
            break
        pending += chunk
        cut = pending.rfind(b"\x1b")
        # An escape sequence may go on in the next chunk: keep it for then.
        if cut >= 0 and len(pending) - cut < 64:
            data, pending = pending[:cut], pending[cut:]
        else:
            data, pending = pending, b""
        text = tail + escape.sub("", data.decode("utf-8", "replace"))
        for i, words in enumerate(labels):
            if not done[i]:
                found[i].update(w for w in words if w in text)
                if len(found[i]) == len(words):
                    done[i] = True
                    fh.write(f"{words[0]} {now} %s %s\n" % cpu_and_wait())
                    fh.flush()
        tail = text[-64:]
"""


def tmux(*args: str, check: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=check)


def wait_until(predicate, timeout: float, step: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def one_round(work: Path, command: str, env: dict[str, str], until_live: bool,
              timeout: float, cwd: Path | None = None,
              flood: Path | None = None) -> tuple[float, ...]:
    """(first frame, probes live, quit, CPU, waited) in seconds: first and live from the exec;
    quit from `q` to the end of the process; CPU the command's CPU time to its first frame,
    waited its time runnable with no CPU free (the machine's load). NaN for what did not
    happen within ``timeout``."""
    nan = float("nan")
    run = Path(tempfile.mkdtemp(dir=work))
    session = f"sniff-ff-{os.getpid()}-{run.name}"
    go, start, out = run / "go", run / "start", run / "out"
    os.mkfifo(go)
    exports = "".join(f"export {k}={shlex.quote(v)}; " for k, v in env.items())
    # `python -m` puts the current directory first on sys.path: cd into the tree measured.
    cd = f"cd {shlex.quote(str(cwd))}; " if cwd else ""
    # As a user's second start finds it: the byte code compiled (PYTHONDONTWRITEBYTECODE would
    # make every start compile the project's 60 modules again, about 70 ms).
    shell = (f"read _ < {go}; {cd}unset PYTHONDONTWRITEBYTECODE; {exports}"
             f"echo $$ $EPOCHREALTIME > {start}; exec {command}")
    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40",
         f"bash --norc --noprofile -c {shlex.quote(shell)}", check=True)
    first = live = quit_time = cpu = waited = nan
    writers = [subprocess.Popen(["/usr/bin/python3", "-c", FLOOD, str(flood), kind],
                                start_new_session=True)
               for kind in (("one", "many") if flood else ())]
    try:
        labels = ([",".join(FIRST)] + ([",".join(LIVE)] if until_live else [])
                  + ([",".join(FLOODED)] if flood else []))
        stamper = run / "stamper.py"
        stamper.write_text(STAMPER)
        tmux("pipe-pane", "-O", "-t", session,
             shlex.join([sys.executable, str(stamper), str(out), str(start), *labels]),
             check=True)
        if not wait_until(lambda: Path(str(out) + ".ready").exists(), 10):
            raise RuntimeError("the pane's reader did not start")
        with open(go, "w"):
            pass                                   # the shell reads EOF and goes on

        def stamps() -> dict[str, list[float]]:
            found = {}
            if out.exists():
                for line in out.read_text().splitlines():
                    word, *numbers = line.split()
                    found[word] = [float(n) for n in numbers]
            return found

        wait_until(lambda: len(stamps()) == len(labels), timeout, step=0.05)
        found = stamps()
        wait_until(lambda: start.exists() and start.read_text().strip(), 5)
        started = float(start.read_text().split()[1])
        first, cpu, waited = found.get(FIRST[0], [nan] * 3)
        first -= started
        live = found.get(LIVE[0], [nan])[0] - started
        asked = time.monotonic()
        tmux("send-keys", "-t", session, "q")
        if wait_until(lambda: tmux("has-session", "-t", session).returncode != 0, 30, 0.02):
            quit_time = time.monotonic() - asked
    finally:
        tmux("kill-session", "-t", session)
        for writer in writers:
            writer.kill()
            writer.wait()
        shutil.rmtree(run, ignore_errors=True)
    return first, live, quit_time, cpu, waited


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--python", default=sys.executable,
                        help="the interpreter with Textual and bcc (default: this one)")
    parser.add_argument("--baseline", metavar="DIR", help="also time this checkout")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="longest wait for a frame or for the probes (s)")
    parser.add_argument("--no-live", action="store_true", help="skip the live cases")
    parser.add_argument("--flood", action="store_true",
                        help="also the live dashboard started and quit under a flood of writes")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sniff-ff-"))
    floor = work / "floor.py"
    floor.write_text(FLOOR_APP)
    live = os.geteuid() == 0 and not args.no_live
    watched = work / "watched"
    watched.mkdir()
    trees = [("this tree", ROOT)]
    if args.baseline:
        trees.append((f"baseline {Path(args.baseline).name}", Path(args.baseline).resolve()))
    flooded = work / "flooded"
    flooded.mkdir()
    cases = []     # (name, command, env, until_live, cwd, flooded directory)
    for tree_name, tree in trees:
        env = {"PYTHONPATH": str(tree)}
        demo = tree / "tests" / "ui" / "data" / "demo.jsonl"
        if live:
            cases.append((f"live, {tree_name}", f"{args.python} -m {entry_module(tree)} -d {watched}", env,
                          True, tree, None))
        if live and args.flood:
            cases.append((f"live under a flood, {tree_name}",
                          f"{args.python} -m {entry_module(tree)} -d {flooded}", env, True, tree, flooded))
        cases.append((f"replay, {tree_name}", f"{args.python} -m {entry_module(tree)} replay {demo}", env,
                      False, tree, None))
    cases.append(("floor: a one-widget Textual app", f"{args.python} {floor}", {}, False, None,
                  None))
    for _, tree in trees:
        subprocess.run([args.python, "-m", "compileall", "-q", str(tree)], check=False,
                       stdout=subprocess.DEVNULL,
                       env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"})
    results: dict[str, list[tuple[float, ...]]] = {case[0]: [] for case in cases}
    for round_no in range(args.rounds):
        for name, command, env, until_live, cwd, flood in cases:
            result = one_round(work, command, env, until_live, args.timeout, cwd, flood)
            results[name].append(result)
            print(f"round {round_no + 1}: {name}: first frame {result[0]:.3f} s (CPU "
                  f"{result[3]:.3f} s, waited {result[4]:.3f} s), live {result[1]:.3f} s, "
                  f"quit {result[2]:.3f} s", file=sys.stderr, flush=True)
    load = os.getloadavg()
    print(f"{args.rounds} rounds, 120x40, load average at the end {load[0]:.2f} {load[1]:.2f} "
          f"{load[2]:.2f}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    print("| start | first frame (median / worst) | its CPU time (median) | waiting for a CPU "
          "(median) | probes live (median) | `q` to exit (median / worst) | target ≤ 0.5 s met |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, _, _, until_live, _, _ in cases:
        rounds = results[name]
        firsts = [r[0] for r in rounds]
        quits = [r[2] for r in rounds]
        median = statistics.median(firsts)
        live_text = f"{statistics.median([r[1] for r in rounds]):.2f} s" if until_live else "—"
        print(f"| {name} | {median:.2f} s / {max(firsts):.2f} s | "
              f"{statistics.median([r[3] for r in rounds]):.2f} s | "
              f"{statistics.median([r[4] for r in rounds]):.2f} s | {live_text} | "
              f"{statistics.median(quits):.2f} s / {max(quits):.2f} s | "
              f"{'yes' if median <= TARGET else 'no'} |")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
