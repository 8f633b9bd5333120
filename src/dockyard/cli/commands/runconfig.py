"""``run``/``create`` options, and the ``POST /containers/create`` body they become.

This is docker's ``cli/command/container/opts.go``: the flags (usage texts as docker prints
them), the per-value validators that fail at parse time (``-e``, ``--add-host``, ``--dns``,
``--sysctl``, ``--ulimit``, ``--mount``, ``-a``), and ``build_body``, which assembles Config,
HostConfig and NetworkingConfig with the same fields and zero values docker's Go structs
marshal to, so a daemon sees the same request from ``dockyard run`` as from ``docker run``.
The port grammar (``[ip:][hostPort:]containerPort[/proto]``, ranges included) is go-connections'
``nat.ParsePortSpec``; volumes split as ``[source:]target[:mode]``, a source making a bind (or
named volume) and its absence an anonymous volume.
"""

from __future__ import annotations

from dockyard.cli import options
from dockyard.errors import InvalidArgument

__all__ = ["CREATE_FLAGS", "RUN_FLAGS", "build_body", "parse_ports"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

F = options.Flag


# --- validators (docker's opts.Validate*) ---------------------------------------------------


def _check_label(value: str) -> str:
    if not value.partition("=")[0].strip():
        raise ValueError(f"invalid label '{value}': empty name")
    return value


def _is_ip(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


def _check_host(value: str) -> str:
    name, sep, address = value.partition("=")
    if not sep:
        name, sep, address = value.partition(":")
    if not sep or not name:
        raise ValueError(f'bad format for add-host: "{value}"')
    if address != "host-gateway" and not _is_ip(address):
        raise ValueError(f'invalid IP address in add-host: "{address}"')
    return f"{name}:{address}"


def _check_ip(value: str) -> str:
    import ipaddress

    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise ValueError(f"IP address is not correctly formatted: {value}") from None


def _check_attach(value: str) -> str:
    if value.lower() not in ("stdin", "stdout", "stderr"):
        raise ValueError("valid streams are STDIN, STDOUT and STDERR")
    return value.lower()


_SYSCTLS = frozenset(
    {
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    }
)


def _check_sysctl(value: str) -> str:
    key, sep, _ = value.partition("=")
    if sep and (key in _SYSCTLS or key.startswith(("net.", "fs.mqueue."))):
        return value
    raise ValueError(f"sysctl '{value}' is not whitelisted")


_ULIMITS = frozenset(
    {
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
    }
)


def _check_ulimit(value: str) -> dict[str, object]:
    name, sep, limits = value.partition("=")
    if not sep:
        raise ValueError(f"invalid ulimit argument: {value}")
    if name not in _ULIMITS:
        raise ValueError(f"invalid ulimit type: {name}")
    soft_text, _, hard_text = limits.partition(":")
    try:
        soft = int(soft_text)
        hard = int(hard_text) if hard_text else soft
    except ValueError:
        raise ValueError(f"invalid ulimit argument: {value}") from None
    if soft > hard:
        raise ValueError(f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}")
    return {"Name": name, "Hard": hard, "Soft": soft}


def _mount_bool(key: str, value: str) -> bool:
    if value in ("", "1", "true", "True", "TRUE", "t"):
        return True
    if value in ("0", "false", "False", "FALSE", "f"):
        return False
    raise ValueError(f"invalid value for {key}: {value}")


def _check_mount(value: str) -> dict[str, object]:
    """``--mount type=bind,source=/a,target=/b,readonly``: docker's MountOpt."""
    mount: dict[str, object] = {"Type": "volume"}
    extra: dict[str, dict[str, object]] = {}
    for field in value.split(","):
        key, sep, val = field.partition("=")
        key = key.strip().lower()
        if key in ("readonly", "ro"):
            mount["ReadOnly"] = _mount_bool(key, val)
        elif not sep:
            raise ValueError(f"invalid field '{field}' must be a key=value pair")
        elif key == "type":
            mount["Type"] = val
        elif key in ("source", "src"):
            mount["Source"] = val
        elif key in ("target", "dst", "destination"):
            mount["Target"] = val
        elif key == "consistency":
            mount["Consistency"] = val
        elif key == "bind-propagation":
            extra.setdefault("BindOptions", {})["Propagation"] = val
        elif key == "volume-nocopy":
            extra.setdefault("VolumeOptions", {})["NoCopy"] = _mount_bool(key, val)
        elif key == "volume-label":
            name, _, label = val.partition("=")
            extra.setdefault("VolumeOptions", {}).setdefault("Labels", {})[name] = label  # type: ignore[index]
        elif key == "volume-driver":
            extra.setdefault("VolumeOptions", {}).setdefault("DriverConfig", {})["Name"] = val  # type: ignore[index]
        elif key == "tmpfs-size":
            extra.setdefault("TmpfsOptions", {})["SizeBytes"] = options.parse_bytes(val)
        elif key == "tmpfs-mode":
            extra.setdefault("TmpfsOptions", {})["Mode"] = int(val, 8)
        else:
            raise ValueError(f"unexpected key '{key}' in '{field}'")
    if not mount.get("Target"):
        raise ValueError("target is required")
    mount.update(extra)
    return mount


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
        if parts[0] and not _is_ip(parts[0]):
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


# --- the flags ------------------------------------------------------------------------------

CONTAINER_FLAGS = [
    F("add-host", "list", "Add a custom host-to-IP mapping (host:ip)", check=_check_host),
    F("attach", "list", "Attach to STDIN, STDOUT or STDERR", short="a", check=_check_attach),
    F(
        "blkio-weight",
        "uint16",
        "Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)",
    ),
    F("blkio-weight-device", "list", "Block IO weight (relative device weight)", default_text="[]"),
    F("cap-add", "list", "Add Linux capabilities"),
    F("cap-drop", "list", "Drop Linux capabilities"),
    F("cgroup-parent", "string", "Optional parent cgroup for the container"),
    F(
        "cgroupns",
        "string",
        "Cgroup namespace to use (host|private)\n'host':    Run the container in the Docker "
        "host's cgroup namespace\n'private': Run the container in its own private cgroup namespace\n"
        "'':        Use the cgroup namespace as configured by the\n"
        "           default-cgroupns-mode option on the daemon (default)",
    ),
    F("cidfile", "string", "Write the container ID to the file"),
    F("cpu-period", "int", "Limit CPU CFS (Completely Fair Scheduler) period"),
    F("cpu-quota", "int", "Limit CPU CFS (Completely Fair Scheduler) quota"),
    F("cpu-rt-period", "int", "Limit CPU real-time period in microseconds"),
    F("cpu-rt-runtime", "int", "Limit CPU real-time runtime in microseconds"),
    F("cpu-shares", "int", "CPU shares (relative weight)", short="c"),
    F("cpus", "decimal", "Number of CPUs"),
    F("cpuset-cpus", "string", "CPUs in which to allow execution (0-3, 0,1)"),
    F("cpuset-mems", "string", "MEMs in which to allow execution (0-3, 0,1)"),
    F("device", "list", "Add a host device to the container"),
    F("device-cgroup-rule", "list", "Add a rule to the cgroup allowed devices list"),
    F("device-read-bps", "list", "Limit read rate (bytes per second) from a device", default_text="[]"),
    F("device-read-iops", "list", "Limit read rate (IO per second) from a device", default_text="[]"),
    F("device-write-bps", "list", "Limit write rate (bytes per second) to a device", default_text="[]"),
    F("device-write-iops", "list", "Limit write rate (IO per second) to a device", default_text="[]"),
    F("disable-content-trust", "bool", "Skip image verification", default=True, default_text="true"),
    F("dns", "list", "Set custom DNS servers", check=_check_ip),
    F("dns-option", "list", "Set DNS options"),
    F("dns-opt", "list", "Set DNS options", dest="dns-option", hidden=True),
    F("dns-search", "list", "Set custom DNS search domains"),
    F("domainname", "string", "Container NIS domain name"),
    F("entrypoint", "string", "Overwrite the default ENTRYPOINT of the image"),
    F("env", "list", "Set environment variables", short="e", check=options.check_env),
    F("env-file", "list", "Read in a file of environment variables"),
    F("expose", "list", "Expose a port or a range of ports"),
    F("group-add", "list", "Add additional groups to join"),
    F("health-cmd", "string", "Command to run to check health"),
    F("health-interval", "duration", "Time between running the check (ms|s|m|h) (default 0s)"),
    F("health-retries", "int", "Consecutive failures needed to report unhealthy"),
    F(
        "health-start-interval",
        "duration",
        "Time between running the check during the start period (ms|s|m|h) (default 0s)",
    ),
    F(
        "health-start-period",
        "duration",
        "Start period for the container to initialize before starting "
        "health-retries countdown (ms|s|m|h) (default 0s)",
    ),
    F("health-timeout", "duration", "Maximum time to allow one check to run (ms|s|m|h) (default 0s)"),
    F("help", "bool", "Print usage"),
    F("hostname", "string", "Container host name", short="h"),
    F("init", "bool", "Run an init inside the container that forwards signals and reaps processes"),
    F("interactive", "bool", "Keep STDIN open even if not attached", short="i"),
    F("ip", "string", "IPv4 address (e.g., 172.30.100.104)"),
    F("ip6", "string", "IPv6 address (e.g., 2001:db8::33)"),
    F("ipc", "string", "IPC mode to use"),
    F("isolation", "string", "Container isolation technology"),
    F("label", "list", "Set meta data on a container", short="l", check=_check_label),
    F("label-file", "list", "Read in a line delimited file of labels"),
    F("link", "list", "Add link to another container"),
    F("log-driver", "string", "Logging driver for the container"),
    F("log-opt", "list", "Log driver options"),
    F("mac-address", "string", "Container MAC address (e.g., 92:d0:c6:0a:29:33)"),
    F("memory", "bytes", "Memory limit", short="m"),
    F("memory-reservation", "bytes", "Memory soft limit"),
    F("memory-swap", "swap", "Swap limit equal to memory plus swap: '-1' to enable unlimited swap"),
    F(
        "memory-swappiness",
        "int",
        "Tune container memory swappiness (0 to 100)",
        default=-1,
        default_text="-1",
    ),
    F("mount", "mount", "Attach a filesystem mount to the container", check=_check_mount),
    F("name", "string", "Assign a name to the container"),
    F("network", "network", "Connect a container to a network"),
    F("net", "network", "Connect a container to a network", dest="network", hidden=True),
    F("network-alias", "list", "Add network-scoped alias for the container"),
    F("net-alias", "list", "Add network-scoped alias for the container", dest="network-alias", hidden=True),
    F("no-healthcheck", "bool", "Disable any container-specified HEALTHCHECK"),
    F("oom-kill-disable", "bool", "Disable OOM Killer"),
    F("oom-score-adj", "int", "Tune host's OOM preferences (-1000 to 1000)"),
    F("pid", "string", "PID namespace to use"),
    F("pids-limit", "int", "Tune container pids limit (set -1 for unlimited)"),
    F("platform", "string", "Set platform if server is multi-platform capable"),
    F("privileged", "bool", "Give extended privileges to this container"),
    F("publish", "list", "Publish a container's port(s) to the host", short="p"),
    F("publish-all", "bool", "Publish all exposed ports to random ports", short="P"),
    F(
        "pull",
        "string",
        'Pull image before running ("always", "missing", "never")',
        default="missing",
        default_text='"missing"',
    ),
    F("quiet", "bool", "Suppress the pull output", short="q"),
    F("read-only", "bool", "Mount the container's root filesystem as read only"),
    F(
        "restart",
        "string",
        "Restart policy to apply when a container exits",
        default="no",
        default_text='"no"',
    ),
    F("rm", "bool", "Automatically remove the container and its associated anonymous volumes when it exits"),
    F("runtime", "string", "Runtime to use for this container"),
    F("security-opt", "list", "Security Options"),
    F("shm-size", "bytes", "Size of /dev/shm"),
    F("stop-signal", "string", "Signal to stop the container"),
    F("stop-timeout", "int", "Timeout (in seconds) to stop a container"),
    F("storage-opt", "list", "Storage driver options for the container"),
    F("sysctl", "map", "Sysctl options", default_text="map[]", check=_check_sysctl),
    F("tmpfs", "list", "Mount a tmpfs directory"),
    F("tty", "bool", "Allocate a pseudo-TTY", short="t"),
    F("ulimit", "ulimit", "Ulimit options", default_text="[]", check=_check_ulimit),
    F("user", "string", "Username or UID (format: <name|uid>[:<group|gid>])", short="u"),
    F("userns", "string", "User namespace to use"),
    F("uts", "string", "UTS namespace to use"),
    F("volume", "list", "Bind mount a volume", short="v"),
    F("volume-driver", "string", "Optional volume driver for the container"),
    F("volumes-from", "list", "Mount volumes from the specified container(s)"),
    F("workdir", "string", "Working directory inside the container", short="w"),
]
CREATE_FLAGS = CONTAINER_FLAGS
RUN_FLAGS = [
    *CONTAINER_FLAGS,
    F("detach", "bool", "Run container in background and print container ID", short="d"),
    F("detach-keys", "string", "Override the key sequence for detaching a container"),
    F("sig-proxy", "bool", "Proxy received signals to the process", default=True, default_text="true"),
]


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
