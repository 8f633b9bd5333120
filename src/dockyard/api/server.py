"""The HTTP/1.1 server of the Engine API: listeners, connections, and an orderly shutdown.

The server is three modules, each one concern:

- ``server.py`` (here): :class:`ApiServer` owns the listening sockets and the set of live
  connections. **Shutdown** (:meth:`ApiServer.close`) stops accepting, ends idle keep-alive
  connections and endless streams (events, ``logs -f``, wait, attach) at once, gives in-flight
  requests a grace period, then cancels what is left.
- ``connection.py``: one connection's request/response cycles over ``h11``, with the framing
  hardening a root-equivalent socket needs (ambiguous lengths, header and body limits).
- ``pumps.py``: the long answers: chunked streams flushed per message, and hijacked
  connections (attach, exec start) pumped both ways.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
from typing import TYPE_CHECKING, Final

import dockyard
from dockyard.api.connection import Connection
from dockyard.api.routing import Router
from dockyard.api.versions import MAX_VERSION, format_version

if TYPE_CHECKING:
    import ssl

    from dockyard.engine import Engine

__all__ = ["ApiServer", "Limits"]

log = logging.getLogger(__name__)

BACKLOG: Final = 512


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


class ApiServer:
    """Serves the Engine API for one engine on any number of listening sockets.

    Args:
        engine: passed to every handler.
        router: the route table (``build_router()`` in the daemon; tests may pass their own).
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
        self._connections: set[Connection] = set()
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

        Raises:
            OSError: the socket cannot listen (closed, or not bound).
        """
        if sock.family == socket.AF_UNIX:
            server = await asyncio.start_unix_server(self._accept, sock=sock, backlog=BACKLOG)
            self._unix_paths.append(sock.getsockname())
        else:
            server = await asyncio.start_server(self._accept, sock=sock, ssl=ssl_context, backlog=BACKLOG)
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
        connection = Connection(self, reader, writer)
        self._connections.add(connection)
        try:
            await connection.run()
        finally:
            self._connections.discard(connection)
