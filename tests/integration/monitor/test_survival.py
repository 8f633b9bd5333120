"""The monitor outlives whoever started it and whoever attached, and keeps its promises."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

from dockyard.monitor import ExecLauncher, MonitorClient, Zygote, read_log
from tests.integration.monitor.conftest import Rig, demux, read_all

# A spawner and two attached clients in one process, which the test then SIGKILLs.
SPAWNER = textwrap.dedent(
    """
    import asyncio, sys
    from dockyard.monitor import MonitorClient, MonitorConfig
    from dockyard.util import jsoncodec

    async def main():
        config = MonitorConfig.from_json(jsoncodec.loads(sys.argv[1]))
        client = await MonitorClient.spawn(config)
        streams = [await client.attach(stdin=False, stdout=True, stderr=True) for _ in range(2)]
        await client.start()
        print(client.monitor_pid, flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main())
    """
)


def _parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as file:
        return int(file.read().rsplit(")", 1)[1].split()[1])


def test_monitor_survives_sigkill_of_its_spawner_and_clients(rig: Rig) -> None:
    config = rig.config("orphan", ["sh", "-c", "sleep 1.5; echo late; exit 7"])
    from dockyard.util import jsoncodec

    spawner = subprocess.Popen(
        [sys.executable, "-c", SPAWNER, jsoncodec.dumps(config.to_json())], stdout=subprocess.PIPE, text=True
    )
    rig.extra_pids.append(spawner.pid)
    assert spawner.stdout is not None
    monitor_pid = int(spawner.stdout.readline())
    spawner.kill()  # the spawner and both attached clients die at once
    spawner.wait(timeout=10)
    spawner.stdout.close()
    assert _parent_of(monitor_pid) != spawner.pid

    async def body() -> tuple[bytes, int, str]:
        client = await MonitorClient.connect(config.monitor_dir)
        state = await client.state()
        stream = await client.attach(stdin=False, stdout=True, stderr=True)
        output = await read_all(stream)
        record = await client.wait()
        return output, record.exit_code, state.status

    output, code, status = rig.run(body())
    assert status == "running"
    assert demux(output)[1] == b"late\n"
    assert code == 7
    assert [e.data for e in read_log(config.log_path or "")] == [b"late\n"]


def test_sigterm_and_sighup_do_not_stop_the_monitor(rig: Rig) -> None:
    config = rig.config("term", ["sh", "-c", "sleep 0.5; echo still here"])

    async def body() -> tuple[bytes, int]:
        client = await rig.spawn(config)
        stream = await client.attach(stdin=False, stdout=True, stderr=False)
        await client.start()
        assert client.monitor_pid is not None
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGPIPE):
            os.kill(client.monitor_pid, sig)
        output = await read_all(stream)
        return output, (await client.wait()).exit_code

    output, code = rig.run(body())
    assert demux(output)[1] == b"still here\n"
    assert code == 0


def test_zygote_monitor_outlives_the_zygote(rig: Rig) -> None:
    config = rig.config("zyg", ["sh", "-c", "read x; echo got $x"], stdin=True, stdin_once=True)

    async def body() -> tuple[bytes, int, bool]:
        zygote = await Zygote.start()
        try:
            client = await rig.spawn(config, launcher=zygote)
            zygote_pid = zygote.pid
        finally:
            await zygote.close()
        assert client.monitor_pid is not None
        detached = _parent_of(client.monitor_pid) != zygote_pid
        stream = await client.attach(stdin=True, stdout=True, stderr=False)
        await client.start()
        await stream.write(b"hi\n")
        output = await read_all(stream)
        return output, (await client.wait()).exit_code, detached

    output, code, detached = rig.run(body())
    assert detached
    assert demux(output)[1] == b"got hi\n"
    assert code == 0


def test_new_handle_after_a_daemon_restart(rig: Rig) -> None:
    config = rig.config("again", ["sleep", "100"])

    async def body() -> tuple[str, bool, int]:
        first = await rig.spawn(config)
        pid = await first.start()
        del first  # the daemon forgets everything
        again = await MonitorClient.connect(config.monitor_dir)
        state = await again.state()
        rig.runtime_cmd("kill", config.container_id, "KILL")
        record = await again.wait()
        return state.status, state.pid == pid == again.pid, record.exit_code

    assert rig.run(body()) == ("running", True, 137)


def test_slow_client_is_dropped_and_nobody_waits_for_it(rig: Rig) -> None:
    size = 6_000_000
    line = "0123456789" * 10  # long lines: this is about the queue, not the log's line rate
    config = rig.config("flood", ["sh", "-c", f"yes {line} | head -c {size}"])

    async def body() -> tuple[int, int, int]:
        client = await rig.spawn(config)
        slow = await client.attach(stdin=False, stdout=True, stderr=False)  # never reads, for now
        fast = await client.attach(stdin=False, stdout=True, stderr=False)
        try:
            await client.start()
            fast_output = await read_all(fast)
            record = await client.wait()
            slow_output = await read_all(slow)
        finally:
            await slow.close()
            await fast.close()
        return len(demux(fast_output)[1]), len(demux(slow_output)[1]), record.exit_code

    fast_bytes, slow_bytes, code = rig.run(body(), timeout=8)
    assert code == 0
    assert fast_bytes == size
    assert slow_bytes < size  # cut off after its queue passed the limit


def test_stdin_flood_to_a_process_that_does_not_read(rig: Rig) -> None:
    config = rig.config("noread", ["sh", "-c", "sleep 1; head -c 5 >/dev/null; echo done"], stdin=True)

    async def body() -> tuple[bytes, int]:
        client = await rig.spawn(config)
        stream = await client.attach(stdin=True, stdout=True, stderr=False)
        writer = asyncio.ensure_future(stream.write(b"z" * 4_000_000))  # far beyond the pipe
        try:
            await client.start()
            output = await read_all(stream)
        finally:
            writer.cancel()
            await stream.close()
        return output, (await client.wait()).exit_code

    output, code = rig.run(body())
    assert demux(output)[1] == b"done\n"
    assert code == 0


def test_the_dockyard_monitor_program_works_as_a_launcher(rig: Rig) -> None:
    program = str(Path(sys.executable).parent / "dockyard-monitor")
    config = rig.config("prog", ["sh", "-c", "echo through the program"])

    async def body() -> tuple[bytes, int]:
        client = await rig.spawn(config, launcher=ExecLauncher([program]))
        stream = await client.attach(stdin=False, stdout=True, stderr=False)
        await client.start()
        output = await read_all(stream)
        return output, (await client.wait()).exit_code

    output, code = rig.run(body())
    assert demux(output)[1] == b"through the program\n"
    assert code == 0


def test_socket_and_directory_are_private(rig: Rig) -> None:
    config = rig.config("perm", ["sleep", "100"])

    async def body() -> tuple[int, int, int]:
        await rig.spawn(config)
        modes = (config.monitor_dir, config.path("attach.sock"), config.path("config.json"))
        return tuple(stat.S_IMODE(os.stat(path).st_mode) for path in modes)  # type: ignore[return-value]

    assert rig.run(body()) == (0o700, 0o600, 0o600)
