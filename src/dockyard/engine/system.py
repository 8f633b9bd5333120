"""``/info`` and ``/version``: what this daemon and this host are.

Real values, cheap to compute: the host facts probed at start (kernel, OS, CPUs, memory, cgroup
layout), counts from the stores' in-memory indexes, the configured runtimes and registries, and
a persistent engine ID (kept in the data root, like dockerd's ``engine-id`` file). ``GoVersion``
names the Python that runs the daemon: we report what we are, not what Docker is.
"""

from __future__ import annotations

import asyncio
import os
import platform
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dockyard import __version__
from dockyard.config import DaemonConfig
from dockyard.engine.container import ContainerStatus
from dockyard.engine.host import HostInfo
from dockyard.engine.runtimes import Runtimes
from dockyard.engine.timestamps import format_time
from dockyard.errors import DockyardError
from dockyard.util import proc

__all__ = [
    "API_VERSION",
    "MIN_API_VERSION",
    "ComponentVersion",
    "IndexInfo",
    "RegistryInfo",
    "RuntimeInfo",
    "SystemInfo",
    "SystemService",
    "VersionInfo",
]

API_VERSION = "1.45"
"""The Engine API version we report (docker-py 7's default); the API room may report its own."""

MIN_API_VERSION = "1.24"


@dataclass(frozen=True, slots=True, kw_only=True)
class RuntimeInfo:
    """One ``Runtimes`` entry of ``/info``."""

    path: str
    runtime_args: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexInfo:
    """One ``RegistryConfig.IndexConfigs`` entry."""

    name: str
    mirrors: tuple[str, ...] = ()
    secure: bool = True
    official: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistryInfo:
    """``/info``'s ``RegistryConfig``."""

    insecure_registry_cidrs: tuple[str, ...] = ()
    index_configs: dict[str, IndexInfo] = field(default_factory=dict)
    mirrors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SystemInfo:
    """Everything ``GET /info`` shows, snake_cased (``NCPU`` → ``ncpu``, ``NFd`` → ``n_fd``)."""

    id: str
    containers: int
    containers_running: int
    containers_paused: int
    containers_stopped: int
    images: int
    driver: str
    driver_status: tuple[tuple[str, str], ...]
    docker_root_dir: str
    memory_limit: bool
    swap_limit: bool
    cpu_cfs_period: bool
    cpu_cfs_quota: bool
    cpu_shares: bool
    cpu_set: bool
    pids_limit: bool
    oom_kill_disable: bool
    ipv4_forwarding: bool
    debug: bool
    n_fd: int
    n_goroutines: int
    system_time: str
    logging_driver: str
    cgroup_driver: str
    cgroup_version: str
    n_events_listener: int
    kernel_version: str
    operating_system: str
    os_version: str
    os_type: str
    architecture: str
    ncpu: int
    mem_total: int
    index_server_address: str
    registry_config: RegistryInfo
    http_proxy: str
    https_proxy: str
    no_proxy: str
    name: str
    labels: tuple[str, ...]
    experimental_build: bool
    server_version: str
    runtimes: dict[str, RuntimeInfo]
    default_runtime: str
    live_restore_enabled: bool
    isolation: str
    init_binary: str
    security_options: tuple[str, ...]
    warnings: tuple[str, ...]
    plugins: dict[str, tuple[str, ...]]  # {"Volume": ("local",), "Network": (...), "Log": (...)}


@dataclass(frozen=True, slots=True, kw_only=True)
class ComponentVersion:
    """One ``Components`` entry of ``/version``."""

    name: str
    version: str
    details: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class VersionInfo:
    """``GET /version``. ``go_version`` honestly reports the Python version."""

    platform_name: str
    components: tuple[ComponentVersion, ...]
    version: str
    api_version: str
    min_api_version: str
    git_commit: str
    go_version: str
    os: str
    arch: str
    kernel_version: str
    experimental: bool
    build_time: str


class SystemService:
    """Answers ``/info`` and ``/version`` from the host, the config and the stores."""

    def __init__(
        self,
        *,
        config: DaemonConfig,
        host: HostInfo,
        runtimes: Runtimes,
        containers: Callable[[], list[ContainerStatus]],
        images: Callable[[], int],
        listeners: Callable[[], int],
        engine_id: str,
    ) -> None:
        self._config = config
        self._host = host
        self._runtimes = runtimes
        self._containers = containers
        self._images = images
        self._listeners = listeners
        self._engine_id = engine_id

    def info(self) -> SystemInfo:
        """Everything ``/info`` shows, computed now (counts from the stores, no scans of disks)."""
        statuses = self._containers()
        running = sum(1 for s in statuses if s in (ContainerStatus.RUNNING, ContainerStatus.RESTARTING))
        paused = sum(1 for s in statuses if s is ContainerStatus.PAUSED)
        host, config = self._host, self._config
        return SystemInfo(
            id=self._engine_id,
            containers=len(statuses),
            containers_running=running,
            containers_paused=paused,
            containers_stopped=len(statuses) - running - paused,
            images=self._images(),
            driver="overlay2",
            driver_status=(
                ("Backing Filesystem", _filesystem(config.data_root)),
                ("Supports d_type", "true"),
            ),
            docker_root_dir=str(config.data_root),
            memory_limit=host.memory_limit,
            swap_limit=host.swap_limit,
            cpu_cfs_period=host.cpu_cfs,
            cpu_cfs_quota=host.cpu_cfs,
            cpu_shares=host.cpu_shares,
            cpu_set=host.cpuset,
            pids_limit=host.pids_limit,
            oom_kill_disable=host.cgroup_version == 1,
            ipv4_forwarding=_read("/proc/sys/net/ipv4/ip_forward") == "1",
            debug=config.log_level == "debug",
            n_fd=_count("/proc/self/fd"),
            n_goroutines=threading.active_count() + len(asyncio.all_tasks())
            if _loop_running()
            else threading.active_count(),
            system_time=format_time(time.time()),
            logging_driver="json-file",
            cgroup_driver="cgroupfs",
            cgroup_version=str(host.cgroup_version),
            n_events_listener=self._listeners(),
            kernel_version=host.kernel_version,
            operating_system=host.operating_system,
            os_version=host.os_version,
            os_type="linux",
            architecture=host.architecture,
            ncpu=host.ncpu,
            mem_total=host.mem_total,
            index_server_address="https://index.docker.io/v1/",
            registry_config=_registry_info(config),
            http_proxy=os.environ.get("HTTP_PROXY", os.environ.get("http_proxy", "")),
            https_proxy=os.environ.get("HTTPS_PROXY", os.environ.get("https_proxy", "")),
            no_proxy=os.environ.get("NO_PROXY", os.environ.get("no_proxy", "")),
            name=host.hostname,
            labels=config.labels,
            experimental_build=False,
            server_version=__version__,
            runtimes={
                n: RuntimeInfo(path=self._runtimes.entry(n).path, runtime_args=self._runtimes.entry(n).args)
                for n in self._runtimes.names()
            },
            default_runtime=self._runtimes.default,
            live_restore_enabled=True,
            isolation="",
            init_binary="docker-init",
            security_options=_security_options(host),
            warnings=_warnings(host),
            plugins={
                "Volume": ("local",),
                "Network": ("bridge", "host", "none"),
                "Log": ("json-file",),
                "Authorization": (),
            },
        )

    def version(self) -> VersionInfo:
        """Everything ``/version`` shows; ``GoVersion`` honestly names the Python version."""
        python = f"python{platform.python_version()}"
        arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(self._host.architecture, self._host.architecture)
        components = [
            ComponentVersion(
                name="Engine",
                version=__version__,
                details={
                    "ApiVersion": API_VERSION,
                    "MinAPIVersion": MIN_API_VERSION,
                    "GitCommit": _GIT_COMMIT,
                    "GoVersion": python,
                    "Os": "linux",
                    "Arch": arch,
                    "KernelVersion": self._host.kernel_version,
                    "Experimental": "false",
                    "BuildTime": _BUILD_TIME,
                },
            ),
        ]
        for name in self._runtimes.names():
            components.append(
                ComponentVersion(
                    name=name,
                    version=_runtime_version(self._runtimes.entry(name).path),
                    details={"GitCommit": ""},
                )
            )
        if self._host.init_binary:
            components.append(
                ComponentVersion(
                    name="docker-init",
                    version=_init_version(self._host.init_binary),
                    details={"GitCommit": ""},
                )
            )
        return VersionInfo(
            platform_name=f"dockyard {__version__}",
            components=tuple(components),
            version=__version__,
            api_version=API_VERSION,
            min_api_version=MIN_API_VERSION,
            git_commit=_GIT_COMMIT,
            go_version=python,
            os="linux",
            arch=arch,
            kernel_version=self._host.kernel_version,
            experimental=False,
            build_time=_BUILD_TIME,
        )


_GIT_COMMIT = "dockyard"
_BUILD_TIME = ""


def _read(path: str) -> str:
    try:
        with open(path) as file:
            return file.read().strip()
    except OSError:
        return ""


def _count(path: str) -> int:
    try:
        return len(os.listdir(path))
    except OSError:
        return 0


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _filesystem(path: Path) -> str:
    """The backing filesystem of the data root, as /proc/self/mountinfo names it."""
    best, fstype = "", "unknown"
    target = str(path.resolve()) if path.exists() else str(path)
    for line in _read("/proc/self/mountinfo").splitlines():
        fields = line.split()
        if " - " not in line or len(fields) < 5:
            continue
        point = fields[4]
        if (target == point or target.startswith(point.rstrip("/") + "/")) and len(point) >= len(best):
            best, fstype = point, line.split(" - ", 1)[1].split()[0]
    return fstype


def _registry_info(config: DaemonConfig) -> RegistryInfo:
    cidrs = tuple(r for r in config.insecure_registries if "/" in r)
    names = [r for r in config.insecure_registries if "/" not in r]
    indexes = {
        "docker.io": IndexInfo(name="docker.io", mirrors=config.registry_mirrors, secure=True, official=True),
    }
    for name in names:
        indexes[name] = IndexInfo(name=name, secure=False)
    return RegistryInfo(
        insecure_registry_cidrs=("::1/128", "127.0.0.0/8", *cidrs),
        index_configs=indexes,
        mirrors=config.registry_mirrors,
    )


def _security_options(host: HostInfo) -> tuple[str, ...]:
    options = ["name=seccomp,profile=builtin"]
    if host.cgroup_version == 2:
        options.append("name=cgroupns")
    return tuple(options)


def _warnings(host: HostInfo) -> tuple[str, ...]:
    from dockyard.engine.configs import BRIDGE_WARNING

    warnings = [BRIDGE_WARNING]
    if not host.swap_limit:
        warnings.append("WARNING: No swap limit support")
    return tuple(warnings)


def _runtime_version(path: str) -> str:
    """The first version-looking word of ``<runtime> --version``'s first line (cached)."""
    return _tool_version(path, "--version")


def _init_version(path: str) -> str:
    return _tool_version(path, "--version")


_VERSIONS: dict[str, str] = {}


def _tool_version(path: str, flag: str) -> str:
    if path not in _VERSIONS:
        try:
            out = proc.run([path, flag], timeout=5.0, check=False).stdout.decode(errors="replace")
        except DockyardError:
            out = ""
        words = out.splitlines()[0].split() if out.strip() else []
        _VERSIONS[path] = next((w for w in words if w[:1].isdigit()), words[-1] if words else "")
    return _VERSIONS[path]
