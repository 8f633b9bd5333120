"""What the long-lived monitor takes over from its setup worker, and its lean loop pieces:
the kept config fields, fds by role, the log's size, one accept per wakeup, the self-pipe."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from dockyard.monitor import attach, logfile, protocol, spawner, worker
from dockyard.monitor.settings import MonitorConfig
from dockyard.monitor.stdio import Stdio
from dockyard.monitor.supervisor import Supervisor
from dockyard.monitor.unixsock import listen_unix


def _config(tmp_path: Path, **changes: object) -> MonitorConfig:
    fields: dict[str, object] = {
        "task_id": "t1",
        "container_id": "c1",
        "mode": "init",
        "monitor_dir": str(tmp_path),
        "runtime": "/bin/true",
        "runtime_root": str(tmp_path),
        "bundle": str(tmp_path),
        "stdin": True,
        "stdin_once": True,
        "log_path": str(tmp_path / "ctr.log"),
        "log_max_size": 100,
        "log_max_file": 2,
    }
    fields.update(changes)
    return MonitorConfig(**fields)  # type: ignore[arg-type]


def test_kept_fields_are_what_the_loop_needs_and_survive_the_worker_answer(tmp_path: Path) -> None:
    config = _config(tmp_path, terminal=False)
    kept = worker.kept(config)
    assert kept == {
        "task_id": "t1", "container_id": "c1", "mode": "init", "terminal": False, "stdin": True,
        "stdin_once": True, "socket": str(tmp_path / protocol.SOCKET),
    }  # fmt: skip
    supervisor = Supervisor(str(tmp_path))
    supervisor._keep(protocol.unwrap(protocol.decode(protocol.reply(**kept))))
    assert (supervisor.task_id, supervisor.container_id, supervisor.mode) == ("t1", "c1", "init")
    assert (supervisor.terminal, supervisor.keep_stdin, supervisor.stdin_once) == (False, True, True)


def test_adopt_takes_fds_by_role_and_the_log_at_the_size_the_worker_saw(tmp_path: Path) -> None:
    config = _config(tmp_path)
    log_path = tmp_path / "ctr.log"
    log_path.write_bytes(b"x" * 40)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND)
    listener, dirfd = listen_unix(config.path(protocol.SOCKET))
    os.close(dirfd)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    in_r, in_w = os.pipe()
    fields = worker.kept(config)
    fields.update(fds=["listener", "stdout", "stderr", "stdin", "log"], pid=42, memory_cgroup="/cg",
                  oom_before=3, log_path=str(log_path), log_max_size=100, log_max_file=2,
                  log_size=40)  # fmt: skip
    answer = protocol.unwrap(protocol.decode(protocol.reply(**fields)))
    supervisor = Supervisor(str(tmp_path))
    supervisor._adopt(answer, [listener.detach(), out_r, err_r, in_w, log_fd])
    try:
        assert supervisor.server is not None
        assert supervisor.server.path == config.path(protocol.SOCKET)
        assert supervisor.stdio is not None
        assert supervisor.stdio.outputs == {out_r: "stdout", err_r: "stderr"}
        assert supervisor.stdio.stdin_fd == in_w
        assert supervisor.log is not None
        assert supervisor.log.size == 40
        assert (supervisor.pid, supervisor.memory_cgroup, supervisor.oom_before) == (42, "/cg", 3)
        supervisor.log.write(b"y" * 70 + b"\n", "stdout", 0)  # 40 + 70 > 100: the next one rotates
        supervisor.log.flush()
        supervisor.log.write(b"z\n", "stdout", 0)
        supervisor.log.flush()
        assert (tmp_path / "ctr.log.1").exists()
    finally:
        supervisor._shutdown()
        for fd in (out_w, err_w, in_r):
            os.close(fd)


def test_a_terminal_is_adopted_as_one_master_for_output_and_stdin() -> None:
    stdio = Stdio.adopt(terminal=True, fds={"master": 7})
    assert (stdio.outputs, stdio.stdin_fd, stdio.master, stdio.terminal) == ({7: "stdout"}, 7, 7, True)


def test_the_log_writer_finds_the_size_itself_when_not_told(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_bytes(b"abc")
    writer = logfile.LogWriter(str(path))
    try:
        assert writer.size == 3
    finally:
        writer.close()


def test_accept_takes_one_connection_per_call_and_none_quietly(tmp_path: Path) -> None:
    server = attach.AttachServer(str(tmp_path / "a.sock"))
    clients = [socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(2)]
    try:
        for client in clients:
            client.connect(str(tmp_path / "a.sock"))
        server.accept()
        assert len(server.connections) == 1
        server.accept()
        assert len(server.connections) == 2
        server.accept()  # nothing pending: no error, nothing new
        assert len(server.connections) == 2
    finally:
        server.close()
        for client in clients:
            client.close()


def test_drain_empties_a_self_pipe_in_one_read_and_tolerates_an_empty_one() -> None:
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    try:
        os.write(write_end, b"\x11" * 5)
        Stdio.drain(read_end)
        with pytest.raises(BlockingIOError):
            os.read(read_end, 1)
        Stdio.drain(read_end)  # spurious wakeup: nothing to read, no exception
    finally:
        os.close(read_end)
        os.close(write_end)


def test_the_zygote_environment_adds_the_malloc_tunables_to_any_already_set() -> None:
    assert spawner.zygote_environment({"PATH": "/bin"}) == {
        "PATH": "/bin",
        "GLIBC_TUNABLES": spawner.MALLOC_TUNABLES,
    }
    base = {"GLIBC_TUNABLES": "glibc.malloc.arena_max=1"}
    env = spawner.zygote_environment(base)
    assert env["GLIBC_TUNABLES"] == f"glibc.malloc.arena_max=1:{spawner.MALLOC_TUNABLES}"
    assert base == {"GLIBC_TUNABLES": "glibc.malloc.arena_max=1"}
