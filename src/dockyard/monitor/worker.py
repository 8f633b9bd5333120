"""Workers: the monitor's one-off heavy work, done in a forked child that then exits.

**Why.** A monitor lives as long as its container, and in CPython 3.11 every object a process
touches has its reference count written, so every page holding something it ran is copied out
of what it shares with the zygote (or, on the plain path, stays dirty) for the rest of its
life. Measured on the project machine: a monitor that loaded its config, listened, ran
``runtime create`` and ``start`` itself kept ~1.6 MiB of private memory; the same steps in a
worker leave the long-lived monitor only what it needs to poll, log and answer (see
bench/README.md for the figures).

So loading and checking the config, binding the attach socket, opening stdio and the log,
``runtime create`` (with the console socket dance), finding the memory cgroup, ``runtime
start`` and ``runtime exec`` each run in a worker: ``run(job)`` forks, the child runs ``job``
and sends back a small JSON answer plus the fds it opened (SCM_RIGHTS over a SOCK_SEQPACKET
socketpair), and exits; its dirty pages go with it. The monitor adopts the fds. The setup
answer carries, flat, only the config fields the monitor's loop reads (``kept``); each later
worker loads ``config.json`` again itself (a fraction of a millisecond), so the monitor never
builds or checks a ``MonitorConfig``. Building one cost it ~70 KiB of private memory.

The process a worker starts through the runtime still becomes the monitor's child: a worker is
not a subreaper, so when the runtime exits, its orphan is reparented to the nearest subreaper
ancestor, the monitor (prctl(2), PR_SET_CHILD_SUBREAPER). The monitor waits for each worker
synchronously, so its reaping loop never sees one.

A worker reports its errors as data; a worker that dies without answering (a crash, SIGKILL)
is a ``SystemFailure``. Tracebacks go to ``monitor.log``, since stderr is /dev/null.
"""

from __future__ import annotations

import _socket
import os
import select
import sys
import time

from dockyard import errors
from dockyard.monitor import logfile, oom, protocol, unixsock
from dockyard.monitor.settings import MonitorConfig
from dockyard.monitor.stdio import Stdio
from dockyard.oci.runtime_cli import OciRuntime, RuntimeCall
from dockyard.util import atomicfile

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Answer", "exec_process", "record_crash", "run", "runtime_for", "setup", "start_init"]

Answer = tuple[dict[str, object], list[int]]
"""What a job returns: JSON-able fields and the fds to hand over (in ``fields["fds"]`` order)."""

_MAX_FDS = 8


def _send(sock: _socket.socket, message: bytes, fds: list[int]) -> None:
    payload = b"".join(fd.to_bytes(4, sys.byteorder) for fd in fds)
    ancillary = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, payload)] if fds else []
    sock.sendmsg([message], ancillary)


def _receive(sock: _socket.socket) -> tuple[bytes, list[int]]:
    data, ancillary, _, _ = sock.recvmsg(
        protocol.MAX_MESSAGE, _socket.CMSG_SPACE(4 * _MAX_FDS), _socket.MSG_CMSG_CLOEXEC
    )
    fds: list[int] = []
    for level, kind, payload in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            usable = len(payload) - len(payload) % 4
            fds.extend(int.from_bytes(payload[i : i + 4], sys.byteorder) for i in range(0, usable, 4))
    return data, fds


def record_crash(monitor_dir: str) -> None:
    """Append the current exception's traceback to ``monitor.log`` (stderr is /dev/null)."""
    try:
        import traceback  # only on the way down

        with open(os.path.join(monitor_dir, protocol.MONITOR_LOG), "a") as file:
            traceback.print_exc(file=file)
    except OSError:
        pass


def _child(sock: _socket.socket, job: Callable[[], Answer], monitor_dir: str) -> None:
    """In the worker: run the job, answer, exit. Never returns."""
    status = 1
    try:
        try:
            fields, fds = job()
            message = protocol.reply(**fields)
        except errors.DockyardError as exc:
            fields, fds = {}, []
            message = protocol.encode({"error": protocol.error_to_data(exc)})
        except Exception as exc:
            record_crash(monitor_dir)
            fds, message = [], protocol.encode({"error": protocol.error_to_data(exc)})
        try:
            _send(sock, message, fds)
        except OSError:
            record_crash(monitor_dir)
            raise
        status = 0
    finally:
        os._exit(status)


def run(job: Callable[[], Answer], monitor_dir: str) -> Answer:
    """Run ``job`` in a forked worker; its answer fields and the fds it handed over.

    Raises:
        DockyardError: the job's error, or SystemFailure if the worker died without answering.
    """
    ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        ours.close()
        _child(theirs, job, monitor_dir)
    theirs.close()
    try:
        data, fds = _receive(ours)
    finally:
        ours.close()
        os.waitpid(pid, 0)
    if not data:
        raise errors.SystemFailure("monitor worker died without answering")
    return protocol.unwrap(protocol.decode(data)), fds


def runtime_for(config: MonitorConfig) -> OciRuntime:
    """The runtime client a monitor uses: the config's runtime, logging to ``runtime.log``."""
    return OciRuntime(
        config.runtime,
        root=config.runtime_root,
        log=config.path(protocol.RUNTIME_LOG),
        args=config.runtime_args,
    )


def _report(sync_fd: int, **message: object) -> None:
    if sync_fd >= 0:
        try:
            os.write(sync_fd, protocol.encode(message))
        except OSError:
            pass  # the spawner died: nothing changes


# --- jobs ------------------------------------------------------------------------------------
def setup(monitor_dir: str, sync_fd: int, monitor_pid: int) -> Answer:
    """Load the config, listen, write the pid file, say "alive"; in init mode also create the
    process (``create_init``). Hands over the listener (and the process's stdio and log)."""
    config = MonitorConfig.load(os.path.join(monitor_dir, protocol.CONFIG))
    listener, dirfd = unixsock.listen_unix(config.path(protocol.SOCKET))
    os.close(dirfd)
    atomicfile.write_atomic(config.path(protocol.MONITOR_PID), f"{monitor_pid}\n", durable=False)
    _report(sync_fd, event="alive", pid=monitor_pid)
    fields = kept(config)
    fields["fds"] = ["listener"]
    fds: list[int] = []
    if config.mode == "init":
        try:
            created, created_fds = create_init(config)
        except errors.DockyardError:
            _abandon(config, listener)
            raise
        fields.update(created)
        fields["fds"] = ["listener", *created["fds"]]  # type: ignore[misc]
        fds += created_fds
        _report(sync_fd, event="created", pid=created["pid"])
    else:
        _report(sync_fd, event="ready")
    # detach(): the fd must outlive the socket object, which is collected when this returns.
    return fields, [listener.detach(), *fds]


def kept(config: MonitorConfig) -> dict[str, object]:
    """The part of ``config`` the long-lived monitor keeps, as the setup worker's answer
    carries it (flat, so the monitor decodes little and runs none of the config's checks)."""
    return {
        "task_id": config.task_id,
        "container_id": config.container_id,
        "mode": config.mode,
        "terminal": config.terminal,
        "stdin": config.stdin,
        "stdin_once": config.stdin_once,
        "socket": config.path(protocol.SOCKET),
    }


def _load(monitor_dir: str) -> MonitorConfig:
    return MonitorConfig.load(os.path.join(monitor_dir, protocol.CONFIG))


def _abandon(config: MonitorConfig, listener: _socket.socket) -> None:
    """After a failed create: remove what the runtime may have left, and our files, before the
    spawner hears of it."""
    try:
        runtime_for(config).run(OciRuntime.delete_args(config.container_id, force=True))
    except errors.DockyardError:
        pass  # usually "does not exist": the runtime cleaned up after itself
    listener.close()
    for name in (protocol.SOCKET, protocol.MONITOR_PID, protocol.CONTAINER_PID):
        try:
            os.unlink(config.path(name))
        except FileNotFoundError:
            pass


def _start_process(config: MonitorConfig) -> tuple[Stdio, int]:
    """Fresh stdio, then ``runtime create`` (init) or ``runtime exec --detach`` (exec) with it;
    the stdio and the pid the runtime left behind."""
    stdio = Stdio(
        terminal=config.terminal, stdin=config.stdin, console_path=config.path(protocol.CONSOLE_SOCKET)
    )
    pid_file = config.path(protocol.CONTAINER_PID)
    console = stdio.console_path or None
    if config.mode == "init":
        assert config.bundle is not None
        command = OciRuntime.create_args(
            config.container_id, bundle=config.bundle, pid_file=pid_file, console_socket=console
        )
    else:
        assert config.process_path is not None
        command = OciRuntime.exec_args(
            config.container_id, process=config.process_path, pid_file=pid_file, console_socket=console
        )
    return stdio, _spawn_process(config, stdio, command)


def create_init(config: MonitorConfig) -> Answer:
    """``runtime create``; the pid, the OOM baseline, the stdio and log fds."""
    stdio, pid = _start_process(config)
    memory_cgroup = oom.find_memory_cgroup(pid)
    fields: dict[str, object] = {
        "pid": pid,
        "memory_cgroup": memory_cgroup,
        "oom_before": oom.oom_kill_count(memory_cgroup) or 0,
    }
    roles, fds = _stdio_fds(stdio)
    if config.log_path is not None:
        writer = logfile.LogWriter(
            config.log_path, max_size=config.log_max_size, max_file=config.log_max_file
        )
        roles.append("log")
        fds.append(writer.fileno())
        fields.update(log_path=config.log_path, log_max_size=config.log_max_size,
                      log_max_file=config.log_max_file, log_size=writer.size)  # fmt: skip
    fields["fds"] = roles
    return fields, fds


def exec_process(monitor_dir: str) -> Answer:
    """``runtime exec --detach``; the pid and the stdio fds."""
    stdio, pid = _start_process(_load(monitor_dir))
    roles, fds = _stdio_fds(stdio)
    return {"pid": pid, "fds": roles}, fds


def start_init(monitor_dir: str) -> Answer:
    """``runtime start``."""
    config = _load(monitor_dir)
    runtime_for(config).run(["start", config.container_id])
    return {}, []


def _stdio_fds(stdio: Stdio) -> tuple[list[str], list[int]]:
    """Our ends of the process's stdio, as (roles, fds)."""
    if stdio.master >= 0:
        return ["master"], [stdio.master]
    roles = [stdio.outputs[fd] for fd in stdio.outputs]
    fds = list(stdio.outputs)
    if stdio.stdin_fd >= 0:
        roles.append("stdin")
        fds.append(stdio.stdin_fd)
    return roles, fds


def _spawn_process(config: MonitorConfig, stdio: Stdio, command: list[str]) -> int:
    """Run ``create`` or ``exec`` with the process's stdio; the pid it left behind.

    Raises:
        NotFound, RuntimeFailed: the runtime's error.
    """
    runtime = runtime_for(config)
    call = runtime.spawn(command, stdio=stdio.child_stdio())
    try:
        if stdio.terminal:
            _await_master(stdio, call, runtime.timeout)
        status = call.wait(runtime.timeout)
    finally:
        stdio.release_child_ends()
        stdio.close_console()
    # Before create returns nothing in the pipes is the process's (it waits for start): the
    # runtime's words, kept for an error. An exec'd process runs at once: leave its output.
    early = stdio.take_early() if status != 0 or config.mode == "init" else b""
    call.check(status, early)
    try:
        with open(config.path(protocol.CONTAINER_PID)) as file:
            pid = int(file.read().strip())
    except (OSError, ValueError) as exc:
        raise errors.RuntimeFailed(f"{call.what}: no usable pid file: {exc}") from None
    if config.console_size is not None:
        stdio.resize(*config.console_size)
    return pid


def _await_master(stdio: Stdio, call: RuntimeCall, timeout: float) -> None:
    """Accept the pty master while the runtime runs (it blocks until we do)."""
    pidfd = os.pidfd_open(call.pid)
    try:
        poller = select.poll()
        poller.register(stdio.console_fd, select.POLLIN)
        poller.register(pidfd, select.POLLIN)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready = dict(poller.poll(int((deadline - time.monotonic()) * 1000) + 1))
            if ready.get(stdio.console_fd):
                stdio.accept_master()
                return
            if ready.get(pidfd):
                return  # the runtime gave up before connecting: its error says why
    except OSError as exc:
        os.kill(call.pid, 9)
        raise errors.RuntimeFailed(f"{call.what}: console socket: {exc}") from None
    finally:
        os.close(pidfd)
