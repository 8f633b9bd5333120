"""A real registry for tests: Debian's ``docker-registry`` on 127.0.0.1, fed with fixture images.

``open_registry()`` starts ``/usr/bin/docker-registry`` (distribution 2.8) on a free loopback port
with a throwaway configuration and storage in a ``dyt-registry-*`` directory, optionally behind
htpasswd Basic auth or bearer-token auth, and always kills and reaps the process and removes the
directory when the ``with`` block ends, whatever happened inside.

Token auth needs a token server, which this module provides (``TokenServer``): a small threaded
HTTP server that checks Basic credentials (or an OAuth2 refresh token) and issues RS256 JWTs
signed with a throwaway key whose self-signed certificate the registry trusts (``x5c`` header,
``rootcertbundle``). It grants what is asked to known users, ``pull`` to anonymous users on
``public/`` repositories, and records every request it sees.

Images are pushed with dockyard's own ``RegistryClient`` (``push_image``, ``push_index``): the
registry verifies every digest, so what it serves is exactly what the fixtures describe.

pytest fixtures (import them into a ``conftest.py``):

- ``registry_with_fixtures`` (session): one registry serving every named fixture; see
  ``FixtureRegistry`` for its repositories and tags.
- ``registry`` (function): an empty registry without auth.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dockyard.oci.digest import Digest
from dockyard.oci.image_spec import Descriptor
from dockyard.registry import AuthConfig, Reference, RegistryClient, RegistryConfig
from dockyard.util import libc
from tests.support import oci_layouts
from tests.support.oci_layouts import ImageFixture, sha256

__all__ = [
    "DOCKER_REGISTRY",
    "FixtureRegistry",
    "RunningRegistry",
    "TlsFiles",
    "TokenServer",
    "free_port",
    "make_tls",
    "open_registry",
    "push_image",
    "push_index",
    "registry",
    "registry_with_fixtures",
]

DOCKER_REGISTRY = Path("/usr/bin/docker-registry")
SERVICE = "dyt-registry"
ISSUER = "dyt-token-issuer"
_START_TIMEOUT = 15.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _bcrypt(password: str) -> str:
    """An htpasswd bcrypt hash (the only kind distribution accepts), cost 4 to keep tests fast."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # crypt leaves the stdlib in 3.13
        import crypt

        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))


# --- the token server --------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """A bearer-token realm for the registry, on 127.0.0.1 (see the module docstring)."""

    def __init__(self, directory: Path, users: dict[str, str]) -> None:
        self.users = dict(users)
        self.refresh_tokens: dict[str, str] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.key = directory / "token.key"
        self.cert = directory / "token.crt"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", "/CN=dyt-token", "-keyout", str(self.key), "-out", str(self.cert)],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        pem = self.cert.read_text().split("-----")[2]
        self._x5c = "".join(pem.split())  # base64 of the DER certificate, as the header wants it
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.realm = f"http://127.0.0.1:{self.port}/token"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="dyt-token", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def sign(self, subject: str, access: list[dict[str, object]], lifetime: int = 300) -> str:
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self._x5c]}
        claims = {
            "iss": ISSUER,
            "sub": subject,
            "aud": SERVICE,
            "exp": now + lifetime,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", str(self.key)],
            input=signing_input.encode(), capture_output=True, check=True, timeout=30,
        ).stdout  # fmt: skip
        return f"{signing_input}.{_b64url(signature)}"

    def grant(self, user: str | None, scopes: list[str]) -> list[dict[str, object]]:
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            wanted = [a for a in actions.split(",") if a]
            allowed = wanted if user else [a for a in wanted if a == "pull" and name.startswith("public/")]
            if kind == "repository" and allowed:
                access.append({"type": "repository", "name": name, "actions": allowed})
        return access

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no 40 ms Nagle waits

            def _reply(self, status: int, doc: dict[str, object]) -> None:
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                server.requests.append(("GET", self.path, dict(self.headers)))
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                user = self._basic_user()
                if user == "":
                    self._reply(401, {"details": "incorrect username or password"})
                    return
                token = server.sign(user or "", server.grant(user, query.get("scope", [])))
                reply: dict[str, object] = {"token": token, "access_token": token, "expires_in": 300}
                if user and query.get("offline_token") == ["true"]:
                    refresh = secrets.token_hex(16)
                    server.refresh_tokens[refresh] = user
                    reply["refresh_token"] = refresh
                self._reply(200, reply)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                server.requests.append(("POST", self.path, dict(self.headers)))
                user = server.refresh_tokens.get(form.get("refresh_token", [""])[0])
                if form.get("grant_type") != ["refresh_token"] or user is None:
                    self._reply(401, {"details": "invalid refresh token"})
                    return
                scopes = form.get("scope", [""])[0].split()
                self._reply(
                    200, {"access_token": server.sign(user, server.grant(user, scopes)), "expires_in": 300}
                )

            def _basic_user(self) -> str | None:
                """None for anonymous, "" for wrong credentials, else the user."""
                header = self.headers.get("Authorization", "")
                if not header.startswith("Basic "):
                    return None
                name, _, password = base64.b64decode(header[6:]).decode().partition(":")
                return name if server.users.get(name) == password else ""

        return Handler


# --- TLS material ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TlsFiles:
    """A throwaway CA, a server certificate for 127.0.0.1 and localhost, and a client certificate."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def certs_dir(self, root: Path, host: str) -> Path:
        """Lay out ``root/<host>/`` as dockerd's certs.d wants it; returns ``root``."""
        directory = root / host
        directory.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.ca, directory / "ca.crt")
        shutil.copy(self.client_cert, directory / "client.cert")
        shutil.copy(self.client_key, directory / "client.key")
        return root


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_tls(directory: Path) -> TlsFiles:
    """Create the TLS material in ``directory`` with openssl (P-256 keys: fast to make)."""
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *ec, "-days", "1", "-subj", "/CN=dyt-ca", "-keyout", "ca.key", "-out", "ca.crt",
             cwd=directory)  # fmt: skip
    for name, usage, san in (
        ("server", "serverAuth", "IP:127.0.0.1,DNS:localhost"),
        ("client", "clientAuth", ""),
    ):
        _openssl("req", *ec, "-subj", f"/CN=dyt-{name}", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 cwd=directory)  # fmt: skip
        extensions = f"extendedKeyUsage={usage}\n" + (f"subjectAltName={san}\n" if san else "")
        (directory / f"{name}.ext").write_text(extensions)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-set_serial",
                 str(secrets.randbits(32)), "-days", "1", "-extfile", f"{name}.ext", "-out", f"{name}.crt",
                 cwd=directory)  # fmt: skip
    return TlsFiles(
        ca=directory / "ca.crt",
        server_cert=directory / "server.crt",
        server_key=directory / "server.key",
        client_cert=directory / "client.crt",
        client_key=directory / "client.key",
    )


# --- the registry process ----------------------------------------------------------------------


@dataclass
class RunningRegistry:
    """A started ``docker-registry``: where it listens and how to reach it."""

    host: str
    directory: Path
    auth: str | None = None
    users: dict[str, str] = field(default_factory=dict)
    token_server: TokenServer | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def ref(self, repository: str) -> Reference:
        """``repository`` (``library/alpine:latest``) on this registry."""
        return Reference.parse(f"{self.host}/{repository}")

    def credentials(self, user: str | None = None) -> AuthConfig:
        name = user or next(iter(self.users))
        return AuthConfig(username=name, password=self.users[name], server_address=self.host)

    def log(self) -> str:
        path = self.directory / "registry.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _config(
    directory: Path, port: int, auth: str | None, token: TokenServer | None, tls: TlsFiles | None
) -> dict[str, object]:
    config: dict[str, object] = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(directory / "data")}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}", "secret": secrets.token_hex(16)},
        "health": {"storagedriver": {"enabled": False}},
    }
    if tls is not None:  # clients must present a certificate signed by the same CA
        http = config["http"]
        assert isinstance(http, dict)
        http["tls"] = {
            "certificate": str(tls.server_cert),
            "key": str(tls.server_key),
            "clientcas": [str(tls.ca)],
        }
    if auth == "htpasswd":
        config["auth"] = {"htpasswd": {"realm": "dyt-realm", "path": str(directory / "htpasswd")}}
    elif auth == "token" and token is not None:
        config["auth"] = {
            "token": {
                "realm": token.realm,
                "service": SERVICE,
                "issuer": ISSUER,
                "rootcertbundle": str(token.cert),
            }
        }
    return config


def _wait_ready(registry: RunningRegistry, process: subprocess.Popen[bytes], *, tls: bool) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"docker-registry exited with {process.returncode}:\n{registry.log()}")
        if tls:  # a TLS registry wants client certificates; a TCP connect is enough of a sign
            try:
                socket.create_connection(
                    ("127.0.0.1", int(registry.host.rsplit(":", 1)[1])), timeout=1
                ).close()
                return
            except OSError:
                time.sleep(0.02)
                continue
        try:
            with urllib.request.urlopen(f"{registry.url}/v2/", timeout=1):
                return
        except urllib.error.HTTPError as exc:
            if exc.code == 401:
                return
        except OSError:
            pass
        time.sleep(0.02)
    raise RuntimeError(f"docker-registry did not answer on {registry.host}:\n{registry.log()}")


def _die_with_parent() -> None:
    # A test process killed with SIGKILL runs no finalizer; the registry must not outlive it
    # (prctl(2) PR_SET_PDEATHSIG).
    libc.prctl(libc.PR_SET_PDEATHSIG, signal.SIGKILL)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@contextmanager
def open_registry(
    *, auth: str | None = None, users: dict[str, str] | None = None, tls: TlsFiles | None = None
) -> Iterator[RunningRegistry]:
    """Run a registry for the ``with`` block: no auth, ``"htpasswd"`` or ``"token"``.

    ``users`` maps names to passwords (default ``{"dyt-user": <random>}`` when auth is on).
    With ``tls`` it serves HTTPS only, and only to clients with a certificate from ``tls.ca``.
    """
    if not DOCKER_REGISTRY.exists():
        raise RuntimeError(f"{DOCKER_REGISTRY} is missing: apt-get install docker-registry")
    directory = Path(tempfile.mkdtemp(prefix="dyt-registry-"))
    users = users if users is not None else ({"dyt-user": secrets.token_hex(8)} if auth else {})
    token = TokenServer(directory, users) if auth == "token" else None
    process = None
    try:
        if auth == "htpasswd":
            (directory / "htpasswd").write_text("".join(f"{u}:{_bcrypt(p)}\n" for u, p in users.items()))
        if token is not None:
            token.start()
        port = free_port()
        (directory / "config.yml").write_text(
            json.dumps(_config(directory, port, auth, token, tls))
        )  # JSON is YAML
        with open(directory / "registry.log", "wb") as log:
            process = subprocess.Popen(
                [str(DOCKER_REGISTRY), "serve", str(directory / "config.yml")],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
            )
        running = RunningRegistry(f"127.0.0.1:{port}", directory, auth, users, token, process)
        _wait_ready(running, process, tls=tls is not None)
        yield running
    finally:
        if process is not None:
            _stop(process)
        if token is not None:
            token.stop()
        shutil.rmtree(directory, ignore_errors=True)


# --- pushing fixtures --------------------------------------------------------------------------


async def _chunks(data: bytes, size: int = 1 << 20) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _client(config: RegistryConfig | None) -> RegistryClient:
    return RegistryClient(config or RegistryConfig(retry_backoff=0.05))


async def _push_blobs(
    client: RegistryClient, ref: Reference, image: ImageFixture, auth: AuthConfig | None
) -> None:
    media = {image.config_digest: oci_layouts.DOCKER_CONFIG}
    for digest, data in image.blobs().items():
        desc = Descriptor(
            media_type=media.get(digest, oci_layouts.DOCKER_LAYER),
            digest=Digest.parse(digest),
            size=len(data),
        )
        await client.push_blob(ref, desc, _chunks(data), auth=auth)


def push_image(
    registry: RunningRegistry,
    image: ImageFixture,
    repository: str | None = None,
    *,
    form: str = "docker",
    auth: AuthConfig | None = None,
    config: RegistryConfig | None = None,
) -> str:
    """Push ``image`` as ``repository`` (default ``<image.repo>:<image.tag>``); its manifest digest.

    ``form`` is ``docker`` (schema 2) or ``oci``; ``config`` configures the pushing client.
    """
    ref = registry.ref(repository or f"{image.repo}:{image.tag}")
    manifest = image.docker_manifest if form == "docker" else image.oci_manifest
    media_type = oci_layouts.DOCKER_MANIFEST if form == "docker" else oci_layouts.OCI_MANIFEST

    async def go() -> str:
        client = _client(config)
        try:
            await _push_blobs(client, ref, image, auth)
            return str(await client.push_manifest(ref, manifest, media_type, auth=auth))
        finally:
            await client.aclose()

    return asyncio.run(go())


def push_index(
    registry: RunningRegistry,
    images: list[ImageFixture],
    repository: str,
    *,
    docker: bool = True,
    auth: AuthConfig | None = None,
    config: RegistryConfig | None = None,
) -> str:
    """Push ``images`` by digest and an index (or manifest list) over them as ``repository``."""
    ref = registry.ref(repository)
    index = oci_layouts.index_for(images, docker=docker)

    async def go() -> str:
        client = _client(config)
        try:
            for image in images:
                await _push_blobs(client, ref, image, auth)
                manifest = image.docker_manifest if docker else image.oci_manifest
                media_type = oci_layouts.DOCKER_MANIFEST if docker else oci_layouts.OCI_MANIFEST
                await client.push_manifest(
                    ref.with_digest(Digest.parse(sha256(manifest))), manifest, media_type, auth=auth
                )
            media_type = oci_layouts.DOCKER_LIST if docker else oci_layouts.OCI_INDEX
            return str(await client.push_manifest(ref, index, media_type, auth=auth))
        finally:
            await client.aclose()

    return asyncio.run(go())


@dataclass
class FixtureRegistry:
    """The session registry and what it serves.

    ============================ ==================================================
    ``library/alpine:latest``    Docker manifest list: alpine amd64 + arm64/v8
    ``library/alpine:3.19``      OCI index over the same two
    ``library/alpine:amd64``     alpine's Docker schema 2 manifest alone
    ``library/alpine:oci``       alpine's OCI manifest alone
    ``library/busybox:latest``   Docker schema 2
    ``library/hello-world:latest`` OCI manifest
    ``dockyard/whiteouts:latest`` Docker schema 2, four layers with whiteouts
    ``dockyard/big:latest``      OCI manifest, the cold-pull benchmark image
    ============================ ==================================================

    ``digests`` maps each of those repository:tag strings to its manifest (or index) digest.
    """

    registry: RunningRegistry
    digests: dict[str, str] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return self.registry.host

    def ref(self, repository: str) -> Reference:
        return self.registry.ref(repository)

    def image(self, name: str) -> ImageFixture:
        return oci_layouts.fixture(name)


def _fill(registry: RunningRegistry) -> FixtureRegistry:
    served = FixtureRegistry(registry)
    alpine, arm = oci_layouts.fixture("alpine"), oci_layouts.fixture("alpine-arm64")
    served.digests["library/alpine:latest"] = push_index(registry, [alpine, arm], "library/alpine:latest")
    served.digests["library/alpine:3.19"] = push_index(
        registry, [alpine, arm], "library/alpine:3.19", docker=False
    )
    served.digests["library/alpine:amd64"] = push_image(registry, alpine, "library/alpine:amd64")
    served.digests["library/alpine:oci"] = push_image(registry, alpine, "library/alpine:oci", form="oci")
    for name, form in (
        ("busybox", "docker"),
        ("hello-world", "oci"),
        ("whiteouts", "docker"),
        ("big", "oci"),
    ):
        image = oci_layouts.fixture(name)
        served.digests[f"{image.repo}:{image.tag}"] = push_image(registry, image, form=form)
    return served


@pytest.fixture(scope="session")
def registry_with_fixtures() -> Iterator[FixtureRegistry]:
    """One registry for the whole session, serving every fixture image (see FixtureRegistry)."""
    with open_registry() as running:
        yield _fill(running)


@pytest.fixture
def registry() -> Iterator[RunningRegistry]:
    """An empty registry without auth, for one test."""
    with open_registry() as running:
        yield running
