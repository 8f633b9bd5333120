"""S12: the client against a hostile registry. Every tamper is refused, naming the expected digest."""

from __future__ import annotations

import gzip
import hashlib

import pytest

from dockyard.errors import InvalidArgument
from dockyard.oci import image_spec
from dockyard.oci.digest import Digest, DigestMismatch
from dockyard.oci.image_spec import Descriptor
from dockyard.registry import Reference, RegistryClient, RegistryConfig, RegistryUnavailable, TransportError
from tests.integration.registry.conftest import with_client
from tests.support.evil_registry import BAD_DIGESTS, EvilRegistry, refused_host


def _layer_desc(evil: EvilRegistry) -> Descriptor:
    layer = evil.layer
    return Descriptor(
        media_type=image_spec.DOCKER_LAYER, digest=Digest.parse(layer.digest), size=len(layer.blob)
    )


async def _read(client: RegistryClient, evil: EvilRegistry, repository: str, desc: Descriptor) -> bytes:
    return b"".join([chunk async for chunk in client.fetch_blob(evil.ref(repository), desc)])


async def _manifest(client: RegistryClient, evil: EvilRegistry, repository: str) -> tuple[Descriptor, bytes]:
    desc = await client.resolve(evil.ref(repository))
    return desc, await client.fetch_manifest(evil.ref(repository), desc)


def test_the_honest_repository_pulls(evil: EvilRegistry) -> None:
    _, body = with_client(lambda client: _manifest(client, evil, "honest/alpine"))
    assert body == evil.image.docker_manifest
    assert (
        with_client(lambda client: _read(client, evil, "honest/alpine", _layer_desc(evil))) == evil.layer.blob
    )


def test_altered_manifest_by_tag_is_refused(evil: EvilRegistry) -> None:
    with pytest.raises(DigestMismatch) as info:
        with_client(lambda client: _manifest(client, evil, "tamper/manifest"))
    assert evil.image.manifest_digest in str(info.value)


def test_altered_manifest_by_digest_is_refused(evil: EvilRegistry) -> None:
    pinned = evil.ref("tamper/manifest").with_digest(Digest.parse(evil.image.manifest_digest))

    async def pull(client: RegistryClient) -> bytes:
        return await client.fetch_manifest(pinned, await client.resolve(pinned))

    with pytest.raises(DigestMismatch) as info:
        with_client(pull)
    assert evil.image.manifest_digest in str(info.value)
    desc = Descriptor(
        media_type=image_spec.DOCKER_MANIFEST,
        digest=Digest.parse(evil.image.manifest_digest),
        size=len(evil.image.docker_manifest),
    )
    with pytest.raises(DigestMismatch, match=evil.image.manifest_digest):
        with_client(lambda client: client.fetch_manifest(pinned, desc))


@pytest.mark.parametrize("repository", ["tamper/layer", "tamper/truncated", "tamper/longer", "tamper/length"])
def test_tampered_layers_are_refused_naming_the_expected_digest(evil: EvilRegistry, repository: str) -> None:
    received = bytearray()

    async def read(client: RegistryClient) -> None:
        async for chunk in client.fetch_blob(evil.ref(repository), _layer_desc(evil)):
            received.extend(chunk)

    with pytest.raises(DigestMismatch) as info:
        with_client(read)
    assert evil.layer.digest in str(info.value)
    assert len(received) <= len(evil.layer.blob)


def test_wrong_diff_ids_pass_the_client_and_are_visible_to_the_image_room(evil: EvilRegistry) -> None:
    # The client checks what it can: every digest matches. The config's diff_ids do not match the
    # uncompressed layers; the image room checks that when it unpacks.
    async def pull(client: RegistryClient) -> tuple[bytes, list[bytes]]:
        desc, body = await _manifest(client, evil, "tamper/diffids")
        manifest = image_spec.parse_manifest_or_index(body, desc.media_type)
        assert isinstance(manifest, image_spec.Manifest)
        config = b"".join([c async for c in client.fetch_blob(evil.ref("tamper/diffids"), manifest.config)])
        layers = [await _read(client, evil, "tamper/diffids", layer) for layer in manifest.layers]
        return config, layers

    config, layers = with_client(pull)
    declared = image_spec.parse_image_config(config).diff_ids
    actual = [Digest("sha256", hashlib.sha256(gzip.decompress(layer)).hexdigest()) for layer in layers]
    assert len(declared) == len(actual)
    assert all(d != a for d, a in zip(declared, actual, strict=True))
    assert config == evil.bad_diffids.config


def test_ambiguous_document_is_refused_whatever_its_content_type(evil: EvilRegistry) -> None:
    # CVE-2021-41190: the registry alternates Content-Type; the body is refused under either.
    for _ in range(2):
        desc, body = with_client(lambda client: _manifest(client, evil, "tamper/ambiguous"))
        for media_type in (desc.media_type, image_spec.OCI_INDEX, image_spec.OCI_MANIFEST, None):
            with pytest.raises(InvalidArgument):
                image_spec.parse_manifest_or_index(body, media_type)
    assert evil.counters["ambiguous"] >= 4, "both Content-Types were served"


@pytest.mark.parametrize("case", sorted(BAD_DIGESTS))
def test_bad_digests_are_refused_before_any_request_uses_them(evil: EvilRegistry, case: str) -> None:
    desc, body = with_client(lambda client: _manifest(client, evil, f"digest/{case}"))
    with pytest.raises(InvalidArgument):
        image_spec.parse_manifest_or_index(body, desc.media_type)
    bad = BAD_DIGESTS[case]
    assert not [r for r in evil.requests if bad in r.path or ".." in r.path]


def test_bearer_challenge_and_token_endpoint(evil: EvilRegistry) -> None:
    before = len(evil.requests)
    assert (
        with_client(lambda client: _read(client, evil, "auth/alpine", _layer_desc(evil))) == evil.layer.blob
    )
    mine = evil.requests[before:]
    assert [r.path for r in mine if r.path.startswith("/token")], "a token was fetched from the realm"
    blob_requests = [r for r in mine if "/blobs/" in r.path]
    assert blob_requests[-1].headers.get("Authorization", "").startswith("Bearer ")


def test_redirected_blob_reaches_the_other_host_without_credentials(evil: EvilRegistry) -> None:
    # CVE-2020-15157: the registry's bearer token must not follow the redirect.
    before = len(evil.accomplice)
    assert (
        with_client(lambda client: _read(client, evil, "redirect/alpine", _layer_desc(evil)))
        == evil.layer.blob
    )
    redirected = evil.accomplice[before:]
    assert redirected, "the blob came from the other host"
    assert all("Authorization" not in r.headers for r in redirected)


def test_foreign_layer_urls_are_not_followed(evil: EvilRegistry) -> None:
    before = len(evil.accomplice)

    async def pull(client: RegistryClient) -> list[bytes]:
        desc, body = await _manifest(client, evil, "foreign/alpine")
        manifest = image_spec.parse_manifest_or_index(body, desc.media_type)
        assert isinstance(manifest, image_spec.Manifest)
        assert manifest.layers[-1].urls
        return [await _read(client, evil, "foreign/alpine", layer) for layer in manifest.layers]

    assert with_client(pull) == [layer.blob for layer in evil.image.layers]
    assert evil.accomplice[before:] == []


def _manifest_requests(evil: EvilRegistry, before: int) -> list[str]:
    return [r.method for r in evil.requests[before:] if "/manifests/" in r.path]


def test_429_is_reported_at_once_in_dockers_words(evil: EvilRegistry) -> None:
    before = len(evil.requests)
    with pytest.raises(RegistryUnavailable) as info:
        with_client(lambda client: client.resolve(evil.ref("status/429")))
    assert str(info.value) == "toomanyrequests: You have reached your pull rate limit."
    assert _manifest_requests(evil, before) == ["HEAD", "GET"]  # dockerd does not retry a manifest


def test_500_is_reported_at_once_in_dockers_words(evil: EvilRegistry) -> None:
    before = len(evil.requests)
    with pytest.raises(RegistryUnavailable) as info:
        with_client(lambda client: client.resolve(evil.ref("status/500")))
    assert str(info.value) == "received unexpected HTTP status: 500 Internal Server Error"
    assert _manifest_requests(evil, before) == ["HEAD", "GET"]


def test_a_transient_500_on_a_manifest_is_not_retried(evil: EvilRegistry) -> None:
    evil.counters.pop("flaky", None)
    with pytest.raises(RegistryUnavailable, match="500 Internal Server Error"):
        with_client(lambda client: client.resolve(evil.ref("flaky/alpine")))
    assert evil.counters["flaky"] == 2  # the HEAD and the GET that asks why; no retries
    desc = with_client(lambda client: client.resolve(evil.ref("flaky/alpine")))  # the next pull works
    assert str(desc.digest) == evil.image.manifest_digest


def test_a_broken_download_resumes_with_range(evil: EvilRegistry) -> None:
    before = len(evil.requests)
    assert (
        with_client(lambda client: _read(client, evil, "broken/alpine", _layer_desc(evil))) == evil.layer.blob
    )
    ranges = [r.headers.get("Range") for r in evil.requests[before:] if "/blobs/" in r.path]
    assert ranges == [None, f"bytes={len(evil.layer.blob) // 2}-"]


def test_a_slow_registry_times_out_in_gos_words(evil: EvilRegistry) -> None:
    config = RegistryConfig(read_timeout=0.3, max_attempts=1)
    with pytest.raises(TransportError) as info:
        with_client(lambda client: client.resolve(evil.ref("slow/alpine")), config=config)
    url = f"http://{evil.host}/v2/slow/alpine/manifests/latest"
    assert str(info.value) == f'Head "{url}": net/http: timeout awaiting response headers'


def test_refused_connection(evil: EvilRegistry) -> None:
    host = refused_host()
    config = RegistryConfig(retry_backoff=0.01, max_attempts=3)
    with pytest.raises(RegistryUnavailable) as info:
        with_client(lambda client: client.resolve(Reference.parse(f"{host}/x")), config=config)
    assert str(info.value) == f'Get "http://{host}/v2/": dial tcp {host}: connect: connection refused'
