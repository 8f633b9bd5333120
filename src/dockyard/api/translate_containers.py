"""Containers at the edge: the create body in, inspect and list entries out.

The create body is dockerd's ``ContainerConfigWrapper``: the ``Config`` fields at the top level,
plus ``HostConfig`` and ``NetworkingConfig`` objects. It is untrusted, so besides Go's typing
rules (``translate.load``) this module checks what would otherwise reach the kernel or the
runtime unchecked, with dockerd's messages where it has them: numeric user and group IDs beyond
``MaxInt32`` (CVE-2024-40635: containerd and runc overflowed them to root; containerd now
refuses them, and so do we), restart policies, memory and shm sizes, ``OomScoreAdj`` and
``BlkioWeight`` ranges, and the mount-option combinations API 1.42 made errors. Shapes that
changed between API versions are normalised here, following ``postContainersCreate``.

Out, the inspect document and the list rows are written field by field in dockerd's order,
with Go's ``omitempty`` rules where Docker's types have them (``Config.Healthcheck``,
``Config.StopSignal``, a mount's ``Name``), so ``docker inspect`` output reads like dockerd's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Final

from dockyard.api import versions
from dockyard.api.translate import (
    Loader,
    dump,
    load,
    load_console_size,
    require_object,
    rfc3339_to_epoch,
    type_error,
)
from dockyard.api.versions import ApiVersion
from dockyard.engine import (
    Container,
    ContainerConfig,
    ContainerDetails,
    ContainerListing,
    EndpointInfo,
    EndpointSettings,
    HostConfig,
    LogConfig,
    MountPoint,
    MountSpec,
    NetworkingConfig,
    NetworkSettings,
    PortBinding,
)
from dockyard.errors import InvalidArgument

__all__ = [
    "CreateRequest",
    "check_user",
    "container_summary",
    "create_request",
    "inspect_document",
]

MAX_ID: Final = 2**31 - 1
"""runc's (and since CVE-2024-40635 containerd's) limit for user and group IDs."""

MIN_MEMORY: Final = 6 * 1024 * 1024
_RESTART_POLICIES: Final = ("", "no", "always", "unless-stopped", "on-failure")


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateRequest:
    """A validated ``POST /containers/create`` body."""

    config: ContainerConfig
    host_config: HostConfig
    networking_config: NetworkingConfig
    warnings: tuple[str, ...] = ()


# --- custom field loaders ------------------------------------------------------------------


def _load_set(value: object, path: str) -> tuple[str, ...]:
    """``{"80/tcp": {}}`` (Go's ``map[string]struct{}``) -> ``("80/tcp",)``."""
    return tuple(require_object(value, path, "map[string]struct {}"))


def _load_strslice(value: object, path: str) -> tuple[str, ...]:
    """Docker's ``StrSlice``: a string is a one-element list."""
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise type_error(value, path, "strslice.StrSlice")
    return tuple(value)


def _load_port_map(value: object, path: str) -> dict[str, tuple[PortBinding, ...]]:
    """``{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}``."""
    result: dict[str, tuple[PortBinding, ...]] = {}
    for port, bindings in require_object(value, path, "nat.PortMap").items():
        if bindings is None:
            result[port] = ()
            continue
        if not isinstance(bindings, list):
            raise type_error(bindings, path, "[]nat.PortBinding")
        result[port] = tuple(load(PortBinding, b, path=path) for b in bindings)
    return result


def _load_endpoint(value: object, path: str) -> EndpointSettings:
    """``EndpointSettings`` with the addresses taken from its ``IPAMConfig``."""
    data = require_object(value, path, "network.EndpointSettings")
    settings = load(EndpointSettings, {k: v for k, v in data.items() if k != "IPAMConfig"}, path=path)
    ipam = require_object(data.get("IPAMConfig"), f"{path}.IPAMConfig", "network.EndpointIPAMConfig")
    addresses: dict[str, str] = {}
    for key in ("IPv4Address", "IPv6Address"):
        address = ipam.get(key)
        if address is not None and not isinstance(address, str):
            raise type_error(address, f"{path}.IPAMConfig.{key}", "string")
        addresses[key] = address or ""
    return replace(settings, ipv4_address=addresses["IPv4Address"], ipv6_address=addresses["IPv6Address"])


def _load_endpoints(value: object, path: str) -> dict[str, EndpointSettings]:
    return {
        name: _load_endpoint(v, f"{path}.{name}")
        for name, v in require_object(value, path, "map[string]*network.EndpointSettings").items()
        if v is not None
    }


_LOADERS: Final[Mapping[str, Loader]] = {
    "ContainerConfig.exposed_ports": _load_set,
    "ContainerConfig.volumes": _load_set,
    "ContainerConfig.cmd": _load_strslice,
    "ContainerConfig.entrypoint": _load_strslice,
    "ContainerConfig.shell": _load_strslice,
    "HostConfig.port_bindings": _load_port_map,
    "HostConfig.console_size": load_console_size,
    "NetworkingConfig.endpoints_config": _load_endpoints,
}


# --- create --------------------------------------------------------------------------------


def check_user(user: str) -> None:
    """Refuse numeric user or group IDs that runc cannot represent (CVE-2024-40635).

    Raises:
        InvalidArgument: a numeric ID outside 0..2147483647.
    """
    for part, kind in zip(user.split(":", 1), ("uid", "gid"), strict=False):
        text = part.strip()
        if text.lstrip("+-").isdigit() and not 0 <= int(text) <= MAX_ID:
            raise InvalidArgument(f"invalid user {user!r}: {kind} {text} is out of range (0-{MAX_ID})")


def create_request(body: object, version: ApiVersion) -> CreateRequest:
    """Decode and check a create body for API ``version``.

    Raises:
        InvalidArgument: malformed or out-of-range values, in dockerd's words where it has them
            (``config cannot be empty in order to create a container``, ...).
    """
    if not isinstance(body, dict):
        raise type_error(body, "ContainerConfigWrapper", "container.CreateRequest")
    config_keys = {name for name in body if name not in ("HostConfig", "NetworkingConfig")}
    if not config_keys:
        raise InvalidArgument("config cannot be empty in order to create a container")
    config = load(ContainerConfig, body, path="Config", loaders=_LOADERS)
    host = load(HostConfig, body.get("HostConfig"), path="HostConfig", loaders=_LOADERS)
    networking = load(
        NetworkingConfig, body.get("NetworkingConfig"), path="NetworkingConfig", loaders=_LOADERS
    )
    check_user(config.user)
    config, host, networking = _for_version(config, host, networking, version)
    _check_host_config(host)
    return CreateRequest(config=config, host_config=_normalise(host), networking_config=networking)


def _for_version(
    config: ContainerConfig, host: HostConfig, networking: NetworkingConfig, version: ApiVersion
) -> tuple[ContainerConfig, HostConfig, NetworkingConfig]:
    """Apply ``postContainersCreate``'s per-version rules."""
    if not versions.has_auto_remove(version):
        host = replace(host, auto_remove=False)
    if not versions.has_console_size(version):
        host = replace(host, console_size=(0, 0))
    else:
        _check_mount_options(host.mounts)
    if not versions.has_annotations(version):
        host = replace(host, annotations={})
    if not versions.has_health_start_interval(version) and config.healthcheck is not None:
        config = replace(config, healthcheck=replace(config.healthcheck, start_interval=0))
    if not versions.allows_multiple_networks(version) and len(networking.endpoints_config) > 1:
        names = ", ".join(networking.endpoints_config)
        raise InvalidArgument(f"Container cannot be created with multiple network endpoints: {names}")
    return config, host, networking


def _check_mount_options(mounts: tuple[MountSpec, ...]) -> None:
    for mount in mounts:
        for options, kind, label in (
            (mount.volume_options, "volume", "VolumeOptions"),
            (mount.bind_options, "bind", "BindOptions"),
            (mount.tmpfs_options, "tmpfs", "TmpfsOptions"),
        ):
            if options is not None and mount.type != kind:
                raise InvalidArgument(f'{label} must not be specified on mount type "{mount.type}"')


def _check_host_config(host: HostConfig) -> None:
    """dockerd's ``verifyContainerSettings`` checks that need no knowledge of the host."""
    policy = host.restart_policy
    if policy.name not in _RESTART_POLICIES:
        raise InvalidArgument(
            f"invalid restart policy: unknown policy '{policy.name}'; "
            "use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
        )
    if policy.maximum_retry_count < 0:
        raise InvalidArgument("invalid restart policy: maximum retry count can't be negative")
    if policy.maximum_retry_count and policy.name != "on-failure":
        raise InvalidArgument(
            f"invalid restart policy: maximum retry count can only be used with 'on-failure'"
            f" and cannot be used with '{policy.name}'"
        )
    if host.auto_remove and policy.name not in ("", "no"):
        raise InvalidArgument("can't create 'AutoRemove' container with restart policy")
    if host.shm_size < 0:
        raise InvalidArgument("SHM size can not be less than 0")
    if 0 < host.memory < MIN_MEMORY:
        raise InvalidArgument("Minimum memory limit allowed is 6MB")
    if 0 < host.memory_reservation < MIN_MEMORY:
        raise InvalidArgument("Minimum memory reservation allowed is 6MB")
    if host.memory > 0 and host.memory_swap > 0 and host.memory_swap < host.memory:
        raise InvalidArgument("Minimum memoryswap limit should be larger than memory limit, see usage")
    swappiness = host.memory_swappiness
    if swappiness is not None and swappiness != -1 and not 0 <= swappiness <= 100:
        raise InvalidArgument(f"Invalid value: {swappiness}, valid memory swappiness range is 0-100")
    if not -1000 <= host.oom_score_adj <= 1000:
        raise InvalidArgument(f"Invalid value {host.oom_score_adj}, range for oom score adj is [-1000, 1000]")
    if host.blkio_weight and not 10 <= host.blkio_weight <= 1000:
        raise InvalidArgument("Range of blkio weight is from 10 to 1000")
    if host.cpu_shares < 0:
        raise InvalidArgument(f"invalid CPU shares ({host.cpu_shares}): value must be a positive integer")
    if host.nano_cpus < 0:
        raise InvalidArgument("range of CPUs is from 0.01 to the number of CPUs available")


def _normalise(host: HostConfig) -> HostConfig:
    """Defaults dockerd fills in: a json-file log, no pids limit for 0 or negative values, and
    no swappiness for -1.

    The docker CLI sends ``"MemorySwappiness": -1`` in every create (its flag's default, meaning
    "unset"); dockerd stores that as unset and inspect shows ``null`` (moby's field is a
    ``*int64``), which is also the only value outside 0..100 that the Engine API schema allows.
    """
    if host.log_config.type == "":
        host = replace(host, log_config=LogConfig(config=host.log_config.config))
    if host.pids_limit is not None and host.pids_limit <= 0:
        host = replace(host, pids_limit=None)
    if host.memory_swappiness == -1:
        host = replace(host, memory_swappiness=None)
    return host


# --- inspect -------------------------------------------------------------------------------

_CONFIG_OMITEMPTY: Final = ("healthcheck", "args_escaped", "network_disabled", "mac_address", "stop_signal")
_CONFIG_OMITNONE: Final = ("stop_timeout",)


def config_document(config: ContainerConfig) -> dict[str, object]:
    """``Config`` as dockerd writes it (maps of empty objects, ``omitempty`` fields dropped)."""
    skip = {f for f in _CONFIG_OMITEMPTY if not getattr(config, f)}
    skip |= {f for f in _CONFIG_OMITNONE if getattr(config, f) is None}
    if not config.shell:
        skip.add("shell")
    document = dump(config, skip=frozenset(skip))
    ports: dict[str, object] = {port: {} for port in config.exposed_ports}
    if ports:
        document["ExposedPorts"] = ports
    else:
        document.pop("ExposedPorts", None)
    document["Volumes"] = {path: {} for path in config.volumes} or None
    document["OnBuild"] = list(config.on_build) or None
    return document


def host_config_document(host: HostConfig, version: ApiVersion) -> dict[str, object]:
    """``HostConfig`` as dockerd writes it."""
    skip = {"port_bindings", "mounts", "console_size"}
    for field in ("masked_paths", "readonly_paths", "init"):
        if getattr(host, field) is None:
            skip.add(field)
    if not host.annotations or not versions.has_annotations(version):
        skip.add("annotations")
    document = dump(host, skip=frozenset(skip))
    if host.memory_swappiness == -1:  # a record created before -1 was normalised at create
        document["MemorySwappiness"] = None
    document["PortBindings"] = _port_map(host.port_bindings)
    document["ConsoleSize"] = list(host.console_size)
    if host.mounts:
        document["Mounts"] = [_mount_spec(m) for m in host.mounts]
    return document


def _mount_spec(mount: MountSpec) -> dict[str, object]:
    document = dump(mount)
    return {k: v for k, v in document.items() if v not in (None, "", False) or k in ("Type", "Target")}


def _port_map(ports: Mapping[str, tuple[PortBinding, ...] | None]) -> dict[str, object]:
    return {
        port: None if bindings is None else [{"HostIp": b.host_ip, "HostPort": b.host_port} for b in bindings]
        for port, bindings in ports.items()
    }


def _mount_point(mount: MountPoint) -> dict[str, object]:
    document: dict[str, object] = {"Type": mount.type}
    if mount.name:
        document["Name"] = mount.name
    document["Source"] = mount.source
    document["Destination"] = mount.destination
    if mount.driver:
        document["Driver"] = mount.driver
    document.update({"Mode": mount.mode, "RW": mount.rw, "Propagation": mount.propagation})
    return document


def _endpoint(info: EndpointInfo) -> dict[str, object]:
    """One ``NetworkSettings.Networks`` value, written out by hand: every list row has one."""
    return {
        "IPAMConfig": None,
        "Links": None if info.links is None else list(info.links),
        "Aliases": None if info.aliases is None else list(info.aliases),
        "NetworkID": info.network_id,
        "EndpointID": info.endpoint_id,
        "Gateway": info.gateway,
        "IPAddress": info.ip_address,
        "IPPrefixLen": info.ip_prefix_len,
        "IPv6Gateway": info.ipv6_gateway,
        "GlobalIPv6Address": info.global_ipv6_address,
        "GlobalIPv6PrefixLen": info.global_ipv6_prefix_len,
        "MacAddress": info.mac_address,
        "DriverOpts": None if info.driver_opts is None else dict(info.driver_opts),
        "DNSNames": None if info.dns_names is None else list(info.dns_names),
    }


def network_settings_document(settings: NetworkSettings) -> dict[str, object]:
    """``NetworkSettings`` of inspect (bridge fields empty until bridge networking lands)."""
    document = dump(settings, skip=frozenset({"ports", "networks"}))
    document["Ports"] = _port_map(settings.ports)
    document["SecondaryIPAddresses"] = None
    document["SecondaryIPv6Addresses"] = None
    document["Networks"] = {name: _endpoint(info) for name, info in settings.networks.items()}
    return document


def _state_document(container: Container) -> dict[str, object]:
    state = container.state
    document: dict[str, object] = {
        "Status": state.status.value,
        "Running": state.status.value == "running",
        "Paused": state.paused,
        "Restarting": state.restarting,
        "OOMKilled": state.oom_killed,
        "Dead": state.dead,
        "Pid": state.pid,
        "ExitCode": state.exit_code,
        "Error": state.error,
        "StartedAt": state.started_at,
        "FinishedAt": state.finished_at,
    }
    if state.health is not None:
        document["Health"] = {
            "Status": state.health.status,
            "FailingStreak": state.health.failing_streak,
            "Log": list(state.health.log),
        }
    return document


def inspect_document(details: ContainerDetails, version: ApiVersion) -> dict[str, object]:
    """``GET /containers/{id}/json``."""
    container = details.container
    document: dict[str, object] = {
        "Id": container.id,
        "Created": container.created,
        "Path": container.path,
        "Args": list(container.args),
        "State": _state_document(container),
        "Image": container.image_id,
        "ResolvConfPath": details.resolv_conf_path,
        "HostnamePath": details.hostname_path,
        "HostsPath": details.hosts_path,
        "LogPath": details.log_path,
        "Name": "/" + container.name,
        "RestartCount": container.state.restart_count,
        "Driver": container.driver,
        "Platform": container.platform,
        "MountLabel": details.mount_label,
        "ProcessLabel": details.process_label,
        "AppArmorProfile": details.app_armor_profile,
        "ExecIDs": list(container.exec_ids) or None,
        "HostConfig": host_config_document(container.host_config, version),
        "GraphDriver": details.graph_driver,
    }
    if details.size_rw is not None:
        document["SizeRw"] = details.size_rw
    if details.size_root_fs is not None:
        document["SizeRootFs"] = details.size_root_fs
    document["Mounts"] = [_mount_point(m) for m in details.mounts]
    document["Config"] = config_document(container.config)
    document["NetworkSettings"] = network_settings_document(details.network_settings)
    return document


# --- list ----------------------------------------------------------------------------------


def _summary_ports(ports: Mapping[str, tuple[PortBinding, ...] | None]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for key, bindings in ports.items():
        number, _, proto = key.partition("/")
        private = int(number) if number.isdigit() else 0
        if not bindings:
            rows.append({"PrivatePort": private, "Type": proto or "tcp"})
            continue
        for binding in bindings:
            row: dict[str, object] = {"PrivatePort": private, "Type": proto or "tcp"}
            if binding.host_ip:
                row["IP"] = binding.host_ip
            if binding.host_port.isdigit():
                row["PublicPort"] = int(binding.host_port)
            rows.append(row)
    return rows


def container_summary(listing: ContainerListing) -> dict[str, object]:
    """One row of ``GET /containers/json``."""
    container = listing.container
    settings = listing.network_settings
    row: dict[str, object] = {
        "Id": container.id,
        "Names": ["/" + container.name],
        "Image": listing.image or container.config.image,
        "ImageID": container.image_id,
        "Command": listing.command,
        "Created": rfc3339_to_epoch(container.created),
        "Ports": _summary_ports(settings.ports),
        "Labels": dict(container.config.labels),
        "State": container.state.status.value,
        "Status": listing.status,
        "HostConfig": {"NetworkMode": container.host_config.network_mode or "default"},
        "NetworkSettings": {"Networks": {name: _endpoint(info) for name, info in settings.networks.items()}},
        "Mounts": [_mount_point(m) for m in listing.mounts],
    }
    if listing.size_rw is not None:
        row["SizeRw"] = listing.size_rw
    if listing.size_root_fs is not None:
        row["SizeRootFs"] = listing.size_root_fs
    return row
