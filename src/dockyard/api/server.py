"""The HTTP/1.1 server of the Engine API: asyncio streams, ``h11`` framing, hijacked connections.

Each accepted connection runs one coroutine that reads requests, one at a time, with
keep-alive. ``h11`` parses and frames; this module adds what Docker clients and a root-equivalent
socket need on top of it:

**Framing hardening** (reliability-security.md D4, the CVE-2024-41110 class). ``h11`` takes
``Transfer-Encoding`` over ``Content-Length`` when both are present, and silently merges
identical duplicate ``Content-Length`` headers. Either ambiguity is how request smuggling and
authorisation bypasses start, so both are refused with 400 before any handler runs: the raw
header block of every request is kept aside (from the connection's unprocessed bytes, so
pipelined requests are scanned too) and checked line by line. Header blocks over 64 KiB answer
431 (``h11``'s ``max_incomplete_event_size``); buffered bodies over 64 MiB answer 413 without
being read; a request whose headers do not complete within 30 s is dropped (slowloris).

**Streaming.** A :class:`StreamResponse` is sent with chunked transfer, one chunk per item,
drained before the next, so clients see each progress message or event as it happens. While it
streams, a watcher reads the socket: end-of-file means the client left, and the stream is
cancelled so an idle ``docker events`` cannot hold an engine subscription forever.

**Hijacking** (attach, exec start). The status line and headers are written by hand, since
``h11`` cannot describe dockerd's quirk of answering ``200 OK`` and then abandoning HTTP:
``101 UPGRADED`` when the client sent ``Upgrade``, ``200 OK`` otherwise (docker-py accepts both).
Then two pumps run: session output to the socket, socket input to the session's stdin. The
client's half-close (EOF) closes stdin but not the output, because the docker CLI half-closes
as soon as it has no more input (``docker start -a`` without ``-i`` does it at once). The end
of the output closes the connection, which is how clients learn that the process ended.

**Shutdown.** :meth:`ApiServer.close` stops accepting, ends idle keep-alive connections and
endless streams at once, gives in-flight requests a grace period, then cancels what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import re
import socket
import ssl
import time
from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import TYPE_CHECKING, Final

import h11

import dockyard
from dockyard.api import errors as api_errors
from dockyard.api.request import Query, Request
from dockyard.api.response import (
    AnyResponse,
    HijackResponse,
    HijackSession,
    Response,
    StreamResponse,
    encode_json,
)
from dockyard.api.routing import Body, Route, Router
from dockyard.api.versions import MAX_VERSION, UnsupportedVersion, check_version, format_version
from dockyard.errors import DockyardError

if TYPE_CHECKING:
    from dockyard.engine import Engine

__all__ = ["ApiServer", "Limits"]

log = logging.getLogger(__name__)

READ_SIZE: Final = 65536
_VERSION_PREFIX: Final = re.compile(r"/v([0-9][0-9.]*)(/.*)\Z")
_BLANK_LINE: Final = re.compile(rb"\r?\n\r?\n")
_REASONS: Final = {s.value: s.phrase.encode() for s in HTTPStatus}


class Limits:
    """Size and time bounds for one server (tests shrink them)."""

    def __init__(
        self,
        *,
        max_header_bytes: int = 64 * 1024,
        max_body_bytes: int = 64 * 1024 * 1024,
        header_timeout: float = 30.0,
    ) -> None:
        self.max_header_bytes = max_header_bytes
        self.max_body_bytes = max_body_bytes
        self.header_timeout = header_timeout


class _ClientGone(Exception):
    """The peer closed or reset the connection; nothing more can be sent."""


class _Close(Exception):
    """Answered, but the connection cannot be reused (framing is no longer trustworthy)."""


class ApiServer:
    """Serves the Engine API for one engine on any number of listening sockets.

    Args:
        engine: passed to every handler.
        router: the route table (``dockyard.api.router.ROUTER`` in the daemon).
        server_version: shown in the ``Server`` header.
        limits: size and time bounds.
    """

    def __init__(
        self,
        engine: Engine,
        router: Router,
        *,
        server_version: str | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.engine = engine
        self.router = router
        self.limits = limits or Limits()
        version = server_version or dockyard.__version__
        self._common_headers: list[tuple[bytes, bytes]] = [
            (b"Api-Version", format_version(MAX_VERSION).encode()),
            (b"Docker-Experimental", b"false"),
            (b"Ostype", b"linux"),
            (b"Server", f"Docker/{version} (linux)".encode()),
        ]
        self._servers: list[asyncio.AbstractServer] = []
        self._unix_paths: list[str] = []
        self._connections: set[_Connection] = set()
        self._ids = itertools.count(1)
        self._closing = False

    @property
    def common_headers(self) -> list[tuple[bytes, bytes]]:
        """The headers dockerd puts on every response."""
        return self._common_headers

    def next_request_id(self) -> str:
        """A short id that ties a logged failure to the client's error message."""
        return f"{os.getpid():x}-{next(self._ids)}"

    async def serve(self, sock: socket.socket, *, ssl_context: ssl.SSLContext | None = None) -> None:
        """Start serving on a bound socket (``listeners.bind_unix``/``bind_tcp``); returns at once.

        ``listen`` happens here, after the socket's permissions were set.
        """
        if sock.family == socket.AF_UNIX:
            server = await asyncio.start_unix_server(self._accept, sock=sock, backlog=512)
            self._unix_paths.append(sock.getsockname())
        else:
            server = await asyncio.start_server(self._accept, sock=sock, ssl=ssl_context, backlog=512)
        self._servers.append(server)

    async def close(self, *, grace: float = 10.0) -> None:
        """Stop accepting; let in-flight requests finish within ``grace`` seconds; cut the rest."""
        self._closing = True
        for server in self._servers:
            server.close()
        for path in self._unix_paths:
            with contextlib.suppress(OSError):
                os.unlink(path)
        for connection in list(self._connections):
            if connection.idle or connection.endless:
                connection.abort()
        tasks = [c.task for c in self._connections if c.task is not None]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for connection in list(self._connections):
                connection.abort()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._closing:
            writer.close()
            return
        connection = _Connection(self, reader, writer)
        self._connections.add(connection)
        try:
            await connection.run()
        finally:
            self._connections.discard(connection)


class _Connection:
    """One client connection: a loop of request/response cycles, possibly ending in a hijack."""

    def __init__(self, server: ApiServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=server.limits.max_header_bytes)
        self.head = bytearray()
        self.idle = True
        self.endless = False
        self.method = ""
        self.task = asyncio.current_task()

    def abort(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()

    async def run(self) -> None:
        try:
            while await self._cycle():
                self.h11.start_next_cycle()
                self.head = bytearray(self.h11.trailing_data[0])
        except (_ClientGone, _Close, ConnectionError, asyncio.CancelledError):
            pass
        except Exception:
            log.exception("connection failed")
        finally:
            self.writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.writer.wait_closed(), 1.0)

    # --- reading ------------------------------------------------------------------------

    async def _receive(self) -> bytes:
        try:
            data = await self.reader.read(READ_SIZE)
        except (ConnectionError, ssl.SSLError):
            data = b""
        self.h11.receive_data(data)
        return data

    async def _next_request(self) -> h11.Request | None:
        """The next request's head, or None when the client closed the connection cleanly."""
        deadline: float | None = None
        while True:
            event = self.h11.next_event()
            if isinstance(event, h11.Request):
                return event
            if isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return None
            self.idle = not self.head
            if self.head and deadline is None:
                deadline = asyncio.get_running_loop().time() + self.server.limits.header_timeout
            try:
                async with asyncio.timeout_at(deadline):
                    data = await self._receive()
            except TimeoutError:
                raise _Close from None
            if len(self.head) <= self.server.limits.max_header_bytes:
                self.head += data

    async def _read_body(self, limit: int) -> bytes:
        if self.h11.they_are_waiting_for_100_continue:
            await self._send_raw(self.h11.send(h11.InformationalResponse(status_code=100, headers=[])))
        body = bytearray()
        while True:
            event = self.h11.next_event()
            if isinstance(event, h11.Data):
                body += event.data
                if len(body) > limit:
                    raise _BodyTooLarge
            elif isinstance(event, h11.EndOfMessage):
                return bytes(body)
            elif event is h11.NEED_DATA:
                if not await self._receive():
                    raise _ClientGone
            else:
                raise _ClientGone

    async def _body_stream(self) -> AsyncIterator[bytes]:
        if self.h11.they_are_waiting_for_100_continue:
            await self._send_raw(self.h11.send(h11.InformationalResponse(status_code=100, headers=[])))
        while True:
            event = self.h11.next_event()
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                return
            elif event is h11.NEED_DATA:
                if not await self._receive():
                    raise DockyardError("client closed the connection before the end of the request body")
            else:
                return

    # --- one request/response cycle ----------------------------------------------------

    async def _cycle(self) -> bool:
        """Serve one request; True when the connection may carry another."""
        try:
            event = await self._next_request()
        except h11.RemoteProtocolError as exc:
            await self._refuse(exc.error_status_hint, str(exc))
            return False
        if event is None:
            return False
        self.idle = False
        status, problem = _framing_problem(self.head, self.server.limits.max_header_bytes)
        if problem is not None:
            await self._refuse(status, problem)
            return False
        try:
            keep = await self._dispatch(event)
        except h11.RemoteProtocolError as exc:
            await self._refuse(exc.error_status_hint, str(exc))
            return False
        return keep and self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE

    async def _refuse(self, status: int, message: str) -> None:
        """Answer a request that could not be parsed, then close."""
        if self.h11.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        body = encode_json({"message": message})
        headers = [(b"Content-Type", b"application/json"), (b"Content-Length", str(len(body)).encode())]
        headers += self.server.common_headers
        headers.append((b"Connection", b"close"))
        with contextlib.suppress(h11.LocalProtocolError, _ClientGone, ConnectionError):
            out = self.h11.send(
                h11.Response(status_code=status, headers=headers, reason=_REASONS.get(status, b""))
            )
            out = (out or b"") + (self.h11.send(h11.Data(data=body)) or b"")
            await self._send_raw(out + (self.h11.send(h11.EndOfMessage()) or b""))

    async def _dispatch(self, event: h11.Request) -> bool:
        started = time.monotonic()
        method = self.method = event.method.decode("ascii", "replace")
        target = event.target.decode("latin-1")
        raw_path, _, query_text = target.partition("?")
        request_id = self.server.next_request_id()
        version_text, path = _split_version(raw_path)
        matched = self.server.router.match(method, path)
        response: AnyResponse
        request: Request | None = None
        if matched is None:
            response = Response(status=404, body=encode_json({"message": api_errors.PAGE_NOT_FOUND}))
            await self._discard_body()
        else:
            route, params = matched
            try:
                request = await self._build_request(
                    event, route, params, version_text, query_text, request_id
                )
            except _BodyTooLarge:
                await self._send(
                    Response(status=413, body=encode_json({"message": "request body too large"}))
                )
                raise _Close from None
            except UnsupportedVersion as exc:
                response = api_errors.error_response(exc, request_id=request_id, method=method, path=path)
                await self._discard_body()
            else:
                response = await self._call(route, request)
        keep = await self._respond(request, response, method=method, path=raw_path)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "request request_id=%s method=%s path=%s ms=%.2f",
                request_id,
                method,
                raw_path,
                (time.monotonic() - started) * 1000,
            )
        return keep

    async def _build_request(
        self,
        event: h11.Request,
        route: Route,
        params: dict[str, str],
        version_text: str | None,
        query_text: str,
        request_id: str,
    ) -> Request:
        version = check_version(version_text)
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in event.headers}
        request = Request(
            method=event.method.decode("ascii"),
            path=route.pattern,
            version=version,
            path_params=params,
            query=_parse_query(query_text),
            headers=headers,
            request_id=request_id,
            hijack_requested="upgrade" in headers,
        )
        if route.body is Body.STREAMED:
            request.body_stream = self._body_stream()
            return request
        declared = headers.get("content-length")
        if declared is not None and int(declared) > self.server.limits.max_body_bytes:
            raise _BodyTooLarge
        request.body = await self._read_body(self.server.limits.max_body_bytes)
        return request

    async def _discard_body(self) -> None:
        """Read and drop a request body we will not use (bounded; beyond the limit we close)."""
        try:
            await self._read_body(self.server.limits.max_body_bytes)
        except _BodyTooLarge:
            raise _Close from None

    async def _call(self, route: Route, request: Request) -> AnyResponse:
        try:
            return await route.handler(request, self.server.engine)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return api_errors.error_response(
                exc, request_id=request.request_id, method=request.method, path=request.path
            )

    # --- writing ------------------------------------------------------------------------

    async def _send_raw(self, data: bytes | None) -> None:
        if not data:
            return
        try:
            self.writer.write(data)
            await self.writer.drain()
        except (ConnectionError, ssl.SSLError) as exc:
            raise _ClientGone from exc

    def _head(
        self, status: int, content_type: str | None, extra: list[tuple[str, str]]
    ) -> list[tuple[bytes, bytes]]:
        headers: list[tuple[bytes, bytes]] = []
        if content_type is not None:
            headers.append((b"Content-Type", content_type.encode()))
        headers.extend(self.server.common_headers)
        headers.extend((k.encode(), v.encode()) for k, v in extra)
        return headers

    async def _respond(
        self, request: Request | None, response: AnyResponse, *, method: str, path: str
    ) -> bool:
        if isinstance(response, Response):
            await self._send(response)
            return True
        if request is None:  # pragma: no cover - only routed requests stream or hijack
            raise _Close
        if isinstance(response, StreamResponse):
            return await self._stream(request, response)
        await self._hijack(request, response)
        return False

    async def _send(self, response: Response) -> None:
        headers = self._head(response.status, response.content_type, response.headers)
        if response.status not in (204, 304):
            headers.append((b"Content-Length", str(len(response.body)).encode()))
        if self.h11.their_state is not h11.DONE:
            headers.append((b"Connection", b"close"))
        out = self.h11.send(
            h11.Response(
                status_code=response.status, headers=headers, reason=_REASONS.get(response.status, b"")
            )
        )
        if response.body and response.status not in (204, 304) and self.method != "HEAD":
            out = (out or b"") + (self.h11.send(h11.Data(data=response.body)) or b"")
        out = (out or b"") + (self.h11.send(h11.EndOfMessage()) or b"")
        await self._send_raw(out)

    async def _stream(self, request: Request, response: StreamResponse) -> bool:
        self.endless = response.endless
        chunks = response.chunks
        first: asyncio.Future[bytes] | None = None
        try:
            if response.prime is not None:
                first = asyncio.ensure_future(_first_chunk(chunks))
                timeout = None if response.prime == float("inf") else response.prime
                await asyncio.wait({first}, timeout=timeout)
                exc = first.exception() if first.done() else None
                if exc is not None and not isinstance(exc, _EndOfChunks):
                    await self._send(
                        api_errors.error_response(
                            exc, request_id=request.request_id, method=request.method, path=request.path
                        )
                    )
                    return True
            headers = self._head(response.status, response.content_type, response.headers)
            reason = _REASONS.get(response.status, b"")
            await self._send_raw(
                self.h11.send(h11.Response(status_code=response.status, headers=headers, reason=reason))
            )
            watch = request.body_stream is None and self.h11.their_state is h11.DONE
            completed = await self._pump_chunks(request, response, first, watch=watch)
        finally:
            if first is not None and not first.done():
                first.cancel()
                await asyncio.gather(first, return_exceptions=True)
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
            self.endless = False
        if not completed:
            raise _Close
        await self._send_raw(self.h11.send(h11.EndOfMessage()))
        return True

    async def _pump_chunks(
        self, request: Request, response: StreamResponse, first: asyncio.Future[bytes] | None, *, watch: bool
    ) -> bool:
        """Send every chunk; False when the stream could not be completed cleanly."""
        pump = asyncio.ensure_future(self._write_chunks(request, response, first))
        if not watch:
            return await pump
        watcher = asyncio.ensure_future(self._watch_for_eof())
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
        self, request: Request, response: StreamResponse, first: asyncio.Future[bytes] | None
    ) -> bool:
        try:
            if first is not None:
                chunk = await first
                if chunk:
                    await self._send_raw(self.h11.send(h11.Data(data=chunk)))
            async for chunk in response.chunks:
                if chunk:
                    await self._send_raw(self.h11.send(h11.Data(data=chunk)))
        except _EndOfChunks:
            pass
        except _ClientGone:
            return False
        except DockyardError as exc:
            if response.in_band_error is None:
                log.info("stream ended by error request_id=%s error=%s", request.request_id, exc)
                return False
            await self._send_raw(self.h11.send(h11.Data(data=response.in_band_error(str(exc)))))
        except Exception:
            log.exception("stream failed request_id=%s path=%s", request.request_id, request.path)
            return False
        return True

    async def _watch_for_eof(self) -> None:
        """Return when the client closes its side; keep early bytes for the next request."""
        while True:
            try:
                data = await self.reader.read(READ_SIZE)
            except (ConnectionError, ssl.SSLError):
                return
            if not data:
                return
            self.h11.receive_data(data)
            if len(self.h11.trailing_data[0]) > self.server.limits.max_header_bytes:
                return

    async def _hijack(self, request: Request, response: HijackResponse) -> None:
        """Switch to a raw byte stream and pump it both ways until the session's output ends."""
        self.endless = True
        if request.hijack_requested:
            status = b"HTTP/1.1 101 UPGRADED\r\n"
            extra = [(b"Connection", b"Upgrade"), (b"Upgrade", b"tcp")]
        else:
            status = b"HTTP/1.1 200 OK\r\n"
            extra = []
        head = [(b"Content-Type", response.media_type.encode()), *extra, *self.server.common_headers]
        await self._send_raw(status + b"".join(k + b": " + v + b"\r\n" for k, v in head) + b"\r\n")
        leftover = self.h11.trailing_data[0]
        try:
            session = await response.open()
        except DockyardError as exc:
            await self._send_raw(f"{exc}\r\n".encode())
            return
        except Exception:
            log.exception("attach failed request_id=%s path=%s", request.request_id, request.path)
            await self._send_raw(f"internal error (request id {request.request_id})\r\n".encode())
            return
        try:
            await _pump_hijacked(session, self.reader, self.writer, leftover, stdin=response.stdin)
        finally:
            with contextlib.suppress(Exception):
                await session.close()


class _BodyTooLarge(Exception):
    """The request body exceeds the buffered-body limit (413)."""


class _EndOfChunks(Exception):
    """The stream ended before its first chunk (an empty stream that was primed)."""


async def _first_chunk(chunks: AsyncIterator[bytes]) -> bytes:
    try:
        return await anext(chunks)
    except StopAsyncIteration:
        raise _EndOfChunks from None


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


def _split_version(path: str) -> tuple[str | None, str]:
    """``/v1.41/containers/json`` -> ``("1.41", "/containers/json")``; unversioned -> ``(None, path)``."""
    m = _VERSION_PREFIX.match(path)
    if m is None:
        return None, path
    return m.group(1), m.group(2)


def _parse_query(text: str) -> Query:
    if not text:
        return Query([])
    from urllib.parse import parse_qsl

    return Query(parse_qsl(text, keep_blank_values=True))


def _framing_problem(head: bytes | bytearray, max_header_bytes: int) -> tuple[int, str | None]:
    """Refuse what h11 would let through: see the module docstring. Returns (status, problem)."""
    end = _BLANK_LINE.search(head)
    if end is None or end.start() > max_header_bytes:
        # h11 enforces its limit only while a head is incomplete; one that arrived whole in a
        # single read is measured here.
        return 431, "request header fields too large"
    block = bytes(head[: end.start()])
    lengths = 0
    chunked = False
    for line in block.split(b"\n")[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        name = name.strip().lower()
        if name == b"content-length":
            lengths += 1 + value.count(b",")
        elif name == b"transfer-encoding":
            chunked = True
    if lengths > 1:
        return 400, "duplicate Content-Length header"
    if lengths and chunked:
        return 400, "both Content-Length and Transfer-Encoding given"
    return 200, None
