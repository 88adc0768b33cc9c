"""Issue 10 and 23: the layers only import downwards (import-linter's contracts in
pyproject.toml), no module is a large room, and ruff finds nothing (unused imports and
variables, undefined names, pycodestyle)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "probes", "session", "widgets", "tui", "history", "commands")
BIN = Path(sys.executable).parent


def _run(argv: list[str], cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def modules():
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def test_every_layer_imports_only_layers_below_it():
    out = _run([str(BIN / "lint-imports"), "--no-cache"])
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "broken" in out.stdout and " 0 broken" in out.stdout


def test_the_layer_contracts_can_fail(tmp_path):
    """The same contracts over a copy of the tree where a widget imports the app."""
    tree = tmp_path / "tree"
    for name in (*PACKAGES, "sniff_tui"):
        (tree / name).mkdir(parents=True)
        for src in (ROOT / name).glob("*.py"):
            (tree / name / src.name).write_bytes(src.read_bytes())
    (tree / "pyproject.toml").write_bytes((ROOT / "pyproject.toml").read_bytes())
    bad = tree / "widgets" / "header.py"
    bad.write_text(bad.read_text() + "\nfrom sniff_tui.tui.app import SniffApp  # noqa\n")
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run([str(BIN / "lint-imports"), "--no-cache"], cwd=tree, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    assert "sniff_tui.widgets.header -> sniff_tui.tui.app" in out.stdout


def test_no_module_is_over_450_lines():
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in modules()}
    assert len(sizes) > 100
    assert {name: n for name, n in sizes.items() if n > 450} == {}


def test_ruff_finds_nothing():
    out = _run([str(BIN / "ruff"), "check", "--no-cache", "."])
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
