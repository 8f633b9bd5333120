"""A fake Docker Engine API server on a unix socket, for the CLI's command-level tests.

It speaks just enough HTTP/1.1 (keep-alive, Content-Length and chunked request bodies, chunked
streaming responses, the 101 upgrade that attach and exec use) to be driven by `dockyard` and by
the real `docker` CLI alike. Answers are canned per test: a route maps (method, path pattern) to a
``Reply`` or to a function of the ``Request`` returning one. Every request is recorded, with its
API version prefix split off, so a test can assert the exact path, query and JSON body sent.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

API_VERSION = "1.45"


@dataclass
class Request:
    """One request as the server saw it."""

    method: str
    path: str  # without the /v1.NN prefix, percent-decoded
    version: str | None  # "1.45", or None for an unversioned path
    query: dict[str, list[str]]
    raw_query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def q(self, name: str) -> str | None:
        """The single value of query parameter ``name``, or None."""
        values = self.query.get(name)
        return values[-1] if values else None


@dataclass
class Reply:
    """A canned answer: a JSON or bytes body, a chunked stream, or a hijacked connection."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    stream: Iterable[bytes] | None = None
    hijack: Callable[[socket.socket], None] | None = None
    content_type: str | None = None


def error(status: int, message: str) -> Reply:
    """Docker's error shape."""
    return Reply(status, {"message": message})


Handler = Callable[[Request], Reply]

_REASONS = {
    101: "UPGRADED",
    200: "OK",
    201: "Created",
    204: "No Content",
    304: "Not Modified",
    400: "Bad Request",
    404: "Not Found",
    409: "Conflict",
    500: "Internal Server Error",
}
_VERSIONED = re.compile(r"^/v(\d+\.\d+)(/.*)$")


class FakeEngine:
    """The server. Use as a context manager; ``host`` is the ``unix://`` URL to give clients."""

    def __init__(
        self,
        directory: Path,
        *,
        api_version: str = API_VERSION,
        socket_path: Path | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.socket_path = socket_path or directory / "fake-engine.sock"
        self.tls = tls  # with a context, serve HTTPS on 127.0.0.1 instead of the unix socket
        self.port = 0
        self.api_version = api_version
        self.requests: list[Request] = []
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._connections: list[socket.socket] = []
        self._stopping = False
        self.route("GET", "/_ping", lambda r: Reply(200, b"OK", content_type="text/plain"))
        self.route("HEAD", "/_ping", lambda r: Reply(200, b"", content_type="text/plain"))

    @property
    def host(self) -> str:
        return f"tcp://127.0.0.1:{self.port}" if self.tls else f"unix://{self.socket_path}"

    def route(self, method: str, pattern: str, answer: Handler | Reply) -> None:
        """Answer ``method`` on paths matching ``pattern`` (a regex, anchored at both ends).

        Later routes win over earlier ones, so a test can override the defaults.
        """
        handler: Handler = answer if callable(answer) else (lambda r, a=answer: a)
        self._routes.insert(0, (method, re.compile(f"^{pattern}$"), handler))

    def calls(self, method: str | None = None, path: str | None = None) -> list[Request]:
        """Recorded requests, optionally filtered; the version ping is left out."""
        return [
            r
            for r in self.requests
            if r.path != "/_ping"
            and (method is None or r.method == method)
            and (path is None or re.fullmatch(path, r.path))
        ]

    def __enter__(self) -> FakeEngine:
        if self.tls is not None:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.bind(("127.0.0.1", 0))
            self.port = listener.getsockname()[1]
        else:
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(str(self.socket_path))
        listener.listen(16)
        listener.settimeout(0.05)  # so the accept loop notices _stopping promptly
        self._listener = listener
        thread = threading.Thread(target=self._accept_loop, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping = True
        if self._listener is not None:
            self._listener.close()
        for conn in list(self._connections):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in self._threads:
            thread.join(timeout=5)

    # --- serving ---------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping:
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            if self.tls is not None:
                try:
                    conn = self.tls.wrap_socket(conn, server_side=True)
                except (OSError, ssl.SSLError):
                    conn.close()
                    continue
            self._connections.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        try:
            while True:
                request = _read_request(reader)
                if request is None:
                    return
                self.requests.append(request)
                reply = self._dispatch(request)
                if reply.hijack is not None:
                    _write_upgrade(conn, reply)
                    reply.hijack(conn)
                    return
                _write_reply(conn, request, reply, self.api_version)
        except (OSError, ValueError):
            return
        finally:
            reader.close()
            conn.close()

    def _dispatch(self, request: Request) -> Reply:
        for method, pattern, handler in self._routes:
            if method == request.method and pattern.match(request.path):
                return handler(request)
        return error(404, f"page not found: {request.method} {request.path}")


def _read_request(reader: Any) -> Request | None:
    line = reader.readline()
    if not line:
        return None
    method, target, _ = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while True:
        header = reader.readline().decode("latin-1")
        if header in ("\r\n", "\n", ""):
            break
        name, _, value = header.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = _read_body(reader, headers)
    parts = urlsplit(target)
    path = unquote(parts.path)
    version = None
    match = _VERSIONED.match(path)
    if match:
        version, path = match.group(1), match.group(2)
    query = parse_qs(parts.query, keep_blank_values=True)
    return Request(method, path, version, query, parts.query, headers, body)


def _read_body(reader: Any, headers: dict[str, str]) -> bytes:
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(reader.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while reader.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(reader.read(size))
            reader.readline()
    length = int(headers.get("content-length", "0") or "0")
    return reader.read(length) if length else b""


def _common_headers(api_version: str) -> list[str]:
    return [
        f"Api-Version: {api_version}",
        "Docker-Experimental: false",
        "Ostype: linux",
        "Server: Docker/27.0.0-fake (linux)",
    ]


def _write_reply(conn: socket.socket, request: Request, reply: Reply, api_version: str) -> None:
    lines = [f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Status')}"]
    lines += _common_headers(api_version)
    lines += [f"{k}: {v}" for k, v in reply.headers.items()]
    if reply.stream is not None:
        lines.append(f"Content-Type: {reply.content_type or 'application/json'}")
        lines.append("Transfer-Encoding: chunked")
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        for chunk in reply.stream:
            if chunk:
                conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        conn.sendall(b"0\r\n\r\n")
        return
    body = reply.body
    if isinstance(body, dict | list):
        payload = (json.dumps(body) + "\n").encode()
        content_type = reply.content_type or "application/json"
    elif body is None:
        payload, content_type = b"", reply.content_type
    else:
        payload = body if isinstance(body, bytes) else str(body).encode()
        content_type = reply.content_type or "application/octet-stream"
    if content_type and reply.status not in (204, 304):
        lines.append(f"Content-Type: {content_type}")
    if reply.status not in (204, 304) and request.method != "HEAD":
        lines.append(f"Content-Length: {len(payload)}")
    elif request.method == "HEAD":
        lines.append(f"Content-Length: {len(payload)}")
        payload = b""
    else:
        payload = b""
    conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)


def _write_upgrade(conn: socket.socket, reply: Reply) -> None:
    content_type = reply.content_type or "application/vnd.docker.raw-stream"
    head = (
        f"HTTP/1.1 101 UPGRADED\r\nContent-Type: {content_type}\r\n"
        "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
    )
    conn.sendall(head.encode())


def frame(stream: int, data: bytes) -> bytes:
    """One stdcopy frame: stream id (1 stdout, 2 stderr), three zero bytes, big-endian length."""
    return bytes([stream, 0, 0, 0]) + len(data).to_bytes(4, "big") + data


def json_lines(*messages: dict[str, Any]) -> list[bytes]:
    """A JSON-message progress stream, one message per chunk."""
    return [(json.dumps(m) + "\r\n").encode() for m in messages]
