"""Pulls over HTTP: the real registry, the hostile one, and a pull killed with SIGKILL."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dockyard.errors import DockyardError, NoSuchImage, NotFound
from dockyard.image.mount import mount_all
from dockyard.oci.digest import DigestMismatch
from dockyard.registry import Reference
from tests.integration.image.conftest import host_files, make_service, run_pull
from tests.support import oci_layouts
from tests.support.evil_registry import EvilRegistry
from tests.support.registry import RunningRegistry
from tests.unit.image.fakeregistry import FakeRegistry
from tests.unit.image.tarfixtures import ImageBlobs, f, image_blobs

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_pull_a_manifest_list_from_a_real_registry(
    fixture_registry: RunningRegistry, data_root: Path
) -> None:
    name = f"{fixture_registry.host}/library/alpine"
    alpine = oci_layouts.fixture("alpine")

    service, events = run_pull(data_root, name)

    statuses = [e.status for e in events]
    assert statuses[0] == "Pulling from library/alpine"
    assert statuses.count("Pull complete") == len(alpine.layers)
    assert statuses[-1] == f"Status: Downloaded newer image for {name}:latest"
    image = service.get(name)
    assert image.id == alpine.image_id
    assert service.layers(image) == alpine.diff_ids
    assert service.fsck() == []

    _, events = run_pull(data_root, name)
    assert events[-1].status == f"Status: Image is up to date for {name}:latest"


def test_whiteouts_through_the_overlay(
    fixture_registry: RunningRegistry, data_root: Path, mountpoint: Path
) -> None:
    image = oci_layouts.fixture("whiteouts")
    service, _ = run_pull(data_root, f"{fixture_registry.host}/{image.repo}:{image.tag}")
    service.create_rootfs("f" * 64, service.get(f"{fixture_registry.host}/{image.repo}"))

    service.mount_rootfs("f" * 64, mountpoint)
    try:
        for path, content in image.expected.items():
            assert (mountpoint / path).read_bytes() == content, path
        for path in image.absent:
            assert not (mountpoint / path).exists(), path
        assert (mountpoint / ".dockerenv").is_file()
        assert os.readlink(mountpoint / "etc/mtab") == "/proc/mounts"
    finally:
        service.unmount_rootfs("f" * 64, mountpoint)
    service.remove_rootfs("f" * 64)


@pytest.mark.parametrize(
    "case", ["tamper/layer", "tamper/truncated", "tamper/longer", "tamper/length", "tamper/manifest"]
)
def test_tampered_content_is_rejected(evil: EvilRegistry, data_root: Path, case: str) -> None:
    with pytest.raises(DockyardError) as caught:
        run_pull(data_root, str(evil.ref(case)))

    assert isinstance(caught.value, DigestMismatch)
    expected = evil.image.manifest_digest if case == "tamper/manifest" else evil.layer.digest
    what = "manifest" if case == "tamper/manifest" else "filesystem layer"
    assert str(caught.value) == f"{what} verification failed for digest {expected}"  # dockerd's words
    service = make_service(data_root)
    with pytest.raises(NoSuchImage):
        service.get(str(evil.ref(case)))
    assert service.fsck() == []


def test_wrong_diff_ids_are_rejected(evil: EvilRegistry, data_root: Path) -> None:
    with pytest.raises(DockyardError, match="layers from manifest don't match image configuration"):
        run_pull(data_root, str(evil.ref("tamper/diffids")))

    service = make_service(data_root)
    assert service.store.all() == []
    assert service.fsck() == []


def test_traversal_shaped_digests_never_touch_the_disk(evil: EvilRegistry, data_root: Path) -> None:
    before = host_files()
    with pytest.raises(DockyardError):
        run_pull(data_root, str(evil.ref("digest/traversal")))

    assert host_files() == before
    assert not Path("/tmp/dyt-evil").exists()


def test_missing_tag(fixture_registry: RunningRegistry, data_root: Path) -> None:
    with pytest.raises(NotFound, match="manifest unknown"):
        run_pull(data_root, f"{fixture_registry.host}/library/alpine:nope")


_CHILD = textwrap.dedent(
    """
    import asyncio, sys
    sys.path.insert(0, {repo!r})
    from pathlib import Path
    from dockyard.registry import Reference
    from tests.integration.image.conftest import make_service
    from tests.integration.image.test_pull_registry import slow_image
    from tests.unit.image.fakeregistry import FakeRegistry

    registry = FakeRegistry(chunk=16384, delay=0.01)
    registry.push("slow", "latest", slow_image())
    service = make_service(Path({root!r}), registry=registry)

    async def main():
        async for event in service.pull(Reference.parse("slow")):
            if event.status == "Extracting":
                print("extracting", flush=True)
    asyncio.run(main())
    """
)


def slow_image() -> ImageBlobs:
    """Two layers of incompressible bytes (the same every time): slow to serve in small chunks."""
    rng = random.Random(7)
    return image_blobs([[f("a", rng.randbytes(1_500_000))], [f("b", rng.randbytes(1_500_000))]])


def test_a_pull_killed_with_sigkill_leaves_nothing_trusted(data_root: Path) -> None:
    script = _CHILD.format(repo=str(REPO_ROOT), root=str(data_root))
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, cwd=REPO_ROOT)
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line == b"extracting\n"
        time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        if child.stdout is not None:
            child.stdout.close()

    leftovers = [*(data_root / "data/content/ingest").iterdir(), *(data_root / "data/snapshots").iterdir()]
    assert leftovers  # the child died mid-pull, leaving partial work
    registry = FakeRegistry()
    image = slow_image()
    registry.push("slow", "latest", image)
    service = make_service(data_root, registry=registry)  # start-up recovery runs here
    assert service.store.all() == []
    assert all(s.kind == "layer" for s in service.snapshots.all())

    import asyncio

    async def pull() -> None:
        async for _ in service.pull(Reference.parse("slow")):
            pass

    asyncio.run(pull())
    assert service.get("slow").id == image.config_digest
    assert service.fsck() == []
    assert service.gc(grace=0).blobs == []


def test_mount_onto_a_symlink_is_refused(data_root: Path) -> None:
    (data_root / "real").mkdir()
    (data_root / "link").symlink_to(data_root / "real")
    service = make_service(data_root)
    service.snapshots.create_container("e" * 64, None)

    with pytest.raises(DockyardError):
        mount_all(service.rootfs_mounts("e" * 64), data_root / "link")
    assert not os.path.ismount(data_root / "real")


def _push(root: Path, name: str) -> list[str]:
    import asyncio

    from tests.integration.image.conftest import client, drain

    async def go() -> list[str]:
        registry = client()
        try:
            service = make_service(root, registry=registry)
            return [e.status for e in await drain(service.push(Reference.parse(name)))]
        finally:
            await registry.aclose()

    return asyncio.run(go())


def test_push_then_pull_elsewhere(fixture_registry: RunningRegistry, data_root: Path) -> None:
    host = fixture_registry.host
    service, _ = run_pull(data_root / "a", f"{host}/library/alpine")
    service.tag(service.get(f"{host}/library/alpine"), Reference.parse(f"{host}/copies/alpine:v1"))

    statuses = _push(data_root / "a", f"{host}/copies/alpine:v1")

    assert statuses[0] == f"The push refers to repository [{host}/copies/alpine]"
    assert statuses.count("Preparing") == 2
    assert all(
        s.startswith(("Preparing", "Pushing", "Pushed", "Mounted from", "Layer already"))
        for s in statuses[1:-1]
    )
    digest = statuses[-1].split()[2]
    assert statuses[-1].startswith("v1: digest: sha256:")
    other, _ = run_pull(data_root / "b", f"{host}/copies/alpine:v1")
    assert other.get(f"{host}/copies/alpine:v1").id == service.get(f"{host}/library/alpine").id
    assert f"{host}/copies/alpine@{digest}" in other.get(f"{host}/copies/alpine:v1").repo_digests


def test_push_of_an_imported_image_compresses_its_layer(
    fixture_registry: RunningRegistry, data_root: Path
) -> None:
    import asyncio

    from tests.unit.image.tarfixtures import d, layer_tar

    host = fixture_registry.host
    service = make_service(data_root / "a")

    async def chunks() -> AsyncIterator[bytes]:
        yield layer_tar([d("etc"), f("etc/imported", b"yes")])

    image = asyncio.run(
        service.import_image(
            chunks(), ref=Reference.parse(f"{host}/imported/x:1"), message="", changes=[], platform=None
        )
    )

    statuses = _push(data_root / "a", f"{host}/imported/x:1")

    assert "Pushed" in statuses
    other, _ = run_pull(data_root / "b", f"{host}/imported/x:1")
    assert other.get(f"{host}/imported/x:1").id == image.id
