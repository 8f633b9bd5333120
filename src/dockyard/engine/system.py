"""``/info`` and ``/version``: what this daemon and this host are.

Skeleton: the behaviour lands with the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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

    def info(self) -> SystemInfo:
        """Everything ``/info`` shows, computed now."""
        raise NotImplementedError

    def version(self) -> VersionInfo:
        """Everything ``/version`` shows."""
        raise NotImplementedError
