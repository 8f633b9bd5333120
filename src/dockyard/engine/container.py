"""Containers as the engine records them: what was asked for, and what state it is in.

A ``Container`` is a record: it survives daemon restarts and reboots. It holds the normalised
create request (``ContainerConfig``, ``HostConfig``, ``NetworkingConfig``, which change only
through rename or update) and a ``ContainerState`` written on every transition.

Field names are the snake_case of the Engine API's JSON names (``CpuShares`` → ``cpu_shares``,
``OOMKilled`` → ``oom_killed``, ``IOMaximumIOps`` → ``io_maximum_iops``), so ``api/translate.py``
can map the two mechanically in both directions; Docker's JSON names appear only in ``api/``.
Absent optional values are ``None`` (Docker's JSON ``null``); lists are tuples so records stay
immutable; durations are nanoseconds, sizes bytes, as in the API.

``ContainerStatus`` is spelled as the Engine API spells it and carries the ``can_*`` predicates
that the container service consults (each settled by a compat test against Docker's behaviour).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

__all__ = [
    "BlkioWeightDevice",
    "Container",
    "ContainerConfig",
    "ContainerState",
    "ContainerStatus",
    "DeviceMapping",
    "EndpointSettings",
    "HealthConfig",
    "HealthState",
    "HostConfig",
    "LogConfig",
    "MountSpec",
    "NetworkingConfig",
    "PortBinding",
    "RestartPolicy",
    "ThrottleDevice",
    "Ulimit",
]


class ContainerStatus(enum.StrEnum):
    """A container's status, spelled as the Engine API spells it."""

    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    RESTARTING = "restarting"
    REMOVING = "removing"
    EXITED = "exited"
    DEAD = "dead"

    def can_start(self) -> bool:
        """``start`` is accepted (running answers 304; paused is a conflict)."""
        return self in (ContainerStatus.CREATED, ContainerStatus.EXITED)

    def can_exec(self) -> bool:
        """``exec`` needs a running, unpaused container."""
        return self is ContainerStatus.RUNNING

    def can_pause(self) -> bool:
        return self is ContainerStatus.RUNNING

    def is_active(self) -> bool:
        """A task exists: the container has processes (running, paused or restarting)."""
        return self in (ContainerStatus.RUNNING, ContainerStatus.PAUSED, ContainerStatus.RESTARTING)


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthConfig:
    """``Config.Healthcheck``: the test and its timings (nanoseconds; 0 means inherit)."""

    test: tuple[str, ...] = ()
    interval: int = 0
    timeout: int = 0
    retries: int = 0
    start_period: int = 0
    start_interval: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerConfig:
    """Docker's ``Config``: the portable part of a container, mostly inherited from the image."""

    hostname: str = ""
    domainname: str = ""
    user: str = ""
    attach_stdin: bool = False
    attach_stdout: bool = False
    attach_stderr: bool = False
    exposed_ports: tuple[str, ...] = ()  # "80/tcp"; the API's map of empty objects
    tty: bool = False
    open_stdin: bool = False
    stdin_once: bool = False
    env: tuple[str, ...] = ()
    cmd: tuple[str, ...] | None = None
    healthcheck: HealthConfig | None = None
    args_escaped: bool = False
    image: str = ""
    volumes: tuple[str, ...] = ()  # container paths; the API's map of empty objects
    working_dir: str = ""
    entrypoint: tuple[str, ...] | None = None
    network_disabled: bool = False
    mac_address: str = ""
    on_build: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    stop_signal: str = ""
    stop_timeout: int | None = None
    shell: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class LogConfig:
    """``HostConfig.LogConfig``: only the json-file driver exists (and ``none``)."""

    type: str = "json-file"
    config: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class RestartPolicy:
    """``HostConfig.RestartPolicy``: name is "" / "no", "always", "unless-stopped" or "on-failure"."""

    name: str = "no"
    maximum_retry_count: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class PortBinding:
    """One host side of a published port (``HostConfig.PortBindings`` values)."""

    host_ip: str = ""
    host_port: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class MountSpec:
    """One ``HostConfig.Mounts`` entry (the ``--mount`` syntax), before resolution."""

    type: str  # "bind", "volume", "tmpfs", "npipe", "cluster", "image"
    target: str
    source: str = ""
    read_only: bool = False
    consistency: str = ""
    bind_options: dict[str, object] | None = None
    volume_options: dict[str, object] | None = None
    tmpfs_options: dict[str, object] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Ulimit:
    """``--ulimit name=soft:hard``."""

    name: str
    soft: int
    hard: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceMapping:
    """``--device /dev/x[:/dev/y][:rwm]``."""

    path_on_host: str
    path_in_container: str
    cgroup_permissions: str = "rwm"


@dataclass(frozen=True, slots=True, kw_only=True)
class BlkioWeightDevice:
    """``--blkio-weight-device``."""

    path: str
    weight: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ThrottleDevice:
    """``--device-read-bps`` and friends: a per-device rate."""

    path: str
    rate: int


@dataclass(frozen=True, slots=True, kw_only=True)
class HostConfig:
    """Docker's ``HostConfig``: how this host runs the container (non-portable settings).

    Includes the ``Resources`` fields flattened in, as the API does.
    """

    binds: tuple[str, ...] = ()
    container_id_file: str = ""
    log_config: LogConfig = field(default_factory=LogConfig)
    network_mode: str = ""
    port_bindings: dict[str, tuple[PortBinding, ...]] = field(default_factory=dict)
    restart_policy: RestartPolicy = field(default_factory=RestartPolicy)
    auto_remove: bool = False
    volume_driver: str = ""
    volumes_from: tuple[str, ...] = ()
    mounts: tuple[MountSpec, ...] = ()
    console_size: tuple[int, int] = (0, 0)  # (height, width)
    annotations: dict[str, str] = field(default_factory=dict)
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    cgroupns_mode: str = ""
    dns: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    extra_hosts: tuple[str, ...] = ()
    group_add: tuple[str, ...] = ()
    ipc_mode: str = ""
    cgroup: str = ""
    links: tuple[str, ...] = ()
    oom_score_adj: int = 0
    pid_mode: str = ""
    privileged: bool = False
    publish_all_ports: bool = False
    readonly_rootfs: bool = False
    security_opt: tuple[str, ...] = ()
    storage_opt: dict[str, str] = field(default_factory=dict)
    tmpfs: dict[str, str] = field(default_factory=dict)
    uts_mode: str = ""
    userns_mode: str = ""
    shm_size: int = 0
    sysctls: dict[str, str] = field(default_factory=dict)
    runtime: str = ""
    isolation: str = ""
    masked_paths: tuple[str, ...] | None = None  # None: Docker's defaults
    readonly_paths: tuple[str, ...] | None = None
    # --- Resources ---
    cpu_shares: int = 0
    memory: int = 0
    cgroup_parent: str = ""
    blkio_weight: int = 0
    blkio_weight_device: tuple[BlkioWeightDevice, ...] = ()
    blkio_device_read_bps: tuple[ThrottleDevice, ...] = ()
    blkio_device_write_bps: tuple[ThrottleDevice, ...] = ()
    blkio_device_read_iops: tuple[ThrottleDevice, ...] = ()
    blkio_device_write_iops: tuple[ThrottleDevice, ...] = ()
    cpu_period: int = 0
    cpu_quota: int = 0
    cpu_realtime_period: int = 0
    cpu_realtime_runtime: int = 0
    cpuset_cpus: str = ""
    cpuset_mems: str = ""
    devices: tuple[DeviceMapping, ...] = ()
    device_cgroup_rules: tuple[str, ...] = ()
    memory_reservation: int = 0
    memory_swap: int = 0
    memory_swappiness: int | None = None
    nano_cpus: int = 0
    oom_kill_disable: bool | None = None
    init: bool | None = None
    pids_limit: int | None = None
    ulimits: tuple[Ulimit, ...] = ()
    cpu_count: int = 0
    cpu_percent: int = 0
    io_maximum_iops: int = 0
    io_maximum_bandwidth: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointSettings:
    """One network attachment as requested (``NetworkingConfig.EndpointsConfig`` values)."""

    aliases: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    mac_address: str = ""
    ipv4_address: str = ""  # from IPAMConfig
    ipv6_address: str = ""
    driver_opts: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkingConfig:
    """The create request's ``NetworkingConfig``."""

    endpoints_config: dict[str, EndpointSettings] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthState:
    """``State.Health``: the health check's verdict and its recent log."""

    status: str = "none"  # "none", "starting", "healthy", "unhealthy"
    failing_streak: int = 0
    log: tuple[dict[str, object], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerState:
    """What the container is doing; replaced (never mutated) on every transition."""

    status: ContainerStatus = ContainerStatus.CREATED
    pid: int = 0
    exit_code: int = 0
    error: str = ""
    oom_killed: bool = False
    started_at: str = "0001-01-01T00:00:00Z"  # RFC 3339 with nanoseconds, Docker's zero time
    finished_at: str = "0001-01-01T00:00:00Z"
    restart_count: int = 0
    health: HealthState | None = None
    removal_in_progress: bool = False

    @property
    def running(self) -> bool:
        return self.status in (ContainerStatus.RUNNING, ContainerStatus.PAUSED, ContainerStatus.RESTARTING)

    @property
    def paused(self) -> bool:
        return self.status is ContainerStatus.PAUSED

    @property
    def restarting(self) -> bool:
        return self.status is ContainerStatus.RESTARTING

    @property
    def dead(self) -> bool:
        return self.status is ContainerStatus.DEAD


@dataclass(frozen=True, slots=True, kw_only=True)
class Container:
    """The user-visible container record.

    ``name`` has no leading slash here; the API adds it (``/elated_ramanujan``). ``image_id``
    is the resolved image (``sha256:...``) while ``config.image`` keeps what the user typed.
    """

    id: str
    name: str
    created: str  # RFC 3339 with nanoseconds
    path: str  # argv[0] as Docker reports it (entrypoint or cmd head)
    args: tuple[str, ...]
    config: ContainerConfig
    host_config: HostConfig
    networking_config: NetworkingConfig
    image_id: str
    state: ContainerState
    platform: str = "linux"
    driver: str = "overlay2"
    exec_ids: tuple[str, ...] = ()
    runtime: str = ""  # the OCI runtime name this container uses
