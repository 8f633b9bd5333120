"""One client connection: request/response cycles over ``h11``, hardened for a root socket.

Each accepted connection runs one coroutine that reads requests one at a time, with keep-alive.
``h11`` parses and frames; this module adds what Docker clients and a root-equivalent socket
need on top of it.

**Framing hardening** (reliability-security.md D4, the CVE-2024-41110 class). ``h11`` takes
``Transfer-Encoding`` over ``Content-Length`` when both are present, and silently merges
identical duplicate ``Content-Length`` headers. Either ambiguity is how request smuggling and
authorisation bypasses start, so both are refused with 400 before any handler runs: the raw
header block of every request is kept aside (from the connection's unprocessed bytes, so
pipelined requests are scanned too) and checked line by line. Header blocks over 64 KiB answer
431 (``h11`` enforces its ``max_incomplete_event_size`` only while a head is incomplete, so a
head that arrived whole is measured here too); buffered bodies over 64 MiB answer 413 without
being read; a request whose headers do not complete within 30 s is dropped (slowloris).

**Routing and versions.** The ``/vX.Y`` prefix is split off, the route matched, and only then
the version checked: an unknown path is a 404 whatever its version, as in dockerd.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import posixpath
import re
import ssl
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Final

import h11

from dockyard.api import errors as api_errors
from dockyard.api.pumps import READ_SIZE, ClientGone, hijack, send_stream
from dockyard.api.request import Query, Request
from dockyard.api.response import AnyResponse, Response, StreamResponse, encode_json, reason
from dockyard.api.routing import Body, Route
from dockyard.api.versions import UnsupportedVersion, check_version
from dockyard.errors import DockyardError

if TYPE_CHECKING:
    from dockyard.api.server import ApiServer

__all__ = ["Connection"]

log = logging.getLogger(__name__)

_VERSION_PREFIX: Final = re.compile(r"/v([0-9][0-9.]*)(/.*)\Z")
_BLANK_LINE: Final = re.compile(rb"\r?\n\r?\n")


class _Close(Exception):
    """Answered, but the connection cannot be reused (framing is no longer trustworthy)."""


class _BodyTooLarge(Exception):
    """The request body exceeds the buffered-body limit (413)."""


class Connection:
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
        """Cancel this connection's task (shutdown); its ``finally`` closes the socket."""
        if self.task is not None and not self.task.done():
            self.task.cancel()

    async def run(self) -> None:
        """Serve requests until the client leaves, framing fails, or a hijack ends; never raises."""
        try:
            while await self._cycle():
                self.h11.start_next_cycle()
                self.head = bytearray(self.h11.trailing_data[0])
        except (ClientGone, _Close, ConnectionError, asyncio.CancelledError):
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
            await self.send_raw(self.h11.send(h11.InformationalResponse(status_code=100, headers=[])))
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
                    raise ClientGone
            else:
                raise ClientGone

    async def _body_stream(self) -> AsyncIterator[bytes]:
        if self.h11.they_are_waiting_for_100_continue:
            await self.send_raw(self.h11.send(h11.InformationalResponse(status_code=100, headers=[])))
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
        with contextlib.suppress(h11.LocalProtocolError, ClientGone, ConnectionError):
            out = self.h11.send(h11.Response(status_code=status, headers=headers, reason=reason(status)))
            out = (out or b"") + (self.h11.send(h11.Data(data=body)) or b"")
            await self.send_raw(out + (self.h11.send(h11.EndOfMessage()) or b""))

    async def _dispatch(self, event: h11.Request) -> bool:
        started = time.monotonic()
        method = self.method = event.method.decode("ascii", "replace")
        target = event.target.decode("latin-1")
        raw_path, _, query_text = target.partition("?")
        request_id = self.server.next_request_id()
        clean = _clean_path(raw_path)
        if clean != raw_path:
            await self._discard_body()
            location = clean + (f"?{query_text}" if query_text else "")
            await self.send(Response(status=301, content_type=None, headers=[("Location", location)]))
            return True
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
                await self.send(Response(status=413, body=encode_json({"message": "request body too large"})))
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
            if headers.get("content-length", "0" if "transfer-encoding" not in headers else "") == "0":
                # No body (a pull): read its end now, so the connection stays reusable even though
                # the handler never looks at the stream.
                await self._read_body(0)
                request.body_stream = _no_body()
            else:
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

    async def send_raw(self, data: bytes | None) -> None:
        """Write and drain bytes already framed by h11 (or a hijack's raw head).

        Raises:
            ClientGone: the peer closed or reset the connection.
        """
        if not data:
            return
        try:
            self.writer.write(data)
            await self.writer.drain()
        except (ConnectionError, ssl.SSLError) as exc:
            raise ClientGone from exc

    def head_for(self, content_type: str | None, extra: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
        """Content-Type, dockerd's common headers, then the response's own."""
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
            await self.send(response)
            return True
        if request is None:  # pragma: no cover - only routed requests stream or hijack
            raise _Close
        if isinstance(response, StreamResponse):
            completed = await send_stream(self, request, response)
            if not completed:
                raise _Close
            if self.h11.their_state is not h11.DONE:
                await self._discard_body()  # what a streamed handler left unread
            return True
        await hijack(self, request, response)
        return False

    async def send(self, response: Response) -> None:
        """Send a whole response; ``Connection: close`` when the request body was not all read.

        Raises:
            ClientGone: the peer closed or reset the connection.
        """
        headers = self.head_for(response.content_type, response.headers)
        if response.status not in (204, 304):
            headers.append((b"Content-Length", str(len(response.body)).encode()))
        if self.h11.their_state is not h11.DONE:
            headers.append((b"Connection", b"close"))
        out = self.h11.send(
            h11.Response(status_code=response.status, headers=headers, reason=reason(response.status))
        )
        if response.body and response.status not in (204, 304) and self.method != "HEAD":
            out = (out or b"") + (self.h11.send(h11.Data(data=response.body)) or b"")
        out = (out or b"") + (self.h11.send(h11.EndOfMessage()) or b"")
        await self.send_raw(out)


async def _no_body() -> AsyncIterator[bytes]:
    return
    yield b""  # an async generator that yields nothing


def _clean_path(path: str) -> str:
    """Go's ``cleanPath`` as gorilla/mux applies it: one slash at a time, no ``.``/``..`` segments.

    dockerd answers a request for an unclean path (``/containers//name/json``, which docker-py
    sends for ``get("/name")``) with a 301 to the clean one, and clients follow it.
    """
    if "//" not in path and "/." not in path and path.startswith("/"):
        return path
    clean = "/" + posixpath.normpath("/" + path).lstrip("/")  # lstrip: normpath keeps a leading "//"
    if path.endswith("/") and clean != "/":
        clean += "/"
    return clean


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
