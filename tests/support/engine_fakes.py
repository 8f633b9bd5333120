"""Fakes with behaviour for the engine's unit tests: record builders, a fake OCI runtime, a fake
monitor, a fake clock.

Kept apart from ``tests/support/fakes.py`` (the API's FakeEngine lives there) so that two
engineers never edit one file.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools

import pytest

from dockyard.engine.container import (
    Container,
    ContainerConfig,
    ContainerState,
    HostConfig,
    NetworkingConfig,
)
from dockyard.util import ids

__all__ = ["FakeClock", "make_container"]


def make_container(
    *,
    name: str = "web",
    container_id: str | None = None,
    config: ContainerConfig | None = None,
    host_config: HostConfig | None = None,
    state: ContainerState | None = None,
) -> Container:
    """A plausible container record, for stores and state machines."""
    config = config or ContainerConfig(image="busybox", cmd=("sh",))
    return Container(
        id=container_id or ids.new_id(),
        name=name,
        created="2024-01-02T03:04:05.000000001Z",
        path=(config.cmd or ("sh",))[0],
        args=tuple((config.cmd or ())[1:]),
        config=config,
        host_config=host_config or HostConfig(),
        networking_config=NetworkingConfig(),
        image_id="sha256:" + "e" * 64,
        state=state or ContainerState(),
    )


class FakeClock:
    """A Clock whose time moves only when the test says so (trio's MockClock).

    ``sleep`` parks the caller until ``advance`` moves time past its deadline; ``advance`` then
    lets the woken tasks run before it returns.
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._wall = start
        self._mono = 1000.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._counter = itertools.count()

    def now(self) -> float:
        return self._wall

    def monotonic(self) -> float:
        return self._mono

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._mono + seconds, next(self._counter), future))
        await future

    @property
    def sleepers(self) -> int:
        """How many tasks are parked in ``sleep`` (cancelled ones excluded)."""
        return sum(1 for *_, f in self._sleepers if not f.done())

    async def advance(self, seconds: float) -> None:
        """Move both clocks forward, waking sleepers in deadline order."""
        target = self._mono + seconds
        await _settle()
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, future = heapq.heappop(self._sleepers)
            self._wall += deadline - self._mono
            self._mono = deadline
            if not future.done():
                future.set_result(None)
            await _settle()
        self._wall += target - self._mono
        self._mono = target
        await _settle()


async def _settle() -> None:
    """Let every ready task run until nothing is left to do right now."""
    for _ in range(20):
        await asyncio.sleep(0)


def run_async_test(pyfuncitem: pytest.Function) -> bool | None:
    """A ``pytest_pyfunc_call`` body: run ``async def`` tests in a fresh asyncio loop.

    The engine is asyncio; this keeps its tests free of a plugin dependency.
    """
    import inspect

    function = pyfuncitem.obj
    if not inspect.iscoroutinefunction(function):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}
    asyncio.run(function(**kwargs))
    return True
