"""``run``/``create`` flags as docker declares them, and the validators that run as they parse.

This is the flag half of docker's ``cli/command/container/opts.go``: every option dockyard passes
to the daemon, with docker's usage text (so ``--help`` reads the same), and the per-value
validators docker runs at parse time, whose errors become flag errors with status 125:
``-e`` (a variable name), ``-l`` (a label name), ``--add-host`` (``host:ip``), ``--dns`` (an IP),
``-a`` (a stream name), ``--sysctl`` (namespaced sysctls only), ``--ulimit`` (a known limit,
soft <= hard) and ``--mount`` (the CSV of type, source, target and options).
:mod:`dockyard.cli.commands.runconfig` turns the parsed values into the create body.
"""

from __future__ import annotations

from dockyard.cli import options

__all__ = ["CONTAINER_FLAGS", "CREATE_FLAGS", "RUN_FLAGS", "is_ip"]

F = options.Flag


# --- validators (docker's opts.Validate*) ---------------------------------------------------


def _check_label(value: str) -> str:
    if not value.partition("=")[0].strip():
        raise ValueError(f"invalid label '{value}': empty name")
    return value


def is_ip(text: str) -> bool:
    """True for an IPv4 or IPv6 address (brackets allowed)."""
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
    if address != "host-gateway" and not is_ip(address):
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
