"""Exec bookkeeping over fake monitors."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from dockyard.engine.container import ContainerConfig, HostConfig
from dockyard.engine.execs import ExecConfig, exec_process
from dockyard.engine.users import ResolvedUser
from dockyard.errors import (
    Conflict,
    ContainerNotRunning,
    ContainerPaused,
    InvalidArgument,
    NoSuchExec,
    RuntimeFailed,
)
from tests.support.engine_fakes import Harness, make_container, make_harness


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return make_harness(tmp_path)


async def _eventually(check: object) -> None:
    for _ in range(500):
        if check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached within 5 s")


async def test_exec_on_a_stopped_container_is_dockers_conflict(h: Harness) -> None:
    cid = await h.run()
    await h.containers.kill(cid)
    with pytest.raises(ContainerNotRunning, match=f"^Container {cid} is not running$"):
        await h.execs.create(cid, ExecConfig(cmd=("ls",)))


async def test_exec_on_a_paused_container_is_refused(h: Harness) -> None:
    cid = await h.run()
    await h.containers.pause(cid)
    with pytest.raises(ContainerPaused, match="unpause the container before exec"):
        await h.execs.create(cid, ExecConfig(cmd=("ls",)))


async def test_an_empty_command_is_refused(h: Harness) -> None:
    cid = await h.run()
    with pytest.raises(InvalidArgument):
        await h.execs.create(cid, ExecConfig())


async def test_an_exec_runs_streams_and_records_its_exit_code(h: Harness) -> None:
    cid = await h.run()
    exec_id = await h.execs.create(cid, ExecConfig(cmd=("sh", "-c", "exit 5"), attach_stdout=True))
    assert h.execs.inspect(exec_id).running is False
    session = await h.execs.start(exec_id, detach=False)
    assert session is not None
    process = h.process(exec_id)
    assert h.execs.inspect(exec_id).running
    process.write("stdout", b"out\n")
    process.exit(5)
    assert await session.read() == b"\x01\x00\x00\x00\x00\x00\x00\x04out\n"
    assert await session.read() == b""  # the stream ends only once the exit code is recorded
    assert h.execs.inspect(exec_id).exit_code == 5
    assert not h.execs.inspect(exec_id).running
    actions = h.actions(cid)
    assert "exec_create: sh -c exit 5" in actions
    assert "exec_die" in actions
    with pytest.raises(Conflict, match="has already run"):
        await h.execs.start(exec_id, detach=True)


async def test_a_detached_exec_returns_no_stream(h: Harness) -> None:
    cid = await h.run()
    exec_id = await h.execs.create(cid, ExecConfig(cmd=("sleep", "9")))
    assert await h.execs.start(exec_id, detach=True) is None
    with pytest.raises(Conflict, match="is already running"):
        await h.execs.start(exec_id, detach=True)
    monitor = h.monitors.last(exec_id)
    assert monitor.config.mode == "exec"
    assert monitor.config.container_id == cid


async def test_unknown_exec_ids_are_no_such_exec(h: Harness) -> None:
    with pytest.raises(NoSuchExec, match="No such exec instance: nope"):
        h.execs.inspect("nope")


def test_the_exec_process_merges_env_and_inherits_the_containers_capabilities() -> None:
    container = make_container(
        config=ContainerConfig(hostname="abc", env=("A=1", "PATH=/opt"), working_dir="/srv"),
        host_config=HostConfig(cap_drop=("ALL",), cap_add=("CHOWN",)),
    )
    process = exec_process(
        container,
        ExecConfig(cmd=("id",), env=("A=2", "B=3"), tty=True),
        user=ResolvedUser(uid=5, gid=6),
        last_cap=40,
    )
    assert process.env == ["PATH=/opt", "HOSTNAME=abc", "TERM=xterm", "A=2", "B=3", "HOME=/"]
    assert process.cwd == "/srv"
    assert process.capabilities is not None
    assert process.capabilities.bounding == ["CAP_CHOWN"]
    assert (process.user.uid, process.user.gid) == (5, 6)
    privileged = exec_process(
        container, ExecConfig(cmd=("id",), privileged=True), user=ResolvedUser(), last_cap=40
    )
    assert privileged.capabilities is not None
    assert len(privileged.capabilities.bounding) == 41


async def test_an_exec_that_cannot_start_reports_126_in_its_stream(h: Harness) -> None:
    cid = await h.run()
    exec_id = await h.execs.create(cid, ExecConfig(cmd=("/nosuch",), attach_stdout=True))
    original = h.monitors.spawn

    async def spawn(config: object) -> object:
        monitor = await original(config)  # type: ignore[arg-type]

        async def start() -> int:
            raise RuntimeFailed('exec: "/nosuch": stat /nosuch: no such file or directory')

        monitor.start = start  # type: ignore[method-assign]
        return monitor

    h.monitors.spawn = spawn  # type: ignore[method-assign]
    session = await h.execs.start(exec_id, detach=False)
    assert session is not None
    data = await session.read()
    assert data.startswith(b"\x01\x00\x00\x00")
    assert b"OCI runtime exec failed: exec:" in data
    assert await session.read() == b""
    record = h.execs.inspect(exec_id)
    assert (record.running, record.exit_code) == (False, 126)


@pytest.mark.parametrize(
    ("created", "started", "tty", "expected"),
    [
        pytest.param((10, 20), (33, 111), True, {"height": 33, "width": 111}, id="start-overrides-create"),
        pytest.param((10, 20), None, True, {"height": 10, "width": 20}, id="create-size"),
        pytest.param(None, (33, 111), False, None, id="no-tty-no-size"),
    ],
)
async def test_the_process_starts_with_its_console_size(
    h: Harness,
    created: tuple[int, int] | None,
    started: tuple[int, int] | None,
    tty: bool,
    expected: dict[str, int] | None,
) -> None:
    # An exec'd process runs before anyone could resize its terminal: the size is in process.json.
    cid = await h.run()
    exec_id = await h.execs.create(cid, ExecConfig(cmd=("stty", "size"), tty=tty, console_size=created))
    await h.execs.start(exec_id, detach=True, console_size=started)
    process = json.loads(Path(h.monitors.last(exec_id).config.process_path).read_text())
    assert process.get("terminal", False) is tty
    assert process.get("consoleSize") == expected


def _answer_wait_late(h: Harness) -> asyncio.Event:
    """Hold every exec monitor's ``wait`` answer until the returned event is set."""
    release = asyncio.Event()
    original = h.monitors.spawn

    async def spawn(config: object) -> object:
        monitor = await original(config)  # type: ignore[arg-type]
        answer = monitor.wait

        async def wait() -> object:
            record = await answer()
            await release.wait()
            return record

        monitor.wait = wait  # type: ignore[method-assign]
        return monitor

    h.monitors.spawn = spawn  # type: ignore[method-assign]
    return release


async def test_the_stream_ends_only_once_the_exit_code_is_stored_however_late(h: Harness) -> None:
    # The monitor ends the stream as it writes its exit record; the engine hears of the exit
    # later. The CLI inspects the exec as soon as the stream ends: it must find the code.
    cid = await h.run()
    release = _answer_wait_late(h)
    exec_id = await h.execs.create(cid, ExecConfig(cmd=("false",), attach_stdout=True))
    session = await h.execs.start(exec_id, detach=False)
    assert session is not None
    h.process(exec_id).exit(1)
    end = asyncio.ensure_future(session.read())
    await asyncio.sleep(0.05)
    assert not end.done()
    assert h.execs.inspect(exec_id).running
    release.set()
    assert await asyncio.wait_for(end, 5) == b""
    assert (h.execs.inspect(exec_id).running, h.execs.inspect(exec_id).exit_code) == (False, 1)


async def test_the_stream_ends_when_the_exec_is_gone_or_no_longer_watched(h: Harness) -> None:
    cid = await h.run()
    release = _answer_wait_late(h)
    sessions = []
    for _ in range(2):
        exec_id = await h.execs.create(cid, ExecConfig(cmd=("sleep", "9"), attach_stdout=True))
        session = await h.execs.start(exec_id, detach=False)
        assert session is not None
        h.process(exec_id).exit(0)
        sessions.append((exec_id, session))
    h.store.drop_execs([sessions[0][0]])  # its container went away meanwhile
    release.set()
    assert await asyncio.wait_for(sessions[0][1].read(), 5) == b""
    assert await asyncio.wait_for(sessions[1][1].read(), 5) == b""
    exec_id = await h.execs.create(cid, ExecConfig(cmd=("sleep", "9"), attach_stdout=True))
    session = await h.execs.start(exec_id, detach=False)
    assert session is not None
    await h.execs.close()  # daemon shutdown: the watch is cancelled, the process runs on
    h.process(exec_id).exit(0)
    assert await asyncio.wait_for(session.read(), 5) == b""
