"""The client's authentication against a fake registry: Basic, Bearer tokens, config fallback."""

from __future__ import annotations

import asyncio
import base64
import json
import urllib.parse
from pathlib import Path

import httpx
import pytest

from dockyard.registry import (
    AuthConfig,
    Reference,
    RegistryAuthError,
    RegistryClient,
    RegistryConfig,
    RegistryNotFound,
)
from tests.unit.registry.conftest import Image, client_for, run
from tests.unit.registry.fakeregistry import HOST, TOKEN_HOST, FakeRegistry

ALICE = AuthConfig(username="alice", password="secret")


def _pull(
    registry: FakeRegistry, config: RegistryConfig, ref: Reference, auth: AuthConfig | None = None
) -> bytes:
    async def go() -> bytes:
        client = client_for(registry, config)
        try:
            desc = await client.resolve(ref, auth=auth)
            return await client.fetch_manifest(ref, desc, auth=auth)
        finally:
            await client.aclose()

    return run(go())


def test_basic_auth_is_sent_when_challenged(registry: FakeRegistry, config: RegistryConfig) -> None:
    registry.auth = "basic"
    image = Image(registry)
    assert _pull(registry, config, image.ref, ALICE) == image.manifest
    expected = "Basic " + base64.b64encode(b"alice:secret").decode()
    assert registry.seen()[-1].headers["authorization"] == expected


def test_basic_challenge_without_credentials_says_no_basic_auth_credentials(
    registry: FakeRegistry, config: RegistryConfig
) -> None:
    registry.auth = "basic"
    image = Image(registry)
    with pytest.raises(RegistryAuthError) as info:
        _pull(registry, config, image.ref)
    assert (
        # dockerd 20.10 says exactly this: its first request for a tag is a HEAD.
        str(info.value) == f'Head "https://{HOST}/v2/library/app/manifests/latest": no basic auth credentials'
    )


def test_basic_auth_wrong_password_is_unauthorized(registry: FakeRegistry, config: RegistryConfig) -> None:
    registry.auth = "basic"
    image = Image(registry)
    with pytest.raises(RegistryAuthError) as info:
        _pull(registry, config, image.ref, AuthConfig(username="alice", password="wrong"))
    assert str(info.value) == "unauthorized: authentication required"


def test_bearer_token_for_the_pull_scope(registry: FakeRegistry, config: RegistryConfig) -> None:
    registry.auth = "bearer"
    image = Image(registry)
    assert _pull(registry, config, image.ref, ALICE) == image.manifest
    token_requests = registry.seen(TOKEN_HOST)
    assert len(token_requests) == 1
    query = httpx.URL(token_requests[0].url).params
    assert query.get_list("scope") == ["repository:library/app:pull"]
    assert query["service"] == HOST
    assert query["account"] == "alice"
    assert token_requests[0].headers["authorization"].startswith("Basic ")


def test_tokens_are_cached_and_fetched_once_for_concurrent_downloads(
    registry: FakeRegistry, config: RegistryConfig
) -> None:
    registry.auth = "bearer"
    image = Image(registry)

    async def go() -> None:
        client = client_for(registry, config)
        layers = image.parsed().layers

        async def fetch(i: int) -> bytes:
            return b"".join([c async for c in client.fetch_blob(image.ref, layers[i % 2], auth=ALICE)])

        results = await asyncio.gather(*(fetch(i) for i in range(6)))
        assert [len(r) for r in results] == [layers[i % 2].size for i in range(6)]
        await client.aclose()

    run(go())
    assert registry.issued == 1
    assert len(registry.seen(TOKEN_HOST)) == 1


def test_expired_tokens_are_fetched_again(registry: FakeRegistry, config: RegistryConfig) -> None:
    registry.auth = "bearer"
    registry.token_lifetime = 0  # the client still keeps it for the 60 s minimum, less its margin
    image = Image(registry)
    _pull(registry, config, image.ref, ALICE)
    assert registry.issued == 1


def test_anonymous_token_when_no_credentials(registry: FakeRegistry, config: RegistryConfig) -> None:
    registry.auth = "bearer"
    registry.anonymous_pull = True
    image = Image(registry)
    assert _pull(registry, config, image.ref) == image.manifest
    token_request = registry.seen(TOKEN_HOST)[0]
    assert "authorization" not in token_request.headers
    assert "account" not in httpx.URL(token_request.url).params


def test_insufficient_scope_is_pull_access_denied(registry: FakeRegistry, config: RegistryConfig) -> None:
    registry.auth = "bearer"
    image = Image(registry)
    with pytest.raises(RegistryNotFound) as info:
        _pull(registry, config, image.ref)
    assert str(info.value) == (
        f"pull access denied for {HOST}/library/app, repository does not exist or may require "
        "'docker login': denied: requested access to the resource is denied"
    )


def test_identity_token_is_an_oauth_refresh_token(registry: FakeRegistry, config: RegistryConfig) -> None:
    registry.auth = "bearer"
    image = Image(registry)
    assert _pull(registry, config, image.ref, AuthConfig(identity_token="refresh-1")) == image.manifest
    token_request = registry.seen(TOKEN_HOST)[0]
    assert token_request.method == "POST"
    form = urllib.parse.parse_qs(token_request.body.decode())
    assert form["grant_type"] == ["refresh_token"]
    assert form["refresh_token"] == ["refresh-1"]
    assert form["scope"] == ["repository:library/app:pull"]
    assert form["service"] == [HOST]


def test_registry_token_is_used_as_the_bearer(registry: FakeRegistry, config: RegistryConfig) -> None:
    registry.auth = "bearer"
    image = Image(registry)
    grant = base64.b64encode(json.dumps({"library/app": ["pull"]}).encode()).decode()
    assert _pull(registry, config, image.ref, AuthConfig(registry_token=grant)) == image.manifest
    assert not registry.seen(TOKEN_HOST)
    assert registry.seen(HOST)[-1].headers["authorization"] == f"Bearer {grant}"


def test_refused_token_request_has_the_realms_message(registry: FakeRegistry, config: RegistryConfig) -> None:
    registry.auth = "bearer"
    image = Image(registry)
    with pytest.raises(RegistryAuthError) as info:
        _pull(registry, config, image.ref, AuthConfig(username="alice", password="nope"))
    assert str(info.value) == "unauthorized: incorrect username or password"


def test_docker_config_credentials_are_the_fallback(
    registry: FakeRegistry, config: RegistryConfig, tmp_path: Path
) -> None:
    registry.auth = "basic"
    image = Image(registry)
    docker_config = tmp_path / "config.json"
    entry = {"auth": base64.b64encode(b"alice:secret").decode()}
    docker_config.write_text(json.dumps({"auths": {f"https://{HOST}": entry}, "credsStore": "evil-helper"}))
    with_config = RegistryConfig(retry_backoff=0.001, certs_dir=config.certs_dir, docker_config=docker_config)
    assert _pull(registry, with_config, image.ref) == image.manifest


def test_challenges_from_a_redirect_target_get_no_credentials(
    registry: FakeRegistry, config: RegistryConfig
) -> None:
    # CVE-2020-15157: a host we were redirected to answers 401 with its own realm.
    registry.auth = "basic"
    image = Image(registry)
    layer = image.parsed().layers[0]
    bait = "bait.test"

    def redirect(request: httpx.Request) -> httpx.Response | None:
        if request.url.host == HOST and request.url.path.endswith(f"/blobs/{layer.digest}"):
            return httpx.Response(307, headers={"Location": f"https://{bait}/x"})
        if request.url.host == bait:
            challenge = f'Bearer realm="https://{bait}/token",service="bait"'
            return httpx.Response(401, headers={"WWW-Authenticate": challenge})
        return None

    registry.faults.append(redirect)

    async def go() -> None:
        client = client_for(registry, config)
        try:
            async for _ in client.fetch_blob(image.ref, layer, auth=ALICE):
                pass
        finally:
            await client.aclose()

    with pytest.raises(RegistryAuthError):
        run(go())
    assert all("authorization" not in r.headers for r in registry.seen(bait))
    assert not [r for r in registry.seen(bait) if r.url.endswith("/token")]


def test_mirrors_are_tried_first_without_credentials(config: RegistryConfig) -> None:
    hub = FakeRegistry()
    image = Image(hub, repo="library/alpine")
    mirror_host = "mirror.test"

    def route(request: httpx.Request) -> httpx.Response | None:
        if request.url.host == "registry-1.docker.io":
            return hub.handle(
                httpx.Request(request.method, request.url.copy_with(host=HOST), headers=request.headers)
            )
        if request.url.host == mirror_host:  # a mirror that lacks the image
            return httpx.Response(
                404, json={"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]}
            )
        return None

    router = FakeRegistry(faults=[route])
    mirrored = RegistryConfig(
        retry_backoff=0.001, certs_dir=config.certs_dir, mirrors=(f"https://{mirror_host}",)
    )

    async def go() -> bytes:
        client = RegistryClient(mirrored, transport=router.transport())
        try:
            desc = await client.resolve(Reference.parse("alpine"), auth=ALICE)
            return await client.fetch_manifest(Reference.parse("alpine"), desc)
        finally:
            await client.aclose()

    assert run(go()) == image.manifest
    mirror_requests = router.seen(mirror_host)
    paths = [f"{r.method} {httpx.URL(r.url).path}" for r in mirror_requests]
    assert paths == [
        "GET /v2/",
        "HEAD /v2/library/alpine/manifests/latest",
        "GET /v2/library/alpine/manifests/latest",
    ]
    assert all("authorization" not in r.headers for r in mirror_requests)
