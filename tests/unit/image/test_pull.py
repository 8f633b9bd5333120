"""The pull pipeline against a fake registry: Docker's progress, sharing, tampering, resuming."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument, NoSuchImage, NotFound, Unavailable
from dockyard.image import ImageService, Progress
from dockyard.oci.digest import DigestMismatch
from dockyard.oci.image_spec import Platform
from dockyard.registry import Reference
from tests.unit.image.fakeregistry import FakeRegistry
from tests.unit.image.services import drain, make_service, pull
from tests.unit.image.tarfixtures import d, f, image_blobs

BASE = [d("bin"), f("bin/sh", b"#!busybox", mode=0o755)]
APP = [d("app"), f("app/run", os.urandom(200_000))]


def statuses(events: list[Progress]) -> list[tuple[str, str | None]]:
    return [(e.status, e.id) for e in events if e.status not in ("Downloading", "Extracting", "Waiting")]


@pytest.fixture
def registry() -> FakeRegistry:
    return FakeRegistry()


def test_pull_reports_progress_as_docker_does(tmp_path: Path, registry: FakeRegistry) -> None:
    image = image_blobs([BASE, APP])
    digest = registry.push("alpine", "latest", image)
    service = make_service(tmp_path, registry)
    short = [
        b.hex()[:12]
        for b in (bytes.fromhex(x[7:]) for x in (f"sha256:{_sha(layer)}" for layer in image.layers))
    ]

    events = pull(service, "alpine")

    seen = statuses(events)
    assert seen[0] == ("Pulling from library/alpine", "latest")
    assert seen[1:3] == [("Pulling fs layer", short[0]), ("Pulling fs layer", short[1])]
    for layer in short:
        order = [s for s, i in seen if i == layer]
        assert order == ["Pulling fs layer", "Verifying Checksum", "Download complete", "Pull complete"]
    assert seen[-2:] == [
        (f"Digest: {digest}", None),
        ("Status: Downloaded newer image for alpine:latest", None),
    ]
    downloading = [e for e in events if e.status == "Downloading"]
    assert downloading
    assert all(e.total == len(image.layers[e.id == short[1]]) for e in downloading if e.id in short)
    stored = service.get("alpine")
    assert stored.id == image.config_digest
    assert stored.repo_tags == ("alpine:latest",)
    assert stored.repo_digests == (f"alpine@{digest}",)
    assert stored.size == len(b"#!busybox") + 200_000
    assert service.fsck() == []


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def test_second_pull_is_up_to_date_and_fetches_nothing(tmp_path: Path, registry: FakeRegistry) -> None:
    registry.push("alpine", "latest", image_blobs([BASE]))
    service = make_service(tmp_path, registry)
    pull(service, "alpine")
    registry.requests.clear()

    events = pull(service, "alpine:latest")

    assert [e.status for e in events][-1] == "Status: Image is up to date for alpine:latest"
    assert registry.requests == []


def test_shared_layers_already_exist(tmp_path: Path, registry: FakeRegistry) -> None:
    registry.push("alpine", "latest", image_blobs([BASE]))
    other = image_blobs([BASE, APP])
    registry.push("app", "1", other)
    service = make_service(tmp_path, registry)
    pull(service, "alpine")

    events = pull(service, "app:1")

    assert ("Already exists", _sha(other.layers[0])[:12]) in statuses(events)
    assert [key for key, _ in registry.requests].count("sha256:" + _sha(other.layers[0])) == 1


def test_pull_by_digest_records_no_tag(tmp_path: Path, registry: FakeRegistry) -> None:
    digest = registry.push("alpine", "latest", image_blobs([BASE]))
    service = make_service(tmp_path, registry)

    events = pull(service, f"alpine@{digest}")

    assert ("Pulling from library/alpine", digest) in statuses(events)
    assert events[-1].status == f"Status: Downloaded newer image for alpine@{digest}"
    image = service.get(f"alpine@{digest}")
    assert image.repo_tags == ()
    assert image.repo_digests == (f"alpine@{digest}",)


def test_index_platform_selection(tmp_path: Path, registry: FakeRegistry) -> None:
    amd, arm = image_blobs([BASE], architecture="amd64"), image_blobs([APP], architecture="arm64")
    registry.push_index("multi", "latest", [(amd, "linux", "amd64"), (arm, "linux", "arm64")])
    service = make_service(tmp_path, registry)

    pull(service, "multi", platform=Platform.parse("linux/arm64"))

    assert service.get("multi").id == arm.config_digest
    assert service.get("multi").architecture == "arm64"


def test_missing_tag_is_the_registrys_not_found(tmp_path: Path, registry: FakeRegistry) -> None:
    service = make_service(tmp_path, registry)

    with pytest.raises(NotFound, match="manifest unknown"):
        pull(service, "nope")


class _RefusingManifests(FakeRegistry):
    """Resolves tags, then fails the manifest fetch the way an overloaded registry does."""

    async def fetch_manifest(self, ref: Reference, desc: object, *, auth: object = None) -> bytes:
        raise Unavailable("toomanyrequests: too many requests")


@pytest.mark.parametrize(
    ("name", "kind", "message"),
    [
        pytest.param(
            "127.0.0.1:5000/library/nosuch",
            NotFound,
            "manifest for 127.0.0.1:5000/library/nosuch:latest not found: manifest unknown: manifest unknown",
            id="unknown-tag",
        ),
        pytest.param("alpine", Unavailable, "toomanyrequests: too many requests", id="manifest-refused"),
    ],
)
def test_a_refused_pull_fails_before_its_first_message(
    tmp_path: Path, name: str, kind: type[Exception], message: str
) -> None:
    # The API sends its status line with the first message: an error before it is an HTTP
    # error, printed by docker as "Error response from daemon: <message>" (moby pullV2Tag).
    registry = _RefusingManifests()
    registry.push("alpine", "latest", image_blobs([BASE]))
    stream = make_service(tmp_path, registry).pull(Reference.parse(name))

    async def first_message() -> Progress:
        try:
            return await anext(stream)
        finally:
            await stream.aclose()

    with pytest.raises(kind) as info:
        asyncio.run(first_message())
    assert str(info.value) == message


def _nothing_stored(service: ImageService) -> None:
    assert service.store.all() == []
    assert service.snapshots.layers() == []
    assert service.fsck() == []


def test_altered_layer_is_rejected_and_nothing_is_stored(tmp_path: Path) -> None:
    registry = FakeRegistry(verify=False)  # a client that would pass wrong bytes on
    image = image_blobs([BASE, APP])
    registry.push("evil", "latest", image)
    bad = bytearray(image.layers[1])
    bad[100] ^= 0xFF
    registry.served["sha256:" + _sha(image.layers[1])] = bytes(bad)
    service = make_service(tmp_path, registry)

    with pytest.raises(DigestMismatch) as caught:
        pull(service, "evil")
    digest = f"sha256:{_sha(image.layers[1])}"
    assert str(caught.value) == f"filesystem layer verification failed for digest {digest}"

    with pytest.raises(NoSuchImage):
        service.get("evil")
    assert not service.content.exists(DigestMismatch_digest(image.layers[1]))
    assert service.content.verify() == []


def DigestMismatch_digest(data: bytes):  # type: ignore[no-untyped-def]
    from dockyard.oci.digest import Digest

    return Digest.from_bytes(data)


def test_truncated_layer_is_rejected(tmp_path: Path) -> None:
    registry = FakeRegistry(verify=False)
    image = image_blobs([APP])
    registry.push("evil", "latest", image)
    registry.served["sha256:" + _sha(image.layers[0])] = image.layers[0][:-10]
    service = make_service(tmp_path, registry)

    with pytest.raises(DigestMismatch) as caught:
        pull(service, "evil")
    # dockerd's words, whichever check caught it (here: the length)
    digest = f"sha256:{_sha(image.layers[0])}"
    assert str(caught.value) == f"filesystem layer verification failed for digest {digest}"
    assert "bytes" in str(caught.value.__cause__)
    _nothing_stored(service)


def test_wrong_diff_ids_are_rejected(tmp_path: Path, registry: FakeRegistry) -> None:
    good = image_blobs([BASE, APP])
    evil = image_blobs([BASE, APP], diff_ids=[good.diff_ids[0], "sha256:" + "0" * 64])
    registry.push("evil", "latest", evil)
    service = make_service(tmp_path, registry)

    with pytest.raises(InvalidArgument, match=r"layers from manifest don't match image configuration.*0{64}"):
        pull(service, "evil")

    assert service.store.all() == []
    # Only the honest first layer may have been committed (if it finished before the failure).
    assert {s.key for s in service.snapshots.layers()} <= {good.diff_ids[0]}
    assert service.fsck() == []


def test_layer_count_mismatch(tmp_path: Path, registry: FakeRegistry) -> None:
    good = image_blobs([BASE, APP])
    registry.push("evil", "latest", image_blobs([BASE, APP], diff_ids=good.diff_ids[:1]))
    service = make_service(tmp_path, registry)

    with pytest.raises(InvalidArgument, match=r"^layers from manifest don't match image configuration$"):
        pull(service, "evil")


def test_an_interrupted_download_resumes(tmp_path: Path, registry: FakeRegistry) -> None:
    image = image_blobs([APP], compression="none")
    registry.push("big", "latest", image)
    layer = "sha256:" + _sha(image.layers[0])
    registry.drop_after[layer] = 100_000
    service = make_service(tmp_path, registry)

    with pytest.raises(Unavailable):
        pull(service, "big")
    _nothing_stored_but_ingest(service)
    pull(service, "big")

    assert registry.requests[-1][0] == layer
    assert registry.requests[-1][1] >= 100_000
    assert service.get("big").id == image.config_digest
    assert service.fsck() == []


def _nothing_stored_but_ingest(service: ImageService) -> None:
    assert service.store.all() == []
    assert service.snapshots.layers() == []
    assert len(service.content.stale_ingests(older_than=0)) == 1


def test_at_most_three_downloads_at_once(tmp_path: Path) -> None:
    registry = FakeRegistry(chunk=4096, delay=0.001)
    layers = [[f(f"file{i}", os.urandom(20_000))] for i in range(6)]
    registry.push("many", "latest", image_blobs(layers))
    service = make_service(tmp_path, registry)

    events = pull(service, "many")

    assert registry.max_streams == 3
    assert sum(1 for e in events if e.status == "Waiting") == 3


@pytest.mark.parametrize("size", [400_000, 1_300_000], ids=["thread", "unpacker-process"])
def test_unpacking_starts_while_the_layer_downloads(tmp_path: Path, size: int) -> None:
    registry = FakeRegistry(chunk=16384, delay=0.002)
    image = image_blobs([[f("big", os.urandom(size))]], compression="none")
    registry.push("slow", "latest", image)
    service = make_service(tmp_path, registry)

    events = pull(service, "slow")

    order = [e.status for e in events if e.status in ("Extracting", "Verifying Checksum")]
    assert order[0] == "Extracting"  # unpacking began before the download was verified
    assert service.fsck() == []


def test_pull_all_tags(tmp_path: Path, registry: FakeRegistry) -> None:
    registry.push("tu-demo", "v1", image_blobs([BASE]))
    registry.push("tu-demo", "v2", image_blobs([BASE, APP]))
    service = make_service(tmp_path, registry)

    events = asyncio.run(drain(service.pull_all_tags(Reference.parse("tu-demo"))))

    assert ("Pulling from library/tu-demo", "v1") in statuses(events)
    assert ("Pulling from library/tu-demo", "v2") in statuses(events)
    assert events[-1].status == "Status: Downloaded newer image for tu-demo"
    assert {t for i in service.list() for t in i.repo_tags} == {"tu-demo:v1", "tu-demo:v2"}


def test_a_pull_killed_before_commit_leaves_nothing_trusted(tmp_path: Path, registry: FakeRegistry) -> None:
    image = image_blobs([BASE, APP])
    registry.push("alpine", "latest", image)
    service = make_service(tmp_path, registry)
    # What a SIGKILL mid-unpack leaves: a preparing snapshot with half a layer in it.
    with service.snapshots.prepare_layer(image.diff_ids[0], None) as prep:
        os.close(os.open("half", os.O_CREAT | os.O_WRONLY, dir_fd=prep.root_fd))
        leftover = service.snapshots.fs(prep.snapshot)
        row = prep.snapshot
        service.snapshots._delete = lambda snap: None  # type: ignore[method-assign]  # the process dies here
    assert leftover.exists()

    restarted = make_service(tmp_path, registry)  # start-up recovery

    assert restarted.snapshots.get(row.key) is None
    assert not leftover.exists()
    pull(restarted, "alpine")
    assert restarted.fsck() == []


def test_concurrent_pulls_of_one_image_share_the_work(tmp_path: Path) -> None:
    registry = FakeRegistry(chunk=8192, delay=0.001)
    registry.push("alpine", "latest", image_blobs([BASE, APP]))
    registry.push("app", "2", image_blobs([BASE, APP, [f("extra", b"x")]]))
    service = make_service(tmp_path, registry)

    async def both() -> list[list[Progress]]:
        return await asyncio.gather(
            drain(service.pull(Reference.parse("alpine"))), drain(service.pull(Reference.parse("app:2")))
        )

    asyncio.run(both())

    assert sorted(t for i in service.list() for t in i.repo_tags) == ["alpine:latest", "app:2"]
    downloads = [key for key, _ in registry.requests]
    assert len(downloads) == len(set(downloads))  # no blob fetched twice
    assert service.fsck() == []


def test_a_hard_link_into_a_lower_layer_is_copied_up(tmp_path: Path, registry: FakeRegistry) -> None:
    from tests.unit.image.tarfixtures import h

    lower = [d("data"), f("data/keep", os.urandom(300_000))]
    upper = [d("data"), h("data/hard", "data/keep")]
    registry.push("links", "latest", image_blobs([lower, upper]))
    service = make_service(tmp_path, registry)

    pull(service, "links")

    top = service.snapshots.get(service.get("links").top_layer or "")
    assert top is not None
    base = service.snapshots.chain(top.key)[1]
    copied = (service.snapshots.fs(top) / "data/hard").read_bytes()
    assert copied == (service.snapshots.fs(base) / "data/keep").read_bytes()
