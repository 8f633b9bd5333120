"""``/info``, ``/version``, events and exec instances at the edge.

``/info`` carries fields no client of ours needs but the docker CLI prints (``Swarm``,
``ContainerdCommit``...); they are filled with the values a single, swarm-less daemon reports.
``ApiVersion`` and ``MinAPIVersion`` of ``/version`` come from ``api.versions``, the one place
that decides what this server speaks.

Event messages keep dockerd's deprecated top-level ``status``, ``id`` and ``from`` for
container and image events: old clients (and docker-py's examples) still read them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from dockyard.api.translate import dump, load, load_console_size, type_error
from dockyard.api.translate_containers import check_user
from dockyard.api.versions import MAX_VERSION, MIN_VERSION, ApiVersion, format_version, has_console_size
from dockyard.engine import Event, ExecConfig, ExecSession, SystemInfo, VersionInfo
from dockyard.errors import InvalidArgument

__all__ = [
    "ExecStart",
    "event_message",
    "exec_config",
    "exec_document",
    "exec_start",
    "info_document",
    "version_document",
]

_INFO_RENAMES: Final = {
    "Id": "ID",
    "Ncpu": "NCPU",
    "OsType": "OSType",
    "OsVersion": "OSVersion",
    "Ipv4Forwarding": "IPv4Forwarding",
    "CpuShares": "CPUShares",
    "CpuSet": "CPUSet",
}
"""``/info`` names that differ from the mechanical spelling (and from the container records')."""

_SWARM: Final = {
    "NodeID": "",
    "NodeAddr": "",
    "LocalNodeState": "inactive",
    "ControlAvailable": False,
    "Error": "",
    "RemoteManagers": None,
}


def info_document(info: SystemInfo) -> dict[str, object]:
    """``GET /info``."""
    raw = dump(info, skip=frozenset({"driver_status", "registry_config", "runtimes", "plugins"}))
    document = {_INFO_RENAMES.get(key, key): value for key, value in raw.items()}
    document["DriverStatus"] = [list(pair) for pair in info.driver_status]
    document["Plugins"] = {
        "Volume": list(info.plugins.get("Volume", ())),
        "Network": list(info.plugins.get("Network", ())),
        "Authorization": None,
        "Log": list(info.plugins.get("Log", ())),
    }
    registry = info.registry_config
    document["RegistryConfig"] = {
        "AllowNondistributableArtifactsCIDRs": [],
        "AllowNondistributableArtifactsHostnames": [],
        "InsecureRegistryCIDRs": list(registry.insecure_registry_cidrs),
        "IndexConfigs": {
            name: {"Name": i.name, "Mirrors": list(i.mirrors), "Secure": i.secure, "Official": i.official}
            for name, i in registry.index_configs.items()
        },
        "Mirrors": list(registry.mirrors),
    }
    document["Runtimes"] = {
        name: ({"path": r.path, "runtimeArgs": list(r.runtime_args)} if r.runtime_args else {"path": r.path})
        for name, r in info.runtimes.items()
    }
    document.update(
        {
            "KernelMemory": False,
            "KernelMemoryTCP": False,
            "BridgeNfIptables": False,
            "BridgeNfIp6tables": False,
            "GenericResources": None,
            "Swarm": dict(_SWARM),
            "ContainerdCommit": {"ID": "", "Expected": ""},
            "RuncCommit": {"ID": "", "Expected": ""},
            "InitCommit": {"ID": "", "Expected": ""},
            "DefaultAddressPools": [],
        }
    )
    return document


def version_document(version: VersionInfo) -> dict[str, object]:
    """``GET /version``; the API versions are the server's own."""
    document: dict[str, object] = {
        "Platform": {"Name": version.platform_name},
        "Components": [
            {"Name": c.name, "Version": c.version, "Details": dict(c.details)} for c in version.components
        ],
        "Version": version.version,
        "ApiVersion": format_version(MAX_VERSION),
        "MinAPIVersion": format_version(MIN_VERSION),
        "GitCommit": version.git_commit,
        "GoVersion": version.go_version,
        "Os": version.os,
        "Arch": version.arch,
        "KernelVersion": version.kernel_version,
        "BuildTime": version.build_time,
    }
    if version.experimental:
        document["Experimental"] = True
    return document


def event_message(event: Event) -> dict[str, object]:
    """One ``GET /events`` message (``time`` in seconds, ``timeNano`` in nanoseconds)."""
    message: dict[str, object] = {}
    if event.type in ("container", "image"):
        message["status"] = event.action
        message["id"] = event.actor_id
        if event.type == "container" and "image" in event.attributes:
            message["from"] = event.attributes["image"]
    message.update(
        {
            "Type": event.type,
            "Action": event.action,
            "Actor": {"ID": event.actor_id, "Attributes": dict(event.attributes)},
            "scope": event.scope,
            "time": event.time_nano // 1_000_000_000,
            "timeNano": event.time_nano,
        }
    )
    return message


def _console_size(value: object, path: str) -> tuple[int, int] | None:
    return None if value is None else load_console_size(value, path)


def exec_config(body: object, version: ApiVersion) -> ExecConfig:
    """``POST /containers/{id}/exec``'s body.

    Raises:
        InvalidArgument: bad JSON types, an empty ``Cmd`` (``No exec command specified``), or a
            numeric user or group ID out of range.
    """
    config = load(ExecConfig, body, path="ExecConfig", loaders={"ExecConfig.console_size": _console_size})
    if not config.cmd:
        raise InvalidArgument("No exec command specified")
    check_user(config.user)
    if not has_console_size(version) and config.console_size is not None:
        config = replace(config, console_size=None)
    return config


class ExecStart:
    """``POST /exec/{id}/start``'s body: ``Detach``, ``Tty``, ``ConsoleSize``."""

    __slots__ = ("console_size", "detach", "tty")

    def __init__(self, *, detach: bool, tty: bool | None, console_size: tuple[int, int] | None) -> None:
        self.detach = detach
        self.tty = tty
        self.console_size = console_size


def exec_start(body: object, version: ApiVersion) -> ExecStart:
    """Decode an exec start body (an empty body means all defaults).

    Raises:
        InvalidArgument: bad JSON types, or ``ConsoleSize`` without ``Tty`` (API 1.42+).
    """
    if body is None:
        return ExecStart(detach=False, tty=None, console_size=None)
    if not isinstance(body, dict):
        raise type_error(body, "ExecStartCheck", "container.ExecStartOptions")
    detach = body.get("Detach", False)
    tty = body.get("Tty")
    for name, value in (("Detach", detach), ("Tty", tty)):
        if value is not None and not isinstance(value, bool):
            raise type_error(value, f"ExecStartCheck.{name}", "bool")
    console = _console_size(body.get("ConsoleSize"), "ExecStartCheck.ConsoleSize")
    if console is not None:
        if not has_console_size(version):
            console = None
        elif not tty:
            raise InvalidArgument("console size is only supported when TTY is enabled")
    return ExecStart(detach=bool(detach), tty=tty if isinstance(tty, bool) else None, console_size=console)


def exec_document(session: ExecSession) -> dict[str, object]:
    """``GET /exec/{id}/json`` (``ProcessConfig``'s keys are lower-case in dockerd)."""
    config = session.config
    command = list(config.cmd)
    return {
        "ID": session.id,
        "Running": session.running,
        "ExitCode": session.exit_code,
        "ProcessConfig": {
            "tty": config.tty,
            "entrypoint": command[0] if command else "",
            "arguments": command[1:],
            "privileged": config.privileged,
            "user": config.user,
        },
        "OpenStdin": config.attach_stdin,
        "OpenStderr": config.attach_stderr,
        "OpenStdout": config.attach_stdout,
        "CanRemove": False,
        "ContainerID": session.container_id,
        "DetachKeys": config.detach_keys,
        "Pid": session.pid,
    }
