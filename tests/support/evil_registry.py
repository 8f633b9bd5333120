"""A hostile registry on 127.0.0.1 for the tamper tests (S12) and the registry's error paths.

A real registry verifies what is pushed to it, so it can never serve tampered content; this
small threaded HTTP server can. It speaks just enough of the distribution API (``/v2/``,
manifests, blobs, a token endpoint) and serves the ``alpine`` fixture, honestly or not, under
one repository per misbehaviour (``EvilRegistry.ref(<repository>)``):

====================== ==============================================================================
``honest/alpine``      the control: nothing wrong
``tamper/manifest``    manifest bytes altered, ``Docker-Content-Digest`` still the original
``tamper/layer``       layer bytes altered, same length
``tamper/truncated``   layer 100 bytes short, with a matching ``Content-Length``
``tamper/longer``      layer one byte longer than its descriptor
``tamper/length``      the right bytes with a wrong ``Content-Length`` (then the connection closes)
``tamper/diffids``     consistent digests, but the config's ``diff_ids`` are wrong (the image room's
                       check; ``EvilRegistry.bad_diffids`` is that image)
``tamper/ambiguous``   a body that is both manifest and index, ``Content-Type`` alternating
``digest/<case>``      a manifest whose layer digest is traversal-shaped, upper-case, short or md5
                       (``traversal``, ``upper``, ``short``, ``md5``)
``auth/alpine``        401 with a bearer challenge; tokens from ``/token`` on this server
``redirect/alpine``    bearer auth, and blobs redirected to the accomplice (another origin)
``foreign/alpine``     a foreign layer whose ``urls`` point at the accomplice, which challenges
``status/429``         always 429 TOOMANYREQUESTS (``Retry-After: 0``)
``status/500``         always 500
``flaky/alpine``       500 for the first ``flaky_failures`` manifest requests, then honest
``broken/alpine``      the first GET of each layer breaks off halfway; ranges honoured after
``slow/alpine``        waits ``slow_seconds`` before answering manifests
====================== ==============================================================================

The **accomplice** is a second server on another port: a different origin, which must never see
an ``Authorization`` header. Both servers record every request (``requests``, ``accomplice``).
A refused connection needs no server: ``refused_host()`` is a port nobody listens on.
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from dockyard.registry import Reference
from tests.support import oci_layouts
from tests.support.oci_layouts import ImageFixture, sha256

__all__ = ["BAD_DIGESTS", "EvilRegistry", "Seen", "open_evil_registry", "refused_host"]

BAD_DIGESTS = {
    "traversal": "sha256:../../../../tmp/dyt-evil",
    "upper": "sha256:" + "A" * 64,
    "short": "sha256:" + "a" * 63,
    "md5": "md5:" + "a" * 32,
}
_TOKEN = "evil-token-" + secrets.token_hex(4)
_HONEST_CONTENT = (
    "honest/alpine",
    "tamper/manifest",
    "tamper/layer",
    "tamper/truncated",
    "tamper/longer",
    "tamper/length",
    "auth/alpine",
    "redirect/alpine",
    "status/429",
    "status/500",
    "flaky/alpine",
    "broken/alpine",
    "slow/alpine",
)


def refused_host() -> str:
    """``127.0.0.1:<port>`` where nothing listens (a port bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


@dataclass(frozen=True)
class Seen:
    """One request as a server saw it."""

    method: str
    path: str
    headers: dict[str, str]


@dataclass
class _Content:
    """What one repository serves: manifest bytes and type, and blobs by digest."""

    manifest: bytes
    media_type: str
    blobs: dict[str, bytes]


def _image_content(image: ImageFixture) -> _Content:
    return _Content(image.docker_manifest, oci_layouts.DOCKER_MANIFEST, image.blobs())


def _with_bad_diffids(image: ImageFixture) -> ImageFixture:
    config = json.loads(image.config)
    config["rootfs"]["diff_ids"] = [sha256(b"not this layer %d" % i) for i, _ in enumerate(image.layers)]
    return ImageFixture(
        name="bad-diffids",
        repo="tamper/diffids",
        tag="latest",
        config=json.dumps(config).encode(),
        layers=image.layers,
    )


def _with_layer_digest(image: ImageFixture, digest: str) -> bytes:
    doc = json.loads(image.docker_manifest)
    doc["layers"][0]["digest"] = digest
    return json.dumps(doc).encode()


def _ambiguous(image: ImageFixture) -> bytes:
    doc = json.loads(image.docker_manifest)
    del doc["mediaType"]
    doc["manifests"] = json.loads(oci_layouts.index_for([image]))["manifests"]
    return json.dumps(doc).encode()


def _foreign(image: ImageFixture, url: str) -> bytes:
    doc = json.loads(image.docker_manifest)
    doc["layers"][-1]["mediaType"] = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
    doc["layers"][-1]["urls"] = [url]
    return json.dumps(doc).encode()


@dataclass
class EvilRegistry:
    """The running hostile registry and its accomplice (see the module docstring)."""

    host: str
    accomplice_host: str
    image: ImageFixture
    bad_diffids: ImageFixture
    requests: list[Seen] = field(default_factory=list)
    accomplice: list[Seen] = field(default_factory=list)
    flaky_failures: int = 2
    slow_seconds: float = 2.0
    counters: dict[str, int] = field(default_factory=dict)
    content: dict[str, _Content] = field(default_factory=dict)

    def ref(self, repository: str, tag: str = "latest") -> Reference:
        return Reference.parse(f"{self.host}/{repository}:{tag}")

    def count(self, key: str) -> int:
        """Increment and return a per-key counter (thread-safe enough under the GIL)."""
        self.counters[key] = self.counters.get(key, 0) + 1
        return self.counters[key]

    def build(self) -> None:
        honest = _image_content(self.image)
        for repository in _HONEST_CONTENT:
            self.content[repository] = honest
        self.content["tamper/diffids"] = _image_content(self.bad_diffids)
        ambiguous = _ambiguous(self.image)
        self.content["tamper/ambiguous"] = _Content(ambiguous, oci_layouts.OCI_MANIFEST, honest.blobs)
        for case, digest in BAD_DIGESTS.items():
            manifest = _with_layer_digest(self.image, digest)
            self.content[f"digest/{case}"] = _Content(manifest, oci_layouts.DOCKER_MANIFEST, honest.blobs)
        foreign = _foreign(self.image, f"http://{self.accomplice_host}/foreign-layer")
        self.content["foreign/alpine"] = _Content(foreign, oci_layouts.DOCKER_MANIFEST, honest.blobs)

    @property
    def layer(self) -> oci_layouts.Layer:
        """The layer the tamper cases tamper with (the top one: small, quick to serve)."""
        return self.image.layers[-1]


# --- the HTTP side -------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    evil: EvilRegistry
    is_accomplice = False

    def log_message(self, format: str, *args: object) -> None:
        pass

    def handle(self) -> None:
        # A TLS ClientHello (0x16) is how a client probes for HTTPS; answer it by hanging up, as
        # http.server would otherwise wait for a newline that never comes.
        try:
            first = self.connection.recv(1, socket.MSG_PEEK)
        except OSError:
            return
        if first in (b"", b"\x16"):
            return
        # Headers and body go out in two writes; without NODELAY, Nagle and delayed ACKs make
        # every answer wait 40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().handle()

    def _send(
        self,
        status: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        *,
        length: int | None = None,
    ):
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        if length is not None:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        body = json.dumps({"errors": [{"code": code, "message": message, "detail": None}]}).encode()
        self._send(status, body, {"Content-Type": "application/json", **(headers or {})})

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        seen = Seen(self.command, self.path, dict(self.headers))
        if self.is_accomplice:
            self.evil.accomplice.append(seen)
            self._accomplice()
            return
        self.evil.requests.append(seen)
        if self.path == "/token":
            self._send(200, json.dumps({"token": _TOKEN, "expires_in": 300}).encode())
            return
        if self.path.startswith("/token?"):
            self._send(200, json.dumps({"token": _TOKEN, "expires_in": 300}).encode())
            return
        if self.path == "/v2/":
            self._send(200, b"{}", {"Content-Type": "application/json"})
            return
        self._route()

    def _accomplice(self) -> None:
        if self.path.startswith("/blobs/"):
            digest = self.path.removeprefix("/blobs/")
            data = self.evil.image.blobs().get(digest)
            if data is not None:
                self._send(200, data, {"Content-Type": "application/octet-stream"})
                return
        challenge = f'Bearer realm="http://{self.evil.accomplice_host}/token",service="accomplice"'
        self._error(401, "UNAUTHORIZED", "authentication required", {"WWW-Authenticate": challenge})

    def _route(self) -> None:
        parts = self.path.split("?", 1)[0].split("/")
        # /v2/<ns>/<name>/(manifests|blobs)/<ref>
        if len(parts) != 6 or parts[:2] != ["", "v2"] or parts[4] not in ("manifests", "blobs"):
            self._error(404, "NAME_UNKNOWN", "repository name not known to registry")
            return
        repository, kind, ref = f"{parts[2]}/{parts[3]}", parts[4], parts[5]
        content = self.evil.content.get(repository)
        if content is None:
            self._error(404, "NAME_UNKNOWN", "repository name not known to registry")
            return
        if not self._gate(repository):
            return
        if kind == "manifests":
            self._manifest(repository, content, ref)
        else:
            self._blob(repository, content, ref)

    def _gate(self, repository: str) -> bool:
        """Answer the status and auth misbehaviours; True when the request may go on."""
        if repository == "status/429":
            body = {
                "errors": [{"code": "TOOMANYREQUESTS", "message": "You have reached your pull rate limit."}]
            }
            self._send(
                429, json.dumps(body).encode(), {"Retry-After": "0", "Content-Type": "application/json"}
            )
            return False
        if repository == "status/500":
            self._send(500, b"internal error\n")
            return False
        if (
            repository in ("auth/alpine", "redirect/alpine")
            and self.headers.get("Authorization") != f"Bearer {_TOKEN}"
        ):
            scope = f"repository:{repository}:pull"
            realm = f'Bearer realm="http://{self.evil.host}/token",service="evil",scope="{scope}"'
            self._error(401, "UNAUTHORIZED", "authentication required", {"WWW-Authenticate": realm})
            return False
        return True

    def _manifest(self, repository: str, content: _Content, ref: str) -> None:
        if ref not in ("latest", sha256(content.manifest)) and ref != sha256(self.evil.image.docker_manifest):
            self._error(404, "MANIFEST_UNKNOWN", "manifest unknown")
            return
        if repository == "flaky/alpine" and self.evil.count("flaky") <= self.evil.flaky_failures:
            self._send(500, b"flaky\n")
            return
        if repository == "slow/alpine":
            time.sleep(self.evil.slow_seconds)
        body, media_type, digest = content.manifest, content.media_type, sha256(content.manifest)
        if repository == "tamper/manifest":
            body = body.replace(b'"schemaVersion": 2', b'"schemaVersion":2')  # still valid, other bytes
        if repository == "tamper/ambiguous":
            turn = self.evil.count("ambiguous")
            media_type = oci_layouts.OCI_INDEX if turn % 2 else oci_layouts.OCI_MANIFEST
        self._send(200, body, {"Content-Type": media_type, "Docker-Content-Digest": digest})

    def _blob(self, repository: str, content: _Content, digest: str) -> None:
        data = content.blobs.get(digest)
        if data is None:
            self._error(404, "BLOB_UNKNOWN", "blob unknown to registry")
            return
        if repository == "redirect/alpine":
            self._send(307, b"", {"Location": f"http://{self.evil.accomplice_host}/blobs/{digest}"})
            return
        tampered = repository.startswith("tamper/") and digest == self.evil.layer.digest
        if tampered and repository == "tamper/layer":
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        elif tampered and repository == "tamper/truncated":
            data = data[:-100]
        elif tampered and repository == "tamper/longer":
            data = data + b"\0"
        elif tampered and repository == "tamper/length":
            self._send(200, data, {"Content-Type": "application/octet-stream"}, length=len(data) + 5)
            return
        start = _range_start(self.headers.get("Range"))
        if repository == "broken/alpine" and start == 0 and self.evil.count(f"broken:{digest}") == 1:
            self._break_off(data)
            return
        if start:
            headers = {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"}
            self._send(206, data[start:], headers)
            return
        self._send(200, data, {"Content-Type": "application/octet-stream"})

    def _break_off(self, data: bytes) -> None:
        """Promise the whole blob, send half, and hang up."""
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)


def _range_start(value: str | None) -> int:
    if not value or not value.startswith("bytes=") or not value.endswith("-"):
        return 0
    number = value.removeprefix("bytes=").removesuffix("-")
    return int(number) if number.isdigit() else 0


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients that give up (timeouts, refused tampering) hang up mid-answer: not news.
        pass


def _serve(evil: EvilRegistry, *, accomplice: bool) -> ThreadingHTTPServer:
    handler = type("EvilHandler", (_Handler,), {"evil": evil, "is_accomplice": accomplice})
    server = _Server(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    return server


@contextmanager
def open_evil_registry(image: ImageFixture | None = None) -> Iterator[EvilRegistry]:
    """Run the hostile registry and its accomplice for the ``with`` block."""
    image = image or oci_layouts.fixture("alpine")
    evil = EvilRegistry(host="", accomplice_host="", image=image, bad_diffids=_with_bad_diffids(image))
    servers = [_serve(evil, accomplice=False), _serve(evil, accomplice=True)]
    evil.host, evil.accomplice_host = (f"127.0.0.1:{s.server_address[1]}" for s in servers)
    evil.build()
    threads = [
        threading.Thread(target=s.serve_forever, args=(0.05,), name="dyt-evil", daemon=True) for s in servers
    ]
    for thread in threads:
        thread.start()
    try:
        yield evil
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
        for thread in threads:
            thread.join(timeout=5)
