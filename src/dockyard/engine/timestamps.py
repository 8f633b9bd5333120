"""Times as the Engine API writes them: Go's RFC3339Nano in UTC, and back to seconds.

``State.StartedAt``, ``State.FinishedAt`` and ``Created`` are strings such as
``2024-01-02T03:04:05.123456789Z`` (trailing zeros of the fraction trimmed; Docker's zero time
is ``0001-01-01T00:00:00Z``).
"""

from __future__ import annotations

import time
from datetime import datetime

__all__ = ["ZERO_TIME", "format_time", "parse_time"]

ZERO_TIME = "0001-01-01T00:00:00Z"


def format_time(seconds: float) -> str:
    """``seconds`` since the epoch as RFC3339Nano (nanoseconds kept as far as a float holds them)."""
    ns = round(seconds * 1_000_000_000)
    whole, fraction = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
    if not fraction:
        return base + "Z"
    return f"{base}.{fraction:09d}".rstrip("0") + "Z"


def parse_time(text: str) -> float:
    """Seconds since the epoch of an RFC 3339 time; 0.0 for Docker's zero time or garbage."""
    if not text or text.startswith("0001-01-01"):
        return 0.0
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return 0.0
