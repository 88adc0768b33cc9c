"""The filter keys (r w o n u t a p P C c / x X): each builds new ``Filters`` and hands them to
``apply_filters``, which pushes them to the source (the kernel, live) and to the session."""
from __future__ import annotations

import os
from typing import Optional

from sniff_tui.core.filters import FilterError, Filters
from sniff_tui.session.views import cgroup_filter_fields
from sniff_tui.widgets.process_tree import ProcessTreePane
from sniff_tui.widgets.top_files import TopFilesPane
from sniff_tui.widgets.prompt import PromptScreen


class FilterActions:
    """Part of ``SniffApp``: needs ``source``, ``state``, ``dashboard``, ``say``,
    ``refresh_now``, ``call_after_refresh`` and ``push_screen``."""

    def apply_filters(self, new: Filters) -> bool:
        """Push ``new`` to the source (the kernel, live) and to the state (what is on screen)."""
        try:
            self.source.set_filters(new)
        except (FilterError, ValueError, OSError, RuntimeError) as exc:
            self.say(f"filter not applied: {exc}", "error")
            return False
        self.state.set_filters(new)
        # The stream (where the eye is) first; the aggregates, which need the totals rebuilt
        # from every cell, right after that frame is painted.
        self.refresh_now(all_panes=False, force=True)
        self.call_after_refresh(self.refresh_now, all_panes=True, force=True)
        return True

    def action_toggle_op(self, ops: str) -> None:
        wanted = frozenset(ops.split(","))
        current = self.state.filters.ops
        new_ops = current - wanted if current & wanted else current | wanted
        if self.apply_filters(self.state.filters.with_(ops=frozenset(new_ops))) and not new_ops:
            self.say("every operation is hidden: press r, w, o, n, u, t or c", "warning")

    def action_toggle_types(self) -> None:
        self.apply_filters(self.state.filters.with_(all_types=not self.state.filters.all_types))

    def _selected_pid(self) -> Optional[int]:
        pid = self.dashboard.query_one(ProcessTreePane).selected_pid
        if pid is None:
            self.say("select a process in pane 2 first (press 2, then ↑/↓)", "warning")
        return pid

    def action_filter_process(self) -> None:
        pid = self._selected_pid()
        if pid is not None:
            self.apply_filters(self.state.filters.with_(pid=pid, tree=None))

    def action_filter_tree(self) -> None:
        pid = self._selected_pid()
        if pid is not None:
            self.apply_filters(self.state.filters.with_(tree=pid, pid=None))

    def action_filter_cgroup(self) -> None:
        """C: only the selected process's (or group's) container, else unit, else cgroup; and
        back to every cgroup when one of these filters is set."""
        filters = self.state.filters
        if filters.by_cgroup:
            self.apply_filters(filters.with_(cgroup=None, container=None, unit=None))
            return
        pane = self.dashboard.query_one(ProcessTreePane)
        pid = pane.selected_pid
        group = pane.selected_group if pid is None else None
        if group is not None:
            fields = group.filter_fields()
        elif pid is not None and (proc := self.state.process(pid)) is not None:
            fields = cgroup_filter_fields(proc)
        else:
            self.say("select a process or a group in pane 2 first (press 2, then ↑/↓)", "warning")
            return
        if not fields:
            self.say("no cgroup is known for this process (no cgroup v2 here?)", "warning")
            return
        self.apply_filters(filters.with_(**fields))

    def action_toggle_grouping(self) -> None:
        pane = self.dashboard.query_one(ProcessTreePane)
        grouped = pane.toggle_grouping()
        pane.update_from(self.state, force=True)
        self.say("processes grouped by container or unit" if grouped else "processes nested by parent")

    def action_clear_filters(self) -> None:
        self.apply_filters(Filters())

    def action_text_filter(self) -> None:
        def done(text: Optional[str]) -> None:
            if text is not None:
                self.apply_filters(self.state.filters.with_(text=text.strip()))
        self.push_screen(PromptScreen("Filter: text in path or process name, or a pid",
                                      value=self.state.filters.text,
                                      placeholder="e.g. .log   make   1234",
                                      hint="Enter applies · empty clears · Esc cancels"), done)


    # ---- path patterns (x, X) ---------------------------------------------------------------
    def apply_path_rules(self, filters: Filters) -> bool:
        """``filters`` with its patterns compiled for the watched directories (the trees are
        scanned again: excluded directories go into the kernel) and applied. A .gitignore that
        cannot be read now is said and skipped."""
        from sniff_tui.core.pathrules import with_rules
        new = with_rules(filters, list(self.state.watches), strict=False)
        if new.rules is not None:
            for path in new.rules.scanned.unreadable:
                self.say(f"{path}: cannot read, skipped", "warning")
        return self.apply_filters(new)

    def suggested_exclusion(self) -> str:
        """The selected file's directory (pane 3), as a pattern anchored at its watched
        directory; a file directly in it: its own name."""
        path = self.dashboard.query_one(TopFilesPane).selected_path
        if path is None:
            return ""
        for watch in sorted(self.state.watches, key=len, reverse=True):
            if path.startswith(watch.rstrip(b"/") + b"/"):
                rel = path[len(watch.rstrip(b"/")) + 1:]
                parent = rel.rpartition(b"/")[0]
                return "/" + (os.fsdecode(parent) + "/" if parent else os.fsdecode(rel))
        return ""

    def action_exclude(self) -> None:
        def done(text: Optional[str]) -> None:
            if text is None or not text.strip():
                return
            from sniff_tui.core.pathrules import check_patterns    # not at start: pathspec's import
            pattern = text.strip()
            try:
                check_patterns([pattern], "exclude")
            except FilterError as exc:
                self.say(str(exc), "error")
                return
            filters = self.state.filters
            if pattern not in filters.exclude:
                self.apply_path_rules(filters.with_(exclude=filters.exclude + (pattern,)))
        self.push_screen(PromptScreen("Exclude paths (gitignore pattern, relative to the watched directory)",
                                      value=self.suggested_exclusion(),
                                      placeholder="e.g. build/   *.swp   /logs/*.gz",
                                      hint="Enter excludes · X lists and removes · Esc cancels"), done)

    def action_exclusions(self) -> None:
        filters = self.state.filters
        listed = list(filters.exclude) + (["--gitignore"] if filters.gitignore else []) \
            + [f"--include {p}" for p in filters.include]
        if not listed:
            self.say("nothing is excluded: press x to exclude a pattern", "warning")
            return

        def done(text: Optional[str]) -> None:
            if text is None or not text.strip():
                return
            text = text.strip()
            chosen = listed[int(text) - 1] if text.isdigit() and 0 < int(text) <= len(listed) else text
            if chosen not in listed:
                self.say(f"not an exclusion: {chosen}", "error")
            elif chosen == "--gitignore":
                self.apply_path_rules(filters.with_(gitignore=False))
            elif chosen.startswith("--include "):
                kept = chosen[len("--include "):]
                self.apply_path_rules(filters.with_(include=tuple(p for p in filters.include if p != kept)))
            else:
                self.apply_path_rules(filters.with_(exclude=tuple(p for p in filters.exclude if p != chosen)))
        numbered = "  ".join(f"{i}: {p}" for i, p in enumerate(listed, 1))
        self.push_screen(PromptScreen("Remove an exclusion", placeholder="its number or the pattern",
                                      hint=f"{numbered} · Enter removes · Esc cancels"), done)
