"""RegistryClient pulls against a fake registry: resolve, manifests, blobs, and every tamper."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from dockyard.errors import InvalidArgument
from dockyard.oci import image_spec
from dockyard.oci.digest import Digest, DigestMismatch, Verifier
from dockyard.oci.image_spec import Descriptor
from dockyard.registry import Reference, RegistryClient, RegistryConfig, RegistryNotFound, VerificationFailed
from tests.unit.registry.conftest import Image, client_for, run
from tests.unit.registry.fakeregistry import HOST, BrokenStream, FakeRegistry, sha256


async def _collect(client: RegistryClient, ref: Reference, desc: Descriptor, **kwargs: Any) -> bytes:
    out = bytearray()
    async for chunk in client.fetch_blob(ref, desc, **kwargs):
        out += chunk
    return bytes(out)


def _fetch_all(registry: FakeRegistry, config: RegistryConfig, ref: Reference, desc: Descriptor) -> bytes:
    async def go() -> bytes:
        client = client_for(registry, config)
        try:
            return await _collect(client, ref, desc)
        finally:
            await client.aclose()

    return run(go())


def test_resolve_by_tag_gives_the_manifest_descriptor(registry: FakeRegistry, config: RegistryConfig) -> None:
    image = Image(registry)

    async def go() -> tuple[Descriptor, bytes]:
        client = client_for(registry, config)
        desc = await client.resolve(image.ref)
        body = await client.fetch_manifest(image.ref, desc)
        await client.aclose()
        return desc, body

    desc, body = run(go())
    assert desc.media_type == image_spec.DOCKER_MANIFEST
    assert str(desc.digest) == image.manifest_digest
    assert desc.size == len(image.manifest)
    assert body == image.manifest
    requests = [(r.method, httpx.URL(r.url).path) for r in registry.seen() if "/manifests/" in r.url]
    # distribution's client does the same: HEAD the tag, then GET the digest it names.
    assert requests == [
        ("HEAD", "/v2/library/app/manifests/latest"),
        ("GET", f"/v2/library/app/manifests/{image.manifest_digest}"),
    ]
    assert all(image_spec.OCI_INDEX in r.headers["accept"] for r in registry.seen() if "/manifests/" in r.url)


def test_resolve_reads_the_body_when_head_says_too_little(
    registry: FakeRegistry, config: RegistryConfig
) -> None:
    image = Image(registry)
    registry.faults.append(
        lambda request: httpx.Response(200, content=b"") if request.method == "HEAD" else None
    )

    async def go() -> bytes:
        client = client_for(registry, config)
        desc = await client.resolve(image.ref)
        body = await client.fetch_manifest(image.ref, desc)
        await client.aclose()
        return body

    assert run(go()) == image.manifest
    gets = [r for r in registry.seen() if r.method == "GET" and "/manifests/" in r.url]
    assert len(gets) == 1, "the GET that resolved the tag also served fetch_manifest"


def test_resolve_defaults_to_latest_and_accepts_digests(
    registry: FakeRegistry, config: RegistryConfig
) -> None:
    image = Image(registry)
    bare = Reference.parse(f"{HOST}/library/app")
    pinned = Reference.parse(f"{HOST}/library/app@{image.manifest_digest}")

    async def go() -> list[Descriptor]:
        client = client_for(registry, config)
        found = [await client.resolve(bare), await client.resolve(pinned)]
        await client.aclose()
        return found

    assert {str(d.digest) for d in run(go())} == {image.manifest_digest}
    assert any(r.url.endswith(f"/manifests/{image.manifest_digest}") for r in registry.seen())


def test_resolve_unknown_tag_has_dockers_message(registry: FakeRegistry, config: RegistryConfig) -> None:
    Image(registry)
    ref = Reference.parse(f"{HOST}/library/app:nope")
    with pytest.raises(RegistryNotFound) as info:
        run(client_for(registry, config).resolve(ref))
    assert (
        str(info.value)
        == f"manifest for {HOST}/library/app:nope not found: manifest unknown: manifest unknown"
    )


def test_resolve_refuses_bytes_that_differ_from_the_announced_digest(
    registry: FakeRegistry, config: RegistryConfig
) -> None:
    image = Image(registry)
    altered = image.manifest.replace(b'"schemaVersion": 2', b'"schemaVersion":  2')

    def serve_altered(request: httpx.Request) -> httpx.Response | None:
        if "/manifests/" in request.url.path:
            headers = {
                "Content-Type": image_spec.DOCKER_MANIFEST,
                "Docker-Content-Digest": image.manifest_digest,
            }
            return httpx.Response(200, headers=headers, content=altered)
        return None

    registry.faults.append(serve_altered)

    async def go() -> bytes:
        client = client_for(registry, config)
        try:
            return await client.fetch_manifest(image.ref, await client.resolve(image.ref))
        finally:
            await client.aclose()

    with pytest.raises(DigestMismatch) as info:
        run(go())
    assert str(info.value) == f"manifest verification failed for digest {image.manifest_digest}"


def test_resolve_by_get_refuses_bytes_that_differ_from_the_announced_digest(
    registry: FakeRegistry, config: RegistryConfig
) -> None:
    image = Image(registry)
    headers = {"Content-Type": image_spec.DOCKER_MANIFEST, "Docker-Content-Digest": image.manifest_digest}

    def serve(request: httpx.Request) -> httpx.Response | None:
        if request.method == "HEAD":
            return httpx.Response(405)
        if "/manifests/" in request.url.path:
            return httpx.Response(200, headers=headers, content=image.manifest + b" ")
        return None

    registry.faults.append(serve)
    with pytest.raises(VerificationFailed) as info:
        run(client_for(registry, config).resolve(image.ref))
    assert str(info.value) == f"manifest verification failed for digest {image.manifest_digest}"


def test_resolve_by_digest_refuses_other_bytes(registry: FakeRegistry, config: RegistryConfig) -> None:
    image = Image(registry)
    other = Image(registry, tag="other")
    registry.manifests[("library/app", image.manifest_digest)] = (
        other.manifest + b" ",
        image_spec.DOCKER_MANIFEST,
    )
    ref = Reference.parse(f"{HOST}/library/app@{image.manifest_digest}")
    with pytest.raises(VerificationFailed) as info:
        run(client_for(registry, config).resolve(ref))
    assert str(info.value) == f"manifest verification failed for digest {image.manifest_digest}"  # moby's


def test_resolve_refuses_schema1(registry: FakeRegistry, config: RegistryConfig) -> None:
    registry.add_manifest("library/old", "latest", b'{"schemaVersion":1}', image_spec.DOCKER_SCHEMA1_SIGNED)
    with pytest.raises(Exception, match="schema 1 has been removed"):
        run(client_for(registry, config).resolve(Reference.parse(f"{HOST}/library/old")))


def test_resolve_with_generic_content_type_reads_the_body(
    registry: FakeRegistry, config: RegistryConfig
) -> None:
    index = {"schemaVersion": 2, "mediaType": image_spec.OCI_INDEX, "manifests": []}
    registry.add_manifest("library/idx", "latest", json.dumps(index).encode(), "application/json")
    desc = run(client_for(registry, config).resolve(Reference.parse(f"{HOST}/library/idx")))
    assert desc.media_type == image_spec.OCI_INDEX


def test_fetch_manifest_verifies_digest_and_size(registry: FakeRegistry, config: RegistryConfig) -> None:
    image = Image(registry)
    wrong = Descriptor(media_type=image_spec.DOCKER_MANIFEST, digest=Digest.parse(sha256(b"x")), size=1)
    registry.manifests[("library/app", str(wrong.digest))] = (b"y", image_spec.DOCKER_MANIFEST)
    with pytest.raises(VerificationFailed, match=f"^manifest verification failed for digest {wrong.digest}$"):
        run(client_for(registry, config).fetch_manifest(image.ref, wrong))
    too_big = Descriptor(media_type=image_spec.DOCKER_MANIFEST, digest=wrong.digest, size=5 * 1024 * 1024)
    with pytest.raises(Exception, match="over the 4 MiB limit"):
        run(client_for(registry, config).fetch_manifest(image.ref, too_big))


def test_fetch_blob_streams_verified_bytes(registry: FakeRegistry, config: RegistryConfig) -> None:
    image = Image(registry)
    layers = image.parsed().layers
    assert _fetch_all(registry, config, image.ref, layers[1]) == image.layers[1]


def _tamper(registry: FakeRegistry, digest: str, make: Callable[[], httpx.Response]) -> None:
    def fault(request: httpx.Request) -> httpx.Response | None:
        if request.url.path.endswith(f"/blobs/{digest}") and request.method == "GET":
            return make()
        return None

    registry.faults.append(fault)


TAMPERS = {
    "altered": lambda data: httpx.Response(200, content=b"X" + data[1:]),
    "truncated": lambda data: httpx.Response(200, content=data[:-10]),
    "one-byte-longer": lambda data: httpx.Response(200, content=data + b"!"),
    "wrong-content-length": lambda data: httpx.Response(
        200, headers={"Content-Length": "7"}, content=data[:7]
    ),
    "longer-unframed": lambda data: httpx.Response(200, content=BrokenStreamless(data + b"!")),
    "truncated-unframed": lambda data: httpx.Response(200, content=BrokenStreamless(data[:-1])),
}


class BrokenStreamless(httpx.AsyncByteStream):
    """A body without Content-Length (chunked), so only counting can catch a wrong size."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for i in range(0, len(self.data), 1000):
            yield self.data[i : i + 1000]


@pytest.mark.parametrize("tamper", sorted(TAMPERS))
def test_tampered_blobs_are_refused_naming_the_expected_digest(
    registry: FakeRegistry, config: RegistryConfig, tamper: str
) -> None:
    image = Image(registry)
    layer = image.parsed().layers[1]
    _tamper(registry, str(layer.digest), lambda: TAMPERS[tamper](image.layers[1]))
    received = bytearray()

    async def go() -> None:
        client = client_for(registry, config)
        try:
            async for chunk in client.fetch_blob(image.ref, layer):
                received.extend(chunk)
        finally:
            await client.aclose()

    with pytest.raises(DigestMismatch) as info:
        run(go())
    assert str(layer.digest) in str(info.value)
    assert len(received) <= layer.size, "never more bytes than the descriptor declares"


def test_fetch_blob_resumes_with_range_after_a_broken_connection(
    registry: FakeRegistry, config: RegistryConfig
) -> None:
    image = Image(registry)
    layer = image.parsed().layers[1]
    data = image.layers[1]
    broken: list[bool] = []

    def drop_once(request: httpx.Request) -> httpx.Response | None:
        if request.url.path.endswith(f"/blobs/{layer.digest}") and not broken:
            broken.append(True)
            return httpx.Response(
                200, headers={"Content-Length": str(len(data))}, stream=BrokenStream(data, 5000)
            )
        return None

    registry.faults.append(drop_once)
    assert _fetch_all(registry, config, image.ref, layer) == data
    blob_gets = [r for r in registry.seen() if r.url.endswith(str(layer.digest))]
    assert [r.headers.get("range") for r in blob_gets] == [None, "bytes=5000-"]


def test_fetch_blob_resume_skips_forward_when_range_is_ignored(
    registry: FakeRegistry, config: RegistryConfig
) -> None:
    image = Image(registry)
    layer = image.parsed().layers[1]
    data = image.layers[1]
    registry.honour_range = False
    broken: list[bool] = []

    def drop_once(request: httpx.Request) -> httpx.Response | None:
        if request.url.path.endswith(f"/blobs/{layer.digest}") and not broken:
            broken.append(True)
            return httpx.Response(200, stream=BrokenStream(data, 4321))
        return None

    registry.faults.append(drop_once)
    assert _fetch_all(registry, config, image.ref, layer) == data


def test_fetch_blob_from_an_offset_with_a_primed_verifier(
    registry: FakeRegistry, config: RegistryConfig
) -> None:
    image = Image(registry)
    layer = image.parsed().layers[0]
    verifier = Verifier(layer.digest, layer.size)
    verifier.update(image.layers[0][:100])

    async def go() -> bytes:
        client = client_for(registry, config)
        data = await _collect(client, image.ref, layer, offset=100, verifier=verifier)
        await client.aclose()
        return data

    assert run(go()) == image.layers[0][100:]


def test_unknown_blob_is_not_found(registry: FakeRegistry, config: RegistryConfig) -> None:
    image = Image(registry)
    missing = Descriptor(media_type=image_spec.DOCKER_LAYER, digest=Digest.parse(sha256(b"none")), size=4)
    with pytest.raises(RegistryNotFound, match="blob unknown: blob unknown to registry"):
        _fetch_all(registry, config, image.ref, missing)


def test_foreign_layer_urls_are_not_followed(registry: FakeRegistry, config: RegistryConfig) -> None:
    image = Image(registry)
    layer = image.parsed().layers[0]
    foreign = Descriptor(
        media_type=image_spec.DOCKER_FOREIGN_LAYER,
        digest=layer.digest,
        size=layer.size,
        urls=("https://foreign.test/layer",),
    )
    assert _fetch_all(registry, config, image.ref, foreign) == image.layers[0]
    assert not registry.seen("foreign.test")


def test_blob_redirect_to_another_host_drops_authorization(
    registry: FakeRegistry, config: RegistryConfig
) -> None:
    registry.auth = "basic"
    image = Image(registry)
    layer = image.parsed().layers[0]
    storage = "storage.test"

    def redirect(request: httpx.Request) -> httpx.Response | None:
        if request.url.host == HOST and request.url.path.endswith(f"/blobs/{layer.digest}"):
            return httpx.Response(307, headers={"Location": f"https://{storage}/blob?sig=1"})
        if request.url.host == storage:
            return httpx.Response(200, content=image.layers[0])
        return None

    registry.faults.append(redirect)

    async def go() -> bytes:
        from dockyard.registry import AuthConfig

        client = client_for(registry, config)
        out = bytearray()
        async for chunk in client.fetch_blob(
            image.ref, layer, auth=AuthConfig(username="alice", password="secret")
        ):
            out += chunk
        await client.aclose()
        return bytes(out)

    assert run(go()) == image.layers[0]
    assert [r.headers.get("authorization") for r in registry.seen(storage)] == [None]
    assert registry.seen(HOST)[-1].headers["authorization"].startswith("Basic ")


def test_resuming_with_a_verifier_at_another_offset_is_refused(
    registry: FakeRegistry, config: RegistryConfig
) -> None:
    image = Image(registry)
    layer = image.parsed().layers[0]
    verifier = Verifier(layer.digest, layer.size)
    verifier.update(image.layers[0][:10])

    async def go() -> bytes:
        client = client_for(registry, config)
        try:
            return await _collect(client, image.ref, layer, offset=20, verifier=verifier)
        finally:
            await client.aclose()

    with pytest.raises(InvalidArgument, match="with a verifier at 10"):
        run(go())
