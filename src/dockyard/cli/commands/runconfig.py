"""The ``POST /containers/create`` body that ``run``/``create`` options become.

This is the body half of docker's ``cli/command/container/opts.go`` (the flags are in
:mod:`dockyard.cli.commands.runflags`): ``build_body`` assembles Config, HostConfig and
NetworkingConfig with the same fields and zero values docker's Go structs marshal to, so a
daemon sees the same request from ``dockyard run`` as from ``docker run``.
The port grammar (``[ip:][hostPort:]containerPort[/proto]``, ranges included) is go-connections'
``nat.ParsePortSpec``; volumes split as ``[source:]target[:mode]``, a source making a bind (or
named volume) and its absence an anonymous volume.
"""

from __future__ import annotations

from dockyard.cli import options
from dockyard.cli.commands.runflags import is_ip
from dockyard.errors import InvalidArgument

__all__ = ["build_body", "parse_ports"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping


# --- ports ----------------------------------------------------------------------------------


def _port_range(text: str, what: str) -> tuple[int, int]:
    low, sep, high = text.partition("-")
    try:
        start = int(low)
        end = int(high) if sep else start
    except ValueError:
        raise InvalidArgument(f"invalid {what}: {text}") from None
    if not (0 <= start <= 65535 and 0 <= end <= 65535) or end < start:
        raise InvalidArgument(f"invalid {what}: {text}")
    return start, end


def parse_ports(specs: list[str]) -> tuple[dict[str, object], dict[str, list[dict[str, str]]]]:
    """``nat.ParsePortSpecs``: (ExposedPorts, PortBindings) for ``-p`` values.

    Raises:
        InvalidArgument: a malformed spec (docker's messages).
    """
    exposed: dict[str, object] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for spec in specs:
        body, _, proto = spec.partition("/")
        proto = proto or "tcp"
        if proto not in ("tcp", "udp", "sctp"):
            raise InvalidArgument(f"invalid proto: {proto}")
        ip, host, container = _split_port_spec(body, spec)
        start, end = _port_range(container, "containerPort")
        host_start, host_end = _port_range(host, "hostPort") if host else (0, 0)
        if host and (host_end - host_start) != (end - start) and host_end != host_start:
            raise InvalidArgument(
                f"invalid ranges specified for container and host Ports: {container} and {host}"
            )
        for offset in range(end - start + 1):
            port = f"{start + offset}/{proto}"
            exposed[port] = {}
            host_port = ""
            if host:
                host_port = str(host_start + offset) if host_end != host_start else host
                if host_end != host_start and end == start:
                    host_port = host
            bindings.setdefault(port, []).append({"HostIp": ip, "HostPort": host_port})
    return exposed, bindings


def _split_port_spec(body: str, spec: str) -> tuple[str, str, str]:
    ip = ""
    if body.startswith("["):
        close = body.find("]")
        if close < 0:
            raise InvalidArgument(f"invalid IP address: {spec}")
        ip, body = body[1:close], body[close + 2 :]
        host, _, container = body.rpartition(":")
        return ip, host, container
    parts = body.split(":")
    if len(parts) == 1:
        return "", "", parts[0]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    if len(parts) == 3:
        if parts[0] and not is_ip(parts[0]):
            raise InvalidArgument(f"invalid IP address: {parts[0]}")
        return parts[0], parts[1], parts[2]
    raise InvalidArgument(f"invalid port specification: {spec!r}")


def _expose(values: list[str], exposed: dict[str, object]) -> None:
    for value in values:
        if ":" in value:
            raise InvalidArgument(f"invalid port format for --expose: {value}")
        port, _, proto = value.partition("/")
        start, end = _port_range(port, "range format for --expose")
        for number in range(start, end + 1):
            exposed.setdefault(f"{number}/{proto or 'tcp'}", {})


# --- the body -------------------------------------------------------------------------------


def _kv_map(values: list[str]) -> dict[str, str]:
    """docker's ``ConvertKVStringsToMap``: split at the first "="; a bare key maps to ""."""
    result: dict[str, str] = {}
    for value in values:
        key, _, val = value.partition("=")
        result[key] = val
    return result


def _labels(parsed: options.Parsed) -> dict[str, str]:
    lines: list[str] = []
    for path in parsed.items("label-file"):
        try:
            with open(path, encoding="utf-8") as handle:
                lines += [ln.strip() for ln in handle if ln.strip() and not ln.lstrip().startswith("#")]
        except OSError as exc:
            raise InvalidArgument(f"open {path}: {(exc.strerror or str(exc)).lower()}") from None
    return _kv_map(lines + parsed.items("label"))


def _volumes(values: list[str]) -> tuple[list[str] | None, dict[str, object]]:
    binds: list[str] = []
    anonymous: dict[str, object] = {}
    for spec in values:
        parts = spec.split(":")
        if len(parts) > 3 or not all(parts[:2]):
            raise InvalidArgument(f"invalid volume specification: '{spec}'")
        if len(parts) == 1:
            anonymous[spec] = {}
        else:
            binds.append(spec)
    return binds or None, anonymous


def _devices(values: list[str]) -> list[dict[str, str]]:
    devices = []
    for spec in values:
        parts = spec.split(":")
        source = parts[0]
        target, perms = source, "rwm"
        if len(parts) == 2:
            if parts[1] and set(parts[1]) <= set("rwm"):
                perms = parts[1]
            else:
                target = parts[1]
        elif len(parts) == 3:
            target, perms = parts[1], parts[2]
        elif len(parts) > 3 or not source:
            raise InvalidArgument(f"invalid device specification: {spec}")
        devices.append({"PathOnHost": source, "PathInContainer": target, "CgroupPermissions": perms})
    return devices


def _throttles(values: list[str], rate_key: str, bytes_rate: bool) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for spec in values:
        path, sep, rate = spec.rpartition(":")
        if not sep or not path.startswith("/dev/"):
            raise InvalidArgument(f"bad format: {spec}")
        try:
            value: int = options.parse_bytes(rate) if bytes_rate else int(rate)
        except ValueError:
            raise InvalidArgument(f"invalid rate for device: {spec}") from None
        out.append({"Path": path, rate_key: value})
    return out


def _capabilities(values: list[str]) -> list[str] | None:
    """docker's ``opts.CapabilitiesMap`` normalisation: upper case, ``CAP_`` prefixed, but
    ``ALL`` kept as it is."""
    normal = []
    for value in values:
        cap = value.strip().upper()
        normal.append(cap if cap == "ALL" or cap.startswith("CAP_") else f"CAP_{cap}")
    return normal or None


def _restart_policy(text: str) -> dict[str, object]:
    name, _, count = text.partition(":")
    if count and not count.isdigit():
        raise InvalidArgument(
            f"invalid restart policy format: maximum retry count must be an integer: {text}"
        )
    return {"Name": name, "MaximumRetryCount": int(count) if count else 0}


def _security_opts(values: list[str]) -> tuple[list[str] | None, list[str] | None, list[str] | None]:
    """docker's parseSecurityOpts + parseSystemPaths: seccomp files are inlined as JSON,
    ``systempaths=unconfined`` empties the masked and read-only path lists."""
    result: list[str] = []
    masked: list[str] | None = None
    readonly: list[str] | None = None
    for opt in values:
        if opt == "systempaths=unconfined":
            masked, readonly = [], []
            continue
        if opt == "no-new-privileges":
            result.append(opt)
            continue
        key, sep, value = opt.partition("=")
        if not sep:
            key, sep, value = opt.partition(":")
        if not sep:
            raise InvalidArgument(f'invalid --security-opt: "{opt}"')
        if key == "seccomp" and value not in ("unconfined", "builtin"):
            result.append(f"seccomp={_read_seccomp(value)}")
        else:
            result.append(opt)
    return result or None, masked, readonly


def _read_seccomp(path: str) -> str:
    from dockyard.util import jsoncodec

    try:
        with open(path, "rb") as handle:
            return jsoncodec.dumps(jsoncodec.loads(handle.read()))
    except OSError as exc:
        raise InvalidArgument(f"opening seccomp profile ({path}) failed: {exc}") from None
    except ValueError as exc:
        raise InvalidArgument(f"compacting json for seccomp profile ({path}) failed: {exc}") from None


def _log_config(parsed: options.Parsed) -> dict[str, object]:
    driver = parsed.text("log-driver")
    opts = _kv_map(parsed.items("log-opt"))
    if driver == "none" and opts:
        raise InvalidArgument(f"invalid logging opts for driver {driver}")
    return {"Type": driver, "Config": opts}


def _healthcheck(parsed: options.Parsed) -> dict[str, object] | None:
    names = (
        "health-cmd",
        "health-interval",
        "health-timeout",
        "health-start-period",
        "health-start-interval",
        "health-retries",
    )
    configured = any(parsed.values[n] for n in names)
    if parsed.flag("no-healthcheck"):
        if configured:
            raise InvalidArgument("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    if not configured:
        return None
    for name in names[1:]:
        if parsed.number(name) < 0:
            raise InvalidArgument(f"--{name} cannot be negative")
    check: dict[str, object] = {}
    if parsed.text("health-cmd"):
        check["Test"] = ["CMD-SHELL", parsed.text("health-cmd")]
    check.update(
        {
            "Interval": parsed.number("health-interval"),
            "Timeout": parsed.number("health-timeout"),
            "StartPeriod": parsed.number("health-start-period"),
            "StartInterval": parsed.number("health-start-interval"),
            "Retries": parsed.number("health-retries"),
        }
    )
    return check


def _networking(parsed: options.Parsed) -> tuple[str, dict[str, object]]:
    networks = parsed.items("network") or ["default"]
    endpoints: dict[str, object] = {}
    first: dict[str, object] = {}
    if parsed.items("network-alias"):
        first["Aliases"] = parsed.items("network-alias")
    if parsed.items("link"):
        first["Links"] = parsed.items("link")
    ipam = {k: v for k, v in (("IPv4Address", parsed.text("ip")), ("IPv6Address", parsed.text("ip6"))) if v}
    if ipam:
        first["IPAMConfig"] = ipam
    for index, network in enumerate(networks):
        if network in endpoints:
            raise InvalidArgument(f'network "{network}" is specified multiple times')
        settings = first if index == 0 else {}
        if settings or len(networks) > 1:
            endpoints[network] = settings
    return networks[0], {"EndpointsConfig": endpoints}


def _config(
    parsed: options.Parsed, image: str, command: list[str], environ: Mapping[str, str]
) -> dict[str, object]:
    attach = parsed.items("attach")
    exposed, _ = parse_ports(parsed.items("publish"))
    _expose(parsed.items("expose"), exposed)
    env = options.read_env_files(parsed.items("env-file"), environ)
    env += [options.validate_env(value, environ) for value in parsed.items("env")]
    _, volumes = _volumes(parsed.items("volume"))
    entrypoint: list[str] | None = None
    if parsed.text("entrypoint"):
        entrypoint = [parsed.text("entrypoint")]
    elif "entrypoint" in parsed.changed:
        entrypoint = [""]
    stdin = parsed.flag("interactive") or "stdin" in attach
    config: dict[str, object] = {
        "Hostname": parsed.text("hostname"),
        "Domainname": parsed.text("domainname"),
        "User": parsed.text("user"),
        "AttachStdin": stdin,
        "AttachStdout": not attach or "stdout" in attach,
        "AttachStderr": not attach or "stderr" in attach,
    }
    if exposed:
        config["ExposedPorts"] = exposed
    config.update(
        {
            "Tty": parsed.flag("tty"),
            "OpenStdin": parsed.flag("interactive"),
            "StdinOnce": parsed.flag("interactive") and stdin,
            "Env": env or None,
            "Cmd": command or None,
        }
    )
    health = _healthcheck(parsed)
    if health is not None:
        config["Healthcheck"] = health
    config.update(
        {
            "Image": image,
            "Volumes": volumes,
            "WorkingDir": parsed.text("workdir"),
            "Entrypoint": entrypoint,
            "OnBuild": None,
            "Labels": _labels(parsed),
        }
    )
    if parsed.text("mac-address"):
        config["MacAddress"] = parsed.text("mac-address")
    if "stop-signal" in parsed.changed:
        config["StopSignal"] = parsed.text("stop-signal")
    if "stop-timeout" in parsed.changed:
        config["StopTimeout"] = parsed.number("stop-timeout")
    return config


def _host_config(
    parsed: options.Parsed, console: tuple[int, int]
) -> tuple[dict[str, object], dict[str, object]]:
    restart = _restart_policy(parsed.text("restart"))
    if parsed.flag("rm") and restart["Name"] not in ("", "no"):
        raise InvalidArgument("conflicting options: cannot specify both --restart and --rm")
    binds, _ = _volumes(parsed.items("volume"))
    _, port_bindings = parse_ports(parsed.items("publish"))
    security, masked, readonly = _security_opts(parsed.items("security-opt"))
    network_mode, networking = _networking(parsed)
    tmpfs = {}
    for spec in parsed.items("tmpfs"):
        path, _, opts = spec.partition(":")
        tmpfs[path] = opts
    host: dict[str, object] = {
        "Binds": binds,
        "ContainerIDFile": parsed.text("cidfile"),
        "LogConfig": _log_config(parsed),
        "NetworkMode": network_mode,
        "PortBindings": port_bindings,
        "RestartPolicy": restart,
        "AutoRemove": parsed.flag("rm"),
        "VolumeDriver": parsed.text("volume-driver"),
        "VolumesFrom": parsed.items("volumes-from") or None,
        "ConsoleSize": list(console),
        "CapAdd": _capabilities(parsed.items("cap-add")),
        "CapDrop": _capabilities(parsed.items("cap-drop")),
        "CgroupnsMode": parsed.text("cgroupns"),
        "Dns": parsed.items("dns"),
        "DnsOptions": parsed.items("dns-option"),
        "DnsSearch": parsed.items("dns-search"),
        "ExtraHosts": parsed.items("add-host") or None,
        "GroupAdd": parsed.items("group-add") or None,
        "IpcMode": parsed.text("ipc"),
        "Cgroup": "",
        "Links": parsed.items("link") or None,
        "OomScoreAdj": parsed.number("oom-score-adj"),
        "PidMode": parsed.text("pid"),
        "Privileged": parsed.flag("privileged"),
        "PublishAllPorts": parsed.flag("publish-all"),
        "ReadonlyRootfs": parsed.flag("read-only"),
        "SecurityOpt": security,
    }
    if parsed.items("storage-opt"):
        host["StorageOpt"] = _kv_map(parsed.items("storage-opt"))
    if tmpfs:
        host["Tmpfs"] = tmpfs
    host.update(
        {
            "UTSMode": parsed.text("uts"),
            "UsernsMode": parsed.text("userns"),
            "ShmSize": parsed.number("shm-size"),
        }
    )
    if parsed.items("sysctl"):
        host["Sysctls"] = _kv_map(parsed.items("sysctl"))
    if parsed.text("runtime"):
        host["Runtime"] = parsed.text("runtime")
    host["Isolation"] = parsed.text("isolation")
    host.update(_resources(parsed))
    if parsed.items("mount"):
        host["Mounts"] = parsed.items("mount")
    host.update({"MaskedPaths": masked, "ReadonlyPaths": readonly})
    if "init" in parsed.changed:
        host["Init"] = parsed.flag("init")
    return host, networking


def _resources(parsed: options.Parsed) -> dict[str, object]:
    weights = []
    for spec in parsed.items("blkio-weight-device"):
        path, _, weight = spec.rpartition(":")
        if not path or not weight.isdigit():
            raise InvalidArgument(f"invalid format: {spec}")
        weights.append({"Path": path, "Weight": int(weight)})
    return {
        "CpuShares": parsed.number("cpu-shares"),
        "Memory": parsed.number("memory"),
        "NanoCpus": parsed.number("cpus"),
        "CgroupParent": parsed.text("cgroup-parent"),
        "BlkioWeight": parsed.number("blkio-weight"),
        "BlkioWeightDevice": weights,
        "BlkioDeviceReadBps": _throttles(parsed.items("device-read-bps"), "Rate", True),
        "BlkioDeviceWriteBps": _throttles(parsed.items("device-write-bps"), "Rate", True),
        "BlkioDeviceReadIOps": _throttles(parsed.items("device-read-iops"), "Rate", False),
        "BlkioDeviceWriteIOps": _throttles(parsed.items("device-write-iops"), "Rate", False),
        "CpuPeriod": parsed.number("cpu-period"),
        "CpuQuota": parsed.number("cpu-quota"),
        "CpuRealtimePeriod": parsed.number("cpu-rt-period"),
        "CpuRealtimeRuntime": parsed.number("cpu-rt-runtime"),
        "CpusetCpus": parsed.text("cpuset-cpus"),
        "CpusetMems": parsed.text("cpuset-mems"),
        "Devices": _devices(parsed.items("device")),
        "DeviceCgroupRules": parsed.items("device-cgroup-rule") or None,
        "DeviceRequests": None,
        "MemoryReservation": parsed.number("memory-reservation"),
        "MemorySwap": parsed.number("memory-swap"),
        "MemorySwappiness": parsed.number("memory-swappiness"),
        "OomKillDisable": parsed.flag("oom-kill-disable"),
        "PidsLimit": parsed.number("pids-limit"),
        "Ulimits": parsed.items("ulimit"),
        "CpuCount": 0,
        "CpuPercent": 0,
        "IOMaximumIOps": 0,
        "IOMaximumBandwidth": 0,
    }


def build_body(
    parsed: options.Parsed, environ: Mapping[str, str], console: tuple[int, int] = (0, 0)
) -> dict[str, object]:
    """The create body for ``run``/``create`` arguments (image first, then its command).

    Raises:
        InvalidArgument: options docker refuses before sending anything.
    """
    swappiness = parsed.number("memory-swappiness")
    if swappiness != -1 and not 0 <= swappiness <= 100:
        raise InvalidArgument(f"invalid value: {swappiness}. Valid memory swappiness range is 0-100")
    image, *command = parsed.args
    body = _config(parsed, image, command, environ)
    host, networking = _host_config(parsed, console)
    body["HostConfig"] = host
    body["NetworkingConfig"] = networking
    return body
