"""Fixtures for the image room's root tests: a service on a throwaway data root, a real registry
serving the fixture images the tests need, the hostile registry, and mount points that are always
unmounted."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from dockyard.config import Paths
from dockyard.image import ImageService, Progress
from dockyard.image.mount import unmount
from dockyard.registry import RegistryClient, RegistryConfig
from dockyard.util.db import Database
from tests.support import oci_layouts
from tests.support.evil_registry import EvilRegistry, open_evil_registry
from tests.support.registry import RunningRegistry, open_registry, push_image, push_index


@pytest.fixture(scope="module")
def fixture_registry() -> Iterator[RunningRegistry]:
    """A real registry (Debian's docker-registry) with alpine (a manifest list) and whiteouts."""
    with open_registry() as running:
        alpine, arm = oci_layouts.fixture("alpine"), oci_layouts.fixture("alpine-arm64")
        push_index(running, [alpine, arm], "library/alpine:latest")
        push_image(running, oci_layouts.fixture("whiteouts"), form="docker")
        yield running


@pytest.fixture(scope="module")
def evil() -> Iterator[EvilRegistry]:
    with open_evil_registry() as running:
        yield running


@pytest.fixture
def data_root() -> Iterator[Path]:
    """A fresh data root named ``dyt-…`` (so anything left mounted under it is a leak)."""
    root = Path(tempfile.mkdtemp(prefix="dyt-image-"))
    try:
        yield root
    finally:
        _unmount_below(root)
        shutil.rmtree(root, ignore_errors=True)


def _unmount_below(root: Path) -> None:
    for line in reversed(Path("/proc/self/mountinfo").read_text().splitlines()):
        point = line.split()[4].replace("\\040", " ")
        if point.startswith(str(root)):
            unmount(Path(point), detach=True)


def make_service(root: Path, *, registry: object = None, sync: bool = False) -> ImageService:
    paths = Paths(data_root=root / "data", exec_root=root / "exec")
    paths.data_root.mkdir(parents=True, exist_ok=True)
    db = Database(paths.data_root / "state.db")
    return ImageService(paths=paths, db=db, registry=registry, sync=sync)  # type: ignore[arg-type]


def client() -> RegistryClient:
    return RegistryClient(RegistryConfig(retry_backoff=0.01))


async def drain(events: AsyncIterator[Progress]) -> list[Progress]:
    return [e async for e in events]


def run_pull(service_root: Path, name: str) -> tuple[ImageService, list[Progress]]:
    """Pull ``name`` with a real client into a service on ``service_root``."""

    async def go() -> tuple[ImageService, list[Progress]]:
        registry = client()
        try:
            service = make_service(service_root, registry=registry)
            from dockyard.registry import Reference

            return service, await drain(service.pull(Reference.parse(name)))
        finally:
            await registry.aclose()

    return asyncio.run(go())


@pytest.fixture
def mountpoint(data_root: Path) -> Iterator[Path]:
    target = data_root / "rootfs"
    target.mkdir()
    try:
        yield target
    finally:
        unmount(target, detach=True)


def host_files() -> dict[str, tuple[bytes, int, int, int]]:
    """Content, mode, owner and mtime of the host files hostile layers aim at."""
    out = {}
    for name in ("/etc/passwd", "/etc/hostname", "/etc/shadow"):
        st = os.lstat(name)
        out[name] = (Path(name).read_bytes(), st.st_mode, st.st_uid, st.st_mtime_ns)
    return out
