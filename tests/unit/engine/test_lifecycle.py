"""The container state machine over fake monitors and a fake runtime (no root, no processes)."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from dockyard.engine.container import (
    ContainerConfig,
    ContainerStatus,
    HostConfig,
    NetworkingConfig,
    RestartPolicy,
)
from dockyard.errors import (
    AlreadyStarted,
    AlreadyStopped,
    Conflict,
    ContainerIsRunning,
    ContainerNotRunning,
    InvalidArgument,
    NameInUse,
    NoSuchContainer,
    NoSuchImage,
    RuntimeFailed,
)
from tests.support.engine_fakes import Harness, eventually, make_harness


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return make_harness(tmp_path)


async def _create(h: Harness, name: str | None = None, **host: object) -> str:
    container_id, _ = await h.containers.create(
        name=name,
        config=ContainerConfig(image="busybox"),
        host_config=HostConfig(network_mode="none", **host),  # type: ignore[arg-type]
        networking_config=NetworkingConfig(),
        platform=None,
    )
    return container_id


async def _settle() -> None:
    for _ in range(50):
        await asyncio.sleep(0)


async def test_create_fills_dockers_defaults(h: Harness) -> None:
    cid, warnings = await h.containers.create(
        name="web",
        config=ContainerConfig(image="busybox", env=("A=1",)),
        host_config=HostConfig(),
        networking_config=NetworkingConfig(),
        platform=None,
    )
    c = h.containers.get("web")
    assert (c.path, c.args, c.config.hostname) == ("sh", (), cid[:12])
    assert c.config.env == ("A=1", "PATH=/usr/bin:/bin")
    assert (c.host_config.network_mode, c.host_config.ipc_mode, c.host_config.shm_size) == (
        "bridge",
        "private",
        67108864,
    )
    assert c.state.status is ContainerStatus.CREATED
    assert warnings == []
    assert h.actions(cid) == ["create"]


async def test_an_unknown_image_is_no_such_image_and_stores_nothing(h: Harness) -> None:
    with pytest.raises(NoSuchImage, match="No such image: nope:latest"):
        await h.containers.create(
            name="xx",
            config=ContainerConfig(image="nope"),
            host_config=HostConfig(),
            networking_config=NetworkingConfig(),
            platform=None,
        )
    assert h.containers.list(all=True) == []


async def test_a_duplicate_name_is_refused_and_stores_nothing(h: Harness) -> None:
    first = await _create(h, "web")
    with pytest.raises(NameInUse, match=first):
        await _create(h, "web")
    assert len(h.containers.list(all=True)) == 1


async def test_generated_names_are_unique(h: Harness) -> None:
    names = {h.containers.get(await _create(h)).name for _ in range(30)}
    assert len(names) == 30


async def test_start_runs_and_an_exit_is_recorded_with_events(h: Harness) -> None:
    cid = await _create(h, "web")
    await h.containers.start("web")
    assert h.containers.get(cid).state.status is ContainerStatus.RUNNING
    h.process(cid).exit(3)
    await eventually(lambda: h.containers.get(cid).state.status is ContainerStatus.EXITED)
    state = h.containers.get(cid).state
    assert (state.status, state.exit_code, state.pid) == (ContainerStatus.EXITED, 3, 0)
    assert h.actions(cid) == ["create", "start", "die"]


async def test_starting_a_running_container_is_not_modified(h: Harness) -> None:
    cid = await h.run()
    with pytest.raises(AlreadyStarted):
        await h.containers.start(cid)


async def test_stop_sends_term_and_records_143(h: Harness) -> None:
    cid = await h.run()
    await h.containers.stop(cid)
    assert h.containers.get(cid).state.exit_code == 143
    assert ("kill", cid, signal.SIGTERM) in h.runtime.calls
    assert h.actions(cid)[-3:] == ["kill", "die", "stop"]


async def test_stop_kills_after_the_timeout_when_term_is_ignored(h: Harness) -> None:
    cid = await h.run()
    h.process(cid).ignores.add(signal.SIGTERM)
    stopping = asyncio.ensure_future(h.containers.stop(cid, timeout=5))
    await h.clock.advance(4.9)
    assert not stopping.done()
    await h.clock.advance(0.2)
    await stopping
    assert h.containers.get(cid).state.exit_code == 137
    assert [c[2] for c in h.runtime.calls if c[0] == "kill"] == [signal.SIGTERM, signal.SIGKILL]


async def test_stop_uses_the_containers_stop_signal_and_timeout(h: Harness) -> None:
    cid = await h.run(stop_signal="SIGUSR1", stop_timeout=2)
    h.process(cid).ignores.add(signal.SIGUSR1)
    stopping = asyncio.ensure_future(h.containers.stop(cid))
    await h.clock.advance(2.1)
    await stopping
    assert [c[2] for c in h.runtime.calls if c[0] == "kill"] == [signal.SIGUSR1, signal.SIGKILL]


async def test_stop_with_minus_one_never_kills(h: Harness) -> None:
    cid = await h.run()
    h.process(cid).ignores.add(signal.SIGTERM)
    stopping = asyncio.ensure_future(h.containers.stop(cid, timeout=-1))
    await h.clock.advance(3600)
    assert not stopping.done()
    h.process(cid).exit(0)
    await stopping
    assert h.containers.get(cid).state.exit_code == 0


async def test_stopping_a_stopped_container_is_not_modified(h: Harness) -> None:
    cid = await _create(h)
    with pytest.raises(AlreadyStopped):
        await h.containers.stop(cid)


async def test_kill_of_a_stopped_container_is_dockers_conflict(h: Harness) -> None:
    cid = await _create(h)
    with pytest.raises(ContainerNotRunning, match=f"^Container {cid} is not running$"):
        await h.containers.kill(cid)


async def test_kill_returns_once_dead_and_records_137(h: Harness) -> None:
    cid = await h.run()
    await h.containers.kill(cid)
    assert h.containers.get(cid).state.exit_code == 137


async def test_kill_with_a_bad_signal_is_refused(h: Harness) -> None:
    cid = await h.run()
    with pytest.raises(InvalidArgument, match="Invalid signal: SIGNOPE"):
        await h.containers.kill(cid, signal="SIGNOPE")


async def test_a_failed_start_reports_the_runtime_and_keeps_the_record(h: Harness) -> None:
    cid = await _create(h)
    h.monitors.fail_next = RuntimeFailed('exec: "sh": executable file not found in $PATH')
    with pytest.raises(RuntimeFailed, match="OCI runtime create failed: exec"):
        await h.containers.start(cid)
    state = h.containers.get(cid).state
    assert (state.status, state.exit_code) == (ContainerStatus.CREATED, 127)
    assert "executable file not found" in state.error


async def test_rm_of_a_running_container_needs_force(h: Harness) -> None:
    cid = await h.run(name="web")
    with pytest.raises(ContainerIsRunning) as info:
        await h.containers.remove(cid)
    assert str(info.value) == (
        'cannot remove container "/web": container is running: stop the container before removing '
        "or force remove"
    )
    await h.containers.remove(cid, force=True)
    with pytest.raises(NoSuchContainer):
        h.containers.get(cid)
    assert h.actions(cid)[-2:] == ["die", "destroy"]
    assert cid not in h.images.rootfs


async def test_auto_remove_removes_after_exit_and_wakes_removed_waiters(h: Harness) -> None:
    cid = await _create(h, auto_remove=True)
    waiter = asyncio.ensure_future(h.containers.wait(cid, condition="removed"))
    await h.containers.start(cid)
    h.process(cid).exit(0)
    assert await waiter == (0, None)
    with pytest.raises(NoSuchContainer):
        h.containers.get(cid)


async def test_wait_conditions(h: Harness) -> None:
    cid = await _create(h)
    assert await h.containers.wait(cid) == (0, None)  # not running: at once
    next_exit = asyncio.ensure_future(h.containers.wait(cid, condition="next-exit"))
    await h.containers.start(cid)
    await _settle()
    assert not next_exit.done()
    h.process(cid).exit(7)
    assert await next_exit == (7, None)
    with pytest.raises(InvalidArgument):
        await h.containers.wait(cid, condition="soon")


async def test_on_failure_restarts_with_backoff_up_to_the_cap(h: Harness) -> None:
    cid = await _create(h, restart_policy=RestartPolicy(name="on-failure", maximum_retry_count=2))
    await h.containers.start(cid)
    for expected_count in (1, 2):
        h.process(cid).exit(1)
        await eventually(lambda: h.containers.get(cid).state.status is not ContainerStatus.RUNNING)
        c = h.containers.get(cid)
        assert (c.state.status, c.state.restart_count) == (ContainerStatus.RESTARTING, expected_count)
        await h.clock.advance(1.0)
        await eventually(lambda: h.containers.get(cid).state.status is ContainerStatus.RUNNING)
    h.process(cid).exit(1)
    await eventually(lambda: h.containers.get(cid).state.status is ContainerStatus.EXITED)
    assert h.containers.get(cid).state.restart_count == 2


async def test_a_stop_cancels_the_always_policy_for_this_run(h: Harness) -> None:
    cid = await _create(h, restart_policy=RestartPolicy(name="always"))
    await h.containers.start(cid)
    await h.containers.stop(cid)
    await h.clock.advance(5)
    assert h.containers.get(cid).state.status is ContainerStatus.EXITED
    assert h.store.notes(cid).manually_stopped


async def test_pause_and_unpause(h: Harness) -> None:
    cid = await h.run()
    await h.containers.pause(cid)
    assert h.containers.get(cid).state.status is ContainerStatus.PAUSED
    with pytest.raises(Conflict, match="already paused"):
        await h.containers.pause(cid)
    with pytest.raises(Conflict, match="cannot start a paused container"):
        await h.containers.start(cid)
    await h.containers.unpause(cid)
    assert h.containers.get(cid).state.status is ContainerStatus.RUNNING
    with pytest.raises(Conflict, match="is not paused"):
        await h.containers.unpause(cid)


async def test_attach_before_start_sees_the_first_output(h: Harness) -> None:
    cid = await _create(h)
    session = await h.containers.attach(
        cid, stdin=False, stdout=True, stderr=True, logs=False, stream=True, detach_keys=None
    )
    assert session.pending
    await h.containers.start(cid)
    process = h.process(cid)
    process.write("stdout", b"hello\n")
    process.exit(0)
    assert await session.read() == b"\x01\x00\x00\x00\x00\x00\x00\x06hello\n"
    assert await session.read() == b""


async def test_detach_keys_end_the_session_but_not_the_container(h: Harness) -> None:
    cid = await h.run(open_stdin=True, tty=True)
    session = await h.containers.attach(
        cid, stdin=True, stdout=True, stderr=True, logs=False, stream=True, detach_keys="ctrl-x,y"
    )
    await session.write(b"ls\n\x18")
    await session.write(b"y")
    assert session.detached
    assert await session.read() == b""
    assert bytes(h.process(cid).stdin) == b"ls\n"
    assert h.containers.get(cid).state.status is ContainerStatus.RUNNING
    assert "detach" in h.actions(cid)


async def test_rename_moves_the_name(h: Harness) -> None:
    cid = await _create(h, "old")
    await h.containers.rename(cid, "new")
    assert h.containers.get("new").id == cid
    with pytest.raises(InvalidArgument, match="same name"):
        await h.containers.rename(cid, "new")
    assert "rename" in h.actions(cid)


async def test_list_shows_running_unless_all_and_filters(h: Harness) -> None:
    running = await h.run(name="up", labels={"tier": "web"})
    stopped = await _create(h, "down")
    assert [r.container.id for r in h.containers.list()] == [running]
    assert {r.container.id for r in h.containers.list(all=True)} == {running, stopped}
    assert [r.container.id for r in h.containers.list(filters={"status": ["created"]})] == [stopped]
    assert [r.container.id for r in h.containers.list(all=True, filters={"label": ["tier=web"]})] == [running]
    assert [r.container.id for r in h.containers.list(all=True, filters={"name": ["^/do"]})] == [stopped]
    assert h.containers.list()[0].status.startswith("Up ")
    with pytest.raises(InvalidArgument, match="invalid filter 'colour'"):
        h.containers.list(filters={"colour": ["red"]})
    with pytest.raises(InvalidArgument, match="invalid filter 'status=sleepy'"):
        h.containers.list(filters={"status": ["sleepy"]})


async def test_prune_removes_only_stopped_containers(h: Harness) -> None:
    running = await h.run()
    stopped = await _create(h)
    removed, reclaimed = await h.containers.prune()
    assert (removed, reclaimed) == ([stopped], 2)
    assert [c.container.id for c in h.containers.list(all=True)] == [running]


async def test_top_lists_the_containers_processes(h: Harness) -> None:
    cid = await h.run()
    titles, rows = await h.containers.top(cid, ps_args="-o pid,comm")
    assert titles == ["PID", "COMMAND"]
    assert rows == []  # the fake pid is not a real process on this host


async def test_a_failed_start_of_an_auto_remove_container_removes_it_and_wakes_waiters(h: Harness) -> None:
    cid = await _create(h, auto_remove=True)
    removed = asyncio.ensure_future(h.containers.wait(cid, condition="removed"))
    h.monitors.fail_next = RuntimeFailed('exec: "nope": executable file not found in $PATH')
    with pytest.raises(RuntimeFailed):
        await h.containers.start(cid)
    assert (await removed)[0] == 127
    with pytest.raises(NoSuchContainer):
        h.containers.get(cid)


async def test_a_failed_start_wakes_next_exit_waiters(h: Harness) -> None:
    cid = await _create(h)
    waiter = asyncio.ensure_future(h.containers.wait(cid, condition="next-exit"))
    h.monitors.fail_next = RuntimeFailed("permission denied")
    with pytest.raises(RuntimeFailed):
        await h.containers.start(cid)
    assert (await waiter)[0] == 126


async def test_waiter_checks_at_once_and_never_misses_an_exit(h: Harness) -> None:
    with pytest.raises(NoSuchContainer):
        h.containers.waiter("nope", condition="next-exit")
    cid = await h.run()
    future = h.containers.waiter(cid, condition="next-exit")  # registered before the exit
    h.process(cid).exit(6)
    assert await future == (6, None)
