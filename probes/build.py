"""The live source built from the command line's choices, for `stream` and the dashboard alike
(neither builds it itself). Raises WatchError for a directory that cannot be watched."""
from __future__ import annotations

import os
from typing import Callable, Optional

from .live import LiveSource


def make_live(args, filters, log: Optional[Callable[[str], None]] = None) -> LiveSource:
    """``args``: the parsed options (dirs, no_coalesce, interval, verbose, and where given
    ringbuf_pages, rate_limit, no_cache, content_bytes). Not loaded yet: ``open()`` loads."""
    source = LiveSource(args.dirs or [os.getcwd()], filters,
                        ringbuf_pages=getattr(args, "ringbuf_pages", 1024),
                        rate_limit=getattr(args, "rate_limit", 100_000),
                        coalesce=not args.no_coalesce, interval=args.interval)
    source.set_content(getattr(args, "content_bytes", 0))
    source.debug = args.verbose
    source.use_cache = not getattr(args, "no_cache", False)
    if log is not None:
        source.log = log
        if args.verbose:
            source.exclusions.log = log     # what the exclusions put in the kernel, and left
    return source
