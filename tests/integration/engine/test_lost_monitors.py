"""A container's monitor SIGKILLed, with real runtimes: the task is ended and nothing leaks.

The engine settles a lost monitor as containerd settles a dead shim: the runtime's ``kill
--all`` and ``delete --force`` end the container and remove its cgroups and state, and the exit
is recorded as 137. Checked with the engine up, and with the engine closed at the time (a
daemon restart). Also: a stopped container keeps no network namespace.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from dockyard.engine import ContainerStatus, Engine
from tests.integration.engine.conftest import Engines, create

_CGROUP_ROOT = Path("/sys/fs/cgroup")


def _alive(pid: int) -> bool:
    """``pid`` exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _monitor_pid(engines: Engines, cid: str) -> int:
    return int((engines.config.paths.monitor_dir(cid) / "monitor.pid").read_text().strip())


def _cgroups_of(engines: Engines, cid: str) -> list[Path]:
    parent = engines.config.cgroup_parent.lstrip("/")
    return [c / parent / cid for c in _CGROUP_ROOT.iterdir() if (c / parent / cid).is_dir()]


async def _settled(engine: Engine, cid: str) -> None:
    for _ in range(200):
        if engine.containers.get(cid).state.status is ContainerStatus.EXITED:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{cid[:12]} still {engine.containers.get(cid).state.status}")


async def _ended_cleanly(engines: Engines, engine: Engine, cid: str, pid: int) -> None:
    state = engine.containers.get(cid).state
    assert (state.status, state.exit_code, state.pid) == (ContainerStatus.EXITED, 137, 0)
    for _ in range(50):
        if not _alive(pid):
            break
        await asyncio.sleep(0.1)
    assert not _alive(pid)
    assert _cgroups_of(engines, cid) == []
    assert not os.path.ismount(engines.config.paths.bundle(cid) / "rootfs")
    assert not engines.config.paths.netns(cid).exists()


async def _runs_again(engines: Engines, engine: Engine, cid: str) -> None:
    await engine.containers.start(cid)
    pid = engine.containers.get(cid).state.pid
    assert _alive(pid)
    assert engines.config.paths.netns(cid).exists()
    await engine.containers.remove(cid, force=True)
    assert not _alive(pid)
    assert _cgroups_of(engines, cid) == []


async def test_a_killed_monitor_ends_its_container(engines: Engines) -> None:
    engine = await engines.open()
    cid = await create(engine, "sleep", "300")
    await engine.containers.start(cid)
    pid = engine.containers.get(cid).state.pid
    os.kill(_monitor_pid(engines, cid), signal.SIGKILL)

    await _settled(engine, cid)
    await _ended_cleanly(engines, engine, cid, pid)
    await _runs_again(engines, engine, cid)


async def test_a_monitor_killed_while_the_daemon_was_down(engines1: Engines) -> None:
    old = await engines1.open()
    cid = await create(old, "sleep", "300")
    await old.containers.start(cid)
    pid = old.containers.get(cid).state.pid
    await engines1.close(old)
    os.kill(_monitor_pid(engines1, cid), signal.SIGKILL)
    await asyncio.sleep(0.3)

    new = await engines1.open(load=False)
    await _ended_cleanly(engines1, new, cid, pid)
    await _runs_again(engines1, new, cid)


async def test_a_stopped_container_keeps_no_network_namespace(engines1: Engines) -> None:
    engine = await engines1.open()
    cid = await create(engine, "sleep", "300")
    netns = engines1.config.paths.netns(cid)
    await engine.containers.start(cid)
    assert netns.exists()
    await engine.containers.stop(cid, timeout=0)
    assert not netns.exists()
    assert not any(netns.as_posix() in line for line in Path("/proc/self/mountinfo").read_text().splitlines())
    await engine.containers.start(cid)  # a fresh namespace for the next run
    assert netns.exists()
    await engine.containers.stop(cid, timeout=0)
    await engines1.close(engine)

    new = await engines1.open(load=False)  # recovery leaves it released
    assert not netns.exists()
    await new.containers.start(cid)
    assert new.containers.get(cid).state.status is ContainerStatus.RUNNING
