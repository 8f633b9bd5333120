"""Container root filesystems on overlayfs: real unpacked layers, whiteouts, 120 layers, the
writable layer kept until rm."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest

from dockyard.image import ImageService, mount
from dockyard.registry import Reference
from tests.integration.image.conftest import drain, make_service
from tests.unit.image.fakeregistry import FakeRegistry
from tests.unit.image.tarfixtures import d, f, image_blobs, s

CID = "b" * 64


def pulled(root: Path, layers: list[list[object]], name: str = "img") -> ImageService:
    registry = FakeRegistry()
    registry.push(name, "latest", image_blobs(layers))  # type: ignore[arg-type]
    service = make_service(root, registry=registry, sync=True)  # the durable path, with syncfs
    asyncio.run(drain(service.pull(Reference.parse(name))))
    return service


def test_whiteouts_and_opaque_directories_hide_lower_content(data_root: Path, mountpoint: Path) -> None:
    service = pulled(
        data_root,
        [
            [d("etc"), f("etc/gone", b"1"), d("opq"), f("opq/old", b"2"), d("dir"), f("dir/inner", b"3")],
            [d("etc"), f("etc/.wh.gone"), d("opq"), f("opq/.wh..wh..opq"), f("opq/new", b"4"), f(".wh.dir")],
        ],
    )
    service.create_rootfs(CID, service.get("img"))
    top = service.snapshots.get(service.get("img").top_layer or "")
    assert top is not None
    whiteout = (service.snapshots.fs(top) / "etc/gone").lstat()
    assert stat.S_ISCHR(whiteout.st_mode)
    assert whiteout.st_rdev == 0
    assert os.getxattr(service.snapshots.fs(top) / "opq", "trusted.overlay.opaque") == b"y"

    # dockerd's sizes (directory.Size per layer): whiteouts are 0-byte devices, directories 0.
    assert [snap.size for snap in service.snapshots.chain(top.key)] == [len("4"), len("123")]
    assert service.get("img").size == 4

    service.mount_rootfs(CID, mountpoint)
    try:
        assert not (mountpoint / "etc/gone").exists()
        assert sorted(os.listdir(mountpoint / "opq")) == ["new"]
        assert not (mountpoint / "dir").exists()
        assert (mountpoint / "etc/hostname").is_file()  # the init layer's placeholder
    finally:
        service.unmount_rootfs(CID, mountpoint)


def test_the_writable_layer_survives_unmount_until_rm(data_root: Path, mountpoint: Path) -> None:
    service = pulled(data_root, [[d("bin"), f("bin/sh", b"#!", mode=0o755), s("bin/ash", "sh")]])
    image = service.get("img")
    assert image.size == len("#!") + len("sh")  # a symlink counts its target's length, as in dockerd
    service.create_rootfs(CID, image)

    service.mount_rootfs(CID, mountpoint)
    (mountpoint / "hello.txt").write_text("hello\n")
    (mountpoint / "bin/sh").unlink()
    service.unmount_rootfs(CID, mountpoint)
    service.mount_rootfs(CID, mountpoint)
    try:
        assert (mountpoint / "hello.txt").read_text() == "hello\n"
        assert not (mountpoint / "bin/sh").exists()
    finally:
        service.unmount_rootfs(CID, mountpoint)

    size_rw, size_rootfs = service.rootfs_usage(CID)
    assert size_rw == len("hello\n")  # the whiteout of bin/sh is a 0-byte device
    assert size_rootfs == size_rw + image.size
    service.remove_rootfs(CID)
    assert service.snapshots.get(f"rw:{CID}") is None
    # Other containers of the same image start clean.
    service.create_rootfs("c" * 64, image)
    service.mount_rootfs("c" * 64, mountpoint)
    try:
        assert not (mountpoint / "hello.txt").exists()
        assert (mountpoint / "bin/sh").exists()
    finally:
        service.unmount_rootfs("c" * 64, mountpoint)


@pytest.mark.parametrize("method", ["new-mount-api", "proc-self-fd"])
def test_120_layers(data_root: Path, mountpoint: Path, method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if method == "proc-self-fd":
        monkeypatch.setattr(mount, "_new_api_works", False)
    layers = [[f(f"file{i:03d}", f"{i}".encode()), f("top", f"{i}".encode())] for i in range(120)]
    service = pulled(data_root, layers)  # type: ignore[arg-type]
    service.create_rootfs(CID, service.get("img"))
    options = ",".join(service.rootfs_mounts(CID)[0].options)
    assert len(options) > mount.PAGE_LIMIT  # too long for one mount(2) page

    service.mount_rootfs(CID, mountpoint)
    try:
        assert len([n for n in os.listdir(mountpoint) if n.startswith("file")]) == 120
        assert (mountpoint / "file000").read_text() == "0"
        assert (mountpoint / "top").read_text() == "119"  # the highest layer wins
    finally:
        service.unmount_rootfs(CID, mountpoint)


def test_commit_carries_deletions_and_new_files(data_root: Path, mountpoint: Path) -> None:
    from dockyard.image import CommitRequest

    service = pulled(data_root, [[d("bin"), f("bin/sh", b"#!", mode=0o755), d("etc"), f("etc/motd", b"hi")]])
    service.create_rootfs(CID, service.get("img"))
    service.mount_rootfs(CID, mountpoint)
    try:
        (mountpoint / "bin/sh").unlink()
        (mountpoint / "etc/new.conf").write_text("new\n")
    finally:
        service.unmount_rootfs(CID, mountpoint)

    image = asyncio.run(
        service.commit(CommitRequest(container_id=CID, parent=service.get("img"), config={}, created_by="rm"))
    )
    service.create_rootfs("c" * 64, image)
    service.mount_rootfs("c" * 64, mountpoint)
    try:
        assert not (mountpoint / "bin/sh").exists()
        assert (mountpoint / "etc/new.conf").read_text() == "new\n"
        assert (mountpoint / "etc/motd").read_text() == "hi"
    finally:
        service.unmount_rootfs("c" * 64, mountpoint)
    assert len(service.layers(image)) == 2
