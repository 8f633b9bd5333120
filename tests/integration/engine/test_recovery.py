"""Daemon restart: a new Engine on the same roots finds the containers the old one left."""

from __future__ import annotations

import asyncio

from dockyard.engine import ContainerStatus, ExecConfig, HostConfig, RestartPolicy
from tests.integration.engine.conftest import Engines, create, output


async def _wait_status(engine: object, cid: str, status: ContainerStatus) -> None:
    for _ in range(200):
        if engine.containers.get(cid).state.status is status:  # type: ignore[attr-defined]
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{cid[:12]} never became {status}")


async def test_running_containers_survive_and_ended_ones_get_their_exit_code(engines1: Engines) -> None:
    old = await engines1.open()
    keeps = await create(old, "sh", "-c", "echo before; sleep 300")
    ends = await create(old, "sh", "-c", "sleep 1; exit 7")
    for cid in (keeps, ends):
        await old.containers.start(cid)
    pid = old.containers.get(keeps).state.pid
    await engines1.close(old)
    await asyncio.sleep(1.5)  # "ends" exits while no daemon watches

    new = await engines1.open(load=False)
    running = new.containers.get(keeps).state
    assert (running.status, running.pid) == (ContainerStatus.RUNNING, pid)
    ended = new.containers.get(ends).state
    assert (ended.status, ended.exit_code) == (ContainerStatus.EXITED, 7)
    assert await output(new, keeps) == b"before\n"
    exec_id = await new.execs.create(keeps, ExecConfig(cmd=("true",)))
    await new.execs.start(exec_id, detach=True)
    await new.containers.stop(keeps, timeout=1)
    assert new.containers.get(keeps).state.exit_code == 137


async def test_restart_policies_at_daemon_start(engines1: Engines) -> None:
    old = await engines1.open()
    always = await create(old, "sleep", "300", host=HostConfig(restart_policy=RestartPolicy(name="always")))
    unless = await create(
        old, "sleep", "300", host=HostConfig(restart_policy=RestartPolicy(name="unless-stopped"))
    )
    for cid in (always, unless):
        await old.containers.start(cid)
        await old.containers.stop(cid, timeout=0)
    await engines1.close(old)

    new = await engines1.open(load=False)
    await _wait_status(new, always, ContainerStatus.RUNNING)
    assert new.containers.get(unless).state.status is ContainerStatus.EXITED
