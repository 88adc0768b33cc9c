"""Issue 10: the layers only import downwards, and no module is a large room."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "probes", "session", "widgets", "tui", "history", "commands")
# What each layer may import from the project (besides itself).
ALLOWED = {
    "core": set(),
    "probes": {"core"},
    "session": {"core"},
    "widgets": {"core", "session"},
    "tui": {"core", "probes", "session", "widgets"},
    "history": {"core"},
    "commands": {"core", "probes", "session", "history", "tui"},
}


def project_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names & set(ALLOWED)


def modules():
    for package in PACKAGES:
        yield from sorted((ROOT / package).glob("*.py"))


def test_every_layer_imports_only_layers_below_it():
    wrong = {}
    for path in modules():
        layer = path.parent.name
        extra = project_imports(path) - ALLOWED[layer] - {layer}
        if extra:
            wrong[str(path.relative_to(ROOT))] = sorted(extra)
    assert wrong == {}


def test_no_module_is_over_450_lines():
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in modules()}
    assert {name: n for name, n in sizes.items() if n > 450} == {}


def test_the_checks_above_can_fail(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from tui.app import SniffApp\nimport session.state\n")
    assert project_imports(bad) == {"tui", "session"}
