"""The Docker Engine API client: HTTP/1.1 over a unix socket or TCP (optionally TLS).

The CLI is a pure client of the Engine API, so it must work against dockerd as well as
dockyardd: it speaks the protocol as docker's Go client does, not our daemon's quirks.

- **Where.** ``-H`` wins, then ``DOCKYARD_HOST``, then ``DOCKER_HOST``, then
  ``unix:///run/dockyard.sock``. ``tcp://`` uses TLS when ``--tls``/``--tlsverify`` or
  ``DOCKER_TLS_VERIFY`` say so, with ``ca.pem``/``cert.pem``/``key.pem`` from
  ``DOCKER_CERT_PATH`` (default ``~/.docker``) unless given explicitly.
- **Which version.** The first request is ``HEAD /_ping`` (``GET`` if HEAD fails); its
  ``Api-Version`` header, capped at the newest version this client speaks (``MAX_API``), is
  used as the ``/v1.NN`` prefix of every later request. ``DOCKER_API_VERSION`` pins it.
- **Errors.** A status of 400 or more becomes the ``dockyard.errors`` kind for that status,
  worded as docker prints it: ``Error response from daemon: <message>``. 304 is not an error.
- **Bodies.** Content-Length, chunked, or read to close; streamed on demand, so ``logs -f``
  and pull progress print as they arrive (framing and stream formats: :mod:`dockyard.cli.wire`).
- **Keep-alive.** One connection serves consecutive requests, except after a streamed answer;
  an idle connection the daemon closed is noticed before reuse, and a GET is retried once.
- **Hijacking.** attach and exec start send ``Connection: Upgrade`` / ``Upgrade: tcp``; after
  ``101 UPGRADED`` (or a plain 200 from old daemons) the socket is a raw duplex stream.

It imports ``_socket`` rather than ``socket``: start-up time is most of ``dockyard ps``.
"""

from __future__ import annotations

import _socket
import _thread
import os
import select

from dockyard.cli.wire import Connection, Response, encode_query, escape_path, read_head
from dockyard.errors import (
    Conflict,
    DockyardError,
    Forbidden,
    InvalidArgument,
    NotFound,
    SystemFailure,
    Unauthorized,
    Unavailable,
    Unsupported,
)
from dockyard.util import jsoncodec

__all__ = ["DEFAULT_HOST", "MAX_API", "Client", "resolve_host"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl
    from collections.abc import Iterable, Mapping

DEFAULT_HOST = "unix:///run/dockyard.sock"
MAX_API = "1.45"
"""The newest Engine API version this client speaks; a newer daemon is addressed as this one."""

_STATUS_KINDS: dict[int, type[DockyardError]] = {
    400: InvalidArgument,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    501: Unsupported,
    503: Unavailable,
}


def resolve_host(flag: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The daemon address: ``-H``, else ``DOCKYARD_HOST``, else ``DOCKER_HOST``, else default."""
    env = os.environ if environ is None else environ
    return flag or env.get("DOCKYARD_HOST") or env.get("DOCKER_HOST") or DEFAULT_HOST


def _split_host(host: str) -> tuple[str, str | tuple[str, int]]:
    """``unix:///p`` -> ("unix", "/p"); ``tcp://h:2375`` -> ("tcp", ("h", 2375)).

    Raises:
        InvalidArgument: another scheme, or a malformed address.
    """
    scheme, sep, rest = host.partition("://")
    if not sep:
        raise InvalidArgument(f"unable to parse docker host `{host}`")
    if scheme == "unix":
        if not rest:
            raise InvalidArgument(f"unable to parse docker host `{host}`")
        return "unix", rest
    if scheme in ("tcp", "http", "https"):
        address = rest.split("/", 1)[0]
        name, colon, port = address.rpartition(":")
        if not colon:
            name, port = address, ""
        if not port.isdigit() and port:
            raise InvalidArgument(f"invalid bind address format: {address}")
        return "tcp", (name.strip("[]") or "localhost", int(port) if port else 0)
    raise InvalidArgument(f"protocol not available: {scheme}")


# --- the client -----------------------------------------------------------------------------


class Client:
    """An Engine API client bound to one daemon address.

    ``api_version`` is settled by the first request (see the module docstring).
    """

    def __init__(
        self,
        host: str,
        *,
        tls: dict[str, str | bool] | None = None,
        api_version: str | None = None,
        user_agent: str = "dockyard-cli",
    ) -> None:
        self.host = host
        self.scheme, self.address = _split_host(host)
        self.tls = tls
        self._pinned = api_version or os.environ.get("DOCKER_API_VERSION") or None
        self.api_version: str | None = self._pinned
        self.server_headers: dict[str, str] = {}
        self.user_agent = user_agent
        self._idle: Connection | None = None
        # stop/kill/restart act on several containers from threads sharing this client.
        self._lock = _thread.allocate_lock()

    # -- connections --

    def connect(self) -> Connection:
        """A new connection to the daemon.

        Raises:
            Unavailable: nothing listens at the address (docker's "Cannot connect" message).
            Forbidden: the socket refuses us (permissions).
        """
        try:
            if self.scheme == "unix":
                sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
                try:
                    sock.connect(self.address)
                except BaseException:
                    sock.close()
                    raise
                return Connection(sock, self.host)
            return self._connect_tcp()
        except PermissionError:
            raise Forbidden(
                f"permission denied while trying to connect to the dockyard daemon socket at {self.host}"
            ) from None
        except OSError:
            raise Unavailable(
                f"Cannot connect to the dockyard daemon at {self.host}. Is the dockyard daemon running?"
            ) from None

    def _connect_tcp(self) -> Connection:
        assert isinstance(self.address, tuple)
        host, port = self.address
        if self.tls:
            import socket
            import ssl

            context = _tls_context(self.tls)
            raw = socket.create_connection((host, port or 2376), timeout=None)
            try:
                wrapped = context.wrap_socket(raw, server_hostname=host)
            except ssl.SSLError as exc:
                raw.close()
                # Not "Cannot connect": the daemon answered, and the reason matters (docker says it).
                raise Unavailable(f"error during connect: {self.host}: {exc.reason or exc}") from None
            return Connection(wrapped, self.host)
        infos = _socket.getaddrinfo(host, port or 2375, 0, _socket.SOCK_STREAM)
        family, kind, proto, _, sockaddr = infos[0]
        sock = _socket.socket(family, kind, proto)
        try:
            sock.connect(sockaddr)
        except BaseException:
            sock.close()
            raise
        sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        return Connection(sock, self.host)

    def _take(self) -> tuple[Connection, bool]:
        """A connection for the next request, and whether it is a kept-alive one.

        An idle connection that has become readable was closed by the daemon (or holds junk):
        it is discarded, as Go's transport discards idle connections the server closed.
        """
        with self._lock:
            conn, self._idle = self._idle, None
        if conn is not None:
            ready, _, _ = select.select([conn.sock], [], [], 0)
            if not ready and not conn.buffer:
                return conn, True
            conn.close()
        return self.connect(), False

    def release(self, response: Response) -> None:
        """Return a fully read response's connection for reuse (keep-alive), else close it."""
        with self._lock:
            if response.finished and response.conn.reusable and self._idle is None:
                self._idle = response.conn
                return
            if response.conn is self._idle:
                return
        response.conn.close()

    def close(self) -> None:
        """Close the kept-alive connection, if any."""
        if self._idle is not None:
            self._idle.close()
            self._idle = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests --

    def negotiate(self) -> str:
        """Settle the API version with ``/_ping`` (once), and return it."""
        if self.api_version is not None and self.server_headers:
            return self.api_version
        for method in ("HEAD", "GET"):
            response = self._exchange(method, "/_ping", None, None, None)
            response.read()
            self.release(response)
            if response.status < 400:
                break
        self.server_headers = response.headers
        if self._pinned is None:
            server = response.headers.get("api-version", "")
            self.api_version = _min_version(server, MAX_API) if server else MAX_API
        return self.api_version or MAX_API

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, object] | None = None,
        body: object = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """Send one request on the versioned path and return the response, body unread.

        ``body`` is JSON-encoded unless it is bytes or an iterable of bytes (sent chunked).

        Raises:
            DockyardError: the daemon answered with an error status (its kind and message),
                or could not be reached.
        """
        version = self.negotiate()
        target = f"/v{version}{escape_path(path)}"
        response = self._exchange(method, target, query, body, headers)
        if response.status >= 400:
            raise self._error(response)
        return response

    def call(self, method: str, path: str, **kwargs: object) -> object:
        """``request`` and decode the JSON answer (None for an empty body)."""
        response = self.request(method, path, **kwargs)  # type: ignore[arg-type]
        value = response.json()
        self.release(response)
        return value

    def _exchange(
        self,
        method: str,
        target: str,
        query: Mapping[str, object] | None,
        body: object,
        headers: Mapping[str, str] | None,
    ) -> Response:
        conn, reused = self._take()
        head, payload, chunks = self._compose(method, target, query, body, headers, conn)
        try:
            return self._send_and_read(conn, method, head + payload, chunks)
        except (OSError, _Reset) as exc:
            conn.close()
            # A kept-alive connection the daemon closed as we reused it: try once more on a new
            # one, when resending cannot do anything twice (Go's transport has the same rule).
            if reused and chunks is None and (method in ("GET", "HEAD") or isinstance(exc, _Reset)):
                return self._send_and_read(self.connect(), method, head + payload, None)
            raise _connection_error(method, target, exc) from None

    def _send_and_read(
        self, conn: Connection, method: str, data: bytes, chunks: Iterable[bytes] | None
    ) -> Response:
        try:
            conn.send(data)
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise _Reset(str(exc)) from None  # nothing reached the daemon: safe to resend
        if chunks is not None:
            for chunk in chunks:
                if chunk:
                    conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            conn.send(b"0\r\n\r\n")
        return read_head(conn, method)

    def _compose(
        self,
        method: str,
        target: str,
        query: Mapping[str, object] | None,
        body: object,
        headers: Mapping[str, str] | None,
        conn: Connection,
    ) -> tuple[bytes, bytes, Iterable[bytes] | None]:
        if query:
            encoded = encode_query(query)
            if encoded:
                target += "?" + encoded
        lines = [
            f"{method} {target} HTTP/1.1",
            f"Host: {self._host_header()}",
            f"User-Agent: {self.user_agent}",
        ]
        payload = b""
        chunks: Iterable[bytes] | None = None
        extra = dict(headers or {})
        if isinstance(body, bytes):
            payload = body
        elif body is not None and not isinstance(body, dict | list) and hasattr(body, "__iter__"):
            chunks = body
            lines.append("Transfer-Encoding: chunked")
        elif body is not None:
            payload = jsoncodec.dumps(body).encode()
            extra.setdefault("Content-Type", "application/json")
        if chunks is None and (body is not None or method in ("POST", "PUT")):
            lines.append(f"Content-Length: {len(payload)}")
        lines += [f"{k}: {v}" for k, v in extra.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"), payload, chunks

    def _host_header(self) -> str:
        if self.scheme == "unix":
            return "api.moby.localhost"
        assert isinstance(self.address, tuple)
        host, port = self.address
        return f"{host}:{port}" if port else host

    def _error(self, response: Response) -> DockyardError:
        raw = response.read()
        self.release(response)
        message = raw.decode("utf-8", "replace").strip()
        if "json" in response.headers.get("content-type", ""):
            try:
                decoded = jsoncodec.loads(raw)
                if isinstance(decoded, dict) and isinstance(decoded.get("message"), str):
                    message = decoded["message"]
            except jsoncodec.JSONDecodeError:
                pass
        if not message:
            message = f"{response.status} {_REASONS.get(response.status, 'error')}"
        kind = _STATUS_KINDS.get(response.status, SystemFailure)
        error = kind(f"Error response from daemon: {message}")
        error.status = response.status  # type: ignore[attr-defined]
        error.daemon_message = message  # type: ignore[attr-defined]
        return error

    def hijack(
        self, path: str, *, query: Mapping[str, object] | None = None, body: object = None
    ) -> Connection:
        """POST ``path`` asking to upgrade the connection; return it as a raw duplex stream.

        Raises:
            DockyardError: the daemon refused (its kind and message).
        """
        version = self.negotiate()
        conn = self.connect()
        headers = {"Connection": "Upgrade", "Upgrade": "tcp"}
        target = f"/v{version}{escape_path(path)}"
        head, payload, _ = self._compose("POST", target, query, body, headers, conn)
        if body is None:
            head = head.replace(b"\r\n\r\n", b"\r\nContent-Type: text/plain\r\n\r\n", 1)
        try:
            conn.send(head + payload)
            response = read_head(conn, "POST")
        except OSError as exc:
            conn.close()
            raise _connection_error("POST", target, exc) from None
        if response.status >= 400:
            raise self._error(response)
        if response.status not in (101, 200):
            conn.close()
            raise SystemFailure(f"unexpected status {response.status} for {path}")
        return conn


def _tls_context(settings: Mapping[str, str | bool]) -> ssl.SSLContext:
    """A client TLS context as docker's ``--tls``/``--tlsverify`` build it.

    With ``verify`` the daemon's certificate must chain to ``ca`` (or the system CAs) and name
    the host; without it anything is accepted. A client certificate is presented when both
    ``cert`` and ``key`` exist (mutual TLS).

    Raises:
        InvalidArgument: a certificate or key file that cannot be loaded.
    """
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    ca, cert, key = settings.get("ca"), settings.get("cert"), settings.get("key")
    try:
        if settings.get("verify"):
            if isinstance(ca, str) and os.path.exists(ca):
                context.load_verify_locations(ca)
            else:
                context.load_default_certs()
        else:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if isinstance(cert, str) and isinstance(key, str) and os.path.exists(cert) and os.path.exists(key):
            context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise InvalidArgument(f"could not read TLS certificates: {exc}") from None
    return context


class _Reset(Exception):
    """The request could not even be sent: the connection was already closed."""


def _connection_error(method: str, target: str, exc: BaseException) -> Unavailable:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
    return Unavailable(f"error during connect: {method} {target}: {reason}")


_REASONS = {400: "Bad Request", 404: "Not Found", 409: "Conflict", 500: "Internal Server Error"}


def _min_version(a: str, b: str) -> str:
    def key(version: str) -> tuple[int, ...]:
        try:
            return tuple(int(p) for p in version.split("."))
        except ValueError:
            return (0,)

    return a if key(a) < key(b) else b
