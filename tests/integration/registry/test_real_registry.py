"""The client against Debian's docker-registry: pulls, platforms, tags, pushes, auth, Docker's errors."""

from __future__ import annotations

import asyncio
import base64
import json
import urllib.request
from typing import Any

import pytest

from dockyard.errors import NotFound
from dockyard.oci import image_spec
from dockyard.oci.digest import Digest
from dockyard.oci.image_spec import Descriptor, Platform
from dockyard.registry import (
    AuthConfig,
    Reference,
    RegistryAuthError,
    RegistryClient,
    RegistryConfig,
    RegistryUnavailable,
)
from tests.integration.registry.conftest import with_client
from tests.support import oci_layouts
from tests.support.evil_registry import refused_host
from tests.support.registry import FixtureRegistry, RunningRegistry, open_registry, push_image

AMD64 = Platform.parse("linux/amd64")


async def _pull(client: RegistryClient, ref: Reference, platform: Platform = AMD64) -> dict[str, Any]:
    """What a pull fetches: the manifest (through the index if any), config and layers."""
    top = await client.resolve(ref)
    body = await client.fetch_manifest(ref, top)
    parsed = image_spec.parse_manifest_or_index(body, top.media_type)
    if isinstance(parsed, image_spec.Index):
        chosen = image_spec.select_platform(parsed, platform)
        parsed = image_spec.parse_manifest_or_index(
            await client.fetch_manifest(ref, chosen), chosen.media_type
        )
    assert isinstance(parsed, image_spec.Manifest)

    async def blob(desc: Descriptor) -> bytes:
        return b"".join([chunk async for chunk in client.fetch_blob(ref, desc)])

    blobs = await asyncio.gather(*(blob(d) for d in (parsed.config, *parsed.layers)))
    return {"top": top, "manifest": parsed, "config": blobs[0], "layers": blobs[1:]}


async def _pull_with(client: RegistryClient, ref: Reference, auth: AuthConfig) -> bytes:
    """Resolve, read the manifest and its config, with credentials: the config bytes."""
    desc = await client.resolve(ref, auth=auth)
    manifest = image_spec.parse_manifest_or_index(
        await client.fetch_manifest(ref, desc, auth=auth), desc.media_type
    )
    assert isinstance(manifest, image_spec.Manifest)
    return b"".join([chunk async for chunk in client.fetch_blob(ref, manifest.config, auth=auth)])


FIXTURE_TAGS = [
    ("library/alpine:latest", "alpine"),
    ("library/alpine:3.19", "alpine"),
    ("library/alpine:amd64", "alpine"),
    ("library/alpine:oci", "alpine"),
    ("library/busybox:latest", "busybox"),
    ("library/hello-world:latest", "hello-world"),
    ("dockyard/whiteouts:latest", "whiteouts"),
    ("dockyard/big:latest", "big"),
]


@pytest.mark.parametrize(("repository", "name"), FIXTURE_TAGS, ids=[t[0] for t in FIXTURE_TAGS])
def test_every_fixture_pulls_byte_for_byte(
    registry_with_fixtures: FixtureRegistry, repository: str, name: str
) -> None:
    image = oci_layouts.fixture(name)
    pulled = with_client(lambda client: _pull(client, registry_with_fixtures.ref(repository)))
    assert str(pulled["top"].digest) == registry_with_fixtures.digests[repository]
    assert pulled["config"] == image.config
    assert pulled["layers"] == [layer.blob for layer in image.layers]


def test_platform_selection_from_the_manifest_list(registry_with_fixtures: FixtureRegistry) -> None:
    ref = registry_with_fixtures.ref("library/alpine:latest")
    pulled = with_client(lambda client: _pull(client, ref, Platform.parse("linux/arm64/v8")))
    config = image_spec.parse_image_config(pulled["config"])
    assert (config.architecture, config.variant) == ("arm64", "v8")
    assert pulled["top"].media_type == image_spec.DOCKER_LIST


def test_no_matching_platform_has_dockers_message(registry_with_fixtures: FixtureRegistry) -> None:
    ref = registry_with_fixtures.ref("library/alpine:3.19")
    with pytest.raises(NotFound, match="no matching manifest for linux/s390x in the manifest list entries"):
        with_client(lambda client: _pull(client, ref, Platform.parse("linux/s390x")))


def test_list_tags(registry_with_fixtures: FixtureRegistry) -> None:
    tags = with_client(lambda client: client.list_tags(registry_with_fixtures.ref("library/alpine")))
    assert sorted(tags) == ["3.19", "amd64", "latest", "oci"]


def test_unknown_tag_has_dockers_message(registry_with_fixtures: FixtureRegistry) -> None:
    ref = registry_with_fixtures.ref("library/alpine:nope")
    with pytest.raises(NotFound) as info:
        with_client(lambda client: client.resolve(ref))
    host = registry_with_fixtures.host
    assert (
        str(info.value)
        == f"manifest for {host}/library/alpine:nope not found: manifest unknown: manifest unknown"
    )


def test_unknown_repository_has_dockers_message(registry_with_fixtures: FixtureRegistry) -> None:
    ref = registry_with_fixtures.ref("x")
    with pytest.raises(NotFound) as info:
        with_client(lambda client: client.resolve(ref))
    host = registry_with_fixtures.host
    # What dockerd 20.10 prints for the same pull from the same registry.
    assert str(info.value) == f"manifest for {host}/x:latest not found: manifest unknown: manifest unknown"


def test_connection_refused_has_dockers_message() -> None:
    host = refused_host()
    config = RegistryConfig(retry_backoff=0.01, max_attempts=2)
    with pytest.raises(RegistryUnavailable) as info:
        with_client(lambda client: client.resolve(Reference.parse(f"{host}/x")), config=config)
    assert str(info.value) == f'Get "http://{host}/v2/": dial tcp {host}: connect: connection refused'


def test_push_with_cross_repository_mount(registry: RunningRegistry) -> None:
    alpine = oci_layouts.fixture("alpine")
    push_image(registry, alpine, "library/alpine:latest")
    layer = alpine.layers[0]
    desc = Descriptor(
        media_type=oci_layouts.DOCKER_LAYER, digest=Digest.parse(layer.digest), size=len(layer.blob)
    )
    target = registry.ref("team/app:1")

    async def nothing() -> Any:
        raise AssertionError("a mounted blob is not uploaded")
        yield b""  # pragma: no cover

    async def mount_and_read(client: RegistryClient) -> bytes:
        await client.push_blob(target, desc, nothing(), mount_from=registry.ref("library/alpine"))
        return b"".join([chunk async for chunk in client.fetch_blob(target, desc)])

    assert with_client(mount_and_read) == layer.blob


def test_pushed_manifest_round_trips(registry: RunningRegistry) -> None:
    image = oci_layouts.fixture("hello-world")
    digest = push_image(registry, image, "demo/hello:v1", form="oci")
    desc = with_client(lambda client: client.resolve(registry.ref("demo/hello:v1")))
    assert str(desc.digest) == digest
    assert desc.media_type == image_spec.OCI_MANIFEST


# --- authentication ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def basic_registry() -> Any:
    with open_registry(auth="htpasswd") as running:
        push_image(
            running, oci_layouts.fixture("busybox"), "private/busybox:latest", auth=running.credentials()
        )
        yield running


def test_htpasswd_pull_with_credentials(basic_registry: RunningRegistry) -> None:
    ref = basic_registry.ref("private/busybox:latest")
    auth = basic_registry.credentials()
    desc = with_client(lambda client: client.resolve(ref, auth=auth))
    assert str(desc.digest) == oci_layouts.fixture("busybox").manifest_digest


def test_htpasswd_without_credentials(basic_registry: RunningRegistry) -> None:
    ref = basic_registry.ref("private/busybox:latest")
    with pytest.raises(RegistryAuthError) as info:  # HTTP 500, never 401 (docker would log in)
        with_client(lambda client: client.resolve(ref))
    url = f"http://{basic_registry.host}/v2/private/busybox/manifests/latest"
    assert str(info.value) == f'Head "{url}": no basic auth credentials'  # dockerd 20.10's words


def test_htpasswd_wrong_password(basic_registry: RunningRegistry) -> None:
    ref = basic_registry.ref("private/busybox:latest")
    auth = AuthConfig(username="dyt-user", password="wrong")
    with pytest.raises(RegistryAuthError) as info:
        with_client(lambda client: client.resolve(ref, auth=auth))
    assert str(info.value) == "unauthorized: authentication required"


def test_docker_config_json_credentials(basic_registry: RunningRegistry, tmp_path: Any) -> None:
    user, password = next(iter(basic_registry.users.items()))
    entry = {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
    (tmp_path / "config.json").write_text(json.dumps({"auths": {basic_registry.host: entry}}))
    config = RegistryConfig(retry_backoff=0.01, docker_config=tmp_path / "config.json")
    desc = with_client(lambda client: client.resolve(basic_registry.ref("private/busybox")), config=config)
    assert desc.media_type == image_spec.DOCKER_MANIFEST


@pytest.fixture(scope="module")
def token_registry() -> Any:
    with open_registry(auth="token") as running:
        push_image(
            running, oci_layouts.fixture("busybox"), "private/busybox:latest", auth=running.credentials()
        )
        push_image(
            running, oci_layouts.fixture("busybox"), "public/busybox:latest", auth=running.credentials()
        )
        yield running


def test_token_auth_pull_with_credentials(token_registry: RunningRegistry) -> None:
    ref = token_registry.ref("private/busybox:latest")
    auth = token_registry.credentials()
    pulled = with_client(lambda client: _pull_with(client, ref, auth))
    assert pulled == oci_layouts.fixture("busybox").config


def test_token_auth_anonymous_pull_of_public_repository(token_registry: RunningRegistry) -> None:
    pulled = with_client(lambda client: _pull(client, token_registry.ref("public/busybox")))
    assert pulled["config"] == oci_layouts.fixture("busybox").config


def test_token_auth_private_repository_is_pull_access_denied(token_registry: RunningRegistry) -> None:
    ref = token_registry.ref("private/busybox")
    with pytest.raises(NotFound) as info:
        with_client(lambda client: client.resolve(ref))
    assert str(info.value) == (
        f"pull access denied for {token_registry.host}/private/busybox, repository does not exist or may "
        "require 'docker login': denied: requested access to the resource is denied"
    )


def test_token_auth_with_an_identity_token(token_registry: RunningRegistry) -> None:
    assert token_registry.token_server is not None
    user, password = next(iter(token_registry.users.items()))
    request = urllib.request.Request(f"{token_registry.token_server.realm}?service=x&offline_token=true")
    request.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    with urllib.request.urlopen(request, timeout=10) as answer:
        refresh = json.load(answer)["refresh_token"]
    ref = token_registry.ref("private/busybox")
    desc = with_client(lambda client: client.resolve(ref, auth=AuthConfig(identity_token=refresh)))
    assert str(desc.digest) == oci_layouts.fixture("busybox").manifest_digest
    assert token_registry.token_server.requests[-1][0] == "POST"
