"""Issue 23: the README is a front page that fits a screen of scrolling, and every link in it
and in docs/ leads somewhere (a moved section must not leave a dead link behind)."""
from __future__ import annotations

import re
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FRONT_PAGE_MAX = 15_000


def doc_files() -> list[Path]:
    return [ROOT / "README.md", ROOT / "ARCHITECTURE.md", *sorted((ROOT / "docs").glob("*.md"))]


def without_code(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped but - and _, spaces to -."""
    kept = "".join(c for c in heading.strip().lower()
                   if c.isalnum() or c in " -_" or unicodedata.category(c).startswith("L"))
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for heading in re.findall(r"^#{1,6} (.+)$", without_code(path.read_text()), flags=re.M):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        found.add(base if n == 0 else f"{base}-{n}")
    return found


def broken_links(path: Path) -> list[str]:
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", without_code(path.read_text())):
        if re.match(r"[a-z]+:", target):
            continue
        file_part, _, fragment = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif fragment and dest.suffix == ".md" and fragment not in anchors(dest):
            broken.append(f"{target} (no such heading)")
    return broken


def test_every_relative_link_and_anchor_resolves():
    wrong = {p.relative_to(ROOT).as_posix(): b for p in doc_files() if (b := broken_links(p))}
    assert not wrong, wrong


def test_the_link_check_finds_a_dead_link_and_a_dead_anchor(tmp_path):
    (tmp_path / "a.md").write_text("# Title\n\n## Some `code`, here\n")
    page = tmp_path / "b.md"
    page.write_text("[ok](a.md#some-code-here) [gone](c.md) [no](a.md#nope)\n"
                    "```\n[in code](ignored.md)\n```\n")
    assert broken_links(page) == ["c.md (no such file)", "a.md#nope (no such heading)"]


def test_readme_is_a_front_page():
    size = len((ROOT / "README.md").read_text())
    assert size <= FRONT_PAGE_MAX, f"README.md has {size} characters: move reference text into docs/"
