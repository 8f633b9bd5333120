"""The byte formats of Docker's streams: stdcopy frames and JSON-message progress.

**stdcopy** (moby ``pkg/stdcopy``): without a tty, attach, exec and logs carry stdout and stderr
over one byte stream as frames: an 8-byte header ``[stream, 0, 0, 0, size (uint32 big-endian)]``
then ``size`` payload bytes; stream 0 is stdin, 1 stdout, 2 stderr (3 is the daemon's
"systemerr" channel, which carries an error after the stream has started). With a tty the bytes
are raw, since a terminal merges the two streams anyway.

**JSON messages** (moby ``pkg/jsonmessage``, ``pkg/streamformatter``): pull, load and import
answer with one JSON object per line: ``{"status": "Downloading", "id": "a1b2c3d4e5f6",
"progressDetail": {"current": 1, "total": 3}, "progress": "[=>   ] 1B/3B"}``. The ``progress``
bar is what dockerd renders for a 200-column "terminal" (it has none): 50 cells, ``=`` per 2%,
a ``>`` head, then ``current/total`` in decimal units with four significant digits
(``go-units.HumanSize``). A failure after the stream started can no longer change the status
code, so it travels in-band as the last message: ``{"errorDetail": {"message": m}, "error": m}``;
clients print it and exit non-zero.
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from typing import Protocol

from dockyard.api.response import encode_json

__all__ = [
    "STDERR",
    "STDIN",
    "STDOUT",
    "SYSTEMERR",
    "ProgressLike",
    "error_message",
    "frame",
    "human_size",
    "json_lines",
    "progress_bar",
    "progress_message",
]

STDIN, STDOUT, STDERR, SYSTEMERR = 0, 1, 2, 3

_HEADER = struct.Struct(">BxxxI")
_MAX_FRAME = 0xFFFFFFFF


def frame(stream: int, data: bytes) -> bytes:
    """One stdcopy frame (split by the caller if ``data`` could exceed 4 GiB; it never does)."""
    if len(data) > _MAX_FRAME:
        raise ValueError(f"frame too large: {len(data)} bytes")
    return _HEADER.pack(stream, len(data)) + data


def human_size(size: float) -> str:
    """``go-units.HumanSize``: decimal units, 4 significant digits (``1.5kB``, ``12.35MB``)."""
    units = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
    index = 0
    while size >= 1000.0 and index < len(units) - 1:
        size /= 1000.0
        index += 1
    return f"{size:.4g}{units[index]}"


def progress_bar(current: int, total: int) -> str:
    """dockerd's ``JSONProgress.String()`` for a 200-column width, without the time left."""
    if current <= 0 and total <= 0:
        return ""
    if total <= 0:
        return f"{human_size(current):>8}"
    cells = min(int(current / total * 100) // 2, 50)
    bar = f"[{'=' * cells}>{' ' * max(50 - cells, 0)}] "
    if current > total:
        return f"{bar}{human_size(current):>8}"
    return f"{bar}{human_size(current):>8}/{human_size(total)}"


class ProgressLike(Protocol):
    """What the image room's ``Progress`` carries (status, layer id, byte counts)."""

    @property
    def status(self) -> str: ...

    @property
    def id(self) -> str | None: ...

    @property
    def current(self) -> int | None: ...

    @property
    def total(self) -> int | None: ...


def progress_message(progress: ProgressLike) -> bytes:
    """One JSON-message line for a progress event.

    Per-layer lines (those with an ``id``) always carry ``progressDetail``, ``{}`` when no byte
    counts are known, as dockerd's ``formatProgress`` writes them; plain status lines
    (``Digest: ...``, ``Status: Downloaded newer image ...``) carry only ``status``.
    """
    message: dict[str, object] = {"status": progress.status}
    if progress.id or progress.current is not None or progress.total is not None:
        current = progress.current or 0
        total = progress.total or 0
        detail: dict[str, int] = {}
        if current:
            detail["current"] = current
        if total:
            detail["total"] = total
        message["progressDetail"] = detail
        bar = progress_bar(current, total)
        if bar:
            message["progress"] = bar
    if progress.id:
        message["id"] = progress.id
    return encode_json(message)


def error_message(message: str) -> bytes:
    """The in-band error that ends a JSON-message stream."""
    return encode_json({"errorDetail": {"message": message}, "error": message})


async def json_lines(
    items: AsyncIterator[ProgressLike], *, on_error: type[BaseException] | tuple[type[BaseException], ...]
) -> AsyncIterator[bytes]:
    """Render a progress iterator as JSON-message lines, ending with an in-band error if it fails.

    Only exceptions matching ``on_error`` (the deliberate ``DockyardError`` kinds) become in-band
    errors; anything else propagates so the server logs it as a bug (and still ends the stream).
    """
    try:
        async for item in items:
            yield progress_message(item)
    except on_error as exc:
        yield error_message(str(exc))
