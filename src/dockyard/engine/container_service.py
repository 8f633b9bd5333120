"""ContainerService: the container operations of the Engine API.

Each public method is one endpoint: it resolves the reference, takes the container's lock,
checks the state machine (``ContainerStatus``'s predicates and Docker's messages for each refusal)
and acts through ``ContainerLifecycle`` (tasks, exits, events) and ``listing`` (reads).
"""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
import logging
import signal as signals
from collections.abc import AsyncIterator
from typing import TypeVar

from dockyard.engine import configs, listing, logs
from dockyard.engine.attach import AttachSession, parse_detach_keys
from dockyard.engine.container import (
    Container,
    ContainerConfig,
    ContainerState,
    ContainerStatus,
    HostConfig,
    NetworkingConfig,
)
from dockyard.engine.details import ContainerDetails, ContainerListing
from dockyard.engine.events import Event
from dockyard.engine.lifecycle import ContainerLifecycle
from dockyard.engine.logs import LogEntry
from dockyard.engine.names import generate_name, validate_name
from dockyard.engine.signals import parse_signal
from dockyard.engine.store import ContainerNotes
from dockyard.engine.tasks import Task
from dockyard.engine.timestamps import format_time
from dockyard.errors import (
    AlreadyStarted,
    AlreadyStopped,
    Conflict,
    ContainerIsRunning,
    ContainerNotRunning,
    ContainerPaused,
    InvalidArgument,
    NotFound,
)
from dockyard.util import ids

__all__ = ["ContainerService"]

log = logging.getLogger(__name__)

_KILL_WAIT = 10.0  # after SIGKILL, how long to wait for the monitor to report the exit
_Sized = TypeVar("_Sized", ContainerListing, ContainerDetails)
_CONDITIONS = ("not-running", "next-exit", "removed")


class ContainerService(ContainerLifecycle):
    """Create, inspect, run and remove containers."""

    _bridge_warned = False

    # --- lookups --------------------------------------------------------------------------------
    def list(
        self,
        *,
        all: bool = False,
        limit: int = -1,
        size: bool = False,
        filters: dict[str, builtins.list[str]] | None = None,
    ) -> builtins.list[ContainerListing]:
        """Containers, newest first (running ones only unless ``all``; ``limit`` implies all).

        ``size`` walks every writable layer on the caller's thread; from the event loop, list
        without it and pass the rows to ``with_sizes``.

        Raises:
            InvalidArgument: an unknown filter or a bad filter value, with Docker's message.
        """
        return listing.list_containers(
            self._store.all(),
            all=all,
            limit=limit,
            size=size,
            filters=filters,
            images=self._images,
            paths=self._paths,
            now=self._clock.now(),
            store=self._store,
        )

    def inspect(self, ref: str, *, size: bool = False) -> ContainerDetails:
        """The record plus what inspect derives. Raises NoSuchContainer.

        ``size`` walks the writable layer on the caller's thread; from the event loop, inspect
        without it and pass the result to ``with_sizes``.
        """
        container = self._store.get(ref)
        execs = tuple(s.id for s in self._store.execs_of(container.id) if s.running)
        container = dataclasses.replace(container, exec_ids=execs)
        return listing.details(
            container, images=self._images, paths=self._paths, store=self._store, size=size
        )

    async def with_sizes(self, views: builtins.list[_Sized]) -> builtins.list[_Sized]:
        """``views`` (list rows or inspect results) with ``SizeRw`` and ``SizeRootFs`` filled in.

        Measuring a writable layer walks its whole tree (``docker ps -s`` is slow in dockerd
        too), so the walks run in a worker thread and other requests go on meanwhile. A container
        removed in the meantime measures 0.
        """
        ids = [view.container.id for view in views]
        sizes = await asyncio.to_thread(lambda: [self._images.rootfs_usage(i) for i in ids])
        return [
            dataclasses.replace(view, size_rw=rw, size_root_fs=root)
            for view, (rw, root) in zip(views, sizes, strict=True)
        ]

    # --- create ---------------------------------------------------------------------------------
    async def create(
        self,
        *,
        name: str | None,
        config: ContainerConfig,
        host_config: HostConfig,
        networking_config: NetworkingConfig,
        platform: str | None,
    ) -> tuple[str, builtins.list[str]]:
        """Create a container from an image; returns (id, warnings).

        Raises:
            NoSuchImage: the image is not present (the client then pulls and retries).
            NameInUse: ``name`` is taken.
            InvalidArgument: a bad name or a bad setting, in Docker's words.
        """
        wanted = validate_name(name) if name else None
        if wanted is not None and (holder := self._store.name_holder(wanted)) is not None:
            from dockyard.errors import NameInUse

            raise NameInUse(wanted, holder)
        image = self._images.resolve(config.image)
        defaults = image.defaults
        warnings = configs.check_platform(
            platform, config.image, defaults.os, defaults.architecture, defaults.variant
        )
        merged = configs.merge_image_config(config, image.defaults)
        hc = configs.default_host_config(
            host_config, cgroup_version=self._host.cgroup_version, default_runtime=self._runtimes.default
        )
        warnings += configs.check_host_config(
            merged,
            hc,
            runtimes=self._runtimes.names(),
            ncpu=self._host.ncpu,
            capabilities=self._host.capabilities,
        )
        if hc.network_mode == "bridge" and not self._bridge_warned:
            log.warning("%s", configs.BRIDGE_WARNING.removeprefix("WARNING: "))
            self._bridge_warned = True
        path, args = configs.command_of(merged)
        container_id = self._new_id()
        hostname = merged.hostname or (
            self._host.hostname if hc.network_mode == "host" else container_id[:12]
        )
        container = Container(
            id=container_id,
            name=wanted or self._generate_name(),
            created=format_time(self._clock.now()),
            path=path,
            args=args,
            config=dataclasses.replace(merged, hostname=hostname),
            host_config=hc,
            networking_config=networking_config,
            image_id=image.id,
            state=ContainerState(),
            runtime=hc.runtime,
        )
        self._store.add(container, ContainerNotes(creating=True))
        try:
            await asyncio.to_thread(self._make_files, container)
        except BaseException as exc:
            await self._undo_create(container, exc)
            raise
        self._store.set_notes(container.id, ContainerNotes())
        self._publish(container, "create")
        return container.id, warnings

    def _make_files(self, container: Container) -> None:
        self._paths.container_dir(container.id).mkdir(parents=True, exist_ok=True, mode=0o710)
        self._images.create_rootfs(container.id, container.image_id)

    async def _undo_create(self, container: Container, exc: BaseException) -> None:
        try:
            await asyncio.to_thread(self._remove_files, container)
        except Exception as cleanup:
            exc.add_note(f"cleanup of {container.id[:12]} failed: {cleanup}")
        self._store.remove(container.id)

    def _new_id(self) -> str:
        # Monitor directories use the first 16 hex digits: keep them unique among containers.
        taken = {i[:16] for i in self._store.ids()}
        while True:
            candidate = ids.new_id()
            if candidate[:16] not in taken:
                return candidate

    def _generate_name(self) -> str:
        for attempt in range(64):
            name = generate_name(attempt)
            if self._store.name_holder(name) is None:
                return name
        return ids.new_id()[:20]  # astronomically unlikely: 64 taken names in a row

    # --- start ----------------------------------------------------------------------------------
    async def start(self, ref: str) -> None:
        """Start a created or exited container.

        Raises:
            AlreadyStarted: it runs (Docker answers 304).
            Conflict: it is paused, being removed, or dead.
            RuntimeFailed: the runtime refused (its message follows "OCI runtime create failed").
        """
        container = self._store.get(ref)
        failed = False
        try:
            async with self._locks.hold(container.id):
                container = self._store.get(container.id)
                _check_startable(container)
                await self._settle(container.id)
                self.restart_manager.reset(container.id)
                failed = True
                await self._start_locked(container, manual=True)
                failed = False
        finally:
            if failed and container.host_config.auto_remove:
                await self._auto_remove(container.id)  # moby containerStart: --rm also when start fails

    # --- stop, kill, restart --------------------------------------------------------------------
    async def stop(self, ref: str, *, timeout: int | None = None, signal: str | None = None) -> None:
        """Send the stop signal, then SIGKILL after ``timeout`` seconds (-1: wait forever).

        ``timeout`` None is the container's ``StopTimeout`` or the daemon's default (10 s);
        ``signal`` None is the container's ``StopSignal`` or SIGTERM.

        Raises:
            AlreadyStopped: it is not running (Docker answers 304).
            InvalidArgument: a bad signal name.
        """
        container = self._store.get(ref)
        async with self._locks.hold(container.id):
            container = self._store.get(container.id)
            if not container.state.status.is_active():
                raise AlreadyStopped(ref)
            self._mark_manually_stopped(container)
            self.restart_manager.cancel(container.id)
            number = parse_signal(signal or container.config.stop_signal or "SIGTERM")
            task = self._tasks.get(container.id)
            if task is None:  # restarting: no process, just cancel the pending restart
                self._settle_restarting(container)
                self._publish(container, "stop")
                return
            await self._signal(container, number)
        if timeout is None:
            timeout = container.config.stop_timeout
        if timeout is None:
            timeout = self._default_stop_timeout
        if not await self._wait_settled(task, timeout):
            async with self._locks.hold(container.id):
                if not task.settled.is_set():
                    await self._signal(container, signals.SIGKILL)
            await self._wait_settled(task, None)
        self._publish(self._store.find(container.id) or container, "stop")

    async def kill(self, ref: str, *, signal: str | None = None) -> None:
        """Send a signal (default SIGKILL); with SIGKILL, return once the container is dead.

        Raises:
            ContainerNotRunning: "Container <id> is not running".
            InvalidArgument: a bad signal name.
        """
        container = self._store.get(ref)
        number = parse_signal(signal or "SIGKILL")
        async with self._locks.hold(container.id):
            container = self._store.get(container.id)
            task = self._tasks.get(container.id)
            if task is None or not container.state.status.is_active():
                raise ContainerNotRunning(f"Container {container.id} is not running")
            stop_signal = container.config.stop_signal
            if number == signals.SIGKILL or not stop_signal or parse_signal(stop_signal) == number:
                self.restart_manager.cancel(container.id)  # moby ExitOnNext
            self._mark_manually_stopped(container)
            await self._signal(container, number)
        if number == signals.SIGKILL:
            await self._wait_settled(task, _KILL_WAIT)

    async def restart(self, ref: str, *, timeout: int | None = None, signal: str | None = None) -> None:
        """Stop (if running), then start.

        Raises:
            as ``stop`` and ``start``.
        """
        container = self._store.get(ref)
        try:
            await self.stop(container.id, timeout=timeout, signal=signal)
        except AlreadyStopped:
            pass
        await self.start(container.id)
        self._publish(self._store.get(container.id), "restart")

    # --- pause ----------------------------------------------------------------------------------
    async def pause(self, ref: str) -> None:
        """Freeze the container's processes.

        Raises:
            ContainerNotRunning, ContainerPaused, Conflict (restarting).
        """
        container = self._store.get(ref)
        async with self._locks.hold(container.id):
            container = self._store.get(container.id)
            status = container.state.status
            if status is ContainerStatus.PAUSED:
                raise ContainerPaused(f"Container {container.id} is already paused")
            if status is ContainerStatus.RESTARTING:
                raise Conflict(f"Container {container.id} is restarting, wait until the container is running")
            if status is not ContainerStatus.RUNNING or container.id not in self._tasks:
                raise ContainerNotRunning(f"Container {container.id} is not running")
            runtime = self._runtimes.control(container.host_config.runtime or self._runtimes.default)
            await runtime.pause(container.id)
            state = dataclasses.replace(container.state, status=ContainerStatus.PAUSED)
            self._store.update(dataclasses.replace(container, state=state))
            self._publish(container, "pause")

    async def unpause(self, ref: str) -> None:
        """Thaw the container's processes. Raises Conflict when it is not paused."""
        container = self._store.get(ref)
        async with self._locks.hold(container.id):
            container = self._store.get(container.id)
            if container.state.status is not ContainerStatus.PAUSED:
                raise Conflict(f"Container {container.id} is not paused")
            await self._resume(
                container, self._runtimes.control(container.host_config.runtime or self._runtimes.default)
            )

    # --- wait -----------------------------------------------------------------------------------
    async def wait(self, ref: str, *, condition: str = "not-running") -> tuple[int, str | None]:
        """Block until ``condition``; returns (StatusCode, error message or None).

        "not-running" returns at once for a stopped container; "next-exit" waits for the next
        exit; "removed" waits until the container is removed.

        Raises:
            NoSuchContainer: nothing matches ``ref``.
            InvalidArgument: an unknown condition.
        """
        return await self.waiter(ref, condition=condition)

    def waiter(self, ref: str, *, condition: str = "not-running") -> asyncio.Future[tuple[int, str | None]]:
        """``wait`` in two steps: check and register now, await the result later.

        It raises at once (so an HTTP handler can answer 404/400 and otherwise send its headers
        immediately, as dockerd does) and the returned future resolves when ``condition`` holds;
        an exit that happens after this call is never missed.

        Raises:
            NoSuchContainer: nothing matches ``ref``.
            InvalidArgument: an unknown condition.
        """
        if condition not in _CONDITIONS:
            raise InvalidArgument(f'invalid condition: "{condition}"')
        container = self._store.get(ref)
        future: asyncio.Future[tuple[int, str | None]] = asyncio.get_running_loop().create_future()
        if condition == "not-running" and not container.state.status.is_active():
            future.set_result((container.state.exit_code, container.state.error or None))
            return future
        table = {
            "not-running": self._stop_waiters,
            "next-exit": self._exit_waiters,
            "removed": self._removal_waiters,
        }[condition]
        table.setdefault(container.id, []).append(future)
        return future

    # --- attach, resize, logs, top --------------------------------------------------------------
    async def attach(
        self,
        ref: str,
        *,
        stdin: bool,
        stdout: bool,
        stderr: bool,
        logs: bool,
        stream: bool,
        detach_keys: str | None,
    ) -> AttachSession:
        """Attach to the container's stdio; before start too (all output is then seen).

        Raises:
            NoSuchContainer. Conflict: paused or restarting. InvalidArgument: bad detach keys.
        """
        container = self._store.get(ref)
        status = container.state.status
        if status is ContainerStatus.PAUSED:
            raise Conflict(f"container {container.id} is paused, unpause the container before attach.")
        if status is ContainerStatus.RESTARTING:
            raise Conflict(f"container {container.id} is restarting, wait until the container is running")
        keys = parse_detach_keys(detach_keys)
        replay = self._replay(container, stdout=stdout, stderr=stderr) if logs else []
        session = AttachSession(
            tty=container.config.tty,
            stdin=stdin and container.config.open_stdin,
            stdout=stdout,
            stderr=stderr,
            detach_keys=keys,
            replay=replay,
            stream=stream,
            on_detach=lambda: self._on_detach(container),
        )
        if stream:
            await self._connect_session(container, session)
        self._publish(container, "attach")
        return session

    async def resize(self, ref: str, *, height: int, width: int) -> None:
        """Resize the container's terminal. Raises ContainerNotRunning, InvalidArgument."""
        container = self._store.get(ref)
        task = self._tasks.get(container.id)
        if task is None:
            raise ContainerNotRunning(f"Container {container.id} is not running")
        if not (0 <= height <= 65535 and 0 <= width <= 65535):
            raise InvalidArgument(f"invalid terminal size {height}x{width}")
        await task.monitor.resize(height, width)
        self._publish(container, "resize", height=str(height), width=str(width))

    def logs(
        self,
        ref: str,
        *,
        stdout: bool,
        stderr: bool,
        follow: bool,
        since: float | None,
        until: float | None,
        timestamps: bool,
        tail: int | None,
    ) -> AsyncIterator[LogEntry]:
        """The json-file log's entries, oldest first; with ``follow``, new ones until the run
        that is going on now ends (at once if none is).

        That is dockerd's rule: ``logs -f`` follows one run's logger and ends with it, also when
        a restart policy starts the container again (measured with dockerd 20.10: ``docker logs
        -f`` of a ``--restart=always`` container returns at its first exit; compose re-attaches
        on the ``start`` event). Ending on "no task right now" instead would race the restart
        backoff: a restart within one poll would keep the stream open.

        ``timestamps`` is the API's business (it prefixes each entry's ``time``); it is accepted
        here so the call mirrors the endpoint.

        Raises:
            NoSuchContainer: nothing matches ``ref`` (raised by this call, before iteration).
            Unsupported: the container logs with the "none" driver.
        """
        container = self._store.get(ref)
        if container.host_config.log_config.type == "none":
            from dockyard.errors import Unsupported

            raise Unsupported("configured logging driver does not support reading")
        task = self._tasks.get(container.id)
        return logs.stream_entries(
            self._paths.container_log(container.id),
            stdout=stdout,
            stderr=stderr,
            follow=follow,
            since=since,
            until=until,
            tail=tail,
            # Settled: the exit is recorded, so the monitor has written the run's last line.
            stopped=task.settled.is_set if task is not None else lambda: True,
        )

    async def top(
        self, ref: str, *, ps_args: str | None = None
    ) -> tuple[builtins.list[str], builtins.list[builtins.list[str]]]:
        """``ps`` of the container's processes: (titles, rows).

        Raises:
            ContainerNotRunning: "Container <id> is not running". InvalidArgument: bad ps args.
        """
        container = self._store.get(ref)
        if container.id not in self._tasks:
            raise ContainerNotRunning(f"Container {container.id} is not running")
        runtime = self._runtimes.control(container.host_config.runtime or self._runtimes.default)
        pids = await runtime.ps(container.id)
        return await listing.top(pids, ps_args)

    # --- remove, rename, prune ------------------------------------------------------------------
    async def remove(
        self, ref: str, *, force: bool = False, volumes: bool = False, link: bool = False
    ) -> None:
        """Remove a container (``force`` kills a running one first, with SIGKILL).

        Raises:
            ContainerIsRunning: it runs and ``force`` is not set (Docker's message).
            Conflict: it is paused (without force), or its removal is already in progress.
        """
        container = self._store.get(ref)
        if link:
            raise InvalidArgument("Conflict, cannot remove the default link name of the container")
        async with self._locks.hold(container.id):
            container = self._store.get(container.id)
            task = await self._prepare_removal(container, force=force)
        if task is not None:
            await self._wait_settled(task, _KILL_WAIT)
        async with self._locks.hold(container.id):
            current = self._store.find(container.id)
            if current is not None:
                await self._destroy(current)

    async def _prepare_removal(self, container: Container, *, force: bool) -> Task | None:
        if container.state.removal_in_progress:
            raise Conflict(f"removal of container {container.id} is already in progress")
        status = container.state.status
        if status.is_active() and not force:
            if status is ContainerStatus.PAUSED:
                raise Conflict(
                    f'cannot remove container "/{container.name}": container is paused and must be '
                    "unpaused first"
                )
            raise ContainerIsRunning(
                f'cannot remove container "/{container.name}": container is running: stop the container '
                "before removing or force remove"
            )
        self.restart_manager.cancel(container.id)
        state = dataclasses.replace(container.state, removal_in_progress=True)
        if not status.is_active():
            state = dataclasses.replace(state, status=ContainerStatus.REMOVING)
        self._store.update(dataclasses.replace(container, state=state))
        task = self._tasks.get(container.id)
        if task is not None and task.exit is None:
            await self._signal(container, signals.SIGKILL)
            return task
        return None

    async def rename(self, ref: str, new_name: str) -> None:
        """Rename the container. Raises NameInUse, InvalidArgument."""
        container = self._store.get(ref)
        if not new_name:
            raise InvalidArgument("Neither old nor new names may be empty")
        bare = validate_name(new_name)
        async with self._locks.hold(container.id):
            container = self._store.get(container.id)
            if bare == container.name:
                raise InvalidArgument("Renaming a container with the same name as its current name")
            renamed = self._store.rename(container, bare)
            self._publish(renamed, "rename", oldName=f"/{container.name}")

    async def prune(
        self, *, filters: dict[str, builtins.list[str]] | None = None
    ) -> tuple[builtins.list[str], int]:
        """Remove every stopped container matching ``filters`` (until, label); (ids, reclaimed bytes).

        Raises:
            InvalidArgument: an unknown filter.
        """
        chosen = listing.prunable(self._store.all(), filters, now=self._clock.now())
        removed, reclaimed = [], 0
        for container in chosen:
            try:
                size_rw = (await asyncio.to_thread(self._images.rootfs_usage, container.id))[0]
                await self.remove(container.id)
            except (NotFound, Conflict) as exc:
                log.info("prune skipped container=%s: %s", container.id[:12], exc)
                continue
            removed.append(container.id)
            reclaimed += size_rw
        self._events.publish(
            Event(type="container", action="prune", actor_id="", attributes={"reclaimed": str(reclaimed)})
        )
        return removed, reclaimed


def _check_startable(container: Container) -> None:
    status = container.state.status
    if status in (ContainerStatus.RUNNING, ContainerStatus.RESTARTING):
        raise AlreadyStarted(container.id)
    if status is ContainerStatus.PAUSED:
        raise Conflict("cannot start a paused container, try unpause instead")
    if status is ContainerStatus.REMOVING or container.state.removal_in_progress:
        raise Conflict("container is marked for removal and cannot be started")
    if status is ContainerStatus.DEAD:
        raise Conflict("container is marked for removal and cannot be started")
