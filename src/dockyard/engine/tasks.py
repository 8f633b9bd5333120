"""Task: one run of a container, from its bundle to its reaped exit.

``TaskRunner.launch`` does what ``docker start`` needs, in an order that loses no output and
leaves nothing behind on failure:

1. **Bundle and network namespace, concurrently.** In a worker thread (mounts and file writes
   block): mount the container's root filesystem at ``<bundle>/rootfs`` (the image room's
   overlay), write the container directory's ``hostname``/``hosts``/``resolv.conf``, resolve the
   user in the mounted rootfs, create the working directory inside it (fd-relative, as dockerd
   does), build the spec and write ``config.json``. Meanwhile ``netns.create_netns`` pins the
   container's network namespace for this run.
2. **Monitor.** ``MonitorFactory.spawn`` starts ``dockyard-monitor``, which runs ``runtime
   create``; it returns once the container exists and waits for ``start``.
3. **Attach.** Sessions waiting for this start (``docker run`` attaches first) are connected to
   the monitor now, before the process can write anything.
4. **Start.** ``runtime start``; the pid comes back.

If any step fails, what the earlier ones made is undone (the rootfs unmounted; the runtime's
container deleted by the monitor) and the error propagates: the runtime's own words, which is
what Docker shows after "OCI runtime create failed".

The exit side is ``release``: the monitor has already run ``runtime delete``; the engine
unmounts the rootfs and releases the network namespace, as dockerd releases a container's
sandbox when it stops (``Daemon.releaseNetwork``); the next start makes a fresh one. Nothing of a
stopped container stays mounted but its writable layer's files.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import shutil
import stat
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from dockyard.config import Paths
from dockyard.engine import netns
from dockyard.engine.attach import AttachSession
from dockyard.engine.configs import log_options
from dockyard.engine.container import Container
from dockyard.engine.hostfiles import write_host_files
from dockyard.engine.runtimes import Runtimes
from dockyard.engine.seams import ImageSource, MonitorFactory, MonitorHandle
from dockyard.engine.specgen import HostFacts, SeccompProvider, SpecInputs, build_spec
from dockyard.engine.users import resolve_in_rootfs
from dockyard.errors import DockyardError, InvalidArgument
from dockyard.monitor import ExitRecord, MonitorConfig
from dockyard.oci import runtime_spec as oci
from dockyard.util import jsoncodec, securejoin
from dockyard.util.atomicfile import write_atomic

__all__ = ["Task", "TaskRunner"]

log = logging.getLogger(__name__)


@dataclass(slots=True, eq=False)
class Task:
    """A live run: its monitor, its pid, and when it ended.

    ``settled`` is set once the exit has been fully handled (state recorded, rootfs unmounted),
    so whoever waits on it may start the container again.
    """

    container_id: str
    monitor: MonitorHandle
    pid: int = 0
    started: float = 0.0  # monotonic
    exit: ExitRecord | None = None
    settled: asyncio.Event = field(default_factory=asyncio.Event)
    watcher: asyncio.Task[None] | None = None
    sessions: list[AttachSession] = field(default_factory=list)


class TaskRunner:
    """Prepares bundles and drives monitors for container starts."""

    def __init__(
        self,
        *,
        paths: Paths,
        images: ImageSource,
        monitors: MonitorFactory,
        runtimes: Runtimes,
        facts: HostFacts,
        seccomp: SeccompProvider,
        monotonic: Callable[[], float],
        create_netns: Callable[[Path], Awaitable[None]] = netns.create_netns,
    ) -> None:
        self._paths = paths
        self._images = images
        self._monitors = monitors
        self._runtimes = runtimes
        self._facts = facts
        self._seccomp = seccomp
        self._monotonic = monotonic
        self._create_netns = create_netns

    # --- paths ------------------------------------------------------------------------------
    def rootfs(self, container_id: str) -> Path:
        """Where the container's root filesystem is mounted while it runs."""
        return self._paths.bundle(container_id) / "rootfs"

    def netns_path(self, container: Container) -> Path | None:
        """The pinned network namespace, or None with ``--network host``."""
        if container.host_config.network_mode == "host":
            return None
        return self._paths.netns(container.id)

    # --- start ------------------------------------------------------------------------------
    async def launch(self, container: Container, sessions: list[AttachSession]) -> Task:
        """Run ``container``: bundle, netns, monitor (runtime create), attach, start.

        ``sessions`` are attach sessions waiting for this start; they are connected before the
        process starts.

        Raises:
            RuntimeFailed: the runtime refused (its message); nothing is left mounted.
            InvalidArgument: a setting that only fails now (an unknown user, a bad bind).
            MonitorLost, Unavailable: the monitor could not be started.
        """
        runtime = container.host_config.runtime or self._runtimes.default
        time_ns = self._facts.time_namespace and await self._runtimes.supports_time_namespace(runtime)
        facts = dataclasses.replace(self._facts, time_namespace=time_ns)
        netns_path = self.netns_path(container)
        prepare = asyncio.to_thread(self._prepare_bundle, container, facts, netns_path)
        if netns_path is not None:
            results = await asyncio.gather(prepare, self._create_netns(netns_path), return_exceptions=True)
            failures = [r for r in results if isinstance(r, BaseException)]
            if failures:
                await self.release(container.id)  # whichever half succeeded
                raise failures[0]
        else:
            await prepare
        try:
            monitor = await self._monitors.spawn(self.monitor_config(container, runtime))
        except BaseException:
            await self.release(container.id)
            raise
        task = Task(container_id=container.id, monitor=monitor, sessions=list(sessions))
        try:
            await self._connect_sessions(task)
            task.pid = await monitor.start()
        except BaseException:
            await self._abandon(container, monitor)
            raise
        task.started = self._monotonic()
        return task

    async def _connect_sessions(self, task: Task) -> None:
        for session in task.sessions:
            if not session.pending:
                continue
            channel = await task.monitor.attach(
                stdin=session.stdin, stdout=session.stdout, stderr=session.stderr
            )
            session.connect(channel)

    async def _abandon(self, container: Container, monitor: MonitorHandle) -> None:
        """A start failed after create: kill what was created, wait for the monitor to reap it."""
        runtime = self._runtimes.control(container.host_config.runtime or self._runtimes.default)
        try:
            await runtime.kill(container.id, "KILL", all=True)
        except DockyardError:
            pass
        try:
            await asyncio.wait_for(monitor.wait(), 10)
        except (DockyardError, TimeoutError):
            pass
        await self.release(container.id)

    def monitor_config(self, container: Container, runtime: str) -> MonitorConfig:
        """The monitor's config for one start of ``container``."""
        entry = self._runtimes.entry(runtime)
        config, hc = container.config, container.host_config
        json_log = hc.log_config.type in ("", "json-file")
        max_size, max_file = log_options(hc.log_config) if json_log else (-1, 1)
        height, width = hc.console_size
        return MonitorConfig(
            task_id=container.id,
            container_id=container.id,
            mode="init",
            monitor_dir=self._paths.monitor_dir(container.id),
            runtime=entry.path,
            runtime_root=self._runtimes.root(runtime),
            runtime_args=entry.args,
            bundle=self._paths.bundle(container.id),
            terminal=config.tty,
            stdin=config.open_stdin,
            stdin_once=config.stdin_once,
            console_size=(height, width) if config.tty and height and width else None,
            log_path=self._paths.container_log(container.id) if json_log else None,
            log_max_size=max_size,
            log_max_file=max_file,
        )

    # --- the bundle (worker thread) ---------------------------------------------------------
    def _prepare_bundle(self, container: Container, facts: HostFacts, netns_path: Path | None) -> None:
        bundle = self._paths.bundle(container.id)
        rootfs = bundle / "rootfs"
        rootfs.mkdir(parents=True, exist_ok=True, mode=0o755)
        directory = self._paths.container_dir(container.id)
        directory.mkdir(parents=True, exist_ok=True, mode=0o710)
        if not os.path.ismount(rootfs):
            self._images.mount_rootfs(container.id, rootfs)
        try:
            write_host_files(container, directory)
            spec = self._spec(container, facts, rootfs, directory, netns_path)
            write_atomic(bundle / "config.json", jsoncodec.dumps(spec.to_json()), durable=False)
        except BaseException:
            self._unmount(container.id)
            raise

    def _spec(
        self, container: Container, facts: HostFacts, rootfs: Path, directory: Path, netns_path: Path | None
    ) -> oci.Spec:
        hc = container.host_config
        user = resolve_in_rootfs(str(rootfs), container.config.user, group_add=hc.group_add)
        _make_workdir(rootfs, container.config.working_dir)
        _make_bind_sources(hc.binds)
        inputs = SpecInputs(
            rootfs=str(rootfs),
            resolv_conf=str(directory / "resolv.conf"),
            hostname_file=str(directory / "hostname"),
            hosts_file=str(directory / "hosts"),
            user=user,
            netns=str(netns_path) if netns_path is not None else None,
            devices=tuple(
                _device(d.path_on_host, d.path_in_container, d.cgroup_permissions) for d in hc.devices
            ),
            host_devices=_host_devices() if hc.privileged else (),
        )
        return build_spec(container, inputs=inputs, facts=facts, seccomp=self._seccomp)

    # --- the end of a run -------------------------------------------------------------------
    async def release(self, container_id: str) -> None:
        """Unmount the container's rootfs (its writable layer stays for the next start) and
        release its network namespace. Idempotent."""
        await asyncio.to_thread(self._release, container_id)

    def _release(self, container_id: str) -> None:
        self._unmount(container_id)
        try:
            netns.remove_netns(self._paths.netns(container_id))
        except OSError as exc:
            log.warning("release netns failed container=%s: %s", container_id[:12], exc)

    def _unmount(self, container_id: str) -> None:
        rootfs = self.rootfs(container_id)
        if os.path.ismount(rootfs):
            try:
                self._images.unmount_rootfs(container_id, rootfs)
            except OSError as exc:
                log.warning("unmount rootfs failed container=%s: %s", container_id[:12], exc)

    def remove_bundle(self, container_id: str) -> None:
        """Forget the bundle and the monitor directory (the container is being removed). Blocking."""
        self._unmount(container_id)
        for path in (self._paths.bundle(container_id), self._paths.monitor_dir(container_id)):
            _remove_tree(path)


def _make_workdir(rootfs: Path, working_dir: str) -> None:
    """Create the working directory inside the rootfs, as dockerd does, without leaving it."""
    if not working_dir or working_dir == "/":
        return
    if not working_dir.startswith("/"):
        raise InvalidArgument(
            f"the working directory '{working_dir}' is invalid, it needs to be an absolute path"
        )
    root_fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.close(securejoin.mkdir_all_in_root(root_fd, working_dir, 0o755))
    except securejoin.PathEscape as exc:
        raise InvalidArgument(f"cannot create working directory {working_dir}: {exc.strerror}") from None
    finally:
        os.close(root_fd)


def _make_bind_sources(binds: tuple[str, ...]) -> None:
    """``-v /host:/ctr`` creates a missing host directory (Docker's legacy behaviour)."""
    for bind in binds:
        source = bind.split(":", 1)[0]
        if source.startswith("/") and not os.path.lexists(source):
            os.makedirs(source, mode=0o755, exist_ok=True)


def _device(host_path: str, container_path: str, permissions: str) -> tuple[oci.LinuxDevice, str]:
    what = f'error gathering device information while adding custom device "{host_path}"'
    try:
        info = os.stat(host_path)
    except OSError as exc:
        raise InvalidArgument(f"{what}: {exc.strerror}") from None
    if stat.S_ISCHR(info.st_mode):
        kind = "c"
    elif stat.S_ISBLK(info.st_mode):
        kind = "b"
    else:
        raise InvalidArgument(f"{what}: not a device node")
    device = oci.LinuxDevice(
        path=container_path or host_path,
        type=kind,
        major=os.major(info.st_rdev),
        minor=os.minor(info.st_rdev),
        file_mode=stat.S_IMODE(info.st_mode),
        uid=0,
        gid=0,
    )
    return device, permissions or "rwm"


def _host_devices() -> tuple[oci.LinuxDevice, ...]:
    """Every device node of the host's /dev (``--privileged``), as dockerd adds them."""
    found = []
    for top, dirs, files in os.walk("/dev"):
        dirs[:] = [d for d in dirs if d not in ("pts", "shm", "fd", "mqueue")]
        for name in files:
            path = os.path.join(top, name)
            try:
                info = os.lstat(path)
                if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode):
                    found.append(_device(path, path, "rwm")[0])
            except (OSError, InvalidArgument):
                continue
    return tuple(found)


def _remove_tree(path: Path) -> None:
    if os.path.ismount(path / "rootfs"):
        log.warning("not removing %s: its rootfs is still mounted", path)
        return  # never delete through a mounted root filesystem
    shutil.rmtree(path, ignore_errors=True)
