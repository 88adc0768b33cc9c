"""Every kind of loss, defined once: its row in the Losses pane, the hint beside a non-zero
row, and the words `stream` says about it on stderr when it ends. Renaming a label here renames
it everywhere; the session counts (session/losses.py), the pane and the stream only say them."""
from __future__ import annotations

from typing import NamedTuple


class Loss(NamedTuple):
    label: str          # the Losses pane's row ("" when only the stream says it)
    hint: str = ""      # beside the row when it is not zero
    words: str = ""     # the stream's stderr words: {n} the count, other fields from the stats

    def say(self, n: int, **fields) -> str:
        return self.words.format(n=n, **fields)


RINGBUF = Loss("ring-buffer drops", "ring buffer full",
               "{n} records ({lost_calls} syscalls) lost in the kernel's ring buffer "
               "(the output could not keep up)")
UI_QUEUE = Loss("UI queue drops", "dashboard behind")
TRUNCATED = Loss("truncated paths", "path too deep")
EVICTIONS = Loss("kernel evictions", "maps full")
PARTIAL = Loss("partial rows", "rows marked ≈")
NOT_EXPORTED = Loss("not kept for export", "spool disk full")
BAD_LINES = Loss("bad recording lines", "lines skipped")
NAME_DROPS = Loss("string-path drops", "ring buffer full",
                  "{n} records of paths given as strings (failed opens, unlinks, renames; in scope "
                  "or not) lost in the ring buffer")
NOT_EXAMINED = Loss("files not examined", "see --stats")
UNPLACED = Loss("", "", "{n} syscalls on files that could not be placed")
UNNAMED = Loss("", "", "{n} closes of files whose path was no longer known")
UNRESOLVED = Loss("names not resolved", "process had exited",
                  "{n} paths of exited processes in another mount namespace resolved against ours")
URING_UNSEEN = Loss("io_uring unseen", "IOSQE_CQE_SKIP_SUCCESS")
CONTENT_LOST = Loss("content lost", "",
                    "{n} captured writes not delivered ({content_drops} lost in the ring buffer, "
                    "{content_unnamed} of files whose path was not known)")
CONTENT_UNCAPTURED = Loss("content not copied", "mmap/splice/sendfile",
                          "{n} changes of captured files with no bytes to capture (mmap stores, "
                          "splice, sendfile, copy_file_range)")
CONTENT_PARTIAL = Loss("content partial")
KERNEL_LACKS = Loss("kernel lacks", "see -v")
PROC_DROPS = Loss("", "", "{n} process records lost in the ring buffer")
OUTPUT_CLOSED = Loss("", "", "{n} records dropped after the output closed")
TAKE_WAITS = Loss("", "", "{n} counter takes went ahead after waiting 1 s for the kernel's adds "
                  "(an increment may be missing from them)")

HINTS = {kind.label: kind.hint for kind in globals().copy().values()
         if isinstance(kind, Loss) and kind.label}


def stream_loss_line(stats) -> str:
    """One line saying what a stream lost and where (SourceStats), or "" when nothing was."""
    said = []
    if stats.ringbuf_drops or stats.lost_calls:
        said.append(RINGBUF.say(stats.ringbuf_drops, lost_calls=stats.lost_calls))
    content = stats.content_drops + stats.content_unnamed
    for kind, n, fields in ((PROC_DROPS, stats.proc_drops, {}), (NAME_DROPS, stats.name_drops, {}),
                            (CONTENT_LOST, content, {"content_drops": stats.content_drops,
                                                     "content_unnamed": stats.content_unnamed}),
                            (CONTENT_UNCAPTURED, stats.counters.get("content_uncaptured", 0), {}),
                            (OUTPUT_CLOSED, stats.feed_dropped, {}), (UNPLACED, stats.unplaced, {}),
                            (UNNAMED, stats.unnamed, {}), (UNRESOLVED, stats.ns_unresolved, {}),
                            (TAKE_WAITS, stats.counters.get("take_waits_over", 0), {})):
        if n:
            said.append(kind.say(n, **fields))
    return "; ".join(said)
