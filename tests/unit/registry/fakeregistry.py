"""An in-memory OCI distribution registry behind ``httpx.MockTransport``, for unit tests.

It speaks enough of the distribution API for the client's every path: ping, manifests (GET,
HEAD, PUT), blobs (GET with ``Range``, HEAD), uploads (POST, cross-repository mount, PATCH, PUT),
tag lists with ``Link`` pagination, and Basic or Bearer auth with a token realm on another host.
Faults are injected per test through ``faults`` (a list of callables that may answer instead of
the registry) and recorded ``requests`` let tests check what was sent where, headers included.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import urllib.parse
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import httpx

HOST = "registry.test"
TOKEN_HOST = "auth.test"
BASE = f"https://{HOST}"

Fault = Callable[[httpx.Request], httpx.Response | None]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Seen:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes = b""


@dataclass
class FakeRegistry:
    """The registry's state and behaviour; ``transport()`` wires it into a client."""

    auth: str | None = None  # None, "basic" or "bearer"
    users: dict[str, str] = field(default_factory=lambda: {"alice": "secret"})
    anonymous_pull: bool = False
    refresh_tokens: dict[str, str] = field(default_factory=lambda: {"refresh-1": "alice"})
    blobs: dict[str, bytes] = field(default_factory=dict)
    manifests: dict[tuple[str, str], tuple[bytes, str]] = field(default_factory=dict)
    repo_blobs: dict[str, set[str]] = field(default_factory=dict)
    uploads: dict[str, bytearray] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    requests: list[Seen] = field(default_factory=list)
    honour_range: bool = True
    page_size: int = 0
    token_lifetime: int = 300
    issued: int = 0

    # --- content ---------------------------------------------------------------------------

    def add_blob(self, repo: str, data: bytes) -> str:
        digest = sha256(data)
        self.blobs[digest] = data
        self.repo_blobs.setdefault(repo, set()).add(digest)
        return digest

    def add_manifest(self, repo: str, tag: str | None, data: bytes, media_type: str) -> str:
        digest = sha256(data)
        self.manifests[(repo, digest)] = (data, media_type)
        if tag is not None:
            self.manifests[(repo, tag)] = (data, media_type)
        return digest

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def seen(self, host: str | None = None) -> list[Seen]:
        return [r for r in self.requests if host is None or urllib.parse.urlsplit(r.url).hostname == host]

    # --- dispatch ---------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = request.content if isinstance(request.stream, httpx.ByteStream) else b"<stream>"
        self.requests.append(Seen(request.method, str(request.url), dict(request.headers), body))
        for fault in list(self.faults):
            answer = fault(request)
            if answer is not None:
                return answer
        if request.url.host == TOKEN_HOST:
            return self._token(request)
        if request.url.host != HOST:
            return httpx.Response(404)
        path = request.url.path
        if path == "/v2/":
            return self._challenge() if self.auth and not self._authorized(request, None, "pull") else _ok()
        match = re.fullmatch(r"/v2/(.+?)/(manifests|blobs|tags)/(.*)", path)
        if match is None:
            return _error(404, "NAME_UNKNOWN", "repository name not known to registry")
        repo, kind, rest = match.groups()
        action = "pull" if request.method in ("GET", "HEAD") else "push"
        if self.auth and not self._authorized(request, repo, action):
            return self._challenge(repo, action, request)
        if kind == "manifests":
            return self._manifest(request, repo, rest)
        if kind == "tags":
            return self._tags(request, repo)
        if rest.startswith("uploads/"):
            return self._upload(request, repo, rest.removeprefix("uploads/"))
        return self._blob(request, repo, rest)

    # --- auth -------------------------------------------------------------------------------

    def _challenge(
        self, repo: str | None = None, action: str = "pull", request: httpx.Request | None = None
    ) -> httpx.Response:
        if self.auth == "basic":
            value = 'Basic realm="fake"'
        else:
            value = f'Bearer realm="https://{TOKEN_HOST}/token",service="{HOST}"'
            if repo is not None:
                value += f',scope="repository:{repo}:{action}"'
                if request is not None and request.headers.get("authorization", "").startswith("Bearer "):
                    value += ',error="insufficient_scope"'
        # distribution sends the access records it wanted as the detail
        detail = [{"Type": "repository", "Name": repo, "Action": action}] if repo else None
        return _error(401, "UNAUTHORIZED", "authentication required", {"WWW-Authenticate": value}, detail)

    def _authorized(self, request: httpx.Request, repo: str | None, action: str) -> bool:
        header = request.headers.get("authorization", "")
        if self.auth == "basic":
            if not header.startswith("Basic "):
                return False
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            return self.users.get(user) == password
        if not header.startswith("Bearer "):
            return False
        try:
            grants = json.loads(base64.b64decode(header[7:]))
        except ValueError:
            return False
        if repo is None:
            return True
        return action in grants.get(repo, [])

    def _token(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            form = urllib.parse.parse_qs(request.content.decode())
            user = self.refresh_tokens.get(form.get("refresh_token", [""])[0])
            scopes = form.get("scope", [""])[0].split()
        else:
            user = None
            header = request.headers.get("authorization", "")
            if header.startswith("Basic "):
                name, _, password = base64.b64decode(header[6:]).decode().partition(":")
                if self.users.get(name) != password:
                    return httpx.Response(401, json={"details": "incorrect username or password"})
                user = name
            scopes = request.url.params.get_list("scope")
        if request.method == "POST" and user is None:
            return httpx.Response(401, json={"details": "invalid refresh token"})
        grants: dict[str, list[str]] = {}
        for scope in scopes:
            _, repo, actions = scope.split(":")
            allowed = actions.split(",") if user else (["pull"] if self.anonymous_pull else [])
            grants[repo] = [a for a in actions.split(",") if a in allowed]
        self.issued += 1
        token = base64.b64encode(json.dumps(grants).encode()).decode()
        key = "access_token" if request.method == "POST" else "token"
        return httpx.Response(200, json={key: token, "expires_in": self.token_lifetime})

    # --- content endpoints --------------------------------------------------------------------

    def _manifest(self, request: httpx.Request, repo: str, ref: str) -> httpx.Response:
        if request.method == "PUT":
            data = request.content
            digest = self.add_manifest(
                repo, None if ref.startswith("sha256:") else ref, data, request.headers["content-type"]
            )
            return httpx.Response(
                201, headers={"Docker-Content-Digest": digest, "Location": request.url.path}
            )
        found = self.manifests.get((repo, ref))
        if found is None:
            return _error(404, "MANIFEST_UNKNOWN", "manifest unknown", detail={"Tag": ref})
        data, media_type = found
        headers = {"Content-Type": media_type, "Docker-Content-Digest": sha256(data)}
        body = b"" if request.method == "HEAD" else data
        return httpx.Response(200, headers=headers | {"Content-Length": str(len(data))}, content=body)

    def _blob(self, request: httpx.Request, repo: str, digest: str) -> httpx.Response:
        data = self.blobs.get(digest)
        if data is None or digest not in self.repo_blobs.get(repo, set()):
            return _error(404, "BLOB_UNKNOWN", "blob unknown to registry", detail=digest)
        if request.method == "HEAD":
            return httpx.Response(200, headers={"Content-Length": str(len(data))})
        wanted = request.headers.get("range")
        if wanted and self.honour_range:
            start = int(wanted.removeprefix("bytes=").rstrip("-"))
            headers = {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"}
            return httpx.Response(206, headers=headers, content=data[start:])
        return httpx.Response(200, content=data)

    def _upload(self, request: httpx.Request, repo: str, session: str) -> httpx.Response:
        if request.method == "POST":
            mount, source = request.url.params.get("mount"), request.url.params.get("from")
            if mount and source and mount in self.repo_blobs.get(source, set()):
                self.repo_blobs.setdefault(repo, set()).add(mount)
                return httpx.Response(201, headers={"Location": f"/v2/{repo}/blobs/{mount}"})
            name = f"u{len(self.uploads)}"
            self.uploads[name] = bytearray()
            return httpx.Response(202, headers={"Location": f"/v2/{repo}/blobs/uploads/{name}?_state=x"})
        buffer = self.uploads.get(session)
        if buffer is None:
            return _error(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry")
        buffer += request.content
        if request.method == "PATCH":
            return httpx.Response(202, headers={"Location": f"/v2/{repo}/blobs/uploads/{session}?_state=y"})
        digest = request.url.params["digest"]
        if sha256(bytes(buffer)) != digest:
            return _error(400, "DIGEST_INVALID", "provided digest did not match uploaded content")
        self.add_blob(repo, bytes(buffer))
        return httpx.Response(201, headers={"Docker-Content-Digest": digest})

    def _tags(self, request: httpx.Request, repo: str) -> httpx.Response:
        tags = sorted({ref for (r, ref) in self.manifests if r == repo and not ref.startswith("sha256:")})
        if not tags:
            return _error(404, "NAME_UNKNOWN", "repository name not known to registry")
        if not self.page_size:
            return httpx.Response(200, json={"name": repo, "tags": tags})
        last = request.url.params.get("last")
        rest = [t for t in tags if last is None or t > last]
        page = rest[: self.page_size]
        headers = {}
        if len(rest) > self.page_size:
            query = urllib.parse.urlencode({"n": self.page_size, "last": page[-1]})
            headers["Link"] = f'</v2/{repo}/tags/list?{query}>; rel="next"'
        return httpx.Response(200, json={"name": repo, "tags": page}, headers=headers)


def _ok() -> httpx.Response:
    return httpx.Response(200, json={})


def _error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, detail: object = None
) -> httpx.Response:
    body = {"errors": [{"code": code, "message": message, "detail": detail}]}
    return httpx.Response(status, json=body, headers=headers)


class BrokenStream(httpx.AsyncByteStream):
    """A body that sends ``data[:cut]`` and then fails like a dropped connection."""

    def __init__(self, data: bytes, cut: int) -> None:
        self.data = data
        self.cut = cut

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.data[: self.cut]
        raise httpx.ReadError("connection reset by peer")
