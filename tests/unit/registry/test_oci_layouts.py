"""The fixture images and archives are what they claim: stable digests, valid documents, whole archives."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from dockyard.oci import image_spec
from dockyard.oci.image_spec import Platform
from tests.support import oci_layouts
from tests.support.oci_layouts import sha256

SMALL = ["alpine", "alpine-arm64", "busybox", "hello-world", "whiteouts"]


@pytest.mark.parametrize("name", SMALL)
def test_fixture_documents_are_valid_and_consistent(name: str) -> None:
    image = oci_layouts.fixture(name)
    for body, media_type in ((image.docker_manifest, image_spec.DOCKER_MANIFEST), (image.oci_manifest, None)):
        manifest = image_spec.parse_manifest_or_index(body, media_type)
        assert isinstance(manifest, image_spec.Manifest)
        assert str(manifest.config.digest) == image.config_digest
        assert [str(d.digest) for d in manifest.layers] == [layer.digest for layer in image.layers]
    config = image_spec.parse_image_config(image.config)
    assert [str(d) for d in config.diff_ids] == [
        sha256(gzip.decompress(layer.blob)) for layer in image.layers
    ]
    assert config.architecture == image.architecture
    assert sum(not h.empty_layer for h in config.history) == len(image.layers)


def test_fixtures_are_deterministic_and_share_their_base() -> None:
    again = oci_layouts._alpine()  # built afresh, not from the cache
    assert again.docker_manifest == oci_layouts.fixture("alpine").docker_manifest
    assert oci_layouts.fixture("busybox").layers[0].digest == oci_layouts.fixture("alpine").layers[0].digest


def _members(layer: oci_layouts.Layer) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(layer.tar)) as archive:
        return {m.name: m for m in archive.getmembers()}


def test_alpine_has_the_labs_shell_and_applets() -> None:
    members = _members(oci_layouts.fixture("alpine").layers[0])
    for applet in ("bin/sh", "bin/ash", "bin/ls", "bin/echo", "bin/hostname"):
        assert members[applet].issym()
    assert members["bin/busybox"].isfile()
    assert {m.uid for m in members.values()} == {0}


def test_whiteouts_image_carries_whiteouts_and_an_opaque_directory() -> None:
    image = oci_layouts.fixture("whiteouts")
    assert len(image.layers) >= 4
    names = set().union(*(_members(layer) for layer in image.layers[1:]))
    assert {"data/.wh.gone.txt", "etc/.wh.removed.conf", "opaque/.wh..wh..opq", "data/.wh.dir"} <= names
    top = _members(image.layers[-1])
    assert top["data/hard"].islnk()
    assert top["data/hard"].linkname == "data/base.txt"
    assert list(top).index("data/base.txt") < list(top).index("data/hard"), "link target first"
    assert image.expected
    assert image.absent


def test_index_lists_both_platforms() -> None:
    alpine, arm = oci_layouts.fixture("alpine"), oci_layouts.fixture("alpine-arm64")
    for docker in (True, False):
        index = image_spec.parse_manifest_or_index(oci_layouts.index_for([alpine, arm], docker=docker), None)
        assert isinstance(index, image_spec.Index)
        chosen = image_spec.select_platform(index, Platform.parse("linux/arm64/v8"))
        expected = arm.docker_manifest if docker else arm.oci_manifest
        assert str(chosen.digest) == sha256(expected)


def _read_tar(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as archive:
        return {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()}  # type: ignore[union-attr]


def test_classic_docker_save(tmp_path: Path) -> None:
    alpine, busybox = oci_layouts.fixture("alpine"), oci_layouts.fixture("busybox")
    files = _read_tar(
        oci_layouts.write_docker_save(tmp_path / "save.tar", [(alpine, None), (busybox, ["bb:1"])])
    )
    manifest = json.loads(files["manifest.json"])
    assert [m["RepoTags"] for m in manifest] == [["alpine:latest"], ["bb:1"]]
    for entry, image in zip(manifest, (alpine, busybox), strict=True):
        assert "sha256:" + hashlib.sha256(files[entry["Config"]]).hexdigest() == image.config_digest
        assert [sha256(files[path]) for path in entry["Layers"]] == image.diff_ids
    repositories = json.loads(files["repositories"])
    assert repositories["bb"]["1"] == manifest[1]["Layers"][-1].split("/")[0]


def test_oci_docker_save(tmp_path: Path) -> None:
    hello = oci_layouts.fixture("hello-world")
    files = _read_tar(oci_layouts.write_oci_save(tmp_path / "save.tar", [(hello, None)]))
    for name, data in files.items():
        if name.startswith("blobs/sha256/"):
            assert hashlib.sha256(data).hexdigest() == name.rsplit("/", 1)[1]
    index = json.loads(files["index.json"])
    entry = index["manifests"][0]
    assert entry["annotations"]["io.containerd.image.name"] == "docker.io/library/hello-world:latest"
    manifest = image_spec.parse_manifest_or_index(
        files[f"blobs/sha256/{entry['digest'][7:]}"], entry["mediaType"]
    )
    assert isinstance(manifest, image_spec.Manifest)
    assert {d.media_type for d in manifest.layers} == {image_spec.OCI_LAYER}
    assert json.loads(files["manifest.json"])[0]["RepoTags"] == ["hello-world:latest"]
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}


def test_oci_layout_directory(tmp_path: Path) -> None:
    alpine = oci_layouts.fixture("alpine")
    layout = oci_layouts.write_oci_layout(tmp_path / "layout", [(alpine, "3.19")])
    index = json.loads((layout / "index.json").read_text())
    assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "3.19"
    for blob in (layout / "blobs" / "sha256").iterdir():
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name
