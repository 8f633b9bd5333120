"""What a handler returns: a whole body, a stream of chunks, or a hijacked connection.

The server turns each into bytes on the wire; a handler never writes to a socket itself. Three
shapes cover the Engine API:

- :class:`Response`: a status and a complete body (JSON for nearly everything; empty for 204
  and 304). JSON is encoded as Go's ``json.Encoder`` does with ``SetEscapeHTML(false)``:
  compact, UTF-8, one trailing newline.
- :class:`StreamResponse`: chunked transfer, one chunk per item the iterator yields, flushed
  as it comes (pull progress, events, ``logs?follow``). Clients read these incrementally, so
  nothing may be buffered until the end.
- :class:`HijackResponse`: the attach and exec-start streams. The server answers ``101
  UPGRADED`` (or ``200 OK`` when the client did not ask to upgrade), stops speaking HTTP on
  that connection and pumps bytes both ways between the socket and the ``AttachSession``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Protocol

__all__ = [
    "MEDIA_JSON",
    "MEDIA_MULTIPLEXED",
    "MEDIA_RAW",
    "AnyResponse",
    "HijackResponse",
    "HijackSession",
    "Response",
    "StreamResponse",
    "encode_json",
    "reason",
]

MEDIA_JSON = "application/json"
MEDIA_RAW = "application/vnd.docker.raw-stream"
MEDIA_MULTIPLEXED = "application/vnd.docker.multiplexed-stream"

_REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def reason(status: int) -> bytes:
    """The standard reason phrase of a status (``b"Not Found"``; ``b""`` for an unknown one)."""
    return _REASONS.get(status, b"")


def encode_json(value: object) -> bytes:
    """``value`` as Go's ``json.Encoder`` writes it: compact UTF-8 plus a newline."""
    return (_ENCODER.encode(value) + "\n").encode()


@dataclass(slots=True, kw_only=True)
class Response:
    """A complete response."""

    status: int = 200
    body: bytes = b""
    content_type: str | None = MEDIA_JSON
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def json(cls, value: object, *, status: int = 200) -> Response:
        """A JSON body (``application/json``)."""
        return cls(status=status, body=encode_json(value))

    @classmethod
    def no_content(cls) -> Response:
        """204, as dockerd answers start, stop, kill, rm and friends."""
        return cls(status=204, content_type=None)

    @classmethod
    def empty(cls, status: int = 200, *, content_type: str | None = None) -> Response:
        """A status with an empty body (detached exec start answers a bare 200)."""
        return cls(status=status, content_type=content_type)

    @classmethod
    def text(cls, value: str, *, status: int = 200) -> Response:
        """A ``text/plain`` body (``/_ping`` answers ``OK``)."""
        return cls(status=status, body=value.encode(), content_type="text/plain; charset=utf-8")


@dataclass(slots=True, kw_only=True)
class StreamResponse:
    """A chunked response; each item of ``chunks`` is sent and flushed on its own.

    The server closes ``chunks`` (``aclose``) when the client goes away, so generators can
    release what they hold in ``finally``.

    ``prime``: how many seconds to wait for the first chunk before sending the status line, so
    an error raised before anything was produced (an unknown image on pull, a bad events filter)
    is an ordinary HTTP error; dockerd does the same (it returns the error as long as its output
    was not flushed). ``math.inf`` waits for the first chunk however long it takes (pull); a
    small value gives the iterator a chance to refuse its arguments and then sends the headers
    anyway, because clients must see a quiet stream start (events, ``logs -f``, wait). None
    sends the headers at once.

    ``in_band_error``: how a ``DockyardError`` raised after the headers is written into the
    stream (JSON-message streams end with ``{"errorDetail": ...}``); without it the connection
    is cut, so the client sees a truncated body rather than a silent success.

    ``endless``: the stream lasts until the client leaves (events, ``logs -f``, wait); a
    shutting-down daemon ends it at once instead of waiting for it.
    """

    chunks: AsyncIterator[bytes]
    status: int = 200
    content_type: str | None = MEDIA_JSON
    headers: list[tuple[str, str]] = field(default_factory=list)
    prime: float | None = None
    in_band_error: Callable[[str], bytes] | None = None
    endless: bool = False


class HijackSession(Protocol):
    """The engine's ``AttachSession``, as far as the server uses it."""

    @property
    def tty(self) -> bool: ...

    async def read(self) -> bytes: ...

    async def write(self, data: bytes) -> None: ...

    async def close_stdin(self) -> None: ...

    async def close(self) -> None: ...


@dataclass(slots=True, kw_only=True)
class HijackResponse:
    """Take the connection over for an attach or exec stream.

    ``open`` attaches to the engine and is awaited only after the ``101`` status line went out,
    as dockerd orders it: clients that read the status line through a buffered reader and then
    switch to the raw socket (docker-py) lose any output that arrives together with the headers.
    Handlers therefore check what they can (the container or exec exists) before returning; an
    error ``open`` raises is written into the stream as text, the way dockerd reports a failed
    exec start.

    ``stdin`` says whether bytes from the client go to the session; without it the server
    still reads the socket (to notice the client leaving) but drops what arrives.
    """

    open: Callable[[], Awaitable[HijackSession]]
    media_type: str = MEDIA_RAW
    stdin: bool = True


AnyResponse = Response | StreamResponse | HijackResponse
