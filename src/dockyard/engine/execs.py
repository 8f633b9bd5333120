"""Exec instances: extra processes run inside a running container (``docker exec``).

An exec has a record (``ExecSession``, in the state database, so ``/exec/{id}/json`` still
answers after a daemon restart) and, while it runs, a monitor of its own in ``exec`` mode: the
monitor runs ``runtime exec --process process.json``, holds the process's stdio, serves attach
and writes its exit record, exactly as for a container's init process. The engine writes the
``process.json``: the command, the environment (dockerd's defaults, the container's env, then
the exec's), the user resolved in the container's root filesystem, the working directory, a
terminal if asked, and the container's capabilities (all of them with ``Privileged``).

**The end of an attached stream waits for the exit code.** The docker CLI inspects the exec
(``GET /exec/{id}/json``) the moment its stream closes and exits with the code it finds. The
monitor ends the stream after writing its exit record, but the engine learns the code from the
monitor's ``wait`` answer, a moment later; so the session's end is gated on the code being
stored (``AttachSession(end_gate=...)``), and a client never sees a stream end while the exec
still reads as running. A detach ends the stream at once (the process runs on).

dockerd's rules and words: an exec needs a running, unpaused container ("Container <id> is not
running", "Container <id> is paused, unpause the container before exec"); an exec starts once
("Error: Exec command <id> is already running" / "has already run").
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from dockyard.config import Paths
from dockyard.engine.attach import AttachSession, frame, parse_detach_keys
from dockyard.engine.container import Container, ContainerStatus
from dockyard.engine.runtimes import Runtimes
from dockyard.engine.seams import MonitorFactory, MonitorHandle
from dockyard.engine.specgen import (
    ALL_CAPABILITIES,
    DEFAULT_PATH,
    effective_capabilities,
    merge_env,
    parse_security_opts,
)
from dockyard.engine.users import ResolvedUser
from dockyard.errors import (
    Conflict,
    ContainerNotRunning,
    ContainerPaused,
    DockyardError,
    InvalidArgument,
    NoSuchExec,
)
from dockyard.oci import runtime_spec as oci
from dockyard.util import ids, jsoncodec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.engine.container_service import ContainerService
    from dockyard.engine.store import ContainerStore

__all__ = ["ExecConfig", "ExecService", "ExecSession", "exec_process"]

log = logging.getLogger(__name__)

PROCESS_FILE = "process.json"


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecConfig:
    """The exec create request (``POST /containers/{id}/exec``), snake_cased."""

    attach_stdin: bool = False
    attach_stdout: bool = False
    attach_stderr: bool = False
    detach_keys: str = ""
    tty: bool = False
    env: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    privileged: bool = False
    user: str = ""
    working_dir: str = ""
    console_size: tuple[int, int] | None = None  # (height, width)


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecSession:
    """Docker's "exec instance": its config and, once finished, its exit code."""

    id: str
    container_id: str
    config: ExecConfig
    running: bool
    exit_code: int | None
    pid: int


@dataclass(slots=True, eq=False)
class _Run:
    monitor: MonitorHandle
    watcher: asyncio.Task[None] | None = None
    recorded: asyncio.Event = field(default_factory=asyncio.Event)


class ExecService:
    """Creates, starts and reports exec instances."""

    def __init__(
        self,
        *,
        containers: ContainerService,
        store: ContainerStore,
        monitors: MonitorFactory,
        runtimes: Runtimes,
        paths: Paths,
        build_process: Callable[[Container, ExecConfig], oci.Process],
    ) -> None:
        self._containers = containers
        self._store = store
        self._monitors = monitors
        self._runtimes = runtimes
        self._paths = paths
        self._build_process = build_process
        self._runs: dict[str, _Run] = {}

    async def create(self, container_ref: str, config: ExecConfig) -> str:
        """Register an exec instance on a running container; returns its ID.

        Raises:
            NoSuchContainer: nothing matches ``container_ref``.
            ContainerNotRunning: the container is not running (``Container <id> is not running``).
            ContainerPaused: the container is paused (Docker's paused message).
            InvalidArgument: an empty command, or bad detach keys.
        """
        container = self._containers.get(container_ref)
        _check_runnable(container, running=self._containers.task(container.id) is not None)
        if not config.cmd:
            raise InvalidArgument("No exec command specified")
        parse_detach_keys(config.detach_keys)
        exec_id = ids.new_id()
        self._store.put_exec(
            ExecSession(
                id=exec_id, container_id=container.id, config=config, running=False, exit_code=None, pid=0
            )
        )
        self._containers.publish_for(container, f"exec_create: {' '.join(config.cmd)}", execID=exec_id)
        return exec_id

    def inspect(self, exec_id: str) -> ExecSession:
        """The exec instance's current record.

        Raises:
            NoSuchExec: no exec has this ID.
        """
        return self._store.get_exec(exec_id)

    async def start(
        self,
        exec_id: str,
        *,
        detach: bool,
        tty: bool | None = None,
        console_size: tuple[int, int] | None = None,
    ) -> AttachSession | None:
        """Run the exec's process; returns its stream, or None when ``detach``.

        Raises:
            NoSuchExec: no exec has this ID.
            Conflict: the exec was already started, or its container stopped or paused meanwhile.
        """
        session = self._store.get_exec(exec_id)
        if session.exit_code is not None:
            raise Conflict(f"Error: Exec command {exec_id} has already run")
        if session.running or exec_id in self._runs:
            raise Conflict(f"Error: Exec command {exec_id} is already running")
        container = self._containers.get(session.container_id)
        _check_runnable(container, running=self._containers.task(container.id) is not None)
        config = session.config
        if tty is not None:
            config = dataclasses.replace(config, tty=tty)
        if console_size is not None:
            config = dataclasses.replace(config, console_size=console_size)
        monitor = await self._spawn(exec_id, container, config)
        self._runs[exec_id] = run = _Run(monitor=monitor)
        try:
            attach = None if detach else await self._attach(monitor, config, run.recorded)
            pid = await monitor.start()
        except DockyardError as exc:
            self._runs.pop(exec_id, None)
            return await self._failed_start(session, config, exc, attach, detach=detach)
        except BaseException:
            self._runs.pop(exec_id, None)
            raise
        self._store.put_exec(dataclasses.replace(session, config=config, running=True, pid=pid))
        self._containers.publish_for(container, f"exec_start: {' '.join(config.cmd)}", execID=exec_id)
        run.watcher = asyncio.get_running_loop().create_task(self._watch(exec_id, container, run))
        return attach

    async def _failed_start(
        self,
        session: ExecSession,
        config: ExecConfig,
        exc: DockyardError,
        attach: AttachSession | None,
        *,
        detach: bool,
    ) -> AttachSession | None:
        """The process could not be started: exit code 126, and (as dockerd's router does) the
        error in the client's stream rather than as an HTTP error, unless detached."""
        self._store.put_exec(dataclasses.replace(session, config=config, running=False, exit_code=126))
        await asyncio.to_thread(_remove_directory, self._paths.monitor_dir(session.id))
        if attach is not None:
            await attach.close()
        if detach:
            raise exc
        message = f"OCI runtime exec failed: {exc}\r\n".encode()
        return AttachSession(
            tty=config.tty,
            stdin=False,
            stdout=True,
            stderr=False,
            replay=[message if config.tty else frame("stdout", message)],
            stream=False,
        )

    async def _spawn(self, exec_id: str, container: Container, config: ExecConfig) -> MonitorHandle:
        from dockyard.monitor import MonitorConfig

        directory = self._paths.monitor_dir(exec_id)
        process = await asyncio.to_thread(self._build_process, container, config)
        await asyncio.to_thread(_write_process, directory, jsoncodec.dumps(process.to_json()))
        runtime = container.host_config.runtime or self._runtimes.default
        entry = self._runtimes.entry(runtime)
        height, width = config.console_size or (0, 0)
        return await self._monitors.spawn(
            MonitorConfig(
                task_id=exec_id,
                container_id=container.id,
                mode="exec",
                monitor_dir=directory,
                runtime=entry.path,
                runtime_root=self._runtimes.root(runtime),
                runtime_args=entry.args,
                process_path=directory / PROCESS_FILE,
                terminal=config.tty,
                stdin=config.attach_stdin,
                stdin_once=config.attach_stdin,
                console_size=(height, width) if config.tty and height and width else None,
            )
        )

    async def _attach(
        self, monitor: MonitorHandle, config: ExecConfig, recorded: asyncio.Event
    ) -> AttachSession:
        session = AttachSession(
            tty=config.tty,
            stdin=config.attach_stdin,
            stdout=config.attach_stdout,
            stderr=config.attach_stderr,
            detach_keys=parse_detach_keys(config.detach_keys),
            end_gate=recorded,
        )
        channel = await monitor.attach(
            stdin=config.attach_stdin, stdout=config.attach_stdout, stderr=config.attach_stderr
        )
        session.connect(channel)
        return session

    async def _watch(self, exec_id: str, container: Container, run: _Run) -> None:
        """Wait for the exec's exit and store its code; only then may its stream end.

        ``run.recorded`` is what an attached stream waits for before it ends (the client asks
        for the exit code the moment it does), so it is set however this ends: the code stored,
        the exec gone with its container, or the watch itself failing or cancelled.
        """
        try:
            code = await self._exit_code(exec_id, run.monitor)
            stored = self._store_exit(exec_id, code)
        finally:
            self._runs.pop(exec_id, None)
            run.recorded.set()
        if stored:
            self._containers.publish_for(container, "exec_die", execID=exec_id, exitCode=str(code))
            await asyncio.to_thread(_remove_directory, self._paths.monitor_dir(exec_id))

    async def _exit_code(self, exec_id: str, monitor: MonitorHandle) -> int:
        try:
            return (await monitor.wait()).exit_code
        except DockyardError as exc:
            log.warning("exec monitor lost exec=%s: %s", exec_id[:12], exc)
            return 255

    def _store_exit(self, exec_id: str, code: int) -> bool:
        """Record the exit code; False when the exec is gone (its container was removed)."""
        try:
            session = self._store.get_exec(exec_id)
        except NoSuchExec:
            return False
        self._store.put_exec(dataclasses.replace(session, running=False, exit_code=code))
        return True

    async def resize(self, exec_id: str, *, height: int, width: int) -> None:
        """Resize the exec's terminal.

        Raises:
            NoSuchExec: no exec has this ID.
            Conflict: the exec is not running.
        """
        self._store.get_exec(exec_id)
        run = self._runs.get(exec_id)
        if run is None:
            raise Conflict(f"Exec {exec_id} is not running")
        await run.monitor.resize(height, width)

    async def recover(self) -> None:
        """After a daemon restart: watch running execs again, or record how they ended."""
        for session in self._store.running_execs():
            container = self._containers.find(session.container_id)
            monitor_dir = self._paths.monitor_dir(session.id)
            try:
                monitor = await self._monitors.connect(monitor_dir)
            except DockyardError:
                self._store.put_exec(dataclasses.replace(session, running=False, exit_code=255))
                continue
            if container is None:
                continue
            run = self._runs[session.id] = _Run(monitor=monitor)
            run.watcher = asyncio.get_running_loop().create_task(self._watch(session.id, container, run))

    async def close(self) -> None:
        """Stop watching execs (the processes keep running with their monitors).

        Attached streams are no longer held for an exit code this daemon will not store.
        """
        runs = list(self._runs.values())
        watchers = [r.watcher for r in runs if r.watcher is not None]
        for watcher in watchers:
            watcher.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        for run in runs:
            run.recorded.set()  # a watcher cancelled before its first step never ran its finally


def exec_process(
    container: Container,
    config: ExecConfig,
    *,
    user: ResolvedUser,
    last_cap: int,
    available: tuple[str, ...] | None = None,
) -> oci.Process:
    """The ``process.json`` of an exec (moby ``daemon/exec.go``): pure.

    Environment: PATH, HOSTNAME, TERM (with a tty), the container's env, then the exec's;
    capabilities: the container's, or every one with ``Privileged``; working directory: the
    exec's, else the container's, else ``/``.
    """
    hc = container.host_config
    caps = (
        [c for c in ALL_CAPABILITIES[: last_cap + 1] if available is None or c in available]
        if config.privileged
        else effective_capabilities(hc, last_cap=last_cap, available=available)
    )
    base = [f"PATH={DEFAULT_PATH}", f"HOSTNAME={container.config.hostname}"] + (
        ["TERM=xterm"] if config.tty else []
    )
    env = merge_env(merge_env(base, list(container.config.env)), list(config.env))
    if not any(e.startswith("HOME=") for e in env):
        env.append(f"HOME={user.home}")
    process = oci.Process(
        terminal=config.tty or None,
        user=oci.User(uid=user.uid, gid=user.gid, additional_gids=list(user.additional_gids)),
        args=list(config.cmd),
        env=env,
        cwd=config.working_dir or container.config.working_dir or "/",
        capabilities=oci.LinuxCapabilities(bounding=list(caps), effective=list(caps), permitted=list(caps)),
        no_new_privileges=parse_security_opts(hc.security_opt).no_new_privileges or None,
    )
    if config.tty and config.console_size and all(config.console_size):
        height, width = config.console_size
        process.console_size = oci.ConsoleSize(height=height, width=width)
    return process


def _check_runnable(container: Container, *, running: bool) -> None:
    status = container.state.status
    if status is ContainerStatus.PAUSED:
        raise ContainerPaused(f"Container {container.id} is paused, unpause the container before exec")
    if status is ContainerStatus.RESTARTING:
        raise Conflict(f"Container {container.id} is restarting, wait until the container is running")
    if status is not ContainerStatus.RUNNING or not running:
        raise ContainerNotRunning(f"Container {container.id} is not running")


def _write_process(directory: object, text: str) -> None:
    from pathlib import Path

    from dockyard.util.atomicfile import write_atomic

    path = Path(str(directory))
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_atomic(path / PROCESS_FILE, text, mode=0o600, durable=False)


def _remove_directory(directory: object) -> None:
    import shutil

    shutil.rmtree(str(directory), ignore_errors=True)
