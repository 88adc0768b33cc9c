"""sniff-tui's one namespace: `sniff_tui.core`, `.probes`, `.session`, `.widgets`, `.tui`,
`.history`, `.commands`.

The packages stay at the top of the repository (core/, probes/, ...): an install maps them
here with setuptools' package-dir (pyproject.toml). Run from a source tree instead
(PYTHONPATH=the tree, or `python -m pytest` at its root), this folder holds nothing but this
file, and its packages are found beside it, in the tree."""
import os as _os

_tree = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
if not _os.path.isdir(_os.path.join(_os.path.dirname(__file__), "core")) \
        and _os.path.isfile(_os.path.join(_tree, "core", "__init__.py")):
    __path__.append(_tree)  # noqa: F821 (a package's own __path__)
