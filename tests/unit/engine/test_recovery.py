"""Daemon restart over fakes: every record reconciled with what its monitor says."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from dockyard.engine import recovery
from dockyard.engine.container import (
    ContainerConfig,
    ContainerStatus,
    HostConfig,
    NetworkingConfig,
    RestartPolicy,
)
from dockyard.engine.store import ContainerNotes
from tests.support.engine_fakes import Harness, eventually, make_container, make_harness


async def _restart(h: Harness, tmp_path: Path) -> Harness:
    await h.containers.close()
    new = make_harness(tmp_path, previous=h)
    await recovery.recover(new.containers, new.execs, store=new.store, paths=new.paths)
    return new


async def test_a_running_container_is_adopted_and_its_later_exit_recorded(tmp_path: Path) -> None:
    h = make_harness(tmp_path)
    cid = await h.run()
    new = await _restart(h, tmp_path)
    assert new.containers.get(cid).state.status is ContainerStatus.RUNNING
    assert new.containers.task(cid) is not None
    h.process(cid).exit(4)
    await eventually(lambda: new.containers.get(cid).state.status is ContainerStatus.EXITED)
    assert new.containers.get(cid).state.exit_code == 4


async def test_an_exit_while_no_daemon_watched_is_recorded(tmp_path: Path) -> None:
    h = make_harness(tmp_path)
    cid = await h.run()
    await h.containers.close()
    h.process(cid).exit(9)
    new = make_harness(tmp_path, previous=h)
    await recovery.recover(new.containers, new.execs, store=new.store, paths=new.paths)
    state = new.containers.get(cid).state
    assert (state.status, state.exit_code) == (ContainerStatus.EXITED, 9)


async def test_a_half_created_container_is_removed(tmp_path: Path) -> None:
    h = make_harness(tmp_path)
    ghost = make_container(name="ghost", config=ContainerConfig(image="busybox"))
    h.store.add(ghost, ContainerNotes(creating=True))
    new = await _restart(h, tmp_path)
    assert new.store.find(ghost.id) is None
    assert "destroy" not in new.actions(ghost.id)


async def test_always_restarts_a_stopped_container_and_unless_stopped_does_not(tmp_path: Path) -> None:
    h = make_harness(tmp_path)
    ids = {}
    for policy in ("always", "unless-stopped"):
        cid, _ = await h.containers.create(
            name=policy,
            config=ContainerConfig(image="busybox"),
            host_config=HostConfig(network_mode="none", restart_policy=RestartPolicy(name=policy)),
            networking_config=NetworkingConfig(),
            platform=None,
        )
        await h.containers.start(cid)
        await h.containers.stop(cid)
        ids[policy] = cid
    new = await _restart(h, tmp_path)
    assert new.containers.get(ids["always"]).state.status is ContainerStatus.RUNNING
    assert new.containers.get(ids["unless-stopped"]).state.status is ContainerStatus.EXITED


async def test_one_broken_record_does_not_stop_the_others(tmp_path: Path) -> None:
    h = make_harness(tmp_path)
    good = await h.run()
    bad = await h.run()
    await h.containers.close()
    broken = h.store.get(bad)
    h.store.update(
        dataclasses.replace(broken, host_config=dataclasses.replace(broken.host_config, runtime="gone"))
    )
    h.monitors.by_dir.clear()
    new = make_harness(tmp_path, previous=h)
    h.monitors.by_dir.update(
        {m.config.monitor_dir: m for m in h.monitors.spawned if m.config.task_id == good}
    )
    await recovery.recover(new.containers, new.execs, store=new.store, paths=new.paths)
    assert new.containers.get(good).state.status is ContainerStatus.RUNNING


async def test_a_start_the_record_missed_is_adopted(tmp_path: Path) -> None:
    h = make_harness(tmp_path)
    cid = await h.run()
    await h.containers.close()
    # The daemon died after the process started but before the record said "running".
    record = h.store.get(cid)
    h.store.update(
        dataclasses.replace(record, state=dataclasses.replace(record.state, status=ContainerStatus.CREATED))
    )
    new = make_harness(tmp_path, previous=h)
    await recovery.recover(new.containers, new.execs, store=new.store, paths=new.paths)
    assert new.containers.get(cid).state.status is ContainerStatus.RUNNING
    assert new.containers.task(cid) is not None


async def test_leftovers_of_unknown_containers_are_swept_from_the_paths_roots(tmp_path: Path) -> None:
    h = make_harness(tmp_path)
    cid = await h.run()
    stray = "f" * 64
    leftovers = [h.paths.bundle(stray), h.paths.monitor_dir(stray)]
    for directory in leftovers:
        directory.mkdir(parents=True)
    h.paths.netns(stray).touch()
    new = await _restart(h, tmp_path)
    assert not any(p.exists() for p in [*leftovers, h.paths.netns(stray)])
    assert new.paths.netns(cid).exists()  # the live container's namespace file stays
