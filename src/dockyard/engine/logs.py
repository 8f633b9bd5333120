"""``docker logs``: entries read back from the json-file log the monitor writes.

The monitor owns the file (it writes Docker's exact json-file format and rotates it); the engine
only reads it, through the monitor room's log reader, and applies ``since``/``until``/``tail``
and ``follow`` the way dockerd does.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LogEntry"]


@dataclass(frozen=True, slots=True, kw_only=True)
class LogEntry:
    """One json-file record: a line (or a partial line) of one stream.

    ``time`` is RFC 3339 with nanoseconds in UTC, as the log file stores it; ``data`` keeps its
    trailing newline, if any.
    """

    stream: str  # "stdout" | "stderr"
    time: str
    data: bytes
