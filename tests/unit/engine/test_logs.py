"""``docker logs -f`` over fake monitors: which run it follows, and when it ends.

The fake monitors write no log, so the tests write the json-file lines a monitor would.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dockyard.engine.container import ContainerStatus, HostConfig, RestartPolicy
from dockyard.engine.logs import LogEntry
from tests.support.engine_fakes import Harness, eventually, make_harness


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return make_harness(tmp_path)


async def _started(h: Harness, policy: str = "no") -> str:
    return await h.run(host=HostConfig(network_mode="none", restart_policy=RestartPolicy(name=policy)))


def _log(h: Harness, container_id: str, text: str) -> None:
    line = {"log": text, "stream": "stdout", "time": "2024-01-02T03:04:05.000000001Z"}
    with h.paths.container_log(container_id).open("a") as log:
        log.write(json.dumps(line) + "\n")


def _follow(h: Harness, container_id: str) -> AsyncIterator[LogEntry]:
    return h.containers.logs(
        container_id,
        stdout=True,
        stderr=True,
        follow=True,
        since=None,
        until=None,
        timestamps=False,
        tail=None,
    )


async def test_follow_ends_when_the_container_exits(h: Harness) -> None:
    cid = await _started(h)
    _log(h, cid, "one\n")
    stream = _follow(h, cid)
    assert (await anext(stream)).data == b"one\n"
    rest = asyncio.ensure_future(anext(stream))
    _log(h, cid, "two\n")
    assert (await asyncio.wait_for(rest, 5)).data == b"two\n"
    h.process(cid).exit(0)
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(stream), 5)


async def test_follow_ends_with_the_run_it_followed_even_when_the_policy_restarts_it(h: Harness) -> None:
    # dockerd: logs -f follows one run; a restart policy's next run is a new stream.
    cid = await _started(h, policy="always")
    _log(h, cid, "first run\n")
    stream = _follow(h, cid)
    assert (await anext(stream)).data == b"first run\n"
    h.process(cid).exit(1)
    await eventually(lambda: h.containers.get(cid).state.status is ContainerStatus.RESTARTING)
    await h.clock.advance(1)  # the backoff passes at once: restarted before the follower looks
    await eventually(lambda: h.containers.get(cid).state.status is ContainerStatus.RUNNING)
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(stream), 5)


async def test_following_a_stopped_container_returns_its_history(h: Harness) -> None:
    cid = await _started(h)
    _log(h, cid, "only\n")
    h.process(cid).exit(0)
    await eventually(lambda: h.containers.get(cid).state.status is ContainerStatus.EXITED)
    assert [e.data async for e in _follow(h, cid)] == [b"only\n"]
