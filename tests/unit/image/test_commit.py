"""commit: a container's writable layer becomes an image layer; empty commits add no layer."""

from __future__ import annotations

import asyncio
import io
import os
import tarfile
from pathlib import Path

import pytest

from dockyard.errors import ImageInUse
from dockyard.image import CommitRequest, ImageService
from dockyard.image.commit import EMPTY_LAYER_DIFF_ID
from dockyard.image.diff import layer_tar_chunks
from dockyard.registry import Reference
from tests.unit.image.fakeregistry import FakeRegistry
from tests.unit.image.services import make_service, pull
from tests.unit.image.tarfixtures import d, f, image_blobs

CID = "a" * 64


@pytest.fixture
def service(tmp_path: Path) -> ImageService:
    registry = FakeRegistry()
    registry.push("base", "latest", image_blobs([[d("bin"), f("bin/sh", b"#!", mode=0o755)]]))
    svc = make_service(tmp_path, registry)
    pull(svc, "base")
    svc.create_rootfs(CID, svc.get("base"))
    return svc


def commit(service: ImageService, **kw: object) -> object:
    request = CommitRequest(container_id=CID, parent=service.get("base"), config={"Cmd": ["sh"]}, **kw)  # type: ignore[arg-type]
    return asyncio.run(service.commit(request))


def test_commit_adds_a_layer_with_the_changes(service: ImageService) -> None:
    upper = service.snapshots.container_upper(CID)
    assert upper is not None
    (upper / "etc").mkdir()
    (upper / "etc/app.conf").write_text("x=1\n")

    image = commit(
        service, created_by="/bin/sh -c echo", comment="msg", author="me", ref=Reference.parse("app:1")
    )

    base = service.get("base")
    assert image.parent == base.id  # type: ignore[attr-defined]
    assert image.repo_tags == ("app:1",)  # type: ignore[attr-defined]
    config = service.config(image)  # type: ignore[arg-type]
    assert len(config.diff_ids) == 2
    assert config.history[-1].created_by == "/bin/sh -c echo"
    assert config.raw["author"] == "me"
    assert config.config.cmd == ("sh",)
    service.create_rootfs("b" * 64, image)  # type: ignore[arg-type]
    assert image.size == base.size + len("x=1\n")  # type: ignore[attr-defined]
    with pytest.raises(ImageInUse, match="image has dependent child images"):
        service.delete(base.id, force=True, prune=True, used_by=lambda i: [])


def test_an_empty_commit_adds_no_layer(service: ImageService) -> None:
    image = commit(service, changes=("ENV A=1",))

    config = service.config(image)  # type: ignore[arg-type]
    assert len(config.diff_ids) == 1
    assert config.history[-1].empty_layer
    assert config.config.env == ("A=1",)
    assert image.top_layer == service.get("base").top_layer  # type: ignore[attr-defined]


def test_diff_of_an_empty_directory_is_the_empty_layer(tmp_path: Path) -> None:
    import hashlib

    data = b"".join(layer_tar_chunks(tmp_path, overlay_upper=True))

    assert "sha256:" + hashlib.sha256(data).hexdigest() == EMPTY_LAYER_DIFF_ID


def test_diff_is_deterministic_and_complete(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b/file").write_bytes(b"12345")
    (tmp_path / "a").symlink_to("b")
    os.link(tmp_path / "b/file", tmp_path / "hard")

    first = b"".join(layer_tar_chunks(tmp_path, overlay_upper=False))
    second = b"".join(layer_tar_chunks(tmp_path, overlay_upper=False))

    assert first == second
    with tarfile.open(fileobj=io.BytesIO(first)) as tar:
        members = {m.name: m for m in tar}
    assert members["a"].issym()
    assert members["a"].linkname == "b"
    assert members["b"].isdir()
    assert members["b/file"].size == 5
    assert members["hard"].islnk()
    assert members["hard"].linkname == "b/file"
    assert list(members) == ["a", "b", "b/file", "hard"]  # Go's Walk order
