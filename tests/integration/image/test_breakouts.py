"""The breakout corpus as root, delivered four ways (apply, pull, load, import): zero writes
outside the layer, overlay whiteouts where the layer asks for them."""

from __future__ import annotations

import asyncio
import io
import json
import os
import stat
import tarfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from dockyard.errors import DockyardError
from dockyard.image import ApplyOptions, ImageService
from dockyard.image.archive import apply_layer
from dockyard.registry import Reference
from tests.integration.image.conftest import drain, host_files, make_service, run_pull
from tests.support import oci_layouts
from tests.support.registry import RunningRegistry, open_registry, push_image
from tests.unit.image.fakeregistry import FakeRegistry
from tests.unit.image.tarfixtures import BREAKOUTS, Breakout, compress, image_blobs, layer_tar, sha256

METHODS = ("apply", "pull", "registry", "load", "import")


@pytest.fixture(scope="module")
def corpus_registry() -> Iterator[RunningRegistry]:
    """A real registry serving every corpus case as ``corpus/<case>:1`` (it checks digests only)."""
    with open_registry() as running:
        for case in BREAKOUTS:
            tar = layer_tar(case.entries)
            layer = oci_layouts.Layer(tar=tar, blob=compress(tar, "gzip"), created_by=case.name)
            image = oci_layouts.build_image(
                case.name.lower(), [layer], repo=f"corpus/{case.name.lower()}", tag="1"
            )
            push_image(running, image)
        yield running


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), 4096):
        yield data[i : i + 4096]


def _save_archive(tar: bytes) -> bytes:
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [sha256(tar)]}}
    ).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        for name, data in (
            ("layer/layer.tar", tar),
            ("config.json", config),
            (
                "manifest.json",
                json.dumps(
                    [{"Config": "config.json", "RepoTags": ["corpus:1"], "Layers": ["layer/layer.tar"]}]
                ).encode(),
            ),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def deliver(case: Breakout, method: str, root: Path, registry: RunningRegistry | None) -> Path:
    """Unpack the case's layer by ``method``; the directory it landed in."""
    tar = layer_tar(case.entries)
    if method == "registry":
        assert registry is not None
        name = f"{registry.host}/corpus/{case.name.lower()}:1"
        service, _ = run_pull(root, name)
        snap = service.snapshots.get(service.get(name).top_layer or "")
        assert snap is not None
        return service.snapshots.fs(snap)
    if method == "apply":
        layer = root / "layer"
        layer.mkdir()
        fd = os.open(layer, os.O_RDONLY | os.O_DIRECTORY)
        try:
            apply_layer(io.BytesIO(compress(tar, "gzip")), fd, options=ApplyOptions())
        finally:
            os.close(fd)
        return layer
    registry = FakeRegistry()
    registry.push("corpus", "1", image_blobs([case.entries]))
    service = make_service(root, registry=registry)
    if method == "pull":
        asyncio.run(drain(service.pull(Reference.parse("corpus:1"))))
    elif method == "load":
        asyncio.run(drain(service.load(_chunks(_save_archive(tar)))))
    else:
        asyncio.run(
            service.import_image(
                _chunks(tar), ref=Reference.parse("corpus:1"), message="", changes=[], platform=None
            )
        )
    return _layer_dir(service)


def _layer_dir(service: ImageService) -> Path:
    image = service.get("corpus:1")
    snap = service.snapshots.get(image.top_layer or "")
    assert snap is not None
    return service.snapshots.fs(snap)


def _check(layer: Path, path: str, expected: str | None) -> None:
    parent, _, name = path.rpartition("/")
    if name == ".wh..wh..opq":
        assert os.getxattr(layer / parent, "trusted.overlay.opaque") == b"y"
        return
    if name.startswith(".wh."):
        node = (layer / parent / name[4:]).lstat()
        assert stat.S_ISCHR(node.st_mode)
        assert node.st_rdev == 0
        return
    target = layer / path
    assert target.is_symlink() or target.exists(), path
    if expected is not None and expected.startswith("->"):
        assert os.readlink(target) == expected[2:]
    elif expected is not None:
        assert not target.is_symlink()
        assert target.read_text() == expected


def _outside(root: Path) -> list[tuple[str, int, int]]:
    """Every path under ``root`` except the store itself (``data/``) and the ``apply`` target."""
    out = []
    for dirpath, dirnames, files in os.walk(root):
        if Path(dirpath) == root:
            dirnames[:] = [n for n in dirnames if n not in ("data", "layer")]
        for name in dirnames + files:
            st = os.lstat(os.path.join(dirpath, name))
            out.append((os.path.join(dirpath, name), st.st_mode, st.st_mtime_ns))
    return sorted(out)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", BREAKOUTS, ids=lambda c: c.name)
def test_breakout_corpus_as_root(
    case: Breakout, method: str, data_root: Path, request: pytest.FixtureRequest
) -> None:
    registry = request.getfixturevalue("corpus_registry") if method == "registry" else None
    canary = data_root / "canary"
    (canary / "etc").mkdir(parents=True)
    (canary / "etc/passwd").write_text("canary")
    os.symlink(canary / "etc", data_root / "etc-link")
    before, host = _outside(data_root), host_files()

    if case.error:
        with pytest.raises(DockyardError):
            deliver(case, method, data_root, registry)
    else:
        layer = deliver(case, method, data_root, registry)
        for path, expected in case.files.items():
            _check(layer, path, expected)

    assert _outside(data_root) == before
    assert host_files() == host
    for stray in ("/victim", "/tmp/victim", "/tmp/outside", "/etc/victim", "/tmp/outside/victim"):
        assert not os.path.lexists(stray), stray


def test_device_nodes_and_owners_are_applied_as_root(data_root: Path) -> None:
    from tests.unit.image.tarfixtures import Entry, f

    tar = layer_tar(
        [
            Entry("dev/null", tarfile.CHRTYPE, mode=0o666, devmajor=1, devminor=3),
            Entry("dev/fifo", tarfile.FIFOTYPE, mode=0o600),
            f("home/user/file", b"x", mode=0o640, uid=1000, gid=1000),
            f("bin/su", b"#!", mode=0o4755),
        ]
    )
    layer = data_root / "layer"
    layer.mkdir()
    fd = os.open(layer, os.O_RDONLY | os.O_DIRECTORY)
    try:
        apply_layer(io.BytesIO(tar), fd)
    finally:
        os.close(fd)

    null = (layer / "dev/null").lstat()
    assert stat.S_ISCHR(null.st_mode)
    assert null.st_rdev == os.makedev(1, 3)
    assert stat.S_IMODE(null.st_mode) == 0o666
    assert stat.S_ISFIFO((layer / "dev/fifo").lstat().st_mode)
    owned = (layer / "home/user/file").stat()
    assert (owned.st_uid, owned.st_gid, stat.S_IMODE(owned.st_mode)) == (1000, 1000, 0o640)
    assert stat.S_IMODE((layer / "bin/su").stat().st_mode) == 0o4755  # set-id kept: chmod after chown
