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


def namespace_tree(where: Path, changed: dict[str, str] = {}) -> Path:
    """The tree as an installation lays it out (sniff_tui/core/..., which import-linter walks:
    it does not follow the source tree's __path__), its files linked, ``changed`` ones written."""
    for path in modules():
        rel = path.relative_to(ROOT)
        dest = where / "sniff_tui" / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if str(rel) in changed:
            dest.write_text(changed[str(rel)])
        else:
            dest.symlink_to(path)
    (where / "sniff_tui" / "__init__.py").write_text("")
    return where


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(tree))
    return subprocess.run([str(BIN / "lint-imports"), "--no-cache", "--config", str(ROOT / "pyproject.toml")],
                          cwd=tree, env=env, capture_output=True, text=True, timeout=300)


def test_every_layer_imports_only_layers_below_it(tmp_path):
    out = lint_imports(namespace_tree(tmp_path))
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert " 0 broken" in out.stdout


def test_the_layer_contracts_can_fail(tmp_path):
    """The same contracts over the tree where a widget imports the app."""
    header = (ROOT / "widgets" / "header.py").read_text()
    bad = header + "\nfrom sniff_tui.tui.app import SniffApp  # noqa\n"
    out = lint_imports(namespace_tree(tmp_path, {"widgets/header.py": bad}))
    assert out.returncode != 0
    assert "sniff_tui.widgets.header -> sniff_tui.tui.app" in out.stdout


def test_no_module_is_over_450_lines():
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in modules()}
    assert len(sizes) > 80
    assert {name: n for name, n in sizes.items() if n > 450} == {}


def test_ruff_finds_nothing():
    out = _run([str(BIN / "ruff"), "check", "--no-cache", "."])
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
