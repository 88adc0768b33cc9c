"""--exclude, --include, --gitignore against real files: excluded directories are decided in the
kernel (nothing below one reaches Python: the source's filtered_out does not move), name
patterns in Python after coalescing (filtered_out counts them)."""
from __future__ import annotations

import os

from sniff_tui.core.filters import Filters
from sniff_tui.core.pathrules import with_rules
from sniff_tui.probes.watchdirs import canonical_dir
from tests.kernel.kernel_support import script

WRITE_ALL = script("""
for name in sys.argv[1:]:
    os.makedirs(os.path.dirname(name), exist_ok=True)
    with open(name, "w") as f:
        f.write("data")
""")


def exclude(sniff, *patterns, include=(), gitignore=False) -> Filters:
    filters = with_rules(Filters(exclude=patterns, include=include, gitignore=gitignore),
                         [canonical_dir(sniff.dir)])
    sniff.source.set_filters(filters)
    return filters


def written(run, root) -> set[str]:
    return {os.path.relpath(os.fsdecode(r.path), root) for r in run.by_pid(run.pid)}


def excluded(sniff) -> list[str]:
    """The excluded directories in the kernel's map, relative to the watched one."""
    return sorted(os.path.relpath(os.fsdecode(p), sniff.dir) for p in sniff.source.exclusions.paths())


def make(root, *names) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")


def run_in(sniff, *names):
    """Run a writer of names; (paths it was seen touching, records Python dropped)."""
    before = sniff.source.filtered_out
    run = sniff.run(WRITE_ALL, *(str(sniff.dir / n) for n in names))
    assert run.returncode == 0
    return written(run, sniff.dir), sniff.source.filtered_out - before


def test_git_and_node_modules_are_excluded_in_the_kernel(sniff):
    make(sniff.dir, ".git/objects/ab/cd", "node_modules/left-pad/index.js", "src/node_modules/x/y")
    exclude(sniff, "node_modules/", gitignore=True)
    assert excluded(sniff) == [".git", "node_modules", "src/node_modules"]
    seen, dropped = run_in(sniff, ".git/objects/ab/ef", ".git/index", "node_modules/left-pad/a.js",
                           "src/node_modules/x/z", "src/main.c")
    assert seen == {"src/main.c"}
    assert dropped == 0          # nothing below an excluded directory left the kernel


FLOOD = script("""
for name in sys.argv[1:]:
    fd = os.open(name, os.O_WRONLY | os.O_CREAT, 0o644)
    for _ in range(1000):
        os.write(fd, b"ab")
    os.close(fd)
""")


def test_name_patterns_are_decided_after_the_kernel(sniff):
    exclude(sniff, "*.swp", "build/*.o")
    seen, dropped = run_in(sniff, ".a.txt.swp", "a.txt", "build/x.o", "build/x.c", "sub/build/y.o")
    assert seen == {"a.txt", "build/x.c", "sub/build/y.o"}    # build/*.o is anchored
    assert dropped > 0
    # Coalesced in the kernel, decided after: the kept file's totals are exact.
    run = sniff.run(FLOOD, str(sniff.dir / ".b.swp"), str(sniff.dir / "b.txt"))
    assert run.summary(sniff.dir / "b.txt", "write") == (1000, 2000)
    assert run.summary(sniff.dir / ".b.swp", "write") == (0, 0)


def test_negation_and_gits_rule_for_excluded_directories(sniff):
    make(sniff.dir, "build/keep.txt")
    exclude(sniff, "*.log", "!keep.log", "build/", "!build/keep.txt")
    seen, _ = run_in(sniff, "a.log", "keep.log", "d/keep.log", "build/keep.txt", "build/other")
    # A file cannot be re-included below an excluded directory (git's rule, and the kernel's).
    assert seen == {"keep.log", "d/keep.log"}


def test_nested_gitignore_files_apply_below_their_directory(sniff):
    (sniff.dir / ".gitignore").write_text("*.tmp\n")
    make(sniff.dir, "sub/gen/old")
    (sniff.dir / "sub" / ".gitignore").write_text("# generated\n*.log\n!keep.log\ngen/\n")
    exclude(sniff, gitignore=True)
    assert excluded(sniff) == ["sub/gen"]
    seen, _ = run_in(sniff, "x.log", "a.tmp", "sub/a.log", "sub/keep.log", "sub/b.tmp",
                     "sub/gen/new", "sub/c.txt")
    assert seen == {"x.log", "sub/keep.log", "sub/c.txt"}


def test_include_keeps_only_matching_paths(sniff):
    exclude(sniff, "tests/", include=("*.py",))
    seen, _ = run_in(sniff, "a.py", "b.txt", "pkg/c.py", "tests/t.py")
    assert seen == {"a.py", "pkg/c.py"}


RENAME_INTO = script("""
src, dst = sys.argv[1], sys.argv[2]
f = open(src, "w", buffering=1)
f.write("a\\n")
os.rename(src, dst)
for _ in range(3):
    f.write("bbb\\n")
f.close()
""")


def test_writes_after_a_rename_into_an_excluded_directory_are_not_reported(sniff):
    make(sniff.dir, "node_modules/.keep")
    exclude(sniff, "node_modules/")
    src, dst = sniff.dir / "f.txt", sniff.dir / "node_modules" / "f.txt"
    run = sniff.run(RENAME_INTO, str(src), str(dst))
    assert run.returncode == 0
    mine = run.by_pid(run.pid)
    assert [r.new_path for r in mine if r.op == "rename"] == [os.fsencode(dst)]  # leaving is shown
    writes = [r for r in mine if r.op == "write"]
    assert sum(r.count for r in writes) == 1 and sum(r.bytes for r in writes) == 2
    assert {r.path for r in mine} == {os.fsencode(src)}


def test_a_directory_made_after_the_start_goes_into_the_kernel(sniff):
    exclude(sniff, "build/")
    assert excluded(sniff) == []
    added = sniff.source.exclusions.added_later
    seen, dropped = run_in(sniff, "build/a.o", "main.c")
    assert seen == {"main.c"} and dropped > 0          # the first records: Python decides
    assert sniff.source.exclusions.added_later == added + 1
    assert excluded(sniff) == ["build"]
    seen, dropped = run_in(sniff, "build/b.o", "build/deeper/c.o")
    assert seen == set() and dropped == 0              # now the kernel does


def test_a_watch_inside_an_excluded_directory_is_still_watched(sniff, tmp_path):
    make(sniff.dir, "vendor/lib/x")
    exclude(sniff, "vendor/")
    inner = canonical_dir(sniff.dir / "vendor" / "lib")
    sniff.source.set_watches([sniff.dir, inner])
    sniff.source.set_filters(with_rules(sniff.source.filters, [canonical_dir(sniff.dir), inner]))
    seen, _ = run_in(sniff, "vendor/a", "vendor/lib/b")
    assert seen == {"vendor/lib/b"}                    # the nearest of the two wins


def test_removing_an_exclusion_at_run_time_brings_the_directory_back(sniff):
    make(sniff.dir, "node_modules/a")
    exclude(sniff, "node_modules/")
    assert run_in(sniff, "node_modules/b") == (set(), 0)
    sniff.source.set_filters(Filters())               # X, or c: the map entry goes
    assert excluded(sniff) == [] and sniff.source.watch_set.excluded == {}
    seen, _ = run_in(sniff, "node_modules/b")
    assert seen == {"node_modules/b"}


def test_watching_an_excluded_directory_itself_keeps_its_watch(sniff):
    make(sniff.dir, "vendor/x")
    exclude(sniff, "vendor/")
    assert excluded(sniff) == ["vendor"]
    vendor = canonical_dir(sniff.dir / "vendor")
    sniff.source.set_watches([sniff.dir, vendor])     # `d +vendor`: the watch takes the entry
    sniff.source.set_filters(with_rules(sniff.source.filters, [canonical_dir(sniff.dir), vendor]))
    assert excluded(sniff) == []
    run = sniff.run(WRITE_ALL, str(sniff.dir / "vendor" / "a"))
    assert {(r.path, r.watch) for r in run.by_pid(run.pid)} == {(vendor + b"/a", vendor)}
