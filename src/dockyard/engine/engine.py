"""Engine: builds the stores and services, recovers containers at start, shuts down in order.

The composition root. ``Engine.open`` creates the directories of both roots, opens the state
database, probes the host, and wires the rooms together: the image room (over the registry
client, which imports ``httpx`` only on its first request, so an idle daemon does not pay for
it), the monitor zygote
(a pre-imported fork server, so a monitor costs a fork rather than an interpreter start), the
OCI runtimes, and the engine's own services. Then ``recovery.recover`` reconciles every
container record with the monitors and runtimes that outlived the previous daemon.

``close`` stops the engine's own work only: watchers, the zygote, open subscriptions. Containers
keep running under their monitors (dockerd calls this live-restore), and the next ``open`` finds
them again.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import uuid
from collections.abc import Mapping
from pathlib import Path

from dockyard.config import DaemonConfig, Paths
from dockyard.engine import recovery, seccomp_profile
from dockyard.engine.container import Container
from dockyard.engine.container_service import ContainerService
from dockyard.engine.events import EventBus
from dockyard.engine.execs import ExecConfig, ExecService, exec_process
from dockyard.engine.host import HostInfo, probe_host
from dockyard.engine.images import ImageFacade
from dockyard.engine.runtimes import Runtimes
from dockyard.engine.seams import MonitorHandle
from dockyard.engine.specgen import HostFacts
from dockyard.engine.store import ContainerStore
from dockyard.engine.system import SystemService
from dockyard.engine.tasks import TaskRunner
from dockyard.engine.users import resolve_in_rootfs
from dockyard.image import ImageService
from dockyard.monitor import ExecLauncher, ExitRecord, Launcher, MonitorClient, MonitorConfig, Zygote
from dockyard.oci import runtime_spec as oci
from dockyard.registry import RegistryClient, RegistryConfig
from dockyard.util.atomicfile import write_atomic
from dockyard.util.clock import Clock, SystemClock
from dockyard.util.db import Database

__all__ = ["Engine", "registry_config"]

log = logging.getLogger(__name__)


class Monitors:
    """The monitor room's client side as the engine's ``MonitorFactory``."""

    def __init__(self, launcher: Launcher) -> None:
        self.launcher = launcher

    async def spawn(self, config: MonitorConfig) -> MonitorHandle:
        return await MonitorClient.spawn(config, launcher=self.launcher)

    async def connect(self, monitor_dir: Path) -> MonitorHandle:
        return await MonitorClient.connect(monitor_dir)

    def read_exit_record(self, monitor_dir: Path) -> ExitRecord | None:
        return MonitorClient.read_exit_record(monitor_dir)


def registry_config(config: DaemonConfig, environ: Mapping[str, str]) -> RegistryConfig:
    """How the daemon reaches registries: its flags, plus a docker ``config.json`` for credentials.

    A request without ``X-Registry-Auth`` falls back to the daemon user's docker config, found as
    the docker CLI finds it: ``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``.
    """
    directory = environ.get("DOCKER_CONFIG") or str(Path(environ.get("HOME") or Path.home()) / ".docker")
    return RegistryConfig(
        insecure_registries=config.insecure_registries,
        mirrors=config.registry_mirrors,
        docker_config=Path(directory) / "config.json",
    )


@functools.lru_cache(maxsize=64)
def _cached_profile(caps: tuple[str, ...], custom: str) -> oci.LinuxSeccomp | None:
    return seccomp_profile.provide(list(caps), custom)


def seccomp_provider(caps: list[str], custom: str) -> oci.LinuxSeccomp | None:
    """``seccomp_profile.provide``, resolved once per distinct (capabilities, profile) pair."""
    return _cached_profile(tuple(caps), custom)


def _make_dirs(paths: Paths) -> None:
    for path, mode in (
        (paths.data_root, 0o711),
        (paths.containers_root, 0o710),
        (paths.tmp_root, 0o700),
        (paths.exec_root, 0o711),
        (paths.bundles_root, 0o711),
        (paths.monitors_root, 0o700),
        (paths.netns_root, 0o711),
        (paths.runtimes_root, 0o700),
    ):
        path.mkdir(parents=True, exist_ok=True, mode=mode)


def _engine_id(paths: Paths) -> str:
    """A persistent ID for ``/info`` (dockerd keeps one in ``engine-id``)."""
    path = paths.engine_id
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        value = str(uuid.uuid4())
        write_atomic(path, value + "\n", mode=0o600)
        return value


class Engine:
    """The composition root: everything the API calls hangs off one Engine."""

    containers: ContainerService
    execs: ExecService
    images: ImageFacade
    events: EventBus
    system: SystemService
    _config: DaemonConfig
    _db: Database
    _store: ContainerStore
    _registry: RegistryClient
    _image_service: ImageService
    _launcher: Launcher
    _runtimes: Runtimes

    def __init__(self) -> None:
        raise TypeError("use await Engine.open(config)")

    @classmethod
    async def open(cls, config: DaemonConfig, *, clock: Clock | None = None, zygote: bool = True) -> Engine:
        """Build the stores and services for ``config`` and recover existing containers.

        ``zygote`` False starts each monitor as a fresh interpreter (slower; for debugging).

        Raises:
            CorruptRecord: the state database cannot be used.
            Unavailable: the monitor zygote cannot be started.
        """
        self = object.__new__(cls)
        self._config = config
        paths = config.paths
        await asyncio.to_thread(_make_dirs, paths)
        self._db = db = Database(paths.state_db)
        host = await asyncio.to_thread(probe_host)
        clock = clock or SystemClock()
        self.events = EventBus(db, clock=clock.now)
        self._store = store = ContainerStore(db)
        # Making a client costs nothing: httpx is imported on its first request, not here.
        self._registry = RegistryClient(registry_config(config, os.environ))
        self._image_service = await asyncio.to_thread(
            ImageService, paths=paths, db=db, registry=self._registry
        )
        self._launcher = await Zygote.start() if zygote else ExecLauncher()
        self._runtimes = runtimes = Runtimes(config)
        self.images = ImageFacade(
            self._image_service,
            self.events,
            used_by=lambda image_id: [
                (c.id, c.state.status.is_active()) for c in store.all() if c.image_id == image_id
            ],
            merged_dir=lambda container_id: paths.bundle(container_id) / "rootfs",
        )
        self._wire(config, host, clock)
        self.system = SystemService(
            config=config,
            host=host,
            runtimes=runtimes,
            containers=lambda: [c.state.status for c in store.all()],
            images=self.images.count,
            listeners=lambda: self.events.listener_count,
            engine_id=await asyncio.to_thread(_engine_id, paths),
        )
        await recovery.recover(self.containers, self.execs, store=store, paths=paths)
        return self

    def _wire(self, config: DaemonConfig, host: HostInfo, clock: Clock) -> None:
        paths = config.paths
        monitors = Monitors(self._launcher)
        facts = HostFacts(
            cgroup_version=host.cgroup_version,
            time_namespace=host.time_namespace,
            last_cap=host.last_cap,
            thermal_throttle_paths=host.thermal_throttle_paths,
            rlimit_hard=host.rlimit_hard,
            init_binary=host.init_binary,
            cgroup_parent=config.cgroup_parent,
            available_capabilities=host.capabilities,
        )
        runner = TaskRunner(
            paths=paths,
            images=self.images,
            monitors=monitors,
            runtimes=self._runtimes,
            facts=facts,
            seccomp=seccomp_provider,
            monotonic=clock.monotonic,
        )
        self.containers = ContainerService(
            store=self._store,
            events=self.events,
            runner=runner,
            runtimes=self._runtimes,
            images=self.images,
            paths=paths,
            host=host,
            clock=clock,
            default_stop_timeout=config.default_stop_timeout,
            monitors=monitors,
        )

        def build_process(container: Container, exec_config: ExecConfig) -> oci.Process:
            rootfs = str(runner.rootfs(container.id))
            user = resolve_in_rootfs(
                rootfs, exec_config.user or container.config.user, group_add=container.host_config.group_add
            )
            return exec_process(
                container, exec_config, user=user, last_cap=host.last_cap, available=host.capabilities
            )

        self.execs = ExecService(
            containers=self.containers,
            store=self._store,
            monitors=monitors,
            runtimes=self._runtimes,
            paths=paths,
            build_process=build_process,
        )

    async def close(self) -> None:
        """Orderly shutdown: stop background work, close stores. Containers keep running."""
        await self.containers.close()
        await self.execs.close()
        self.events.close()
        close = getattr(self._launcher, "close", None)
        if close is not None:
            await close()
        await self._registry.aclose()
        self._db.close()

    @property
    def config(self) -> DaemonConfig:
        """The configuration this engine was opened with."""
        return self._config

    @property
    def image_service(self) -> ImageService:
        """The image room's service (for tests and maintenance commands)."""
        return self._image_service
