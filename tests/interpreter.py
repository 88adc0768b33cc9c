"""The interpreter that tests start sniff-tui with, as a separate process (in tmux, say).

This tree's .venv when it has one (scripts/setup.sh makes it); in a git worktree without one,
the interpreter running the tests, whose site-packages have Textual and bcc. Either way the
code run must be this tree's, not the one the venv was installed from: start it with
``ENV`` (PYTHONPATH=ROOT) or from ROOT, as ``PYTHON -m sniff_tui.commands.cli``."""
from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_VENV = ROOT / ".venv" / "bin" / "python"
PYTHON = str(_VENV) if _VENV.exists() else sys.executable
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
