"""``docker logs``: entries read back from the json-file log the monitor writes.

The monitor owns the file (it writes Docker's exact json-file format and rotates it); the engine
only reads it, through the monitor room's reader (``read_log``, ``follow_log``), which applies
``tail`` first and then ``since``/``until``, as dockerd does. This module adds the stream filter
and turns the reader's entries into the engine's ``LogEntry``.

Reading a file blocks; history is read in batches in a worker thread so a long log never stalls
the event loop, and following polls the live file from the loop (the reader's ``follow_log``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from dockyard.monitor import LogEntry as MonitorLogEntry
from dockyard.monitor import follow_log, read_log

__all__ = ["LogEntry", "read_entries", "stream_entries"]

_BATCH = 512


@dataclass(frozen=True, slots=True, kw_only=True)
class LogEntry:
    """One json-file record: a line (or a partial line) of one stream.

    ``time`` is RFC 3339 with nanoseconds in UTC, as the log file stores it; ``data`` keeps its
    trailing newline, if any.
    """

    stream: str  # "stdout" | "stderr"
    time: str
    data: bytes


def _ns(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * 1_000_000_000)


def _wanted(stream: str, *, stdout: bool, stderr: bool) -> bool:
    return (stream == "stdout" and stdout) or (stream == "stderr" and stderr)


def read_entries(path: Path, *, stdout: bool, stderr: bool) -> list[LogEntry]:
    """Every entry of the log (for ``attach?logs=1``), oldest first. Blocking."""
    return [
        LogEntry(stream=e.stream, time=e.time, data=e.data)
        for e in read_log(path)
        if _wanted(e.stream, stdout=stdout, stderr=stderr)
    ]


async def stream_entries(
    path: Path,
    *,
    stdout: bool,
    stderr: bool,
    follow: bool,
    since: float | None,
    until: float | None,
    tail: int | None,
    stopped: Callable[[], bool],
) -> AsyncIterator[LogEntry]:
    """The entries ``docker logs`` shows; with ``follow``, new ones until ``stopped()``.

    ``since``/``until`` are seconds since the epoch; ``tail`` None or negative means all.
    """
    if follow:
        followed = follow_log(path, since_ns=_ns(since), until_ns=_ns(until), tail=tail, stopped=stopped)
        async for raw in followed:
            if _wanted(raw.stream, stdout=stdout, stderr=stderr):
                yield LogEntry(stream=raw.stream, time=raw.time, data=raw.data)
        return
    history = read_log(path, since_ns=_ns(since), until_ns=_ns(until), tail=tail)
    while True:
        batch = await asyncio.to_thread(_next_batch, history)
        for entry in batch:
            if _wanted(entry.stream, stdout=stdout, stderr=stderr):
                yield entry
        if len(batch) < _BATCH:
            return


def _next_batch(history: Iterator[MonitorLogEntry]) -> list[LogEntry]:
    batch = []
    for raw in history:
        batch.append(LogEntry(stream=raw.stream, time=raw.time, data=raw.data))
        if len(batch) >= _BATCH:
            break
    return batch
