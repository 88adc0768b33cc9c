"""The Losses pane's figures: everything a session lost or cut, and where."""
from __future__ import annotations

from sniff_tui.core import losses as L


def loss_rows(state) -> list[tuple[str, int]]:
    """(label, count) rows for a SessionState: the usual ones always, rarer ones once they
    happen (the pane must fit 80x24)."""
    stats = state.source_stats
    rows = [
        (L.RINGBUF.label, stats.ringbuf_drops),
        (L.UI_QUEUE.label, state.ui_drops),
        # What this session was handed, as `stream` would have recorded it (the kernel's
        # counter also counts paths it cut on files nobody asked about).
        (L.TRUNCATED.label, state.truncated_seen),
        (L.EVICTIONS.label, max(stats.evictions, sum(m.evictions for m in stats.maps))),
        (L.PARTIAL.label, state.unitemised + state.files_not_held + state.procs_not_held),
    ]
    rare = ((L.NAME_DROPS.label, stats.name_drops),
            (L.NOT_EXAMINED.label, stats.unplaced + stats.unnamed
             + stats.counters.get("close_range_skipped", 0)),
            (L.UNRESOLVED.label, stats.ns_unresolved),
            (L.URING_UNSEEN.label, stats.counters.get("uring_no_cqe", 0)),
            (L.CONTENT_LOST.label, stats.content_drops + stats.content_unnamed),   # --content
            (L.CONTENT_UNCAPTURED.label, stats.counters.get("content_uncaptured", 0)),
            (L.KERNEL_LACKS.label, len(stats.missing)))
    rows += [(label, value) for label, value in rare if value]
    if state.content is not None and state.content.partial_files:   # --content: past a bound
        rows.append((L.CONTENT_PARTIAL.label, state.content.partial_files))
    if state.recording is not None:
        rows.append((L.NOT_EXPORTED.label, state.recording.lost))
    if state.replay_errors:
        rows.append((L.BAD_LINES.label, state.replay_errors))
    return rows
