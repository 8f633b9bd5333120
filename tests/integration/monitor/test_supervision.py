"""The monitor with real containers: logs, attach, stdin, exit codes, OOM, exec, failures."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time

import pytest

from dockyard import errors
from dockyard.monitor import MonitorClient, read_log
from dockyard.oci import runtime_spec as rs
from tests.integration.monitor.conftest import Rig, demux, read_all

LOG_LINE = re.compile(
    rb'^\{"log":"(?P<log>(?:[^"\\]|\\.)*)","stream":"(?P<stream>stdout|stderr)",'
    rb'"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z"\}$'
)


def test_log_is_dockers_json_file_format(rig: Rig) -> None:
    script = "echo hello; sleep 0.1; echo 'a<b>\tc' >&2; sleep 0.1; printf partial"
    config = rig.config("log", ["sh", "-c", script])

    async def body() -> int:
        client = await rig.spawn(config)
        await client.start()
        return (await client.wait()).exit_code

    assert rig.run(body()) == 0
    assert config.log_path is not None
    with open(config.log_path, "rb") as file:
        lines = file.read().split(b"\n")
    assert lines[-1] == b""
    matches = [LOG_LINE.match(line) for line in lines[:-1]]
    assert all(matches), lines
    assert [(m["stream"], m["log"]) for m in matches if m] == [
        (b"stdout", b"hello\\n"),
        (b"stderr", b"a\\u003cb\\u003e\\u0009c\\n"),
        (b"stdout", b"partial"),  # no newline at the end: a partial message, as dockerd logs it
    ]


def test_attach_fans_out_to_every_client(rig: Rig) -> None:
    config = rig.config("fan", ["sh", "-c", "for i in 1 2 3; do echo out$i; echo err$i >&2; done"])

    async def body() -> tuple[dict[int, bytes], dict[int, bytes], dict[int, bytes], int]:
        client = await rig.spawn(config)
        both = await client.attach(stdin=False, stdout=True, stderr=True)
        again = await client.attach(stdin=False, stdout=True, stderr=True)
        errors_only = await client.attach(stdin=False, stdout=False, stderr=True)
        await client.start()
        outputs = await asyncio.gather(read_all(both), read_all(again), read_all(errors_only))
        record = await client.wait()
        return demux(outputs[0]), demux(outputs[1]), demux(outputs[2]), record.exit_code

    first, second, only_err, code = rig.run(body())
    assert code == 0
    assert first == second == {1: b"out1\nout2\nout3\n", 2: b"err1\nerr2\nerr3\n"}
    assert only_err == {1: b"", 2: b"err1\nerr2\nerr3\n"}


def test_stdin_once_closes_stdin_when_the_session_ends(rig: Rig) -> None:
    config = rig.config("cat", ["cat"], stdin=True, stdin_once=True)

    async def body() -> tuple[bytes, int]:
        client = await rig.spawn(config)
        stream = await client.attach(stdin=True, stdout=True, stderr=True)
        await client.start()
        await stream.write(b"hello ")
        await stream.write(b"world\n")
        await stream.close_stdin()
        output = await read_all(stream)
        return output, (await client.wait()).exit_code

    output, code = rig.run(body())
    assert demux(output)[1] == b"hello world\n"
    assert code == 0  # cat saw EOF


def test_stdin_stays_open_across_client_disconnects(rig: Rig) -> None:
    script = "read a; echo got $a; read b; echo got $b"
    config = rig.config("keep", ["sh", "-c", script], stdin=True, stdin_once=False)

    async def body() -> list[bytes]:
        client = await rig.spawn(config)
        await client.start()
        first = await client.attach(stdin=True, stdout=False, stderr=False)
        await first.write(b"one\n")
        await first.close_stdin()  # without StdinOnce this ends only this client's input
        await first.close()
        await asyncio.sleep(0.2)
        second = await client.attach(stdin=True, stdout=True, stderr=False)
        await second.write(b"two\n")
        output = await read_all(second)
        await client.wait()
        return [output, b"".join(e.data for e in read_log(config.log_path or ""))]

    streamed, logged = rig.run(body())
    assert logged == b"got one\ngot two\n"
    assert demux(streamed)[1] == b"got two\n"


def _terminal(spec: rs.Spec) -> None:
    assert spec.process is not None
    spec.process.terminal = True


async def _read_until(stream: object, marker: bytes, seen: bytearray) -> None:
    while marker not in seen:
        chunk = await stream.read()  # type: ignore[attr-defined]
        if not chunk:
            raise AssertionError(f"stream ended before {marker!r}: {bytes(seen)!r}")
        seen += chunk


@pytest.mark.parametrize("deep", [False, True], ids=["short-path", "path-over-108-bytes"])
def test_tty_size_and_resize(rig: Rig, deep: bool) -> None:
    monitor_dir = rig.base / ("d" * 60) / ("e" * 60) / "m-tty" if deep else rig.base / "m-tty"
    config = rig.config(
        "tty",
        ["sh", "-c", "stty size; read x; stty size"],
        mutate=_terminal,
        terminal=True,
        stdin=True,
        console_size=(24, 80),
        monitor_dir=monitor_dir,
    )

    async def body() -> tuple[bytes, bool, int]:
        client = await rig.spawn(config)
        stream = await client.attach(stdin=True, stdout=True, stderr=True)
        await client.start()
        seen = bytearray()
        await _read_until(stream, b"24 80", seen)
        await client.resize(30, 100)
        await stream.write(b"\n")
        seen += await read_all(stream)
        return bytes(seen), stream.tty, (await client.wait()).exit_code

    output, tty, code = rig.run(body())
    assert tty
    assert b"24 80\r\n" in output  # raw terminal bytes: the pty turned \n into \r\n
    assert b"30 100\r\n" in output
    assert code == 0


@pytest.mark.parametrize(
    ("args", "code", "sig"),
    [
        pytest.param(["true"], 0, None, id="zero"),
        pytest.param(["sh", "-c", "exit 3"], 3, None, id="three"),
        pytest.param(["sh", "-c", "sleep 100 & kill -KILL $!; wait $!"], 137, None, id="child-status"),
    ],
)
def test_exit_codes(rig: Rig, args: list[str], code: int, sig: int | None) -> None:
    config = rig.config("exit", args)

    async def body() -> tuple[int, int | None, int, int]:
        client = await rig.spawn(config)
        pid = await client.start()
        record = await client.wait()
        return record.exit_code, record.signal, record.pid, pid

    exit_code, signal_number, recorded_pid, pid = rig.run(body())
    assert (exit_code, signal_number) == (code, sig)
    assert recorded_pid == pid


def test_runtime_kill_is_recorded_as_137(rig: Rig) -> None:
    config = rig.config("killed", ["sleep", "100"])

    async def body() -> tuple[int, int | None, str, str]:
        client = await rig.spawn(config)
        await client.start()
        await asyncio.sleep(0.1)
        assert rig.runtime_cmd("kill", config.container_id, "KILL").returncode == 0
        record = await client.wait()
        return record.exit_code, record.signal, record.started_at, record.finished_at

    code, sig, started, finished = rig.run(body())
    assert (code, sig) == (137, 9)
    assert started < finished


def test_oom_kill_is_recorded(rig: Rig) -> None:
    def limit(spec: rs.Spec) -> None:
        assert spec.linux is not None
        assert spec.linux.resources is not None
        spec.linux.resources.memory = rs.LinuxMemory(limit=16 << 20, swap=16 << 20)

    config = rig.config("oom", ["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"], mutate=limit)

    async def body() -> tuple[int, bool]:
        client = await rig.spawn(config)
        await client.start()
        record = await client.wait()
        return record.exit_code, record.oom_killed

    assert rig.run(body()) == (137, True)


def test_exec_runs_in_the_container_and_is_not_logged(rig: Rig) -> None:
    init = rig.config("host", ["sleep", "100"])

    async def body() -> tuple[dict[int, bytes], int, int, list[object]]:
        client = await rig.spawn(init)
        await client.start()
        exec_config = rig.exec_config(init.container_id, "ex", ["sh", "-c", "hostname; echo e >&2; exit 5"])
        execution = await rig.spawn(exec_config)
        assert execution.pid == 0  # nothing runs before start
        stream = await execution.attach(stdin=False, stdout=True, stderr=True)
        pid = await execution.start()
        output = demux(await read_all(stream))
        record = await execution.wait()
        return output, record.exit_code, pid, list(read_log(init.log_path or ""))

    output, code, pid, logged = rig.run(body())
    assert output == {1: b"dyt\n", 2: b"e\n"}  # the bundle's hostname: it ran inside
    assert code == 5
    assert pid > 0
    assert logged == []  # exec output never reaches the container's log, as with dockerd


def test_exec_with_a_terminal(rig: Rig) -> None:
    init = rig.config("host", ["sleep", "100"])

    async def body() -> tuple[bytes, bool, int]:
        client = await rig.spawn(init)
        await client.start()
        config = rig.exec_config(
            init.container_id, "tx", ["sh", "-c", "tty; stty size"], terminal=True, console_size=(33, 111)
        )
        execution = await rig.spawn(config)
        stream = await execution.attach(stdin=False, stdout=True, stderr=True)
        await execution.start()
        output = await read_all(stream)
        return output, stream.tty, (await execution.wait()).exit_code

    output, tty, code = rig.run(body())
    assert tty
    assert re.search(rb"^/dev/pts/\d+\r\n33 111\r\n$", output), output
    assert code == 0


def test_exec_killed_by_sigterm_is_143(rig: Rig) -> None:
    init = rig.config("host", ["sleep", "100"])

    async def body() -> tuple[int, int | None]:
        client = await rig.spawn(init)
        await client.start()
        execution = await rig.spawn(rig.exec_config(init.container_id, "sl", ["sleep", "100"]))
        pid = await execution.start()
        await asyncio.sleep(0.1)
        os.kill(pid, signal.SIGTERM)  # not the namespace's init: the default action applies
        record = await execution.wait()
        return record.exit_code, record.signal

    assert rig.run(body()) == (143, 15)


def test_exec_leaving_a_background_child_still_ends(rig: Rig) -> None:
    init = rig.config("host", ["sleep", "100"])

    async def body() -> tuple[int, float, bytes]:
        client = await rig.spawn(init)
        await client.start()
        background = rig.exec_config(init.container_id, "bg", ["sh", "-c", "sleep 30 & echo bye"])
        execution = await rig.spawn(background)
        stream = await execution.attach(stdin=False, stdout=True, stderr=False)
        begin = time.monotonic()
        await execution.start()
        output = await read_all(stream)  # sleep holds the pipe: the monitor stops after its grace
        record = await execution.wait()
        return record.exit_code, time.monotonic() - begin, output

    code, took, output = rig.run(body())
    assert code == 0
    assert demux(output)[1] == b"bye\n"
    assert took < 5


def test_exec_in_a_missing_container_fails_on_start(rig: Rig) -> None:
    async def body() -> None:
        execution = await rig.spawn(rig.exec_config(f"{rig.name}-none", "none", ["true"]))
        with pytest.raises(errors.NotFound, match="does not exist"):
            await execution.start()
        with pytest.raises(errors.MonitorLost):
            await execution.wait()  # it never ran: no exit record

    rig.run(body())


def test_create_failure_carries_the_runtimes_message(rig: Rig) -> None:
    config = rig.config("bad", ["/nonexistent"])

    async def body() -> None:
        with pytest.raises(errors.RuntimeFailed, match=r"/nonexistent.*no such file or directory"):
            await rig.spawn(config)

    rig.run(body())
    assert not os.path.exists(config.path("attach.sock"))
    assert not os.path.exists(config.path("monitor.pid"))
    assert rig.runtime_cmd("state", config.container_id).returncode != 0  # nothing left behind


def test_start_twice_is_not_modified(rig: Rig) -> None:
    config = rig.config("twice", ["sleep", "100"])

    async def body() -> None:
        client = await rig.spawn(config)
        await client.start()
        with pytest.raises(errors.NotModified):
            await client.start()
        state = await client.state()
        assert (state.status, state.pid) == ("running", client.pid)

    rig.run(body())


def test_client_after_exit_reads_the_record(rig: Rig) -> None:
    config = rig.config("after", ["sh", "-c", "exit 4"])

    async def body() -> tuple[int, int, str]:
        client = await rig.spawn(config)
        await client.start()
        first = await client.wait()
        later = await MonitorClient.connect(config.monitor_dir)
        state = await later.state()
        with pytest.raises(errors.Conflict):
            await later.attach(stdin=False, stdout=True, stderr=True)
        return first.exit_code, (await later.wait()).exit_code, state.status

    assert rig.run(body()) == (4, 4, "exited")
    assert not os.path.exists(config.path("attach.sock"))
