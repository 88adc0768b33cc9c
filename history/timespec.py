"""--since / --until: an ISO time (local unless it says otherwise) or an age such as 2h."""
from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Optional

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_AGE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")


class TimeSpecError(ValueError):
    """Bad time; the message is one line for the user."""


def parse_time(text: str, now: Optional[float] = None) -> float:
    """Unix time for ``text``: ``30s``, ``30m``, ``2h``, ``1d``, ``1w`` ago, ``now``, or an ISO
    8601 date/time (``2026-11-25``, ``2026-11-25T14:00``, ``2026-11-25 14:00:00+01:00``)."""
    now = time.time() if now is None else now
    spec = text.strip()
    if spec.lower() == "now":
        return now
    match = _AGE.match(spec.lower())
    if match:
        return now - float(match.group(1)) * _UNITS[match.group(2)]
    try:
        when = datetime.fromisoformat(spec.replace("Z", "+00:00") if spec.endswith("Z") else spec)
    except ValueError:
        raise TimeSpecError(f"not a time: {text!r} (use an ISO time such as 2026-11-25T14:00, "
                            "or an age such as 30m, 2h, 1d)") from None
    return when.timestamp()   # a naive time is local time
