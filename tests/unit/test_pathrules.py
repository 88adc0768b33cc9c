"""--exclude/--include/--gitignore: gitignore patterns relative to each watched directory (git's
rules, including its rule for excluded directories), the scan that finds excluded directories,
and bad input as one line, exit 2."""
from __future__ import annotations

import pytest

from sniff_tui.core.filters import Filters
from sniff_tui.core.pathrules import PathRules, PatternError, check_patterns, with_rules
from sniff_tui.commands.cli import build_parser, main


def rules(*exclude, include=(), roots=(b"/w",)) -> PathRules:
    return PathRules(list(roots), tuple(exclude), tuple(include))


@pytest.mark.parametrize("path, is_dir, kept", [
    (b"/w/node_modules", True, False),
    (b"/w/node_modules/a/b.js", False, False),
    (b"/w/src/node_modules/x", False, False),        # unanchored: at any depth
    (b"/w/node_modules", False, True),               # a file of that name is not a directory
    (b"/w/a.swp", False, False),
    (b"/w/d/.a.swp", False, False),
    (b"/w/build/x.o", False, False),
    (b"/w/sub/build/x.o", False, True),              # build/*.o is anchored (has a slash)
    (b"/w/a.log", False, False),
    (b"/w/keep.log", False, True),                   # !keep.log
    (b"/w/out/keep.log", False, False),              # below an excluded directory: git's rule
    (b"/w", True, True),                             # the watched directory itself
    (b"/elsewhere/a.swp", False, True),              # not under a watch: not ours to decide
])
def test_gitignore_semantics(path, is_dir, kept):
    r = rules("node_modules/", "*.swp", "build/*.o", "*.log", "!keep.log", "out/", "!out/keep.log")
    assert r.keeps_path(path, is_dir) is kept


def test_include_keeps_only_matching_and_exclusions_still_win():
    r = rules("vendor/", include=("*.py", "docs/"))
    assert [r.keeps_path(p) for p in (b"/w/a.py", b"/w/a.txt", b"/w/docs/x.md", b"/w/vendor/v.py")] \
        == [True, False, True, False]


def test_patterns_are_relative_to_the_nearest_watch():
    r = rules("/lib/", roots=(b"/w", b"/w/vendor"))
    assert not r.keeps_path(b"/w/lib/a")
    assert r.keeps_path(b"/w/vendor/x") and not r.keeps_path(b"/w/vendor/lib/x")


def test_a_rename_is_kept_when_either_name_is():
    from records import rec
    r = rules("*.swp")
    assert r.keeps(rec("rename", 1, b"/w/.a.swp", new_path=b"/w/a.txt"))
    assert not r.keeps(rec("rename", 1, b"/w/.a.swp", new_path=b"/w/.b.swp"))


def test_scan_lists_excluded_directories_and_reads_nested_gitignores(tmp_path):
    for d in (".git/objects", "node_modules/x/node_modules", "src/gen", "src/keep", "docs"):
        (tmp_path / d).mkdir(parents=True)
    (tmp_path / ".gitignore").write_text("node_modules/\n# comment\n\n")
    (tmp_path / "src" / ".gitignore").write_text("gen/\n*.tmp\n")
    (tmp_path / "node_modules" / ".gitignore").write_text("this is never read/\n")
    root = bytes(tmp_path)
    f = with_rules(Filters(gitignore=True), [root])
    found = sorted(p[len(root) + 1:] for p, _ in f.rules.scanned.excluded)
    assert found == [b".git", b"node_modules", b"src/gen"]       # not entered: nothing below
    assert not f.rules.keeps_path(root + b"/src/a.tmp") and f.rules.keeps_path(root + b"/a.tmp")
    assert "gitignore" in f.describe()


def test_a_watched_directory_is_never_listed_as_excluded(tmp_path):
    (tmp_path / "vendor" / "x").mkdir(parents=True)
    root, vendor = bytes(tmp_path), bytes(tmp_path / "vendor")
    r = PathRules([root, vendor], ("vendor/", "x/"))
    assert [p for p, _ in r.scan().excluded] == [vendor + b"/x"]    # its own tree is scanned
    assert r.keeps_path(vendor + b"/a") and not r.keeps_path(root + b"/vendor/x/a")


def test_scan_is_bounded_and_counts_what_it_left(tmp_path):
    for i in range(30):
        (tmp_path / f"d{i}").mkdir()
    r = PathRules([bytes(tmp_path)], ("x/",))
    result = r.scan(max_dirs=10)
    assert result.dirs == 10 and result.unscanned == 21


def test_an_unreadable_gitignore_is_an_error_at_start_and_skipped_later(tmp_path):
    (tmp_path / "sub" / ".gitignore").mkdir(parents=True)       # reading it fails, even as root
    with pytest.raises(PatternError, match=r"sub/\.gitignore: cannot read"):
        with_rules(Filters(gitignore=True), [bytes(tmp_path)])
    f = with_rules(Filters(gitignore=True), [bytes(tmp_path)], strict=False)
    assert f.rules.scanned.unreadable == [str(tmp_path / "sub" / ".gitignore")]


@pytest.mark.parametrize("pattern, words", [
    ("", "empty pattern"), ("   ", "empty pattern"), ("!", "bad pattern"), ("a\\", "bad pattern"),
    ("#x", "matches nothing"),
])
def test_bad_patterns(pattern, words):
    with pytest.raises(PatternError, match=words):
        check_patterns([pattern], "exclude")


def one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith("\n") and "Traceback" not in err, err
    return err.strip()


@pytest.mark.parametrize("argv, words", [
    (["stream", "--exclude", ""], "--exclude: empty pattern"),
    (["stream", "--include", "!"], "--include: bad pattern"),
    (["--exclude", "#"], "matches nothing"),
    (["query", "db", "--exclude", ""], "--exclude: empty pattern"),
    (["stream", "--excl", "x"], "unrecognized arguments: --excl"),      # no abbreviations
])
def test_bad_input_is_one_line_and_exit_2(argv, words, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert words in one_line(capsys)


def test_an_unreadable_gitignore_at_start_is_one_line(capsys, tmp_path):
    (tmp_path / ".gitignore").mkdir()
    assert main(["stream", "-d", str(tmp_path), "--gitignore"]) == 2
    assert ".gitignore: cannot read" in one_line(capsys)


def test_exclude_is_not_taken_for_exclude_comm():
    args = build_parser().parse_args(["--exclude", "*.swp", "--exclude-comm", "make"])
    assert args.exclude == ["*.swp"] and args.exclude_comm == ["make"]
    args = build_parser().parse_args(["stream", "--exclude", "a/", "--exclude", "b/"])
    assert args.exclude == ["a/", "b/"]
