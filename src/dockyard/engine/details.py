"""What the engine derives about a container when it is listed or inspected.

The record (``container.Container``) holds what was asked for and the state machine; these views
add what dockerd computes at read time: paths of the per-container files, resolved mounts, the
network settings, the graph driver data, sizes, and Docker's human ``Status`` text
(``Up 5 seconds``, ``Exited (0) 2 minutes ago``). Field names are the snake_case of the Engine
API's JSON names, like the records, so the API maps them mechanically.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dockyard.engine.container import Container, ContainerState, ContainerStatus, PortBinding
from dockyard.util.humantime import human_duration

__all__ = [
    "ContainerDetails",
    "ContainerListing",
    "EndpointInfo",
    "MountPoint",
    "NetworkSettings",
    "status_text",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class MountPoint:
    """One entry of inspect's ``Mounts``: a bind, volume or tmpfs the container sees."""

    type: str  # "bind", "volume", "tmpfs"
    name: str = ""
    source: str = ""
    destination: str
    driver: str = ""
    mode: str = ""
    rw: bool = True
    propagation: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointInfo:
    """One value of ``NetworkSettings.Networks``: the container's attachment to a network.

    Until bridge networking lands (a later issue) the addresses stay empty: the default network
    mode gives the container its own network namespace with only loopback.
    """

    network_id: str = ""
    endpoint_id: str = ""
    gateway: str = ""
    ip_address: str = ""
    ip_prefix_len: int = 0
    ipv6_gateway: str = ""
    global_ipv6_address: str = ""
    global_ipv6_prefix_len: int = 0
    mac_address: str = ""
    aliases: tuple[str, ...] | None = None
    links: tuple[str, ...] | None = None
    driver_opts: dict[str, str] | None = None
    dns_names: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkSettings:
    """Inspect's ``NetworkSettings``: the sandbox (network namespace) and the attachments."""

    bridge: str = ""
    sandbox_id: str = ""
    sandbox_key: str = ""  # the netns file, "" for --network host
    hairpin_mode: bool = False
    link_local_ipv6_address: str = ""
    link_local_ipv6_prefix_len: int = 0
    ports: dict[str, tuple[PortBinding, ...] | None] = field(default_factory=dict)
    endpoint_id: str = ""
    gateway: str = ""
    global_ipv6_address: str = ""
    global_ipv6_prefix_len: int = 0
    ip_address: str = ""
    ip_prefix_len: int = 0
    ipv6_gateway: str = ""
    mac_address: str = ""
    networks: dict[str, EndpointInfo] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerListing:
    """One row of ``GET /containers/json``.

    ``status`` is Docker's human text (``Up 2 minutes``, ``Exited (0) 5 seconds ago``) computed
    at listing time; ``image`` is what the list shows in the IMAGE column (the name the user gave,
    or the image ID once that name no longer points at the container's image).
    """

    container: Container
    status: str = ""
    image: str = ""
    command: str = ""
    mounts: tuple[MountPoint, ...] = ()
    network_settings: NetworkSettings = field(default_factory=NetworkSettings)
    size_rw: int | None = None
    size_root_fs: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerDetails:
    """``GET /containers/{id}/json``: the record plus what the daemon derives at inspect time."""

    container: Container
    resolv_conf_path: str
    hostname_path: str
    hosts_path: str
    log_path: str
    mounts: tuple[MountPoint, ...]
    network_settings: NetworkSettings
    graph_driver: dict[str, object]
    size_rw: int | None = None
    size_root_fs: int | None = None
    app_armor_profile: str = ""
    process_label: str = ""
    mount_label: str = ""


def status_text(state: ContainerState, now: float, *, started: float, finished: float) -> str:
    """dockerd's ``State.String()``: the STATUS column of ``docker ps``.

    ``started`` and ``finished`` are the state's timestamps as seconds since the epoch (0 when
    never set).
    """
    status = state.status
    if status is ContainerStatus.RUNNING or status is ContainerStatus.PAUSED:
        text = f"Up {human_duration(now - started)}"
        if status is ContainerStatus.PAUSED:
            return f"{text} (Paused)"
        if state.health is not None and state.health.status != "none":
            health = state.health.status
            return f"{text} ({'health: starting' if health == 'starting' else health})"
        return text
    if status is ContainerStatus.RESTARTING:
        return f"Restarting ({state.exit_code}) {human_duration(now - finished)} ago"
    if status is ContainerStatus.REMOVING or state.removal_in_progress:
        return "Removal In Progress"
    if status is ContainerStatus.DEAD:
        return "Dead"
    if started <= 0:
        return "Created"
    if finished <= 0:
        return ""
    return f"Exited ({state.exit_code}) {human_duration(now - finished)} ago"
