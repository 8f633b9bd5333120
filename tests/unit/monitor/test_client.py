"""MonitorClient against a fake monitor: long socket paths, frames, records, spawn reports."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.monitor import ExitRecord, MonitorClient, MonitorConfig, protocol
from dockyard.monitor.unixsock import listen_unix

RECORD = ExitRecord(
    exit_code=3, signal=None, oom_killed=False, started_at="2024-01-02T03:04:05Z",
    finished_at="2024-01-02T03:04:06Z", pid=42,
)  # fmt: skip

Handler = Callable[[dict[str, object], asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _serve(monitor_dir: Path, handler: Handler) -> asyncio.AbstractServer:
    """A fake monitor listening where a real one would (long paths included)."""
    monitor_dir.mkdir(parents=True, exist_ok=True)
    raw, dirfd = listen_unix(str(monitor_dir / protocol.SOCKET))
    os.close(dirfd)
    sock = socket.socket(fileno=raw.detach())

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = protocol.decode(await reader.readline())
        try:
            await handler(request, reader, writer)
        finally:
            writer.close()

    return await asyncio.start_unix_server(on_connect, sock=sock)


async def _state(
    request: dict[str, object], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    if request["op"] == "state":
        writer.write(protocol.reply(status="running", pid=42, exit=None))
    elif request["op"] == "resize":
        assert (request["height"], request["width"]) == (24, 80)
        writer.write(protocol.reply())
    await writer.drain()


def test_requests_reach_a_monitor_beyond_the_sun_path_limit(tmp_path: Path) -> None:
    monitor_dir = tmp_path / ("x" * 70) / ("y" * 40)
    assert len(str(monitor_dir / protocol.SOCKET)) > 108

    async def body() -> tuple[str, int]:
        server = await _serve(monitor_dir, _state)
        async with server:
            client = await MonitorClient.connect(monitor_dir)
            await client.resize(24, 80)
            state = await client.state()
            return state.status, client.pid

    assert asyncio.run(body()) == ("running", 42)
    assert stat.S_IMODE(os.stat(monitor_dir / protocol.SOCKET).st_mode) == 0o600


def test_attach_stream_frames_stdin_and_resizes(tmp_path: Path) -> None:
    received: list[tuple[int, bytes]] = []

    async def attach(
        request: dict[str, object], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        assert request == {"v": 1, "op": "attach", "stdin": True, "stdout": True, "stderr": False}
        writer.write(protocol.reply(tty=False))
        while True:
            kind, size = protocol.parse_frame_header(await reader.readexactly(8))
            received.append((kind, await reader.readexactly(size)))
            if kind == protocol.UP_CLOSE_STDIN:
                break
        writer.write(protocol.frame_header(protocol.STDOUT, 3) + b"out")
        await writer.drain()

    async def body() -> list[bytes]:
        server = await _serve(tmp_path / "m", attach)
        async with server:
            client = MonitorClient(tmp_path / "m", pid=1, monitor_pid=None)
            stream = await client.attach(stdin=True, stdout=True, stderr=False)
            assert not stream.tty
            await stream.write(b"abc")
            await stream.resize(30, 100)
            await stream.close_stdin()
            chunks = [await stream.read(), await stream.read()]
            await stream.close()
            return chunks

    assert asyncio.run(body()) == [b"\x01\x00\x00\x00\x00\x00\x00\x03out", b""]
    assert received == [(0, b"abc"), (2, b"\x00\x1e\x00\x64"), (1, b"")]


def _write_record(monitor_dir: Path) -> None:
    monitor_dir.mkdir(parents=True, exist_ok=True)
    (monitor_dir / protocol.EXIT_RECORD).write_text(protocol.encode(RECORD.to_json()).decode())


def test_without_a_monitor_the_record_answers(tmp_path: Path) -> None:
    _write_record(tmp_path)

    async def body() -> tuple[str, ExitRecord]:
        client = await MonitorClient.connect(tmp_path)
        with pytest.raises(errors.Conflict):
            await client.attach(stdin=False, stdout=True, stderr=True)
        with pytest.raises(errors.Conflict):
            await client.start()
        return (await client.state()).status, await client.wait()

    assert asyncio.run(body()) == ("exited", RECORD)
    assert MonitorClient.read_exit_record(tmp_path) == RECORD


def test_without_a_monitor_or_a_record_the_monitor_is_lost(tmp_path: Path) -> None:
    async def body() -> None:
        with pytest.raises(errors.MonitorLost):
            await MonitorClient.connect(tmp_path)
        with pytest.raises(errors.MonitorLost):
            await MonitorClient(tmp_path, pid=1, monitor_pid=None).wait()

    asyncio.run(body())


def test_wait_asks_again_while_the_monitor_lives(tmp_path: Path) -> None:
    calls = []

    async def wait(
        request: dict[str, object], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        calls.append(request["op"])
        if len(calls) > 1:  # the first connection drops without an answer
            writer.write(protocol.reply(exit=RECORD.to_json()))
            await writer.drain()

    async def body() -> ExitRecord:
        server = await _serve(tmp_path, wait)
        (tmp_path / protocol.MONITOR_PID).write_text(f"{os.getpid()}\n")
        async with server:
            return await MonitorClient(tmp_path, pid=42, monitor_pid=os.getpid()).wait()

    assert asyncio.run(body()) == RECORD
    assert calls == ["wait", "wait"]


def test_a_record_left_on_the_way_out_is_taken_without_a_pause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The monitor writes its record and closes its socket as it exits: a waiter that finds the
    socket gone and the record there has its answer (every ``exec`` and ``run --rm`` ends
    this way; a retry pause here once cost each of them 50 ms)."""
    _write_record(tmp_path)
    (tmp_path / protocol.MONITOR_PID).write_text(f"{os.getpid()}\n")
    pauses: list[float] = []

    async def no_sleep(delay: float) -> None:
        pauses.append(delay)

    async def body() -> ExitRecord:
        monkeypatch.setattr(asyncio, "sleep", no_sleep)
        return await MonitorClient(tmp_path, pid=42, monitor_pid=os.getpid()).wait()

    assert asyncio.run(body()) == RECORD
    assert pauses == []


class _FakeLauncher:
    """Plays the monitor's side of the sync pipe."""

    def __init__(self, *lines: bytes) -> None:
        self.lines = lines
        self.seen_dir = ""

    async def launch(self, monitor_dir: str, sync_fd: int) -> None:
        self.seen_dir = monitor_dir
        for line in self.lines:
            os.write(sync_fd, line)


def _config(tmp_path: Path) -> MonitorConfig:
    return MonitorConfig(
        task_id="c1", container_id="c1", mode="init", monitor_dir=tmp_path / "m", runtime="/usr/bin/runc",
        runtime_root=tmp_path / "root", bundle=tmp_path / "bundle",
    )  # fmt: skip


def test_spawn_returns_once_created(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir(mode=0o755)
    _write_record(tmp_path / "m")  # from an earlier run: must not be taken for this one
    launcher = _FakeLauncher(
        protocol.encode({"event": "alive", "pid": 7}), protocol.encode({"event": "created", "pid": 9})
    )

    async def body() -> MonitorClient:
        return await MonitorClient.spawn(_config(tmp_path), launcher=launcher)

    client = asyncio.run(body())
    assert (client.pid, client.monitor_pid) == (9, 7)
    monitor_dir = tmp_path / "m"
    assert launcher.seen_dir == str(monitor_dir)
    assert stat.S_IMODE(monitor_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((monitor_dir / protocol.CONFIG).stat().st_mode) == 0o600
    assert MonitorConfig.load(str(monitor_dir / protocol.CONFIG)) == _config(tmp_path)
    assert not (monitor_dir / protocol.EXIT_RECORD).exists()


ALIVE = protocol.encode({"event": "alive", "pid": 7})
CREATE_FAILED = protocol.encode(
    {"error": protocol.error_to_data(errors.RuntimeFailed("runc create: x", status=1))}
)


@pytest.mark.parametrize(
    ("lines", "error", "match"),
    [
        pytest.param([ALIVE, CREATE_FAILED], errors.RuntimeFailed, "runc create: x", id="runtime-error"),
        pytest.param([ALIVE], errors.MonitorLost, "before", id="died"),
        pytest.param([], errors.MonitorLost, "before", id="never-started"),
    ],
)
def test_spawn_reports_how_the_monitor_failed(
    tmp_path: Path, lines: list[bytes], error: type[Exception], match: str
) -> None:
    async def body() -> None:
        await MonitorClient.spawn(_config(tmp_path), launcher=_FakeLauncher(*lines))

    with pytest.raises(error, match=match):
        asyncio.run(body())
