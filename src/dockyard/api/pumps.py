"""The long answers: chunked streams flushed per message, and hijacked connections.

**Streaming.** A :class:`StreamResponse` is sent with chunked transfer, one chunk per item,
drained before the next, so clients see each progress message or event as it happens. While it
streams, a watcher reads the socket: end-of-file means the client left, and the stream is
cancelled so an idle ``docker events`` cannot hold an engine subscription forever. A primed
stream waits (a while, or for ever) for its first chunk before the status line, so an error
raised before anything was produced is still an ordinary HTTP error.

**Hijacking** (attach, exec start). The status line and headers are written by hand, since
``h11`` cannot describe dockerd's quirk of answering ``200 OK`` and then abandoning HTTP:
``101 UPGRADED`` when the client sent ``Upgrade``, ``200 OK`` otherwise (docker-py accepts both).
The session is opened only after that, as dockerd orders it. Then two pumps run: session output
to the socket, socket input to the session's stdin. The client's half-close (EOF) closes stdin
but not the output, because the docker CLI half-closes as soon as it has no more input
(``docker start -a`` without ``-i`` does it at once). The end of the output closes the
connection, which is how clients learn that the process ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Final

import h11

from dockyard.api import errors as api_errors
from dockyard.api.request import Request
from dockyard.api.response import HijackResponse, HijackSession, StreamResponse, reason
from dockyard.errors import DockyardError

if TYPE_CHECKING:
    from dockyard.api.connection import Connection

__all__ = ["READ_SIZE", "ClientGone", "hijack", "send_stream"]

log = logging.getLogger(__name__)

READ_SIZE: Final = 65536
"""Bytes asked of the socket per read."""


class ClientGone(Exception):
    """The peer closed or reset the connection; nothing more can be sent."""


class _EndOfChunks(Exception):
    """The stream ended before its first chunk (an empty stream that was primed)."""


async def _first_chunk(chunks: AsyncIterator[bytes]) -> bytes:
    try:
        return await anext(chunks)
    except StopAsyncIteration:
        raise _EndOfChunks from None


async def send_stream(conn: Connection, request: Request, response: StreamResponse) -> bool:
    """Send a chunked response; False when it could not be completed (the connection must close)."""
    conn.endless = response.endless
    chunks = response.chunks
    first: asyncio.Future[bytes] | None = None
    try:
        if response.prime is not None:
            first = asyncio.ensure_future(_first_chunk(chunks))
            await asyncio.wait({first}, timeout=None if response.prime == float("inf") else response.prime)
            exc = first.exception() if first.done() else None
            if exc is not None and not isinstance(exc, _EndOfChunks):
                await conn.send(
                    api_errors.error_response(
                        exc, request_id=request.request_id, method=request.method, path=request.path
                    )
                )
                return True
        head = conn.head_for(response.content_type, response.headers)
        await conn.send_raw(
            conn.h11.send(
                h11.Response(status_code=response.status, headers=head, reason=reason(response.status))
            )
        )
        watch = request.body_stream is None and conn.h11.their_state is h11.DONE
        if not await _pump_chunks(conn, request, response, first, watch=watch):
            return False
    finally:
        if first is not None and not first.done():
            first.cancel()
            await asyncio.gather(first, return_exceptions=True)
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()
        conn.endless = False
    await conn.send_raw(conn.h11.send(h11.EndOfMessage()))
    return True


async def _pump_chunks(
    conn: Connection,
    request: Request,
    response: StreamResponse,
    first: asyncio.Future[bytes] | None,
    *,
    watch: bool,
) -> bool:
    """Send every chunk, watching for the client leaving; False when the stream was cut."""
    pump = asyncio.ensure_future(_write_chunks(conn, request, response, first))
    if not watch:
        return await pump
    watcher = asyncio.ensure_future(_watch_for_eof(conn))
    try:
        done, _ = await asyncio.wait({pump, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if pump in done:
            return pump.result()
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pump
        return False
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await watcher


async def _write_chunks(
    conn: Connection, request: Request, response: StreamResponse, first: asyncio.Future[bytes] | None
) -> bool:
    try:
        if first is not None:
            chunk = await first
            if chunk:
                await conn.send_raw(conn.h11.send(h11.Data(data=chunk)))
        async for chunk in response.chunks:
            if chunk:
                await conn.send_raw(conn.h11.send(h11.Data(data=chunk)))
    except _EndOfChunks:
        pass
    except ClientGone:
        return False
    except DockyardError as exc:
        if response.in_band_error is None:
            log.info("stream ended by error request_id=%s error=%s", request.request_id, exc)
            return False
        await conn.send_raw(conn.h11.send(h11.Data(data=response.in_band_error(str(exc)))))
    except Exception:
        log.exception("stream failed request_id=%s path=%s", request.request_id, request.path)
        return False
    return True


async def _watch_for_eof(conn: Connection) -> None:
    """Return when the client closes its side; keep early bytes for the next request."""
    while True:
        try:
            data = await conn.reader.read(READ_SIZE)
        except (ConnectionError, ssl.SSLError):
            return
        if not data:
            return
        conn.h11.receive_data(data)
        if len(conn.h11.trailing_data[0]) > conn.server.limits.max_header_bytes:
            return


async def hijack(conn: Connection, request: Request, response: HijackResponse) -> None:
    """Switch to a raw byte stream and pump it both ways until the session's output ends."""
    conn.endless = True
    if request.hijack_requested:
        status = b"HTTP/1.1 101 UPGRADED\r\n"
        extra = [(b"Connection", b"Upgrade"), (b"Upgrade", b"tcp")]
    else:
        status = b"HTTP/1.1 200 OK\r\n"
        extra = []
    head = [(b"Content-Type", response.media_type.encode()), *extra, *conn.server.common_headers]
    await conn.send_raw(status + b"".join(k + b": " + v + b"\r\n" for k, v in head) + b"\r\n")
    leftover = conn.h11.trailing_data[0]
    try:
        session = await response.open()
    except DockyardError as exc:
        await conn.send_raw(f"{exc}\r\n".encode())
        return
    except Exception:
        log.exception("attach failed request_id=%s path=%s", request.request_id, request.path)
        await conn.send_raw(f"internal error (request id {request.request_id})\r\n".encode())
        return
    try:
        await _pump_hijacked(session, conn.reader, conn.writer, leftover, stdin=response.stdin)
    finally:
        with contextlib.suppress(Exception):
            await session.close()


async def _pump_hijacked(
    session: HijackSession,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    leftover: bytes,
    *,
    stdin: bool,
) -> None:
    """Copy session output to the socket and socket input to the session until output ends.

    A clean end-of-file from the client closes stdin and keeps the output flowing; a broken
    connection ends both directions at once.
    """

    async def downstream() -> None:
        while chunk := await session.read():
            writer.write(chunk)
            await writer.drain()

    async def upstream() -> bool:
        if leftover and stdin:
            await session.write(leftover)
        while True:
            try:
                data = await reader.read(READ_SIZE)
            except (ConnectionError, ssl.SSLError):
                return False
            if not data:
                if stdin:
                    await session.close_stdin()
                return True
            if stdin:
                await session.write(data)

    down = asyncio.ensure_future(downstream())
    up = asyncio.ensure_future(upstream())
    try:
        done, _ = await asyncio.wait({down, up}, return_when=asyncio.FIRST_COMPLETED)
        if up in done and not down.done() and up.exception() is None and up.result():
            await down
        if down.done() and down.exception() is not None:
            raise down.exception()  # type: ignore[misc]
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, ssl.SSLError, OSError):
        pass
    finally:
        for task in (down, up):
            task.cancel()
        await asyncio.gather(down, up, return_exceptions=True)
