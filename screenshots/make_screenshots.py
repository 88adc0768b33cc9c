"""Regenerates the SVG screenshots of the dashboard's main states from the demo recording.

    .venv/bin/python screenshots/make_screenshots.py [--size 160x48] [--out screenshots]

Each state replays tests/ui/data/demo.jsonl at full speed in a headless app
(``App.run_test``), waits until every record is folded in, presses the state's keys and saves
``<name>.svg``. Test mode keeps them stable (UTC times, no machine-dependent figures).
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sniff_tui.core.filters import Filters  # noqa: E402
from sniff_tui.tui.app import SniffApp  # noqa: E402
from sniff_tui.core.replay import ReplaySource  # noqa: E402

DEMO = ROOT / "tests" / "ui" / "data" / "demo.jsonl"
WATCH = b"/home/dev/proj"
# Recorded by `sniff-tui stream` with writers in real cgroups named as Docker, Kubernetes
# (containerd) and systemd name theirs.
CONTAINERS = (ROOT / "tests" / "ui" / "data" / "containers.jsonl", b"/tmp/cgdemo/proj")

# name -> (keys pressed once the replay is in, what it shows, terminal size or None: --size)
STATES = {
    "dashboard": ((), "all five panes after the replay"),
    "size_80x24": ((), "the default terminal: one pane at a time, tabs above", (80, 24)),
    "size_120x40": ((), "a common terminal: every pane", (120, 40)),
    "size_200x60": ((), "a large terminal: the paths get the spare width", (200, 60)),
    "help": (("question_mark",), "the key map"),
    "filtered": (("r", "slash", *"build", "enter"), "reads hidden, text filter 'build'"),
    "excluded": (("3", "home", "x", "enter"), "x on build/app: /build/ excluded, said in the header"),
    "process_tree": (("2", "down", "down"), "make selected: its command line below the tree"),
    "top_files_by_writes": (("s", "3", "up"), "sorted by writes, who touched app.log"),
    "containers": (("2", "g"), "processes grouped by container and unit", None, CONTAINERS),
    "container_filter": (("2", "g", "down", "C", "3"), "only the first container (C), who touched its files",
                         None, CONTAINERS),
}


async def shoot(name: str, keys: tuple[str, ...], out: Path, size: tuple[int, int],
                recording: tuple[Path, bytes] = (DEMO, WATCH)) -> Path:
    with tempfile.TemporaryDirectory() as spool:
        source = ReplaySource(str(recording[0]), speed=0, watches=[recording[1]])
        # UTC and no own CPU/memory: the same pictures on every machine.
        app = SniffApp(source, Filters(), [recording[1]], utc=True, own_usage=False, spool_dir=spool)
        async with app.run_test(size=size) as pilot:
            deadline = time.monotonic() + 30
            while app.source_running and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            app.drain_and_refresh()
            await pilot.pause()
            if keys:
                await pilot.press(*keys)
            await pilot.pause()
            await pilot.wait_for_scheduled_animations()
            path = out / f"{name}.svg"
            app.save_screenshot(filename=path.name, path=str(out))
            await pilot.press("q")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="160x48", help="terminal WIDTHxHEIGHT")
    parser.add_argument("--out", default=str(ROOT / "screenshots"))
    parser.add_argument("--only", action="append", metavar="NAME", help="only these states")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, (keys, what, *rest) in STATES.items():
        if args.only and name not in args.only:
            continue
        size = rest[0] if rest and rest[0] else (width, height)
        path = asyncio.run(shoot(name, keys, out, size, *rest[1:]))
        print(f"{path}  ({what})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
