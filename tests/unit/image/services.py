"""ImageService on a temporary data root, as the unit tier (running as nobody) can have it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from dockyard.config import Paths
from dockyard.image import ApplyOptions, ImageService, Progress
from dockyard.registry import Reference
from dockyard.util.db import Database
from tests.unit.image.fakeregistry import FakeRegistry

__all__ = ["KEEP", "drain", "make_service", "pull"]

KEEP = ApplyOptions(whiteouts="keep", privileged=False)
"""Unprivileged extraction: whiteouts kept as ``.wh.`` files, no owners, no device nodes."""


def make_service(root: Path, registry: FakeRegistry | None = None) -> ImageService:
    """A service with its data root under ``root`` (no fsync: tests)."""
    paths = Paths(data_root=root / "data", exec_root=root / "exec")
    paths.data_root.mkdir(parents=True, exist_ok=True)
    return ImageService(
        paths=paths,
        db=Database(paths.data_root / "state.db"),
        registry=registry,
        apply_options=KEEP,
        sync=False,
    )


async def drain(events: AsyncIterator[Progress]) -> list[Progress]:
    """Every event of a stream."""
    return [e async for e in events]


def pull(service: ImageService, name: str, **kw: object) -> list[Progress]:
    """Pull ``name`` to the end; its progress events."""
    return asyncio.run(drain(service.pull(Reference.parse(name), **kw)))  # type: ignore[arg-type]
