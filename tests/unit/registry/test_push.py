"""Pushing blobs and manifests, cross-repository mounts, and tag listing with pagination."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator

import httpx
import pytest

from dockyard.errors import InvalidArgument
from dockyard.oci import image_spec
from dockyard.oci.digest import Digest, DigestMismatch
from dockyard.oci.image_spec import Descriptor
from dockyard.registry import AuthConfig, Reference, RegistryConfig, RegistryFailure
from tests.unit.registry.conftest import Image, client_for, run
from tests.unit.registry.fakeregistry import HOST, FakeRegistry, sha256

ALICE = AuthConfig(username="alice", password="secret")


async def _chunks(data: bytes, size: int = 65536) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def _desc(data: bytes) -> Descriptor:
    return Descriptor(media_type=image_spec.OCI_LAYER_GZIP, digest=Digest.parse(sha256(data)), size=len(data))


def _push(
    registry: FakeRegistry, config: RegistryConfig, ref: Reference, data: bytes, **kwargs: object
) -> None:
    async def go() -> None:
        client = client_for(registry, config)
        try:
            await client.push_blob(ref, _desc(data), _chunks(data), **kwargs)  # type: ignore[arg-type]
        finally:
            await client.aclose()

    run(go())


def _methods(registry: FakeRegistry) -> list[str]:
    return [
        f"{r.method} {httpx.URL(r.url).path}" for r in registry.seen(HOST) if httpx.URL(r.url).path != "/v2/"
    ]


def test_small_blob_is_pushed_monolithically(registry: FakeRegistry, config: RegistryConfig) -> None:
    registry.auth = "bearer"
    data = os.urandom(1000)
    ref = Reference.parse(f"{HOST}/team/app:1")
    _push(registry, config, ref, data, auth=ALICE)
    assert registry.blobs[sha256(data)] == data
    assert _methods(registry) == [
        f"HEAD /v2/team/app/blobs/{sha256(data)}",
        "POST /v2/team/app/blobs/uploads/",
        "PUT /v2/team/app/blobs/uploads/u0",
    ]
    token_scopes = httpx.URL(registry.seen("auth.test")[0].url).params.get_list("scope")
    assert token_scopes == ["repository:team/app:pull,push"]


def test_large_blob_is_streamed_in_one_patch(registry: FakeRegistry, config: RegistryConfig) -> None:
    data = os.urandom(5 * 1024 * 1024 + 17)
    _push(registry, config, Reference.parse(f"{HOST}/team/app"), data)
    assert registry.blobs[sha256(data)] == data
    assert [m.split()[0] for m in _methods(registry)] == ["HEAD", "POST", "PATCH", "PUT"]
    put = registry.seen()[-1]
    assert httpx.URL(put.url).params["digest"] == sha256(data)
    assert httpx.URL(put.url).params["_state"] == "y", "the PUT goes to the Location the PATCH returned"


def test_existing_blob_is_not_uploaded(registry: FakeRegistry, config: RegistryConfig) -> None:
    data = b"already there"
    registry.add_blob("team/app", data)
    _push(registry, config, Reference.parse(f"{HOST}/team/app"), data)
    assert _methods(registry) == [f"HEAD /v2/team/app/blobs/{sha256(data)}"]


def test_cross_repository_mount(registry: FakeRegistry, config: RegistryConfig) -> None:
    data = b"shared layer"
    registry.add_blob("library/base", data)
    source = Reference.parse(f"{HOST}/library/base")
    _push(registry, config, Reference.parse(f"{HOST}/team/app"), data, mount_from=source)
    assert sha256(data) in registry.repo_blobs["team/app"]
    post = next(r for r in registry.seen() if r.method == "POST")
    assert httpx.URL(post.url).params["mount"] == sha256(data)
    assert httpx.URL(post.url).params["from"] == "library/base"
    assert not [r for r in registry.seen() if r.method in ("PATCH", "PUT")]


def test_mount_that_fails_falls_back_to_upload(registry: FakeRegistry, config: RegistryConfig) -> None:
    data = b"not in the source"
    source = Reference.parse(f"{HOST}/library/base")
    _push(registry, config, Reference.parse(f"{HOST}/team/app"), data, mount_from=source)
    assert registry.blobs[sha256(data)] == data


@pytest.mark.parametrize("size", [100, 5 * 1024 * 1024], ids=["monolithic", "streamed"])
def test_content_that_does_not_match_is_never_committed(
    registry: FakeRegistry, config: RegistryConfig, size: int
) -> None:
    data = os.urandom(size)
    desc = _desc(data)

    async def go() -> None:
        client = client_for(registry, config)
        try:
            await client.push_blob(Reference.parse(f"{HOST}/team/app"), desc, _chunks(b"Z" + data[1:]))
        finally:
            await client.aclose()

    with pytest.raises(DigestMismatch, match=str(desc.digest)):
        run(go())
    assert sha256(data) not in registry.blobs
    assert not [r for r in registry.seen() if r.method == "PUT"]


def test_push_manifest_returns_its_digest(registry: FakeRegistry, config: RegistryConfig) -> None:
    data = json.dumps({"schemaVersion": 2, "mediaType": image_spec.OCI_MANIFEST}).encode()

    async def go() -> Digest:
        client = client_for(registry, config)
        try:
            return await client.push_manifest(
                Reference.parse(f"{HOST}/team/app:v1"), data, image_spec.OCI_MANIFEST
            )
        finally:
            await client.aclose()

    digest = run(go())
    assert str(digest) == sha256(data)
    assert registry.manifests[("team/app", "v1")] == (data, image_spec.OCI_MANIFEST)
    assert registry.seen()[-1].headers["content-type"] == image_spec.OCI_MANIFEST


def test_push_manifest_needs_a_tag_or_the_right_digest(
    registry: FakeRegistry, config: RegistryConfig
) -> None:
    client = client_for(registry, config)
    with pytest.raises(InvalidArgument, match="needs a tag or a digest"):
        run(client.push_manifest(Reference.parse(f"{HOST}/team/app"), b"{}", image_spec.OCI_MANIFEST))
    wrong = Reference.parse(f"{HOST}/team/app@sha256:{'0' * 64}")
    with pytest.raises(DigestMismatch):
        run(client.push_manifest(wrong, b"{}", image_spec.OCI_MANIFEST))


@pytest.mark.parametrize("page_size", [0, 2], ids=["one-page", "paginated"])
def test_list_tags(registry: FakeRegistry, config: RegistryConfig, page_size: int) -> None:
    registry.page_size = page_size
    for tag in ("b", "a", "c", "d", "e"):
        Image(registry, tag=tag)
    tags = run(client_for(registry, config).list_tags(Reference.parse(f"{HOST}/library/app")))
    assert tags == ["a", "b", "c", "d", "e"]
    pages = [r for r in registry.seen() if "/tags/list" in r.url]
    assert len(pages) == (3 if page_size else 1)


def test_list_tags_of_unknown_repository(registry: FakeRegistry, config: RegistryConfig) -> None:
    # The fake answers a bare NAME_UNKNOWN (no detail): dockerd's pull -a says only the code, 500.
    with pytest.raises(RegistryFailure, match=r"^name unknown$"):
        run(client_for(registry, config).list_tags(Reference.parse(f"{HOST}/library/none")))


def test_list_tags_refuses_pagination_elsewhere(registry: FakeRegistry, config: RegistryConfig) -> None:
    Image(registry)

    def evil_link(request: httpx.Request) -> httpx.Response | None:
        if "/tags/list" in request.url.path:
            return httpx.Response(
                200, json={"tags": ["x"]}, headers={"Link": '</v2/other/tags/list?last=x>; rel="next"'}
            )
        return None

    registry.faults.append(evil_link)
    with pytest.raises(InvalidArgument, match="another path"):
        run(client_for(registry, config).list_tags(Reference.parse(f"{HOST}/library/app")))
