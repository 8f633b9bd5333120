"""The engine in-process, running real containers (dockyard-runtime and runc)."""

from __future__ import annotations

import asyncio

import pytest

from dockyard.engine import ContainerStatus, ExecConfig, HostConfig, RestartPolicy
from dockyard.errors import AlreadyStopped, ContainerIsRunning
from tests.integration.engine.conftest import Engines, create, output


async def test_run_exit_codes_and_logs(engines: Engines) -> None:
    engine = await engines.open()
    for code in (0, 3):
        cid = await create(engine, "sh", "-c", f"echo out; echo err >&2; exit {code}")
        waiter = asyncio.ensure_future(engine.containers.wait(cid, condition="next-exit"))
        await engine.containers.start(cid)
        assert await asyncio.wait_for(waiter, 30) == (code, None)
        state = engine.containers.inspect(cid).container.state
        assert (state.status, state.exit_code) == (ContainerStatus.EXITED, code)
        assert await output(engine, cid) == b"out\nerr\n"


async def test_attach_before_start_sees_everything(engines: Engines) -> None:
    engine = await engines.open()
    cid = await create(engine, "sh", "-c", "echo first; echo second >&2")
    session = await engine.containers.attach(
        cid, stdin=False, stdout=True, stderr=True, logs=False, stream=True, detach_keys=None
    )
    await engine.containers.start(cid)
    data = b""
    while chunk := await asyncio.wait_for(session.read(), 30):
        data += chunk
    assert b"\x01\x00\x00\x00\x00\x00\x00\x06first\n" in data
    assert b"\x02\x00\x00\x00\x00\x00\x00\x07second\n" in data


async def test_stop_gives_143_for_term_and_137_after_the_timeout(engines: Engines) -> None:
    engine = await engines.open()
    # PID 1 ignores signals it has no handler for: with --init, tini forwards TERM to sleep,
    # which dies of it, and tini exits 128+15 (what Docker shows for a polite container).
    polite = await create(engine, "sleep", "300", host=HostConfig(init=True))
    stubborn = await create(engine, "sh", "-c", "trap '' TERM; while true; do sleep 1; done")
    for cid in (polite, stubborn):
        await engine.containers.start(cid)
    await asyncio.sleep(0.3)  # let the shell install its trap
    await engine.containers.stop(polite)
    await engine.containers.stop(stubborn, timeout=1)
    assert engine.containers.get(polite).state.exit_code == 143
    assert engine.containers.get(stubborn).state.exit_code == 137
    with pytest.raises(AlreadyStopped):
        await engine.containers.stop(polite)


async def test_kill_gives_137_and_rm_needs_force(engines: Engines) -> None:
    engine = await engines.open()
    cid = await create(engine, "sleep", "300", name="dyt-victim")
    await engine.containers.start(cid)
    with pytest.raises(ContainerIsRunning):
        await engine.containers.remove(cid)
    await engine.containers.kill(cid)
    assert engine.containers.get(cid).state.exit_code == 137
    await engine.containers.remove(cid)
    assert engine.containers.list(all=True) == []


async def test_the_writable_layer_survives_stop_and_start(engines1: Engines) -> None:
    engine = await engines1.open()
    cid = await create(engine, "sh", "-c", "test -f /hello.txt && cat /hello.txt || echo hello > /hello.txt")
    for _ in range(2):
        waiter = asyncio.ensure_future(engine.containers.wait(cid, condition="next-exit"))
        await engine.containers.start(cid)
        await asyncio.wait_for(waiter, 30)
    assert await output(engine, cid) == b"hello\n"
    other = await create(engine, "ls", "/hello.txt")
    waiter = asyncio.ensure_future(engine.containers.wait(other, condition="next-exit"))
    await engine.containers.start(other)
    assert (await asyncio.wait_for(waiter, 30))[0] != 0  # another container does not see it


async def test_exec_runs_in_the_container(engines: Engines) -> None:
    engine = await engines.open()
    cid = await create(engine, "sleep", "300")
    await engine.containers.start(cid)
    for code in range(4, 12):
        exec_id = await engine.execs.create(
            cid,
            ExecConfig(cmd=("sh", "-c", f"hostname; exit {code}"), attach_stdout=True, attach_stderr=True),
        )
        session = await engine.execs.start(exec_id, detach=False)
        assert session is not None
        data = b""
        while chunk := await asyncio.wait_for(session.read(), 30):
            data += chunk
        assert data == b"\x01\x00\x00\x00\x00\x00\x00\x0d" + cid[:12].encode() + b"\n"
        # As the docker CLI does: inspect the moment the stream ends, and find the exit code.
        record = engine.execs.inspect(exec_id)
        assert (record.running, record.exit_code) == (False, code)


async def test_network_modes(engines1: Engines) -> None:
    engine = await engines1.open()
    script = "ip -o link 2>/dev/null | wc -l; cat /proc/net/dev | grep -c ':'; hostname"
    none = await create(engine, "sh", "-c", script, host=HostConfig(network_mode="none"))
    host = await create(engine, "sh", "-c", script, host=HostConfig(network_mode="host"))
    for cid in (none, host):
        waiter = asyncio.ensure_future(engine.containers.wait(cid, condition="next-exit"))
        await engine.containers.start(cid)
        await asyncio.wait_for(waiter, 30)
    none_lines = (await output(engine, none)).split()
    host_lines = (await output(engine, host)).split()
    assert none_lines[1] == b"1"  # loopback only
    assert int(host_lines[1]) >= 1
    assert none_lines[2] == none[:12].encode()
    assert host_lines[2] != host[:12].encode()


async def test_oom_is_reported(engines1: Engines) -> None:
    engine = await engines1.open()
    hog = "x=a; while true; do x=$x$x$x$x; done"
    cid = await create(engine, "sh", "-c", hog, host=HostConfig(memory=32 * 2**20, memory_swap=32 * 2**20))
    waiter = asyncio.ensure_future(engine.containers.wait(cid, condition="next-exit"))
    await engine.containers.start(cid)
    assert (await asyncio.wait_for(waiter, 60))[0] == 137
    state = engine.containers.get(cid).state
    assert state.oom_killed


async def test_on_failure_restarts_the_same_container(engines1: Engines) -> None:
    engine = await engines1.open()
    cid = await create(
        engine,
        "sh",
        "-c",
        "echo run; exit 1",
        host=HostConfig(restart_policy=RestartPolicy(name="on-failure", maximum_retry_count=2)),
    )
    await engine.containers.start(cid)
    for _ in range(200):
        state = engine.containers.get(cid).state
        if state.status is ContainerStatus.EXITED and state.restart_count == 2:
            break
        await asyncio.sleep(0.05)
    assert engine.containers.get(cid).state.restart_count == 2
    assert await output(engine, cid) == b"run\nrun\nrun\n"
