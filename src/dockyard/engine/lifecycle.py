"""ContainerLifecycle: the state machine under the container service, and task exits.

**Who writes what.** User operations (start, stop, kill, pause, rm, ...) take the container's
lock (``util.locks.KeyedLocks``), check the record's status, act, and write the new state. The
exit of a task is handled by the task's watcher (``_watch``), which takes the same lock, so an
exit and a user operation never interleave. Operations that wait for an exit (stop, kill with
SIGKILL, rm -f) release the lock while they wait: the watcher needs it to record the exit.

**Order of side effects** (docs/architecture.md, "Robustness"): the record is written before the
side effects it describes and the side effects are idempotent, so a daemon killed at any point
finds a record that recovery can finish: a container is stored with ``creating`` before its
filesystem is made, marked ``removal_in_progress`` before it is torn down, and its state says
``running`` only once its process runs.

**Events** follow dockerd's order: ``create``; ``attach``; ``start``; ``kill`` (with
``signal``), ``oom``, ``die`` (with ``exitCode``), ``stop``; ``destroy``. Attributes carry the
image, the name and the container's labels.

**A monitor that dies before its process** (SIGKILLed, or crashed) leaves a process nobody can
supervise: no stdio, no reaping, no exit record. The engine then does what containerd does when
a shim dies (``cleanupAfterDeadShim``): the runtime's ``kill --all`` and ``delete --force`` end
the container and remove its cgroups and state, and the task's exit is recorded as killed, 137
(the status the shim's ``delete`` reports). So the record never says "exited" of a process that
still runs, ``rm`` and ``start`` work afterwards, and nothing is left behind. A daemon that finds
the same situation at start-up (``recovery.py``) settles it the same way.

**The network namespace** lives as long as a run: it is made at each start and released when the
run's exit is recorded, as dockerd releases a container's sandbox when it stops.
"""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
import logging
import shutil
from collections.abc import Awaitable

from dockyard.config import Paths
from dockyard.engine import logs, netns
from dockyard.engine.attach import AttachSession
from dockyard.engine.container import (
    Container,
    ContainerStatus,
)
from dockyard.engine.events import Event, EventBus
from dockyard.engine.host import HostInfo
from dockyard.engine.restart import RestartManager
from dockyard.engine.runtimes import Runtimes
from dockyard.engine.seams import AttachChannel, ImageSource, MonitorFactory, MonitorHandle, RuntimeControl
from dockyard.engine.store import ContainerStore
from dockyard.engine.tasks import Task, TaskRunner
from dockyard.engine.timestamps import format_time, parse_time
from dockyard.errors import (
    Conflict,
    DockyardError,
    MonitorLost,
    NotFound,
    RuntimeFailed,
)
from dockyard.monitor import ExitRecord, MonitorState
from dockyard.util.clock import Clock
from dockyard.util.locks import KeyedLocks

__all__ = ["ContainerLifecycle"]

log = logging.getLogger(__name__)

_KILL_WAIT = 10.0  # after SIGKILL, how long to wait for the monitor to report the exit
_CONDITIONS = ("not-running", "next-exit", "removed")
_KILLED = 128 + 9  # the status of a task ended because its monitor was lost (containerd's shim delete)


class ContainerLifecycle:
    """Container state, live tasks and their exits; the base of ``ContainerService``."""

    def __init__(
        self,
        *,
        store: ContainerStore,
        events: EventBus,
        runner: TaskRunner,
        runtimes: Runtimes,
        images: ImageSource,
        paths: Paths,
        host: HostInfo,
        clock: Clock,
        monitors: MonitorFactory,
        default_stop_timeout: int = 10,
    ) -> None:
        self._store = store
        self._events = events
        self._runner = runner
        self._runtimes = runtimes
        self._images = images
        self._paths = paths
        self._host = host
        self._clock = clock
        self._default_stop_timeout = default_stop_timeout
        self.monitors = monitors
        self._locks = KeyedLocks()
        self._tasks: dict[str, Task] = {}
        self._pending: dict[str, builtins.list[AttachSession]] = {}
        self._exit_waiters: dict[str, builtins.list[asyncio.Future[tuple[int, str | None]]]] = {}
        self._stop_waiters: dict[str, builtins.list[asyncio.Future[tuple[int, str | None]]]] = {}
        self._removal_waiters: dict[str, builtins.list[asyncio.Future[tuple[int, str | None]]]] = {}
        self.restart_manager = RestartManager(clock, self._auto_restart)
        self.shutting_down = False

    def get(self, ref: str) -> Container:
        """The container named by full ID, name (with or without "/") or unique ID prefix.

        Raises:
            NoSuchContainer: nothing matches.
            InvalidArgument: an ambiguous prefix (``multiple IDs found with provided prefix: <p>``).
        """
        return self._store.get(ref)

    def find(self, container_id: str) -> Container | None:
        """The record with exactly this ID, if any."""
        return self._store.find(container_id)

    def task(self, container_id: str) -> Task | None:
        """The container's live task, if it has one."""
        return self._tasks.get(container_id)

    def lock(self, container_id: str) -> object:
        """The container's lock (``async with service.lock(id):``), for the exec service."""
        return self._locks.hold(container_id)

    async def _start_locked(self, container: Container, *, manual: bool) -> None:
        notes = self._store.notes(container.id)
        sessions = [s for s in self._pending.pop(container.id, []) if s.pending]
        finished = [s.id for s in self._store.execs_of(container.id) if not s.running]
        if finished:
            self._store.drop_execs(finished)
        # Noted before the monitor exists: a daemon killed during the launch finds this note and
        # asks the monitor (recovery), instead of trusting a record that still says "created".
        netns_path = str(self._runner.netns_path(container) or "")
        self._store.set_notes(
            container.id, dataclasses.replace(notes, task_id=container.id, netns=netns_path)
        )
        try:
            task = await self._runner.launch(container, sessions)
        except DockyardError as exc:
            for session in sessions:
                session.connect(None)
            self._store.set_notes(container.id, dataclasses.replace(notes, task_id=""))
            self._record_start_failure(self._store.get(container.id), exc)
            raise _start_error(exc) from exc
        self._tasks[container.id] = task
        state = container.state
        started = dataclasses.replace(
            state,
            status=ContainerStatus.RUNNING,
            pid=task.pid,
            exit_code=0,
            error="",
            oom_killed=False,
            started_at=format_time(self._clock.now()),
            restart_count=0 if manual else state.restart_count,
        )
        notes = dataclasses.replace(
            notes,
            manually_stopped=False if manual else notes.manually_stopped,
            started_before=True,
            task_id=container.id,
            netns=netns_path,
        )
        self._store.update(dataclasses.replace(container, state=started), notes)
        self._publish(container, "start")
        task.watcher = asyncio.get_running_loop().create_task(self._watch(task))

    def _record_start_failure(self, container: Container, exc: DockyardError) -> None:
        message = str(exc)
        code = 128
        if "executable file not found" in message or "no such file or directory" in message:
            code = 127
        elif "permission denied" in message:
            code = 126
        state = dataclasses.replace(container.state, error=message, exit_code=code)
        if container.state.status is ContainerStatus.RESTARTING:
            state = dataclasses.replace(
                state, status=ContainerStatus.EXITED, finished_at=format_time(self._clock.now())
            )
        try:
            self._store.update(dataclasses.replace(container, state=state))
        except NotFound:
            pass
        self._publish(container, "die", exitCode=str(code))
        # Whoever waits for this run's end would wait forever: the run never began.
        result = (code, message)
        _resolve(self._exit_waiters.pop(container.id, []), result)
        _resolve(self._stop_waiters.pop(container.id, []), result)

    async def _settle(self, container_id: str) -> None:
        """Wait until the previous task's exit is fully handled (it holds no lock meanwhile)."""
        task = self._tasks.get(container_id)
        if task is not None and task.exit is not None:
            await task.settled.wait()

    # --- exits ----------------------------------------------------------------------------------
    async def _watch(self, task: Task) -> None:
        """Wait for the task's exit record, then record the exit (the task's watcher)."""
        try:
            record = await task.monitor.wait()
        except asyncio.CancelledError:
            raise
        except DockyardError as exc:  # MonitorLost, or a record it cannot read (CorruptRecord)
            log.warning("monitor lost container=%s, ending its task: %s", task.container_id[:12], exc)
            container = self._store.find(task.container_id)
            if container is None:
                record = self._killed_record(task.pid)
            else:
                record = await self.end_orphaned_task(container, pid=task.pid)
        await self.handle_exit(task, record)

    async def end_orphaned_task(self, container: Container, *, pid: int) -> ExitRecord:
        """End a task whose monitor is gone (see the module essay); the exit to record (137).

        Every step is idempotent and a failure of one is logged, not raised: the record must end
        consistent whatever the runtime still knows of the container.
        """
        runtime = self.runtime_control(container)
        await _quietly("kill", container.id, runtime.kill(container.id, "KILL", all=True))
        await _quietly("delete", container.id, runtime.delete(container.id, force=True))
        return self._killed_record(pid)

    def _killed_record(self, pid: int) -> ExitRecord:
        now = format_time(self._clock.now())
        return ExitRecord(
            exit_code=_KILLED, signal=9, oom_killed=False, started_at="", finished_at=now, pid=pid
        )

    async def handle_exit(self, task: Task, record: ExitRecord) -> None:
        """Record that ``task`` ended with ``record``: state, events, cleanup, --rm, restart policy."""
        task.exit = record
        container_id = task.container_id
        auto_remove = False
        async with self._locks.hold(container_id):
            try:
                container = self._store.find(container_id)
                if container is not None:
                    await self._runner.release(container_id)
                    auto_remove = self._record_exit(container, task, record)
            finally:
                if self._tasks.get(container_id) is task:
                    del self._tasks[container_id]
                task.settled.set()
        if auto_remove:
            await self._auto_remove(container_id)

    async def _auto_remove(self, container_id: str) -> None:
        """``--rm``: remove the container once its exit is recorded."""
        async with self._locks.hold(container_id):
            container = self._store.find(container_id)
            if container is not None and not container.state.status.is_active():
                await self._destroy(container)

    def _record_exit(self, container: Container, task: Task, record: ExitRecord) -> bool:
        """Write the exit into the record; returns whether ``--rm`` applies."""
        notes = self._store.notes(container.id)
        hc = container.host_config
        state = dataclasses.replace(
            container.state,
            status=ContainerStatus.EXITED,
            started_at=record.started_at or container.state.started_at,  # the monitor saw it start
            pid=0,
            exit_code=record.exit_code,
            oom_killed=record.oom_killed,
            finished_at=record.finished_at or format_time(self._clock.now()),
        )
        delay = None
        if (
            not hc.auto_remove
            and not self.shutting_down
            and container.state.status is not ContainerStatus.REMOVING
        ):
            delay = self.restart_manager.on_exit(
                container.id,
                hc.restart_policy,
                exit_code=record.exit_code,
                manually_stopped=notes.manually_stopped,
                restart_count=container.state.restart_count,
                ran_for=self._clock.monotonic() - task.started,
            )
        if delay is not None:
            state = dataclasses.replace(
                state, status=ContainerStatus.RESTARTING, restart_count=state.restart_count + 1
            )
        if container.state.removal_in_progress:
            state = dataclasses.replace(state, status=ContainerStatus.REMOVING, removal_in_progress=True)
        self._store.update(
            dataclasses.replace(container, state=state), dataclasses.replace(notes, task_id="")
        )
        if record.oom_killed:
            self._publish(container, "oom")
        self._publish(container, "die", exitCode=str(record.exit_code))
        result = (record.exit_code, None)
        _resolve(self._exit_waiters.pop(container.id, []), result)
        if delay is None:
            _resolve(self._stop_waiters.pop(container.id, []), result)
        return hc.auto_remove and not container.state.removal_in_progress

    async def _auto_restart(self, container_id: str) -> None:
        """The restart manager's callback, after the backoff delay."""
        async with self._locks.hold(container_id):
            container = self._store.find(container_id)
            if container is None or container.state.status is not ContainerStatus.RESTARTING:
                return
            await self._settle(container_id)
            try:
                await self._start_locked(container, manual=False)
            except DockyardError as exc:
                log.warning("restart failed container=%s: %s", container_id[:12], exc)
                _resolve(self._stop_waiters.pop(container_id, []), (container.state.exit_code, str(exc)))

    async def _wait_settled(self, task: Task, timeout: float | None) -> bool:
        """Wait (without any lock) for ``task`` to be fully handled; False on timeout."""
        if timeout is None or timeout < 0:
            await task.settled.wait()
            return True
        settled = asyncio.ensure_future(task.settled.wait())
        sleeper = asyncio.ensure_future(self._clock.sleep(timeout))
        try:
            await asyncio.wait((settled, sleeper), return_when=asyncio.FIRST_COMPLETED)
        finally:
            settled.cancel()
            sleeper.cancel()
        return task.settled.is_set()

    def _settle_restarting(self, container: Container) -> None:
        state = dataclasses.replace(container.state, status=ContainerStatus.EXITED)
        self._store.update(dataclasses.replace(container, state=state))
        _resolve(self._stop_waiters.pop(container.id, []), (state.exit_code, None))

    def _mark_manually_stopped(self, container: Container) -> None:
        if self.shutting_down:
            return
        notes = self._store.notes(container.id)
        if not notes.manually_stopped:
            self._store.set_notes(container.id, dataclasses.replace(notes, manually_stopped=True))

    async def _signal(self, container: Container, number: int) -> None:
        """Deliver a signal through the runtime; a process that just exited is not an error."""
        runtime = self._runtimes.control(container.host_config.runtime or self._runtimes.default)
        try:
            await runtime.kill(container.id, number)
        except (NotFound, RuntimeFailed) as exc:
            log.info("signal %d not delivered container=%s: %s", number, container.id[:12], exc)
        self._publish(container, "kill", signal=str(number))
        current = self._store.find(container.id)
        if current is not None and current.state.status is ContainerStatus.PAUSED:
            # A frozen process cannot act on a signal: thaw it, as dockerd does for kills.
            await self._resume(current, runtime)

    async def _resume(self, container: Container, runtime: object) -> None:
        await self._runtimes.control(container.host_config.runtime or self._runtimes.default).resume(
            container.id
        )
        state = dataclasses.replace(container.state, status=ContainerStatus.RUNNING)
        self._store.update(dataclasses.replace(container, state=state))
        self._publish(container, "unpause")

    async def _connect_session(self, container: Container, session: AttachSession) -> None:
        task = self._tasks.get(container.id)
        if task is None or task.exit is not None:
            pending = [s for s in self._pending.get(container.id, []) if s.pending]
            self._pending[container.id] = [*pending, session]
            return
        try:
            channel = await task.monitor.attach(
                stdin=session.stdin, stdout=session.stdout, stderr=session.stderr
            )
        except (Conflict, MonitorLost):
            session.connect(None)
            return
        session.connect(channel)

    async def _on_detach(self, container: Container) -> None:
        self._publish(container, "detach")

    def _replay(self, container: Container, *, stdout: bool, stderr: bool) -> builtins.list[bytes]:
        entries = logs.read_entries(self._paths.container_log(container.id), stdout=stdout, stderr=stderr)
        if container.config.tty:
            return [e.data for e in entries]
        from dockyard.engine.attach import frame

        return [frame(e.stream, e.data) for e in entries]

    async def _destroy(self, container: Container, *, publish: bool = True) -> None:
        """Tear everything down and forget the container (called with its lock held)."""
        for session in self._pending.pop(container.id, []):
            session.connect(None)
        netns_path = self._runner.netns_path(container)
        if netns_path is not None:
            netns.remove_netns(netns_path)
        await asyncio.to_thread(self._remove_files, container)
        self._store.remove(container.id)
        self.restart_manager.forget(container.id)
        if publish:
            self._publish(container, "destroy")
        result = (container.state.exit_code, None)
        for table in (self._removal_waiters, self._exit_waiters, self._stop_waiters):
            _resolve(table.pop(container.id, []), result)

    def _remove_files(self, container: Container) -> None:
        self._runner.remove_bundle(container.id)
        self._images.remove_rootfs(container.id)
        shutil.rmtree(self._paths.container_dir(container.id), ignore_errors=True)

    # --- recovery hooks (engine/recovery.py) ---------------------------------------------------
    def adopt(self, container: Container, monitor: MonitorHandle, *, pid: int) -> Task:
        """Take over a task whose monitor outlived the previous daemon; watch it again."""
        if not container.state.status.is_active():  # killed after the start, before the record
            state = dataclasses.replace(
                container.state,
                status=ContainerStatus.RUNNING,
                pid=pid,
                started_at=format_time(self._clock.now()),
            )
            container = self._store.update(dataclasses.replace(container, state=state))
        started = self._clock.monotonic() - max(
            0.0, self._clock.now() - parse_time(container.state.started_at)
        )
        task = Task(container_id=container.id, monitor=monitor, pid=pid, started=started)
        self._tasks[container.id] = task
        task.watcher = asyncio.get_running_loop().create_task(self._watch(task))
        return task

    async def record_exit(
        self, container: Container, record: ExitRecord, monitor: MonitorHandle | None
    ) -> None:
        """A task ended while no daemon watched it: record the exit as if we had seen it."""
        started = self._clock.monotonic() - max(
            0.0, parse_time(record.finished_at) - parse_time(container.state.started_at)
        )
        task = Task(
            container_id=container.id, monitor=monitor or _NoMonitor(record), pid=record.pid, started=started
        )
        self._tasks[container.id] = task
        await self.handle_exit(task, record)

    def runtime_control(self, container: Container) -> RuntimeControl:
        """The OCI runtime client of the container's runtime."""
        return self._runtimes.control(container.host_config.runtime or self._runtimes.default)

    def settle_restarting(self, container: Container) -> None:
        """A container left ``restarting`` by a previous daemon: exited, for the policy to decide."""
        self._settle_restarting(container)

    async def finish_removal(self, container: Container) -> None:
        """Finish an ``rm`` (or undo a ``create``) that a killed daemon left half done."""
        async with self._locks.hold(container.id):
            await self._destroy(container, publish=not self._store.notes(container.id).creating)

    async def unmount_if_stopped(self, container: Container) -> None:
        """A stopped container must not keep its rootfs mounted nor its network namespace (a
        crash between exit and cleanup, or a daemon that kept namespaces until ``rm``)."""
        await self._runner.release(container.id)

    # --- events ---------------------------------------------------------------------------------
    def _publish(self, container: Container, action: str, **extra: str) -> None:
        attributes = dict(container.config.labels)
        attributes.update(image=container.config.image, name=container.name, **extra)
        self._events.publish(
            Event(type="container", action=action, actor_id=container.id, attributes=attributes)
        )

    def publish_for(self, container: Container, action: str, **extra: str) -> None:
        """Publish a container event (for the exec service)."""
        self._publish(container, action, **extra)

    # --- shutdown -------------------------------------------------------------------------------
    async def close(self) -> None:
        """Stop watching tasks (containers keep running); end pending attach sessions."""
        self.shutting_down = True
        self.restart_manager.close()
        watchers = [t.watcher for t in self._tasks.values() if t.watcher is not None]
        for watcher in watchers:
            watcher.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        for sessions in self._pending.values():
            for session in sessions:
                session.connect(None)
        self._pending.clear()


def _start_error(exc: DockyardError) -> DockyardError:
    """The error a failed start reports: the runtime's words after Docker's prefix."""
    if isinstance(exc, RuntimeFailed):
        return RuntimeFailed(
            f"failed to create task for container: OCI runtime create failed: {exc}", status=exc.status
        )
    return exc


async def _quietly(step: str, container_id: str, call: Awaitable[None]) -> None:
    """Await a runtime call whose failure must not stop the cleanup it is part of (logged)."""
    try:
        await call
    except NotFound:
        pass  # the runtime has forgotten the container already
    except DockyardError as exc:
        log.warning("runtime %s failed container=%s: %s", step, container_id[:12], exc)


def _resolve(
    futures: builtins.list[asyncio.Future[tuple[int, str | None]]], result: tuple[int, str | None]
) -> None:
    for future in futures:
        if not future.done():
            future.set_result(result)


class _NoMonitor:
    """Stands in for a monitor that is gone but left its exit record."""

    def __init__(self, record: ExitRecord) -> None:
        self.pid = record.pid
        self._record = record

    async def start(self) -> int:
        raise Conflict("the process has exited")

    async def state(self) -> MonitorState:
        return MonitorState(status="exited", pid=self.pid, exit=self._record)

    async def resize(self, height: int, width: int) -> None:
        raise Conflict("the process has exited")

    async def attach(self, *, stdin: bool, stdout: bool, stderr: bool) -> AttachChannel:
        raise Conflict("the process has exited")

    async def wait(self) -> ExitRecord:
        return self._record
