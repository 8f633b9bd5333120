"""A monitor that dies before its process, and the network namespace of one run, over fakes.

A lost monitor is settled as containerd settles a dead shim (``cleanupAfterDeadShim``): the
runtime's ``kill --all`` and ``delete --force`` end the container, and the exit is recorded as
137, whether the daemon was up to see it or finds it at start-up.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dockyard.engine import recovery
from dockyard.engine.container import ContainerStatus, HostConfig
from dockyard.errors import NoSuchContainer
from tests.support.engine_fakes import Harness, eventually, make_harness


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return make_harness(tmp_path)


def _ended_by_the_runtime(h: Harness, cid: str) -> bool:
    return ("kill", cid, "KILL") in h.runtime.calls and ("delete", cid, True) in h.runtime.calls


async def test_a_lost_monitor_ends_the_task_as_killed(h: Harness) -> None:
    cid = await h.run()
    process = h.process(cid)
    h.monitors.last(cid).lose()
    await eventually(lambda: h.containers.get(cid).state.status is ContainerStatus.EXITED)
    state = h.containers.get(cid).state
    assert (state.exit_code, state.pid, state.error) == (137, 0, "")
    assert _ended_by_the_runtime(h, cid)
    assert process.exited  # the record never says "exited" of a process that still runs
    assert h.actions(cid)[-1] == "die"


async def test_after_a_lost_monitor_start_and_rm_work(h: Harness) -> None:
    cid = await h.run()
    started_at = h.containers.get(cid).state.started_at
    h.monitors.last(cid).lose()
    await eventually(lambda: h.containers.get(cid).state.status is ContainerStatus.EXITED)
    assert h.containers.get(cid).state.started_at == started_at  # kept: the monitor saw the start

    await h.containers.start(cid)
    assert h.containers.get(cid).state.status is ContainerStatus.RUNNING
    assert h.containers.get(cid).state.pid == h.process(cid).pid
    await h.containers.remove(cid, force=True)
    with pytest.raises(NoSuchContainer):
        h.containers.get(cid)


async def test_a_stop_waiting_on_a_lost_monitor_returns(h: Harness) -> None:
    cid = await h.run()
    h.process(cid).ignores.add(15)  # TERM ignored: the stop waits for its timeout
    stopping = asyncio.ensure_future(h.containers.stop(cid, timeout=30))
    await asyncio.sleep(0.05)
    h.monitors.last(cid).lose()
    await asyncio.wait_for(stopping, 5)
    assert h.containers.get(cid).state.exit_code == 137


async def test_a_lost_monitor_found_at_start_up_is_settled_the_same_way(tmp_path: Path) -> None:
    h = make_harness(tmp_path)
    cid = await h.run()
    process = h.process(cid)
    await h.containers.close()
    h.monitors.last(cid).lose()  # SIGKILLed with the daemon; the process runs on
    new = make_harness(tmp_path, previous=h)
    await recovery.recover(new.containers, new.execs, store=new.store, paths=new.paths)
    state = new.containers.get(cid).state
    assert (state.status, state.exit_code, state.pid, state.error) == (ContainerStatus.EXITED, 137, 0, "")
    assert _ended_by_the_runtime(new, cid)
    assert process.exited
    await new.containers.start(cid)
    assert new.containers.get(cid).state.status is ContainerStatus.RUNNING


async def test_a_lost_monitor_whose_runtime_forgot_the_container_is_settled(tmp_path: Path) -> None:
    h = make_harness(tmp_path)
    cid = await h.run()
    await h.containers.close()
    h.monitors.last(cid).lose()
    h.process(cid).exit(0)  # the runtime has no such container any more: kill says NotFound
    new = make_harness(tmp_path, previous=h)
    await recovery.recover(new.containers, new.execs, store=new.store, paths=new.paths)
    state = new.containers.get(cid).state
    assert (state.status, state.exit_code) == (ContainerStatus.EXITED, 137)
    assert ("delete", cid, True) in new.runtime.calls


# --- the network namespace lives as long as a run ------------------------------------------------


async def test_the_network_namespace_is_released_at_exit_and_made_at_start(h: Harness) -> None:
    cid = await h.run()
    netns = h.paths.netns(cid)
    assert netns.exists()
    h.process(cid).exit(0)
    await eventually(lambda: h.containers.get(cid).state.status is ContainerStatus.EXITED)
    assert not netns.exists()  # released with the run, as dockerd releases the sandbox
    await h.containers.start(cid)
    assert netns.exists()
    await h.containers.stop(cid)
    assert not netns.exists()


async def test_host_network_containers_have_no_namespace_to_release(h: Harness) -> None:
    cid = await h.run(host=HostConfig(network_mode="host"))
    assert not h.paths.netns(cid).exists()
    await h.containers.stop(cid)
    assert h.containers.get(cid).state.status is ContainerStatus.EXITED


async def test_start_up_releases_the_namespace_a_stopped_container_kept(tmp_path: Path) -> None:
    h = make_harness(tmp_path)
    cid = await h.run()
    await h.containers.stop(cid)
    await h.containers.close()
    h.paths.netns(cid).touch()  # left by a daemon that kept namespaces until rm
    new = make_harness(tmp_path, previous=h)
    await recovery.recover(new.containers, new.execs, store=new.store, paths=new.paths)
    assert not new.paths.netns(cid).exists()
