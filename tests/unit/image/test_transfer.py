"""save, load and import: round trips and the archive forms dockerd writes."""

from __future__ import annotations

import asyncio
import io
import json
import os
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument, NoSuchImage
from dockyard.image import ImageService
from dockyard.registry import Reference
from tests.unit.image.fakeregistry import FakeRegistry
from tests.unit.image.services import drain, make_service
from tests.unit.image.tarfixtures import compress, d, f, image_blobs, layer_tar, s, sha256

BASE = [d("bin"), f("bin/sh", b"#!busybox", mode=0o755), s("bin/ash", "sh")]
APP = [d("app"), f("app/run", os.urandom(50_000)), f(".wh.gone")]


async def chunks_of(data: bytes, size: int = 7000) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def _collect_bytes(stream: AsyncIterator[bytes]) -> bytes:
    return b"".join([c async for c in stream])


def save(service: ImageService, names: list[str]) -> bytes:
    return asyncio.run(_collect_bytes(service.save(names)))


def load(service: ImageService, data: bytes) -> list[str]:
    events = asyncio.run(drain(service.load(chunks_of(data))))
    return [e.status for e in events if e.status != "Loading layer"]


def pulled(tmp_path: Path) -> ImageService:
    registry = FakeRegistry()
    registry.push("alpine", "latest", image_blobs([BASE, APP]))
    service = make_service(tmp_path / "a", registry)
    asyncio.run(drain(service.pull(Reference.parse("alpine"))))
    service.tag(service.get("alpine"), Reference.parse("alpine:3"))
    return service


def members(archive: bytes) -> dict[str, bytes]:
    out = {}
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for m in tar:
            out[m.name] = tar.extractfile(m).read() if m.isfile() else b""  # type: ignore[union-attr]
    return out


def test_save_writes_docker_and_oci_metadata(tmp_path: Path) -> None:
    service = pulled(tmp_path)
    image = service.get("alpine")

    files = members(save(service, ["alpine:latest"]))

    manifest = json.loads(files["manifest.json"])
    assert manifest[0]["RepoTags"] == ["alpine:latest"]
    assert manifest[0]["Config"] == f"blobs/sha256/{image.id[7:]}"
    for layer in manifest[0]["Layers"]:
        assert sha256(files[layer]) == "sha256:" + layer.rsplit("/", 1)[1]
    index = json.loads(files["index.json"])
    assert (
        index["manifests"][0]["annotations"]["io.containerd.image.name"] == "docker.io/library/alpine:latest"
    )
    assert json.loads(files["repositories"]) == {
        "alpine": {"latest": manifest[0]["Layers"][-1].rsplit("/", 1)[1]}
    }
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}


def test_save_of_a_repository_name_takes_every_tag(tmp_path: Path) -> None:
    service = pulled(tmp_path)

    files = members(save(service, ["alpine"]))

    assert sorted(json.loads(files["manifest.json"])[0]["RepoTags"]) == ["alpine:3", "alpine:latest"]


def test_save_unknown_image_fails_before_any_byte(tmp_path: Path) -> None:
    service = pulled(tmp_path)
    with pytest.raises(NoSuchImage):
        service.save(["nope"])


def test_save_then_load_round_trip(tmp_path: Path) -> None:
    source = pulled(tmp_path)
    archive = save(source, ["alpine:latest", "alpine:3"])
    target = make_service(tmp_path / "b")

    out = load(target, compress(archive, "gzip"))  # docker load accepts compressed archives

    assert sorted(out) == ["Loaded image: alpine:3", "Loaded image: alpine:latest"]
    image = target.get("alpine:latest")
    assert image.id == source.get("alpine").id
    assert target.layers(image) == source.layers(source.get("alpine"))
    assert image.size == source.get("alpine").size
    assert target.fsck() == []


def test_load_of_an_id_reports_the_id(tmp_path: Path) -> None:
    source = pulled(tmp_path)
    image_id = source.get("alpine").id
    target = make_service(tmp_path / "b")

    assert load(target, save(source, [image_id])) == [f"Loaded image ID: {image_id}"]


def _classic_archive(tag: str = "old:1") -> tuple[bytes, str]:
    """What dockerd <= 24 writes: <v1id>/layer.tar, <id>.json, a shared layer as a symlink."""
    base = layer_tar(BASE)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [sha256(base), sha256(base)]},
        }
    ).encode()
    config_id = sha256(config)[7:]
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:

        def add(name: str, data: bytes = b"", link: str = "") -> None:
            info = tarfile.TarInfo(name)
            if link:
                info.type, info.linkname = tarfile.SYMTYPE, link
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        add("aaaa/layer.tar", base)
        add("bbbb/layer.tar", link="../aaaa/layer.tar")
        add(f"{config_id}.json", config)
        manifest = [
            {"Config": f"{config_id}.json", "RepoTags": [tag], "Layers": ["aaaa/layer.tar", "bbbb/layer.tar"]}
        ]
        add("manifest.json", json.dumps(manifest).encode())
        add("repositories", b'{"old":{"1":"bbbb"}}')
    return out.getvalue(), "sha256:" + config_id


def test_load_classic_archive_with_symlinked_layers(tmp_path: Path) -> None:
    archive, image_id = _classic_archive()
    service = make_service(tmp_path)

    assert load(service, archive) == ["Loaded image: old:1"]
    assert service.get("old:1").id == image_id


def test_load_oci_layout_without_manifest_json(tmp_path: Path) -> None:
    files = members(save(pulled(tmp_path), ["alpine:latest"]))
    del files["manifest.json"]
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            if name.endswith("/"):
                info.type = tarfile.DIRTYPE
            tar.addfile(info, io.BytesIO(data))
    service = make_service(tmp_path / "b")

    assert load(service, out.getvalue()) == ["Loaded image: alpine:latest"]


def test_load_moves_a_tag_and_says_so(tmp_path: Path) -> None:
    archive, _ = _classic_archive("alpine:3")
    service = pulled(tmp_path)
    old = service.get("alpine").id

    out = load(service, archive)

    assert out[0] == f"The image alpine:3 already exists, renaming the old one with ID {old} to empty string"


def test_load_refuses_a_blob_that_lies_about_its_name(tmp_path: Path) -> None:
    files = members(save(pulled(tmp_path), ["alpine:latest"]))
    layer = json.loads(files["manifest.json"])[0]["Layers"][0]
    files[layer] = compress(layer_tar([f("evil", b"x")]), "gzip")
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

    with pytest.raises(InvalidArgument, match="has digest"):
        load(make_service(tmp_path / "b"), out.getvalue())


def test_load_without_metadata_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match=r"neither manifest\.json nor index\.json"):
        load(make_service(tmp_path), layer_tar([f("x")]))


def test_import_makes_a_one_layer_image(tmp_path: Path) -> None:
    service = make_service(tmp_path)
    rootfs = layer_tar(BASE)

    image = asyncio.run(
        service.import_image(
            chunks_of(compress(rootfs, "gzip")),
            ref=Reference.parse("imported:v1"),
            message="from a tarball",
            changes=["CMD /bin/sh", 'ENV A=1 B="two words"', "EXPOSE 80", "LABEL tier=base"],
            platform=None,
        )
    )

    assert image.repo_tags == ("imported:v1",)
    assert image.labels == {"tier": "base"}
    config = service.config(image)
    assert [str(x) for x in config.diff_ids] == [sha256(rootfs)]
    assert config.config.cmd == ("/bin/sh", "-c", "/bin/sh")
    assert config.config.env == ("A=1", "B=two words")
    assert config.config.exposed_ports == ("80/tcp",)
    assert config.raw["comment"] == "from a tarball"
    assert [h.comment for h in service.history(image)] == ["from a tarball"]
    archive = members(save(service, ["imported:v1"]))  # the imported layer can be saved again
    assert len(json.loads(archive["manifest.json"])[0]["Layers"]) == 1


def test_import_refuses_bad_changes_and_bad_tars(tmp_path: Path) -> None:
    service = make_service(tmp_path)

    with pytest.raises(InvalidArgument, match="RUN is not a valid change command"):
        asyncio.run(
            service.import_image(
                chunks_of(layer_tar(BASE)), ref=None, message="", changes=["RUN x"], platform=None
            )
        )
    with pytest.raises(InvalidArgument):
        asyncio.run(
            service.import_image(
                chunks_of(b"not a tar" * 200), ref=None, message="", changes=[], platform=None
            )
        )
    assert service.store.all() == []
