"""docker-py's image calls: pull, list, get, remove, tag, save, load, history.

Pulls come from the session registry (``<reg>/library/...``). The expected histories and sizes
are dockerd 20.10's answers for the same fixture images. Every response is validated against the
Engine API document of the negotiated version (``compat.check()``).
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import docker
import pytest

from tests.e2e.compat.conftest import Compat
from tests.support.oci_layouts import fixture, write_docker_save


def _drop(compat: Compat, *refs: str) -> None:
    for ref in refs:
        compat.daemon.request("DELETE", f"/images/{ref}?force=1")


def test_pull_returns_the_image(compat: Compat) -> None:
    ref = f"{compat.reg}/library/busybox"
    _drop(compat, f"{ref}:latest")
    try:
        image = compat.client.images.pull(ref, tag="latest")
        busybox = fixture("busybox")
        assert image.id == busybox.image_id
        assert image.tags == [f"{ref}:latest"]
        assert image.attrs["RepoDigests"] == [f"{ref}@{compat.registry.digests['library/busybox:latest']}"]
        assert image.attrs["RootFS"]["Layers"] == busybox.diff_ids
    finally:
        _drop(compat, f"{ref}:latest")
    compat.check()


def test_pull_progress_fits_the_schema(compat: Compat) -> None:
    ref = f"{compat.reg}/library/busybox"
    _drop(compat, f"{ref}:latest")
    try:
        items = list(compat.client.api.pull(ref, tag="latest", stream=True, decode=True))
    finally:
        _drop(compat, f"{ref}:latest")
    for item in items:
        compat.api.validate_definition(item, "CreateImageInfo")
    statuses = [item.get("status") for item in items]
    assert statuses[0] == "Pulling from library/busybox"
    assert statuses[-2] == f"Digest: {compat.registry.digests['library/busybox:latest']}"
    assert statuses[-1] == f"Status: Downloaded newer image for {ref}:latest"
    assert not any("error" in item for item in items)
    compat.check()


def test_pull_a_platform_from_an_index(compat: Compat) -> None:
    ref = f"{compat.reg}/library/alpine"
    try:
        image = compat.client.images.pull(ref, tag="3.19", platform="linux/arm64/v8")
        arm = fixture("alpine-arm64")
        assert image.id == arm.image_id
        assert (image.attrs["Architecture"], image.attrs.get("Variant")) == ("arm64", "v8")
    finally:
        _drop(compat, f"{ref}:3.19")
    compat.check()


def test_list_with_filters(compat: Compat) -> None:
    alpine = fixture("alpine").image_id
    images = compat.client.images.list()
    assert alpine in {image.id for image in images}
    (listed,) = [image for image in images if image.id == alpine]
    assert sorted(listed.tags) == sorted(["alpine:latest", f"{compat.reg}/library/alpine:latest"])
    assert [image.id for image in compat.client.images.list(name="alpine")] == [alpine]
    assert [image.id for image in compat.client.images.list(filters={"reference": "alp*"})] == [alpine]
    assert compat.client.images.list(filters={"dangling": True}) == []
    assert alpine in compat.client.api.images(quiet=True)
    assert alpine in {image.id for image in compat.client.images.list(all=True)}
    compat.check()


def test_get_inspect_and_not_found(compat: Compat) -> None:
    image = compat.client.images.get("alpine")
    assert image.id == fixture("alpine").image_id
    details = compat.client.api.inspect_image("alpine")
    assert details["Config"]["Cmd"] == ["/bin/sh"]
    assert details["Size"] == compat.client.images.get(image.id[7:19]).attrs["Size"]
    with pytest.raises(docker.errors.ImageNotFound) as caught:
        compat.client.images.get("dyt/nosuch")
    assert caught.value.explanation == "No such image: dyt/nosuch:latest"
    compat.check()


def test_tag_then_remove_only_the_tag(compat: Compat) -> None:
    image = compat.client.images.get("alpine")
    assert image.tag("dyt/alpine", "v1") is True
    assert compat.client.images.get("dyt/alpine:v1").id == image.id
    assert compat.client.api.remove_image("dyt/alpine:v1") == [{"Untagged": "dyt/alpine:v1"}]
    assert compat.client.images.get("alpine").id == image.id
    compat.check()


def test_remove_an_image_a_container_uses(compat: Compat) -> None:
    ref = f"{compat.reg}/library/busybox"
    image = compat.client.images.pull(ref, tag="latest")
    container = compat.client.containers.create(f"{ref}:latest", ["true"])
    try:
        with pytest.raises(docker.errors.APIError) as caught:
            compat.client.images.remove(f"{ref}:latest")
        assert caught.value.response.status_code == 409
        assert caught.value.explanation == (
            f'conflict: unable to remove repository reference "{ref}:latest" (must force) - '
            f"container {container.id[:12]} is using its referenced image {image.id[7:19]}"
        )
        assert compat.client.images.get(image.id).id == image.id
    finally:
        container.remove()
        _drop(compat, f"{ref}:latest")
    compat.check()


def test_save_then_load(compat: Compat) -> None:
    compat.client.images.get("alpine").tag("dyt/saved", "1")
    archive = b"".join(compat.client.images.get("dyt/saved:1").save(named="dyt/saved:1"))
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        member = tar.extractfile("manifest.json")
        assert member is not None
        (manifest,) = json.loads(member.read())
    assert manifest["RepoTags"] == ["dyt/saved:1"]
    compat.client.api.remove_image("dyt/saved:1")
    (loaded,) = compat.client.images.load(archive)
    assert loaded.id == fixture("alpine").image_id
    assert "dyt/saved:1" in loaded.tags
    compat.client.api.remove_image("dyt/saved:1")
    compat.check()


def test_load_a_docker_save_archive(compat: Compat, tmp_path: Path) -> None:
    hello = fixture("hello-world")
    archive = write_docker_save(tmp_path / "hello.tar", [(hello, ["dyt/hello:loaded"])])
    try:
        (loaded,) = compat.client.images.load(Path(archive).read_bytes())
        assert loaded.id == hello.image_id
        assert "dyt/hello:loaded" in loaded.tags
        out = compat.client.containers.run("dyt/hello:loaded", remove=True)
        assert out.startswith(b"\nHello from Docker!\n")
    finally:
        _drop(compat, "dyt/hello:loaded")
    compat.check()


def test_history(compat: Compat) -> None:
    history = compat.client.images.get("alpine").history()
    assert [(step["CreatedBy"], step["Id"]) for step in history] == [
        ('CMD ["/bin/sh"]', fixture("alpine").image_id),
        ("COPY etc /etc", "<missing>"),
        ("ADD busybox-rootfs.tar /", "<missing>"),
    ]
    assert [step["Size"] for step in history][:2] == [0, 45]  # dockerd 20.10's sizes
    assert all(step["Created"] == 1704067200 for step in history)
    compat.check()
