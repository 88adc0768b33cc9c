"""The session model: what the dashboard knows, built from batches of Records.

Pure Python (no Textual, no widgets, no app): ``SessionState`` folds records into exact
per-(file, process, operation) totals and derives every pane's view from them; ``RateHistory``
keeps the event rate; ``SessionRecording`` spools what was seen, for export.
"""
from sniff_tui.core.record import OPS, Record
from sniff_tui.core.source import MapHealth
from sniff_tui.session.entries import Cell, FileEntry, ProcEntry
from sniff_tui.session.limits import FILE_SORT_KEYS, PROC_SORT_KEYS, Limits
from sniff_tui.session.rate import RateHistory
from sniff_tui.session.spool import SessionRecording, spool_directory
from sniff_tui.session.state import SessionState
from sniff_tui.session.views import CgroupGroup, ProcGroup, ProcNode, cgroup_forest, process_forest

__all__ = ["OPS", "Record", "MapHealth", "Cell", "FileEntry", "FILE_SORT_KEYS", "Limits", "PROC_SORT_KEYS", "ProcEntry",
           "ProcGroup", "ProcNode", "RateHistory", "SessionRecording", "SessionState",
           "process_forest", "spool_directory", "CgroupGroup", "cgroup_forest"]
