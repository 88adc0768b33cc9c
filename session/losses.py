"""The Losses pane's figures: everything a session lost or cut, and where."""
from __future__ import annotations


def loss_rows(state) -> list[tuple[str, int]]:
    """(label, count) rows for a SessionState: the usual ones always, rarer ones once they
    happen (the pane must fit 80x24)."""
    stats = state.source_stats
    rows = [
        ("ring-buffer drops", stats.ringbuf_drops),
        ("UI queue drops", state.ui_drops),
        # What this session was handed, as `stream` would have recorded it (the kernel's
        # counter also counts paths it cut on files nobody asked about).
        ("truncated paths", state.truncated_seen),
        ("kernel evictions", max(stats.evictions, sum(m.evictions for m in stats.maps))),
        ("partial rows", state.unitemised + state.files_not_held + state.procs_not_held),
    ]
    rare = (("string-path drops", stats.name_drops),
            ("files not examined", stats.unplaced + stats.unnamed
             + stats.counters.get("close_range_skipped", 0)),
            ("names not resolved", stats.ns_unresolved),
            ("io_uring unseen", stats.counters.get("uring_no_cqe", 0)),
            ("content lost", stats.content_drops + stats.content_unnamed),   # --content
            ("content not copied", stats.counters.get("content_uncaptured", 0)),
            ("kernel lacks", len(stats.missing)))
    rows += [(label, value) for label, value in rare if value]
    if state.content is not None and state.content.partial_files:   # --content: past a bound
        rows.append(("content partial", state.content.partial_files))
    if state.recording is not None:
        rows.append(("not kept for export", state.recording.lost))
    if state.replay_errors:
        rows.append(("bad recording lines", state.replay_errors))
    return rows
