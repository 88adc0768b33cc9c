"""The filter keys (r w o n u t a p P C c /): each builds new ``Filters`` and hands them to
``apply_filters``, which pushes them to the source (the kernel, live) and to the session."""
from __future__ import annotations

from typing import Optional

from probes.filters import FilterError, Filters
from session.views import cgroup_filter_fields
from widgets.process_tree import ProcessTreePane
from widgets.prompt import PromptScreen


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

