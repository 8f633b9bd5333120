"""Blocking disk work runs in worker threads: the event loop serves other requests meanwhile.

Each slow fake blocks its caller until the test, running on the event loop, opens a gate. If the
work ran on the loop, the loop could not open the gate: the fake would give up waiting and
record that it was never let through.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from types import SimpleNamespace

from dockyard.engine.events import EventBus
from dockyard.engine.images import ImageFacade
from dockyard.util.db import Database
from tests.support.engine_fakes import FakeImages, make_harness

_PATIENCE = 10.0  # seconds a fake waits for the gate before giving up (only when the test fails)


class _Gate:
    """A threading.Event that also remembers whether each waiter was let through."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.let_through: list[bool] = []

    def wait(self) -> None:
        self.let_through.append(self._event.wait(_PATIENCE))

    def open(self) -> None:
        self._event.set()


class _SlowImageService:
    """The image room's deletions, as slow as an rmtree of a big image."""

    def __init__(self, gate: _Gate) -> None:
        self.gate = gate

    def get(self, name: str) -> SimpleNamespace:
        return SimpleNamespace(id="sha256:" + "a" * 64)

    def delete(self, name: str, **_: object) -> list[tuple[str, str]]:
        self.gate.wait()
        return [("Untagged", name), ("Deleted", "sha256:" + "a" * 64)]

    def prune(self, **_: object) -> tuple[list[tuple[str, str]], int]:
        self.gate.wait()
        return [("Deleted", "sha256:" + "b" * 64)], 1234


def _facade(tmp_path: Path, gate: _Gate) -> tuple[ImageFacade, EventBus]:
    events = EventBus(Database(tmp_path / "state.db"))
    service = _SlowImageService(gate)
    facade = ImageFacade(service, events, used_by=lambda _: [], merged_dir=lambda c: tmp_path)  # type: ignore[arg-type]
    return facade, events


async def _while_blocked(work: asyncio.Future[object], gate: _Gate) -> object:
    await asyncio.sleep(0)  # the work starts and blocks
    gate.open()  # only possible if the loop is free
    return await work


async def test_rmi_deletes_in_a_worker_thread(tmp_path: Path) -> None:
    gate = _Gate()
    facade, events = _facade(tmp_path, gate)
    records = await _while_blocked(asyncio.ensure_future(facade.remove_image("big:latest")), gate)
    assert records == [("Untagged", "big:latest"), ("Deleted", "sha256:" + "a" * 64)]
    assert gate.let_through == [True]
    assert [e.action for e in events.replay(since=0, until=None)] == ["untag", "delete"]


async def test_image_prune_deletes_in_a_worker_thread(tmp_path: Path) -> None:
    gate = _Gate()
    facade, events = _facade(tmp_path, gate)
    pruning = asyncio.ensure_future(facade.prune_images(filters={"dangling": ["false"]}))
    done = await _while_blocked(pruning, gate)
    assert done == ([("Deleted", "sha256:" + "b" * 64)], 1234)
    assert gate.let_through == [True]
    assert [e.action for e in events.replay(since=0, until=None)] == ["delete", "prune"]


class _SlowUsage(FakeImages):
    """Container filesystems whose size takes a disk walk."""

    gate: _Gate

    def rootfs_usage(self, container_id: str) -> tuple[int, int]:
        self.gate.wait()
        return super().rootfs_usage(container_id)


async def test_container_sizes_are_measured_in_a_worker_thread(tmp_path: Path) -> None:
    h = make_harness(tmp_path)
    cid = await h.run()
    gate = _Gate()
    slow = _SlowUsage(tmp_path)
    slow.gate, slow.rootfs = gate, h.images.rootfs
    h.containers._images = slow  # the seam the service measures through
    rows = h.containers.list(all=True)
    details = h.containers.inspect(cid)
    sized = await _while_blocked(asyncio.ensure_future(h.containers.with_sizes([*rows, details])), gate)
    assert [(v.size_rw, v.size_root_fs) for v in sized] == [(2, 1000), (2, 1000)]  # type: ignore[attr-defined]
    assert gate.let_through == [True, True]
    assert (rows[0].size_rw, details.size_rw) == (None, None)  # listed without sizes: nothing walked
