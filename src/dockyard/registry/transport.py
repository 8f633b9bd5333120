"""The HTTP seam: TLS per registry, redirects without leaking credentials, retries, Go's errors.

Everything that touches ``httpx`` lives here, imported on the first request so that a daemon
that never pulls never pays its ~5 MiB. Tests plug an ``httpx.MockTransport`` in through
``HttpSession(transport=...)``.

**TLS.** Registries are verified against the system CAs plus Docker's per-registry directory
``<certs_dir>/<host[:port]>/``: every ``*.crt`` there is an extra CA, and each ``*.cert`` with
its ``*.key`` is a client certificate (dockerd's ``ReadCertsDirectory``). A registry allowed to
speak plain HTTP (loopback, ``--insecure-registry``) is tried over HTTPS first with verification
off, as dockerd does, and over HTTP when that fails.

**Redirects** are followed by hand (at most 10, as Go's client). ``Authorization`` goes only to
the origin it was made for: a blob redirected to a storage host (S3, a CDN, another loopback
port) is fetched without it (CVE-2020-15157). A redirect may not downgrade to plain HTTP unless
the target host is itself allowed plain HTTP.

**Retries** (``with_retries``): connection failures, 5xx and 429 are tried again up to
``attempts`` times with exponential backoff (and ``Retry-After`` when the registry sends one).
A caller can keep connection failures out of that (``retry_transport=False``): the ping, whose
refusal means nobody listens there, and which dockerd reports at once.

**Errors** read like Go's ``url.Error``, because Docker users know them: ``Get
"http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused``.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import ssl
import sys
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard.errors import InvalidArgument
from dockyard.registry.errors import RegistryUnavailable

if TYPE_CHECKING:
    import httpx

__all__ = [
    "MAX_REDIRECTS",
    "RETRY_STATUSES",
    "HttpSession",
    "Reply",
    "TransportError",
    "origin_of",
    "with_retries",
]

log = logging.getLogger(__name__)

MAX_REDIRECTS = 10
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_RETRY_AFTER = 30.0


def _skip_httpx_cli() -> None:
    """Keep httpx from importing its command-line client on import.

    httpx's ``__init__`` imports ``httpx._main`` (click, rich and pygments) whenever those are
    installed, as they are beside dockyard's test tools: 6 MiB of the daemon's PSS for a
    program it never runs. A ``None`` in ``sys.modules`` makes that import fail, and httpx then
    defines a stub ``main`` instead. Every ``import httpx`` of the daemon is in this module, so
    it runs once, when this module is imported; once httpx is loaded it changes nothing.
    """
    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]  # None blocks an import


_skip_httpx_cli()


class TransportError(RegistryUnavailable):
    """The request never got a complete answer: refused, reset, timed out, TLS failed.

    The message is Go's ``url.Error`` text. ``started`` tells whether response bytes had
    already arrived (a body cut short), which matters to resumable blob downloads.
    """

    def __init__(self, message: str, *, started: bool = False, retryable: bool = True) -> None:
        super().__init__(message)
        self.started = started
        self.retryable = retryable


def origin_of(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of ``url``, the unit credentials are scoped to."""
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, (parts.hostname or "").lower(), port


def _host_port(url: str) -> str:
    scheme, host, port = origin_of(url)
    del scheme
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _walk(exc: BaseException) -> list[BaseException]:
    chain, seen = [], set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _describe(exc: BaseException, url: str) -> str:
    """What Go's net/http would say about ``exc`` (the part after ``Get "url": ``)."""
    name = type(exc).__name__
    where = _host_port(url)
    for cause in _walk(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"tls: failed to verify certificate: x509: {_go_verify_message(cause)}"
        if isinstance(cause, ssl.SSLError):
            reason = getattr(cause, "reason", None)  # set by the ssl module, absent on hand-made ones
            if reason in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "HTTP_REQUEST"):
                return "http: server gave HTTP response to HTTPS client"
            return f"remote error: tls: {reason or cause}"
        if isinstance(cause, socket.gaierror):
            return f"dial tcp: lookup {origin_of(url)[1]}: no such host"
        if isinstance(cause, OSError) and cause.errno is not None:
            text = {
                errno.ECONNREFUSED: "connect: connection refused",
                errno.ENETUNREACH: "connect: network is unreachable",
                errno.EHOSTUNREACH: "connect: no route to host",
            }.get(cause.errno)
            if text is not None:
                return f"dial tcp {where}: {text}"
            if cause.errno in (errno.ECONNRESET, errno.EPIPE):
                return f"read tcp {where}: connection reset by peer"
    if name == "ConnectTimeout":
        return f"dial tcp {where}: i/o timeout"
    if name in ("ReadTimeout", "WriteTimeout", "PoolTimeout"):
        return "net/http: timeout awaiting response headers"
    if name == "RemoteProtocolError":
        return "unexpected EOF" if "incomplete" in str(exc).lower() else "EOF"
    return str(exc) or name


# OpenSSL verification codes (x509_vfy.h) and what Go's crypto/x509 says for the same failure.
_GO_VERIFY = {
    18: "certificate signed by unknown authority",  # DEPTH_ZERO_SELF_SIGNED_CERT
    19: "certificate signed by unknown authority",  # SELF_SIGNED_CERT_IN_CHAIN
    20: "certificate signed by unknown authority",  # UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    21: "certificate signed by unknown authority",  # UNABLE_TO_VERIFY_LEAF_SIGNATURE
    9: "certificate has expired or is not yet valid",  # CERT_NOT_YET_VALID
    10: "certificate has expired or is not yet valid",  # CERT_HAS_EXPIRED
}


def _go_verify_message(error: ssl.SSLCertVerificationError) -> str:
    known = _GO_VERIFY.get(error.verify_code)
    if known is not None:
        return known
    if error.verify_code == 62:  # HOSTNAME_MISMATCH
        return f"certificate is not valid for the requested name ({error.verify_message})"
    return error.verify_message or str(error)


def transport_error(exc: BaseException, method: str, url: str, *, started: bool = False) -> TransportError:
    """Wrap an httpx transport failure in Go's words: ``Get "url": ...``.

    TLS failures are not worth retrying: the same handshake fails the same way.
    """
    tls = any(isinstance(cause, ssl.SSLError) for cause in _walk(exc))
    message = f'{method.capitalize()} "{url}": {_describe(exc, url)}'
    return TransportError(message, started=started, retryable=not tls)


class Reply:
    """A response whose body has not been read yet; close it or read it exactly once."""

    def __init__(self, response: httpx.Response, method: str) -> None:
        self._response = response
        self.method = method
        self.status = response.status_code
        self.reason = response.reason_phrase
        self.url = str(response.url)

    def header(self, name: str) -> str | None:
        """One header value (the first), or None."""
        value = self._response.headers.get(name)
        return None if value is None else str(value)

    def header_list(self, name: str) -> list[str]:
        """Every value of a repeated header (``WWW-Authenticate``, ``Link``)."""
        return self._response.headers.get_list(name)

    def content_length(self) -> int | None:
        """``Content-Length`` as a number, None when absent.

        Raises:
            InvalidArgument: present but not a non-negative integer.
        """
        value = self.header("content-length")
        if value is None:
            return None
        if not value.strip().isdigit():
            raise InvalidArgument(f"invalid Content-Length from registry: {value[:40]!r}")
        return int(value)

    async def chunks(self) -> AsyncIterator[bytes]:
        """The raw body as it arrives (no content decoding: blobs are hashed as served).

        Raises:
            TransportError: the connection broke before the body was complete (``started``).
        """
        import httpx

        if self._response.is_stream_consumed:  # a body built in memory (MockTransport): whole
            if self._response.content:
                yield self._response.content
            return
        try:
            async for chunk in self._response.aiter_raw():
                yield chunk
        except httpx.TransportError as exc:
            raise transport_error(exc, self.method, self.url, started=True) from exc

    async def read(self, limit: int) -> bytes:
        """The whole body, refusing more than ``limit`` bytes.

        Raises:
            InvalidArgument: the body is larger than ``limit``.
            TransportError: the connection broke.
        """
        length = self.content_length()
        if length is not None and length > limit:
            raise InvalidArgument(f"response body of {length} bytes is more than the {limit} allowed")
        body = bytearray()
        async for chunk in self.chunks():
            body += chunk
            if len(body) > limit:
                raise InvalidArgument(f"response body is more than the {limit} allowed bytes")
        return bytes(body)

    async def read_prefix(self, limit: int) -> bytes:
        """Up to ``limit`` bytes of the body (for error messages); never raises."""
        body = bytearray()
        try:
            async for chunk in self.chunks():
                body += chunk
                if len(body) >= limit:
                    break
        except TransportError:
            pass
        return bytes(body[:limit])

    async def aclose(self) -> None:
        """Release the connection (safe to call twice)."""
        await self._response.aclose()


class HttpSession:
    """Pooled HTTP clients, one per TLS configuration, with hand-followed redirects."""

    def __init__(
        self,
        *,
        certs_dir: Path,
        connect_timeout: float,
        read_timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._certs_dir = certs_dir
        self._timeouts = (connect_timeout, read_timeout)
        self._transport = transport
        self._clients: dict[object, httpx.AsyncClient] = {}
        self._default_tls: ssl.SSLContext | None = None

    def _tls_for(self, host: str, verify: bool) -> str:
        """Which TLS configuration ``host`` (``host[:port]`` as in URLs) needs, as a cache key.

        ``default`` or ``insecure`` alone, or with ``:<host>`` when ``<certs_dir>/<host>`` holds
        certificates; an insecure registry still gets its client certificates, as in dockerd.
        """
        base = "default" if verify else "insecure"
        return f"{base}:{host}" if _has_certs(self._certs_dir / host) else base

    def _make_context(self, key: str) -> ssl.SSLContext:
        base, _, host = key.partition(":")
        if not host:
            return _shared_context(base)
        context = _new_context(verify=base == "default")
        _load_certs_dir(context, self._certs_dir / host)
        return context

    def _client(self, tls_key: str) -> httpx.AsyncClient:
        import httpx

        key = "mock" if self._transport is not None else tls_key
        client = self._clients.get(key)
        if client is None:
            connect, read = self._timeouts
            timeout = httpx.Timeout(connect=connect, read=read, write=read, pool=None)
            if self._transport is not None:
                client = httpx.AsyncClient(transport=self._transport, timeout=timeout, trust_env=False)
            else:
                # trust_env=False: no ~/.netrc credentials or proxy guesses behind our back.
                client = httpx.AsyncClient(
                    verify=self._make_context(tls_key), timeout=timeout, trust_env=False
                )
            self._clients[key] = client
        return client

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        content: bytes | AsyncIterator[bytes] | None = None,
        authorization: str | None = None,
        verify_tls: bool = True,
        allow_plain_http: Callable[[str], bool] = lambda host: False,
    ) -> Reply:
        """Send one request and follow redirects; the caller reads or closes the Reply.

        ``authorization`` is sent to ``url``'s origin only. A 303 turns into a GET without a
        body; other redirects of a request with a streamed body are not followed (it cannot be
        sent twice) and are returned as they are.

        Raises:
            TransportError: no answer (Go's wording), or more than 10 redirects.
        """
        import httpx

        first_origin = origin_of(url)
        for _hop in range(MAX_REDIRECTS + 1):
            parts = urllib.parse.urlsplit(url)
            # Blobs are hashed as served: no transparent gzip decoding may sit in between.
            request_headers = {"Accept-Encoding": "identity", **(headers or {})}
            if authorization is not None and origin_of(url) == first_origin:
                request_headers["Authorization"] = authorization
            client = self._client(self._tls_for(parts.netloc, verify_tls))
            request = client.build_request(method, url, headers=request_headers, content=content)
            try:
                response = await client.send(request, stream=True, follow_redirects=False)
            except httpx.TransportError as exc:
                raise transport_error(exc, method, url) from exc
            location = response.headers.get("location")
            if response.status_code not in _REDIRECTS or not location:
                return Reply(response, method)
            if isinstance(content, AsyncIterator) and response.status_code != 303:
                return Reply(response, method)
            await response.aclose()
            target = urllib.parse.urljoin(url, location)
            _check_redirect(url, target, allow_plain_http)
            if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                method, content = "GET", None
            url = target
        raise TransportError(f'{method.capitalize()} "{url}": stopped after {MAX_REDIRECTS} redirects')

    async def aclose(self) -> None:
        """Close every pooled connection."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()


_SHARED_CONTEXTS: dict[str, ssl.SSLContext] = {}


def _new_context(*, verify: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _shared_context(key: str) -> ssl.SSLContext:
    """The system-CA context (``default``) or the unverified one (``insecure``), made once.

    Loading the system CA bundle costs ~40 ms; contexts are safe to share between clients.
    """
    context = _SHARED_CONTEXTS.get(key)
    if context is None:
        context = _SHARED_CONTEXTS[key] = _new_context(verify=key == "default")
    return context


def _check_redirect(source: str, target: str, allow_plain_http: Callable[[str], bool]) -> None:
    scheme = urllib.parse.urlsplit(target).scheme
    netloc = urllib.parse.urlsplit(target).netloc
    if scheme not in ("http", "https"):
        raise InvalidArgument(f"registry redirected to an unsupported URL scheme: {scheme or '(none)'}")
    if scheme == "http" and urllib.parse.urlsplit(source).scheme == "https" and not allow_plain_http(netloc):
        raise InvalidArgument(f"registry redirected from HTTPS to plain HTTP on {netloc}")


def _has_certs(directory: Path) -> bool:
    try:
        return any(p.suffix in (".crt", ".cert", ".key") for p in directory.iterdir())
    except OSError:
        return False


def _load_certs_dir(context: ssl.SSLContext, directory: Path) -> None:
    """dockerd's ``ReadCertsDirectory``: ``*.crt`` are CAs; ``x.cert`` pairs with ``x.key``.

    Raises:
        InvalidArgument: half a client pair, or a file that is not a certificate or key.
    """
    for path in sorted(directory.iterdir()):
        try:
            if path.suffix == ".crt":
                context.load_verify_locations(cafile=str(path))
            elif path.suffix == ".cert":
                key = path.with_suffix(".key")
                if not key.exists():
                    raise InvalidArgument(f"missing key {key.name} for client certificate {path}")
                context.load_cert_chain(certfile=str(path), keyfile=str(key))
            elif path.suffix == ".key" and not path.with_suffix(".cert").exists():
                raise InvalidArgument(
                    f"missing client certificate {path.with_suffix('.cert').name} for key {path}"
                )
        except (ssl.SSLError, OSError) as exc:
            raise InvalidArgument(f"invalid TLS file {path}: {exc}") from exc


def _retry_after(reply: Reply) -> float | None:
    value = reply.header("retry-after")
    if value is None or not value.strip().isdigit():
        return None
    return min(float(value), _MAX_RETRY_AFTER)


async def with_retries(
    attempt: Callable[[], Awaitable[Reply]],
    *,
    attempts: int,
    backoff: float,
    what: str = "request",
    statuses: frozenset[int] = RETRY_STATUSES,
    retry_transport: bool = True,
) -> Reply:
    """Run ``attempt`` until it answers outside ``statuses`` (429, 5xx), at most ``attempts`` times.

    The last answer is returned even if it is a 429 or 5xx, so the caller can turn its body into
    the registry's own error message. A failure to get any answer is tried again too, unless
    ``retry_transport`` is False or the failure is not worth it (TLS).

    Raises:
        TransportError: the last attempt got no answer at all (with ``retry_transport`` False:
            the first attempt that got none).
    """
    for number in range(1, attempts + 1):
        last = number == attempts
        try:
            reply = await attempt()
        except TransportError as exc:
            if last or not exc.retryable or not retry_transport:
                raise
            log.debug("registry %s failed, retrying attempt=%d error=%s", what, number, exc)
            await asyncio.sleep(_delay(backoff, number, None))
            continue
        if reply.status not in statuses or last:
            return reply
        delay = _delay(backoff, number, _retry_after(reply))
        await reply.aclose()
        log.debug("registry %s answered %d, retrying attempt=%d", what, reply.status, number)
        await asyncio.sleep(delay)
    raise AssertionError("unreachable: the last attempt returns or raises")


def _delay(backoff: float, number: int, retry_after: float | None) -> float:
    """Exponential backoff with a little jitter, or the server's ``Retry-After`` if longer."""
    import random  # only ever needed once something failed

    delay = backoff * (1 << (number - 1)) * (1 + random.random() / 4)
    return max(delay, retry_after or 0.0)
