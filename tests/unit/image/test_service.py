"""ImageService end to end without root: rmi frees disk, GC, history, container layers."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from dockyard.image import ImageService
from dockyard.oci.digest import Digest
from dockyard.registry import Reference
from tests.unit.image.fakeregistry import FakeRegistry
from tests.unit.image.services import make_service, pull
from tests.unit.image.tarfixtures import d, f, image_blobs

BASE = [d("bin"), f("bin/sh", b"#!busybox", mode=0o755)]
APP = [f("app", os.urandom(10_000))]


@pytest.fixture
def registry() -> FakeRegistry:
    registry = FakeRegistry()
    registry.push("alpine", "latest", image_blobs([BASE]))
    registry.push(
        "app",
        "1",
        image_blobs(
            [BASE, APP],
            config_extra={
                "history": [
                    {"created": "2024-01-01T00:00:00Z", "created_by": "ADD rootfs"},
                    {"created": "2024-01-02T00:00:00Z", "created_by": "ENV X=1", "empty_layer": True},
                    {"created": "2024-01-03T00:00:00Z", "created_by": "COPY app", "comment": "c"},
                ]
            },
        ),
    )
    return registry


@pytest.fixture
def service(tmp_path: Path, registry: FakeRegistry) -> ImageService:
    svc = make_service(tmp_path, registry)
    for name in ("alpine", "app:1"):
        pull(svc, name)
    return svc


def nobody_uses(image_id: str) -> list[tuple[str, bool]]:
    return []


def test_rmi_frees_layers_and_blobs_no_other_image_needs(service: ImageService) -> None:
    app = service.get("app:1")
    layers_before = {s.key for s in service.snapshots.layers()}
    blobs_before = set(service.content.digests())

    records = service.delete("app:1", force=False, prune=True, used_by=nobody_uses)

    removed_layers = [v for k, v in records if k == "Deleted" and v != app.id]
    assert len(removed_layers) == 1  # the app layer; the base layer is alpine's too
    assert {s.key for s in service.snapshots.layers()} == layers_before - set(removed_layers)
    assert not service.content.exists(Digest.parse(app.id))
    assert len(blobs_before - set(service.content.digests())) == 3  # config, manifest, app layer blob
    assert service.fsck() == []


def test_history_is_newest_first_with_sizes_and_the_image_id(service: ImageService) -> None:
    app = service.get("app:1")

    rows = service.history(app)

    assert [r.created_by for r in rows] == ["COPY app", "ENV X=1", "ADD rootfs"]
    assert [r.size for r in rows] == [10_000, 0, len(b"#!busybox")]
    assert rows[0].id == app.id
    assert rows[0].tags == ("app:1",)
    assert rows[0].comment == "c"


def test_container_rootfs_lifecycle_without_mounting(service: ImageService) -> None:
    app = service.get("app:1")
    service.create_rootfs("c" * 64, app)
    upper = service.snapshots.container_upper("c" * 64)
    assert upper is not None
    (upper / "hello.txt").write_bytes(b"12345")

    size_rw, size_rootfs = service.rootfs_usage("c" * 64)

    assert size_rw == 5
    assert size_rootfs == 5 + app.size
    driver = service.rootfs_graph_driver("c" * 64, Path("/merged"))
    assert driver["Name"] == "overlay2"
    service.remove_rootfs("c" * 64)
    assert service.snapshots.get(f"rw:{'c' * 64}") is None


def test_gc_removes_unreferenced_layers_blobs_and_stale_ingests(service: ImageService) -> None:
    app = service.get("app:1")
    service.store.delete(app.id)  # as if the record went away without its data
    ingest = service.content.ingest(Digest.from_bytes(b"abandoned"), 9)
    ingest.write(b"aban")
    ingest.close()
    service.create_rootfs("d" * 64, service.get("alpine"))
    old = time.time() - 3600
    for digest in service.content.digests():
        os.utime(service.content.path(digest), (old, old))
    service.snapshots._db.execute("UPDATE image_snapshots SET created = ?", (old,))
    assert service.gc(grace=7200).layers == []  # too young to collect

    report = service.gc(live_containers=set(), grace=60)

    assert len(report.layers) == 1
    assert len(report.blobs) == 3
    assert report.snapshots == [f"init:{'d' * 64}", f"rw:{'d' * 64}"]
    assert report.ingests == []  # not stale yet
    assert service.gc(grace=0).ingests == [ingest.directory.name]
    assert service.fsck() == []
    assert service.get("alpine").top_layer in {s.key for s in service.snapshots.layers()}


def test_list_shows_both_images(service: ImageService) -> None:
    assert sorted(t for i in service.list() for t in i.repo_tags) == ["alpine:latest", "app:1"]
    assert service.list(filters={"reference": ["app"]})[0].repo_tags == ("app:1",)


def test_prune_dangling(service: ImageService) -> None:
    alpine = service.get("alpine")
    service.store.remove_reference(Reference.parse("alpine:latest"))
    for ref in service.store.references(alpine.id):
        service.store.remove_reference(ref)

    records, reclaimed = service.prune(dangling_only=True, filters=None, used_by=nobody_uses)

    assert ("Deleted", alpine.id) in records
    assert reclaimed == alpine.size
    assert [i.repo_tags for i in service.list()] == [("app:1",)]
