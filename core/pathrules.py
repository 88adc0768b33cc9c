"""Which paths under the watched directories the user excluded (--exclude, --gitignore) or kept
(--include), in gitignore syntax relative to each watched directory, matched with `pathspec`.

Git's rules, including the one pathspec leaves out: nothing below an excluded directory can be
re-included (a `!keep/` under an excluded `build/` keeps nothing). That is also what the kernel
decides: an excluded directory is found at start (``scan``) and put in the watched map, where
the walk that places a file stops at it. Precedence, lowest first: the root's `.gitignore`,
deeper `.gitignore` files, then the command line's patterns; within one, the last match wins.

``keeps`` is the whole decision, in userspace: the kernel's part is an optimisation that drops
the same records earlier, so totals are the same with or without it."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional

import pathspec

from .filters import FilterError

SCAN_MAX_DIRS = 50_000       # directories visited at start looking for excluded ones
_CACHE_MAX = 65_536


class PatternError(FilterError):
    """A pattern or .gitignore that cannot be used; the message is one line for the user."""


def compile_patterns(lines: list[str], where: str, strict: bool = True) -> pathspec.GitIgnoreSpec:
    """where: how to name the patterns' origin in an error. strict: every line is one pattern
    the user typed (blank, comment and match-nothing lines are errors)."""
    for line in lines:
        if strict and not line.strip():
            raise PatternError(f"{where}: empty pattern")
        try:
            spec = pathspec.GitIgnoreSpec.from_lines([line])
        except (ValueError, TypeError):
            raise PatternError(f"{where}: bad pattern {line!r}") from None
        if strict and all(p.include is None for p in spec.patterns):
            raise PatternError(f"{where}: pattern {line!r} matches nothing")
    return pathspec.GitIgnoreSpec.from_lines(lines)


def check_patterns(patterns, what: str) -> tuple[str, ...]:
    """The user's --exclude/--include values, checked (PatternError) and kept as typed."""
    for p in patterns:
        compile_patterns([p], f"--{what}")
    return tuple(patterns)


@dataclass
class ScanResult:
    excluded: list[tuple[bytes, os.stat_result]] = field(default_factory=list)
    dirs: int = 0                 # directories visited
    unscanned: int = 0            # directories left unvisited (SCAN_MAX_DIRS): userspace decides
    unreadable: list[str] = field(default_factory=list)   # .gitignore files that could not be read


class PathRules:
    """Compiled exclusions for a set of watched directories (canonical bytes paths)."""

    def __init__(self, roots: list[bytes], exclude: tuple[str, ...] = (), include: tuple[str, ...] = (),
                 gitignore: bool = False) -> None:
        self.roots = sorted(roots, key=len, reverse=True)
        self.exclude = tuple(exclude)
        self.include = tuple(include)
        self.gitignore = gitignore
        lines = list(exclude) + ([".git/"] if gitignore else [])
        self._cmdline = compile_patterns(lines, "--exclude", strict=False) if lines else None
        self._include = compile_patterns(list(include), "--include", strict=False) if include else None
        self._ignores: dict[tuple[bytes, str], pathspec.GitIgnoreSpec] = {}   # (root, dir) -> spec
        self._dir_cache: dict[tuple[bytes, str], bool] = {}
        self._cache: dict[tuple[bytes, bool], bool] = {}
        self.scanned = ScanResult()

    @property
    def active(self) -> bool:
        return bool(self.exclude or self.include or self.gitignore)

    # ---- reading the trees ---------------------------------------------------------------

    def scan(self, strict: bool = True, max_dirs: int = SCAN_MAX_DIRS) -> ScanResult:
        """Walk the watched trees once: read the .gitignore files (--gitignore) and list the
        excluded directories (not entered: nothing below one can be re-included). strict: an
        unreadable .gitignore is a PatternError (at start); otherwise it is listed and skipped."""
        result = ScanResult()
        roots = set(self.roots)
        budget = max_dirs
        for root in self.roots:
            stack = [""]
            while stack:
                rel = stack.pop()
                if budget <= 0:
                    result.unscanned += 1 + len(stack)
                    break
                budget -= 1
                result.dirs += 1
                here = root + (b"/" + os.fsencode(rel) if rel else b"")
                if self.gitignore:
                    self._read_gitignore(root, rel, here, strict, result)
                try:
                    entries = list(os.scandir(here))
                except OSError:
                    continue
                for entry in entries:
                    try:
                        if not entry.is_dir(follow_symlinks=False):
                            continue
                    except OSError:
                        continue
                    sub = f"{rel}/{os.fsdecode(entry.name)}" if rel else os.fsdecode(entry.name)
                    if os.fsencode(entry.path) in roots:
                        continue        # another watched directory: its own root, never excluded
                    if self._excluded_leaf(root, sub, True):
                        try:
                            result.excluded.append((os.fsencode(entry.path), entry.stat(follow_symlinks=False)))
                        except OSError:
                            pass
                    else:
                        stack.append(sub)
        self._cache.clear()
        self._dir_cache.clear()
        self.scanned = result
        return result

    def _read_gitignore(self, root: bytes, rel: str, here: bytes, strict: bool, result: ScanResult) -> None:
        path = here + b"/.gitignore"
        try:
            text = open(path, "rb").read().decode("utf-8", "surrogateescape")
        except FileNotFoundError:
            return
        except OSError as exc:
            if strict:
                raise PatternError(f"{os.fsdecode(path)}: cannot read ({exc.strerror})") from None
            result.unreadable.append(os.fsdecode(path))
            return
        try:
            spec = compile_patterns(text.splitlines(), os.fsdecode(path), strict=False)
        except PatternError:
            if strict:
                raise
            result.unreadable.append(os.fsdecode(path))
            return
        self._ignores[(root, rel)] = spec

    # ---- deciding ------------------------------------------------------------------------

    def _split(self, path: bytes) -> Optional[tuple[bytes, str]]:
        for root in self.roots:
            if path.startswith(root) and (len(path) == len(root) or path[len(root)] == 0x2F or root == b"/"):
                rel = path[len(root):].lstrip(b"/")
                return (root, os.fsdecode(rel)) if rel else None
        return None

    def _excluded_leaf(self, root: bytes, rel: str, is_dir: bool) -> bool:
        """rel alone (its ancestors not looked at): the last pattern that has a say wins."""
        verdict = None
        name = rel + "/" if is_dir else rel
        if self._ignores:
            base = ""
            parts = rel.split("/")
            for i in range(len(parts)):
                spec = self._ignores.get((root, base))
                if spec is not None:
                    below = "/".join(parts[i:]) + ("/" if is_dir else "")
                    r = spec.check_file(below).include
                    if r is not None:
                        verdict = r
                base = "/".join(parts[:i + 1])
        if self._cmdline is not None:
            r = self._cmdline.check_file(name).include
            if r is not None:
                verdict = r
        return bool(verdict)

    def _dir_excluded(self, root: bytes, rel: str) -> bool:
        key = (root, rel)
        hit = self._dir_cache.get(key)
        if hit is None:
            if len(self._dir_cache) >= _CACHE_MAX:
                self._dir_cache.clear()
            hit = self._dir_cache[key] = self._excluded_leaf(root, rel, True)
        return hit

    def excluded_dir_of(self, path: bytes) -> Optional[bytes]:
        """The outermost excluded directory at or above path (the directory itself counts), or
        None: what the kernel map should hold."""
        split = self._split(path)
        if split is None:
            return None
        root, rel = split
        parts = rel.split("/")
        for i in range(1, len(parts) + 1):
            if self._dir_excluded(root, "/".join(parts[:i])):
                return root + b"/" + os.fsencode("/".join(parts[:i]))
        return None

    def keeps_path(self, path: bytes, is_dir: bool = False) -> bool:
        key = (path, is_dir)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        hit = self._cache[key] = self._decide(path, is_dir)
        return hit

    def _decide(self, path: bytes, is_dir: bool) -> bool:
        split = self._split(path)
        if split is None:
            return True         # a watched directory itself, or outside every one
        root, rel = split
        parts = rel.split("/")
        for i in range(1, len(parts)):
            if self._dir_excluded(root, "/".join(parts[:i])):
                return False
        if (self._dir_excluded(root, rel) if is_dir else self._excluded_leaf(root, rel, False)):
            return False
        if self._include is not None:
            return self._include.match_file(rel + "/" if is_dir else rel)
        return True

    def keeps(self, rec) -> bool:
        """A record or cell: kept when its path is; a rename when either name is (a file that
        enters or leaves the view is shown)."""
        is_dir = rec.file_type == "dir"
        if self.keeps_path(rec.path, is_dir):
            return True
        new_path = rec.new_path
        return new_path is not None and self.keeps_path(new_path, is_dir)

    def describe(self) -> str:
        parts = list(self.exclude) + (["gitignore"] if self.gitignore else [])
        out = ("not " + ",".join(parts)) if parts else ""
        if self.include:
            out += (" " if out else "") + "only " + ",".join(self.include)
        return out


def with_rules(filters, roots: list[bytes], strict: bool = True):
    """filters with its patterns compiled for roots and the trees scanned (rules None when it
    has none). strict: see PathRules.scan."""
    if not (filters.exclude or filters.include or filters.gitignore):
        return filters.with_(rules=None)
    rules = PathRules(roots, filters.exclude, filters.include, filters.gitignore)
    rules.scan(strict=strict)
    return filters.with_(rules=rules)
