"""Create time: the request is checked, defaulted and merged with its image, as dockerd does it.

Three steps, each pure (moby ``daemon/create.go``, ``daemon/daemon_unix.go``
``adaptContainerSettings``/``verifyPlatformContainerSettings``, ``image.MergeConfig``):

1. ``merge_image_config``: what the user did not say comes from the image: user, working dir,
   stop signal, exposed ports and volumes (merged), labels (image labels the user did not set),
   env (the user's first, then the image's keys the user did not set), and the command: an
   entrypoint given by the user drops the image's cmd; ``--entrypoint ""`` drops both.
2. ``default_host_config``: dockerd's defaults made visible in inspect: ``NetworkMode``
   "bridge", ``IpcMode`` "private", ``CgroupnsMode`` host on cgroup v1, ``ShmSize`` 64 MiB,
   ``MemorySwap`` twice ``Memory``, ``LogConfig.Type`` "json-file", the default runtime.
3. ``check_host_config``: the settings dockerd refuses, with its messages; plus the warnings
   ``create`` returns.
"""

from __future__ import annotations

import dataclasses
import os

from dockyard.engine.container import ContainerConfig, HealthConfig, HostConfig, LogConfig
from dockyard.engine.restart import validate_policy
from dockyard.engine.seams import ImageDefaults
from dockyard.engine.signals import parse_signal
from dockyard.engine.specgen import effective_capabilities, parse_security_opts, unavailable_capabilities
from dockyard.errors import InvalidArgument, NoSuchImage, NoSuchNetwork, Unsupported
from dockyard.oci.image_spec import Platform

__all__ = [
    "BRIDGE_WARNING",
    "check_host_config",
    "check_platform",
    "command_of",
    "default_host_config",
    "merge_image_config",
    "parse_size",
]

MIN_MEMORY = 6 * 1024 * 1024
DEFAULT_SHM_SIZE = 64 * 1024 * 1024
BRIDGE_WARNING = (
    "WARNING: bridge networking is not available yet: containers on the default network get their "
    "own network namespace with only loopback (bridge networks come in a later issue)"
)
"""Shown by ``docker info`` and logged once by the daemon; not added to every ``create``'s
Warnings, where ``docker run`` would print it before each command's output (the lab's commands
must print exactly what they print under dockerd)."""
_LOG_DRIVERS = ("json-file", "none")


def merge_image_config(config: ContainerConfig, image: ImageDefaults) -> ContainerConfig:
    """The container's ``Config``: the request completed from the image (moby ``merge``)."""
    env = list(config.env)
    keys = {e.partition("=")[0] for e in env}
    env += [e for e in image.env if e.partition("=")[0] not in keys]
    labels = dict(image.labels)
    labels.update(config.labels)
    entrypoint, cmd, escaped = config.entrypoint, config.cmd, config.args_escaped
    if not entrypoint:
        if not cmd:
            cmd, escaped = image.cmd, image.args_escaped
        if entrypoint is None:
            entrypoint = image.entrypoint
    elif entrypoint == ("",):
        entrypoint = None  # --entrypoint "": neither the image's entrypoint nor its cmd
    healthcheck = config.healthcheck
    if healthcheck is None and image.healthcheck_test:
        healthcheck = HealthConfig(test=image.healthcheck_test)
    return dataclasses.replace(
        config,
        user=config.user or image.user,
        working_dir=config.working_dir or image.working_dir,
        stop_signal=config.stop_signal or image.stop_signal,
        exposed_ports=tuple(dict.fromkeys((*config.exposed_ports, *image.exposed_ports))),
        volumes=tuple(dict.fromkeys((*config.volumes, *image.volumes))),
        env=tuple(env),
        labels=labels,
        entrypoint=entrypoint,
        cmd=cmd,
        args_escaped=escaped,
        healthcheck=healthcheck,
        on_build=config.on_build or image.on_build,
        shell=config.shell or image.shell,
    )


def command_of(config: ContainerConfig) -> tuple[str, tuple[str, ...]]:
    """(Path, Args) as inspect shows them: entrypoint + cmd, head and tail.

    Raises:
        InvalidArgument: Docker's "No command specified".
    """
    argv = [*(config.entrypoint or ()), *(config.cmd or ())]
    if not argv:
        raise InvalidArgument("No command specified")
    return argv[0], tuple(argv[1:])


def default_host_config(hc: HostConfig, *, cgroup_version: int, default_runtime: str) -> HostConfig:
    """dockerd's create-time defaults, as inspect shows them afterwards."""
    network = hc.network_mode if hc.network_mode not in ("", "default") else "bridge"
    swap = hc.memory_swap
    if hc.memory > 0 and swap == 0:
        swap = hc.memory * 2
    return dataclasses.replace(
        hc,
        network_mode=network,
        ipc_mode=hc.ipc_mode or "private",
        cgroupns_mode=hc.cgroupns_mode or ("private" if cgroup_version == 2 else "host"),
        shm_size=hc.shm_size or DEFAULT_SHM_SIZE,
        memory_swap=swap,
        log_config=hc.log_config if hc.log_config.type else LogConfig(config=hc.log_config.config),
        runtime=hc.runtime or default_runtime,
    )


def check_host_config(
    config: ContainerConfig,
    hc: HostConfig,
    *,
    runtimes: tuple[str, ...],
    ncpu: int,
    capabilities: tuple[str, ...] | None = None,
) -> list[str]:
    """Refuse what dockerd refuses; return the warnings ``create`` reports.

    Raises:
        InvalidArgument: a setting dockerd rejects, with its message.
        NoSuchNetwork: a named network (only bridge, host and none exist for now).
        Unsupported: a mode that is not implemented yet (``container:<id>`` namespaces).
    """
    warnings: list[str] = []
    _check_network(hc, warnings)
    _check_resources(hc, ncpu)
    validate_policy(hc.restart_policy, auto_remove=hc.auto_remove)
    effective_capabilities(hc)
    for cap in unavailable_capabilities(hc, capabilities):
        warnings.append(f"{cap} is not in the daemon's bounding set: the container cannot be granted it")
    parse_security_opts(hc.security_opt)
    if hc.runtime not in runtimes:
        raise InvalidArgument(f"Unknown runtime specified {hc.runtime}")
    if hc.log_config.type not in _LOG_DRIVERS:
        raise InvalidArgument(f"logger: no log driver named '{hc.log_config.type}' is registered")
    _log_options(hc.log_config)
    if not -1000 <= hc.oom_score_adj <= 1000:
        raise InvalidArgument(f"Invalid value {hc.oom_score_adj}, range for oom score adj is [-1000, 1000]")
    if config.stop_signal:
        parse_signal(config.stop_signal)
    for env in config.env:
        if not env or env.startswith("="):
            raise InvalidArgument(f"invalid environment variable: {env}")
    for mode in (hc.pid_mode, hc.ipc_mode, hc.uts_mode, hc.userns_mode):
        if mode.startswith("container:"):
            raise Unsupported(
                f"{mode.partition(':')[0]} namespaces shared with containers are not supported yet"
            )
    if hc.userns_mode not in ("", "host"):
        raise InvalidArgument(f"invalid USER mode: {hc.userns_mode}")
    return warnings


def _check_network(hc: HostConfig, warnings: list[str]) -> None:
    mode = hc.network_mode
    if mode.startswith("container:"):
        raise Unsupported("--network container:<id> is not supported yet")
    if mode not in ("bridge", "host", "none"):
        raise NoSuchNetwork(mode)
    if mode == "host":
        for key in hc.sysctls:
            if key.startswith("net."):
                raise InvalidArgument(f"sysctl '{key}' not allowed in host network namespace")


def _check_resources(hc: HostConfig, ncpu: int) -> None:
    """moby ``verifyPlatformContainerResources`` (the checks that apply on this host)."""
    if hc.memory != 0 and hc.memory < MIN_MEMORY:
        raise InvalidArgument("Minimum memory limit allowed is 6MB")
    if hc.memory > 0 and hc.memory_swap > 0 and hc.memory_swap < hc.memory:
        raise InvalidArgument("Minimum memoryswap limit should be larger than memory limit, see usage")
    if hc.memory == 0 and hc.memory_swap > 0:
        raise InvalidArgument("You should always set the Memory limit when using Memoryswap limit, see usage")
    if (
        hc.memory_swappiness is not None
        and hc.memory_swappiness != -1
        and not 0 <= hc.memory_swappiness <= 100
    ):
        raise InvalidArgument(
            f"Invalid value: {hc.memory_swappiness}, valid memory swappiness range is 0-100"
        )
    if hc.memory > 0 and hc.memory_reservation > 0 and hc.memory < hc.memory_reservation:
        raise InvalidArgument("Minimum memory limit can not be less than memory reservation limit, see usage")
    if hc.nano_cpus > 0 and hc.cpu_period > 0:
        raise InvalidArgument("Conflicting options: Nano CPUs and CPU Period cannot both be set")
    if hc.nano_cpus > 0 and hc.cpu_quota > 0:
        raise InvalidArgument("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
    if hc.nano_cpus < 0 or hc.nano_cpus > ncpu * 1_000_000_000:
        raise InvalidArgument(
            f"Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
        )
    if hc.cpu_shares < 0:
        raise InvalidArgument(f"invalid CPU shares ({hc.cpu_shares}): value must be a positive integer")
    if hc.blkio_weight > 0 and not 10 <= hc.blkio_weight <= 1000:
        raise InvalidArgument("Range of blkio weight is from 10 to 1000")
    if hc.shm_size < 0:
        raise InvalidArgument("SHM size can not be less than 0")


_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(text: str) -> int:
    """docker/go-units ``RAMInBytes``: "10m" = 10 MiB, "1k", "512", "1.5g".

    Raises:
        InvalidArgument: not a size.
    """
    value = text.strip().lower()
    if value.endswith(("kb", "mb", "gb", "tb")):
        value = value[:-1]  # "10mb" is "10m": go-units accepts both spellings
    number = value.rstrip("kmgtb")
    unit = value[len(number) :]
    try:
        size = float(number) * _UNITS[unit]
    except (ValueError, KeyError):
        raise InvalidArgument(f"invalid size: '{text}'") from None
    if size < 0:
        raise InvalidArgument(f"invalid size: '{text}'")
    return int(size)


def _log_options(log_config: LogConfig) -> tuple[int, int]:
    """(max-size bytes or -1, max-file) of a json-file log config, checked like dockerd."""
    options = log_config.config
    known = {
        "max-size",
        "max-file",
        "compress",
        "labels",
        "env",
        "env-regex",
        "tag",
        "mode",
        "max-buffer-size",
    }
    for key in options:
        if key not in known:
            raise InvalidArgument(f"unknown log opt '{key}' for json-file log driver")
    max_size = parse_size(options["max-size"]) if options.get("max-size") else -1
    max_file = 1
    if options.get("max-file"):
        try:
            max_file = int(options["max-file"])
        except ValueError:
            raise InvalidArgument(f"invalid value for max-file: {options['max-file']}") from None
        if max_file < 1:
            raise InvalidArgument("max-file cannot be less than 1")
        if max_file > 1 and max_size == -1:
            raise InvalidArgument("max-file cannot be greater than 1 when max-size is not set")
    return max_size, max_file


def log_options(log_config: LogConfig) -> tuple[int, int]:
    """(max-size, max-file) for the monitor's log writer (already checked at create)."""
    return _log_options(log_config)


def host_cpus() -> int:
    """CPUs usable by this process (NCPU)."""
    return len(os.sched_getaffinity(0)) or (os.cpu_count() or 1)


def check_platform(
    requested: str | None, name: str, image_os: str, image_arch: str, variant: str
) -> list[str]:
    """dockerd's platform rules at create: the warnings to return.

    A requested platform must match the image; without a request, a foreign image only earns a
    warning.

    Raises:
        NoSuchImage: the image does not match the requested platform (dockerd's message).
    """
    if not image_arch:
        return []
    actual = Platform(os=image_os or "linux", architecture=image_arch, variant=variant or None)
    if requested:
        wanted = Platform.parse(requested)
        if not wanted.matches(actual):
            raise NoSuchImage(
                name,
                f"image with reference {name} was found but does not match the specified platform: "
                f"wanted {wanted}, actual: {actual}",
            )
        return []
    host = Platform.host()
    if not host.matches(actual):
        return [
            f"The requested image's platform ({actual}) does not match the detected host platform ({host}) "
            "and no specific platform was requested"
        ]
    return []
