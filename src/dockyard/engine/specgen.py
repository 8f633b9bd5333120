"""``build_spec``: a container record and the facts of this host become an OCI ``config.json``.

Pure: every input that comes from the disk or the kernel (the resolved user, the netns path, the
host's capabilities and thermal-throttle paths, the seccomp profile) is an argument, so the
output is golden-tested (``tests/unit/golden``). The choices are Docker's, as listed in
``runtime-defaults.md`` with their moby sources (``daemon/pkg/oci/defaults.go``,
``daemon/oci_linux.go``):

- **process**: args = entrypoint + cmd (prefixed by ``/sbin/docker-init --`` with ``--init``);
  env = PATH, HOSTNAME, TERM (with a tty), then the container's env merged in; cwd defaults to
  ``/``; the 14 default capabilities in bounding/permitted/effective, tweaked by
  ``--cap-add``/``--cap-drop`` exactly as ``caps.TweakCapabilities`` does; ``oomScoreAdj``
  always set; rlimits only from ``--ulimit``, never above the host's hard limit.
- **mounts**: the seven defaults (proc, /dev tmpfs, devpts, sysfs, cgroup, mqueue, /dev/shm),
  replaced by a user mount at the same destination; ``--read-only`` adds ``ro`` to the
  filesystem ones; then the per-container ``/etc/resolv.conf``, ``/etc/hostname``,
  ``/etc/hosts`` binds, tmpfs mounts and binds, sorted by depth so parents come first.
- **linux**: namespaces (pid, ipc, uts, mount, network unless ``--network host``; cgroup only on
  cgroup v2; time only where the runtime takes it), the device cgroup rules, resources,
  masked/read-only paths, sysctls, the seccomp profile for the effective capabilities (none
  with ``seccomp=unconfined`` or a custom ``{}`` profile; ``--privileged`` drops only the
  default one, a custom profile stays), and the cgroups path ``<cgroup-parent>/<id>``.

Where we differ from dockerd we say so: ``HOME`` is added to the environment from the
container's passwd entry when unset (runc does this inside the container; doing it here keeps
runtimes that do not interchangeable).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dockyard.engine.container import Container, HostConfig
from dockyard.engine.users import ResolvedUser
from dockyard.errors import InvalidArgument
from dockyard.oci import runtime_spec as oci

__all__ = [
    "ALL_CAPABILITIES",
    "DEFAULT_CAPABILITIES",
    "DEFAULT_PATH",
    "HostFacts",
    "SpecInputs",
    "build_spec",
    "effective_capabilities",
    "merge_env",
    "parse_security_opts",
    "unavailable_capabilities",
]

OCI_VERSION = "1.0.2"
"""The ``ociVersion`` we write: the newest every runtime here accepts (runc 1.1.5 says 1.0.2-dev)."""

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

DEFAULT_CAPABILITIES = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)
"""moby ``daemon/pkg/oci/caps/defaults.go``, in its order."""

# include/uapi/linux/capability.h in bit order (0 .. 40 on Linux 6.x).
_CAP_NAMES = (
    "CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE "
    "NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO "
    "SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME "
    "SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG "
    "WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE"
)
ALL_CAPABILITIES = tuple(f"CAP_{name}" for name in _CAP_NAMES.split(" "))

_MASKED_PATHS = (
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
)
_READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

# (allow, type, major, minor): Docker's default device cgroup rules, all "rwm".
_DEVICE_RULES = (
    (False, None, None, None),
    (True, "c", 1, 5),  # /dev/zero
    (True, "c", 1, 3),  # /dev/null
    (True, "c", 1, 9),  # /dev/urandom
    (True, "c", 1, 8),  # /dev/random
    (True, "c", 5, 0),  # /dev/tty
    (True, "c", 5, 1),  # /dev/console
    (False, "c", 10, 229),  # /dev/fuse
)

DEFAULT_SHM_SIZE = 64 * 1024 * 1024
INIT_PATH_IN_CONTAINER = "/sbin/docker-init"


@dataclass(frozen=True, slots=True, kw_only=True)
class HostFacts:
    """What the spec depends on about this host and the chosen runtime (probed once by the engine)."""

    cgroup_version: int = 1
    time_namespace: bool = False  # the kernel has it *and* the runtime accepts it
    last_cap: int = 40
    thermal_throttle_paths: tuple[str, ...] = ()
    rlimit_hard: dict[str, int] | None = None  # RLIMIT_NOFILE -> current hard limit
    init_binary: str | None = None  # tini on the host, for --init
    cgroup_parent: str = "/dockyard"
    available_capabilities: tuple[str, ...] | None = None  # the daemon's bounding set


@dataclass(frozen=True, slots=True, kw_only=True)
class SpecInputs:
    """The per-start inputs: where things are, and what was resolved from the rootfs."""

    rootfs: str
    resolv_conf: str
    hostname_file: str
    hosts_file: str
    user: ResolvedUser
    netns: str | None  # the bind-mounted netns to join; None with --network host
    devices: tuple[tuple[oci.LinuxDevice, str], ...] = ()  # --device: (node, cgroup permissions)
    host_devices: tuple[oci.LinuxDevice, ...] = ()  # every host device, for --privileged only


@dataclass(frozen=True, slots=True, kw_only=True)
class SecurityOpts:
    """``--security-opt`` values, parsed."""

    seccomp: str = ""  # "" (the default profile), "unconfined", or a custom profile's JSON text
    no_new_privileges: bool = False
    systempaths_unconfined: bool = False
    apparmor: str = ""
    labels: tuple[str, ...] = ()


SeccompProvider = Callable[[list[str], str], "oci.LinuxSeccomp | None"]
"""(effective capabilities, custom profile JSON or "") -> the resolved OCI profile, or None for
a custom profile that disables seccomp (``seccomp_profile.provide``)."""


def parse_security_opts(values: tuple[str, ...]) -> SecurityOpts:
    """Parse ``HostConfig.SecurityOpt`` with Docker's spellings (``key=value`` or ``key:value``).

    Raises:
        InvalidArgument: Docker's "invalid --security-opt 2: ..." for an unknown key.
    """
    seccomp, nnp, systempaths, apparmor, labels = "", False, False, "", []
    for value in values:
        if value == "no-new-privileges":
            nnp = True
            continue
        key, sep, arg = value.partition("=")
        if not sep:
            key, sep, arg = value.partition(":")
        if not sep:
            raise InvalidArgument(f'invalid --security-opt 1: "{value}"')
        if key == "seccomp":
            seccomp = "" if arg == "builtin" else arg  # moby's name for the default profile
        elif key == "no-new-privileges":
            nnp = _parse_bool(arg, value)
        elif key == "systempaths":
            if arg != "unconfined":
                raise InvalidArgument(f'invalid --security-opt 2: "{value}"')
            systempaths = True
        elif key == "apparmor":
            apparmor = arg
        elif key == "label":
            labels.append(arg)
        else:
            raise InvalidArgument(f'invalid --security-opt 2: "{value}"')
    return SecurityOpts(
        seccomp=seccomp,
        no_new_privileges=nnp,
        systempaths_unconfined=systempaths,
        apparmor=apparmor,
        labels=tuple(labels),
    )


def _parse_bool(text: str, whole: str) -> bool:
    if text.lower() in ("1", "t", "true"):
        return True
    if text.lower() in ("0", "f", "false"):
        return False
    raise InvalidArgument(f'invalid --security-opt 2: "{whole}"')


def _normalize_caps(names: tuple[str, ...], known: tuple[str, ...]) -> list[str]:
    out = []
    for name in names:
        upper = name.upper()
        if upper == "ALL":
            out.append("ALL")
            continue
        cap = upper if upper.startswith("CAP_") else "CAP_" + upper
        if cap not in ALL_CAPABILITIES:
            raise InvalidArgument(f'unknown capability: "{cap}"')
        if cap in known:
            out.append(cap)  # known to us but not to this kernel: dropped, as runc does
    return out


def effective_capabilities(
    host_config: HostConfig, *, last_cap: int = 40, available: tuple[str, ...] | None = None
) -> list[str]:
    """The capability set a container gets: moby's ``caps.TweakCapabilities``.

    ``available`` is the daemon's own bounding set (None: every capability). A container can
    never hold a capability its daemon lacks (``capset`` would fail with EPERM); where root
    itself is restricted, as on hosts without CAP_SYS_RESOURCE, ``--privileged`` and ``ALL``
    mean "everything the daemon has".

    Raises:
        InvalidArgument: an unknown capability name, with Docker's message.
    """
    known = ALL_CAPABILITIES[: last_cap + 1]
    if available is not None:
        known = tuple(c for c in known if c in available)
    adds = _normalize_caps(host_config.cap_add, known)
    drops = _normalize_caps(host_config.cap_drop, known)
    if host_config.privileged:
        return list(known)
    if "ALL" in adds:
        return [c for c in known if c not in drops]
    if "ALL" in drops:
        return list(dict.fromkeys(adds))
    caps = [c for c in DEFAULT_CAPABILITIES if c not in drops and c in known]
    return list(dict.fromkeys(caps + [c for c in adds if c != "ALL"]))


def unavailable_capabilities(host_config: HostConfig, available: tuple[str, ...] | None) -> list[str]:
    """The capabilities ``--cap-add`` names that the daemon cannot grant (for a create warning)."""
    if available is None:
        return []
    wanted = _normalize_caps(host_config.cap_add, ALL_CAPABILITIES)
    return [c for c in wanted if c != "ALL" and c not in available]


def _mount(destination: str, kind: str, source: str, *options: str) -> oci.Mount:
    return oci.Mount(destination=destination, type=kind, source=source, options=list(options))


_NOSUID_NOEXEC_NODEV = ("nosuid", "noexec", "nodev")


def _default_mounts(hc: HostConfig, *, shm_size: int) -> list[oci.Mount]:
    # Privileged containers get a writable /sys and cgroupfs (moby withMounts).
    ro = () if hc.privileged else ("ro",)
    mounts = [
        _mount("/proc", "proc", "proc", *_NOSUID_NOEXEC_NODEV),
        _mount("/dev", "tmpfs", "tmpfs", "nosuid", "strictatime", "mode=755", "size=65536k"),
        _mount(
            "/dev/pts",
            "devpts",
            "devpts",
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
            "gid=5",
        ),
        _mount("/sys", "sysfs", "sysfs", *_NOSUID_NOEXEC_NODEV, *ro),
        _mount("/sys/fs/cgroup", "cgroup", "cgroup", *(ro or ("rw",)), *_NOSUID_NOEXEC_NODEV),
        _mount("/dev/mqueue", "mqueue", "mqueue", *_NOSUID_NOEXEC_NODEV),
    ]
    if hc.ipc_mode != "none":
        mounts.append(
            _mount("/dev/shm", "tmpfs", "shm", *_NOSUID_NOEXEC_NODEV, "mode=1777", f"size={shm_size}")
        )
    if hc.readonly_rootfs:
        # moby withMounts: read-only rootfs makes the default mounts read-only too, except the
        # ones that must stay writable for the container to work.
        keep_rw = {"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue"}
        for m in mounts:
            if m.destination not in keep_rw and "ro" not in m.options:
                m.options = [*m.options, "ro"]
    return mounts


def _user_mounts(container: Container, inputs: SpecInputs, facts: HostFacts) -> list[oci.Mount]:
    hc = container.host_config
    file_opts = ("rbind", "rprivate", "ro") if hc.readonly_rootfs else ("rbind", "rprivate")
    mounts = [
        _mount("/etc/resolv.conf", "bind", inputs.resolv_conf, *file_opts),
        _mount("/etc/hostname", "bind", inputs.hostname_file, *file_opts),
        _mount("/etc/hosts", "bind", inputs.hosts_file, *file_opts),
    ]
    for destination, options in sorted(hc.tmpfs.items()):
        opts = ["noexec", "nosuid", "nodev"] + [o for o in options.split(",") if o]
        mounts.append(_mount(destination, "tmpfs", "tmpfs", *opts))
    for bind in hc.binds:
        mounts.append(_bind_mount(bind))
    for spec in hc.mounts:
        if spec.type == "bind":
            access = "ro" if spec.read_only else "rw"
            mounts.append(
                _mount(spec.target, "bind", spec.source, "rbind", access, _propagation(spec.bind_options))
            )
        elif spec.type == "tmpfs":
            mounts.append(_tmpfs_mount(spec.target, spec.tmpfs_options))
        else:
            raise InvalidArgument(f"mount type {spec.type} is not supported yet")
    if hc.init and facts.init_binary:
        mounts.append(_mount(INIT_PATH_IN_CONTAINER, "bind", facts.init_binary, "bind", "ro"))
    # Parents before children (moby sortMounts); a stable sort keeps Docker's order otherwise.
    return sorted(mounts, key=lambda m: len([p for p in m.destination.split("/") if p]))


def _propagation(options: dict[str, object] | None) -> str:
    value = str((options or {}).get("Propagation", "") or "rprivate")
    if value not in ("private", "rprivate", "shared", "rshared", "slave", "rslave"):
        raise InvalidArgument(f"invalid propagation mode: {value}")
    return value


def _tmpfs_mount(target: str, options: dict[str, object] | None) -> oci.Mount:
    opts = ["noexec", "nosuid", "nodev"]
    size = (options or {}).get("SizeBytes")
    mode = (options or {}).get("Mode")
    if isinstance(size, int) and size > 0:
        opts.append(f"size={size}")
    if isinstance(mode, int) and mode > 0:
        opts.append(f"mode={mode:o}")
    return oci.Mount(destination=target, type="tmpfs", source="tmpfs", options=opts)


def _bind_mount(bind: str) -> oci.Mount:
    """``-v /host:/ctr[:ro|rw][,propagation]``: host paths only (named volumes come later)."""
    parts = bind.split(":")
    if len(parts) not in (2, 3) or not parts[0].startswith("/") or not parts[1].startswith("/"):
        raise InvalidArgument(f"invalid volume specification: '{bind}'")
    mode = parts[2].split(",") if len(parts) == 3 else []
    options = ["rbind", "ro" if "ro" in mode else "rw"]
    propagation = [m for m in mode if m not in ("ro", "rw", "z", "Z", "nocopy")]
    options.append(propagation[0] if propagation else "rprivate")
    return oci.Mount(destination=parts[1], type="bind", source=parts[0], options=options)


def _merge_mounts(defaults: list[oci.Mount], user: list[oci.Mount]) -> list[oci.Mount]:
    taken = {m.destination for m in user}
    dev_replaced = "/dev" in taken
    kept = [
        m
        for m in defaults
        if m.destination not in taken and not (dev_replaced and m.destination.startswith("/dev/"))
    ]
    return kept + user


def _env(container: Container, user: ResolvedUser) -> list[str]:
    """moby ``CreateDaemonEnvironment`` + ``ReplaceOrAppendEnvValues``."""
    base = [f"PATH={DEFAULT_PATH}", f"HOSTNAME={container.config.hostname}"]
    if container.config.tty:
        base.append("TERM=xterm")
    env = merge_env(base, list(container.config.env))
    if not any(e.startswith("HOME=") for e in env):
        env.append(f"HOME={user.home}")
    return env


def merge_env(defaults: list[str], overrides: list[str]) -> list[str]:
    """A later ``KEY=v`` replaces ``KEY`` in place; a bare ``KEY`` removes it (Docker's rule)."""
    out = list(defaults)
    for value in overrides:
        key, sep, _ = value.partition("=")
        index = next((i for i, e in enumerate(out) if e.partition("=")[0] == key), None)
        if not sep:
            if index is not None:
                del out[index]
            continue
        if index is None:
            out.append(value)
        else:
            out[index] = value
    return out


def _args(container: Container, facts: HostFacts) -> list[str]:
    argv = [container.path, *container.args] if container.path else []
    if not argv:
        raise InvalidArgument("No command specified")
    if container.host_config.init:
        return [INIT_PATH_IN_CONTAINER, "--", *argv]
    return argv


def _rlimits(hc: HostConfig, facts: HostFacts) -> list[oci.POSIXRlimit]:
    limits = []
    for ulimit in hc.ulimits:
        kind = "RLIMIT_" + ulimit.name.upper()
        hard, soft = ulimit.hard, ulimit.soft
        ceiling = (facts.rlimit_hard or {}).get(kind)
        if ceiling is not None and ceiling >= 0:
            # An unprivileged-for-this-resource daemon (no CAP_SYS_RESOURCE here) cannot raise a
            # hard limit; asking would fail the container at start.
            hard, soft = min(hard, ceiling), min(soft, ceiling)
        limits.append(oci.POSIXRlimit(type=kind, hard=hard, soft=min(soft, hard)))
    return limits


def _process(
    container: Container, inputs: SpecInputs, facts: HostFacts, caps: list[str], sec: SecurityOpts
) -> oci.Process:
    user = inputs.user
    process = oci.Process(
        terminal=container.config.tty or None,
        user=oci.User(uid=user.uid, gid=user.gid, additional_gids=list(user.additional_gids)),
        args=_args(container, facts),
        env=_env(container, user),
        cwd=container.config.working_dir or "/",
        capabilities=oci.LinuxCapabilities(bounding=list(caps), effective=list(caps), permitted=list(caps)),
        rlimits=_rlimits(container.host_config, facts),
        no_new_privileges=sec.no_new_privileges or None,
        oom_score_adj=container.host_config.oom_score_adj,
    )
    height, width = container.host_config.console_size
    if container.config.tty and height and width:
        process.console_size = oci.ConsoleSize(height=height, width=width)
    return process


def _namespaces(hc: HostConfig, inputs: SpecInputs, facts: HostFacts) -> list[oci.LinuxNamespace]:
    namespaces = [oci.LinuxNamespace(type="mount")]
    if hc.network_mode != "host":
        namespaces.append(oci.LinuxNamespace(type="network", path=inputs.netns))
    if hc.uts_mode != "host":
        namespaces.append(oci.LinuxNamespace(type="uts"))
    if hc.pid_mode != "host":
        namespaces.append(oci.LinuxNamespace(type="pid"))
    if hc.ipc_mode != "host":
        namespaces.append(oci.LinuxNamespace(type="ipc"))
    cgroupns = hc.cgroupns_mode or ("private" if facts.cgroup_version == 2 else "host")
    if cgroupns == "private":
        namespaces.append(oci.LinuxNamespace(type="cgroup"))
    if facts.time_namespace:
        namespaces.append(oci.LinuxNamespace(type="time"))
    return namespaces


def _device_rules(
    hc: HostConfig, devices: tuple[tuple[oci.LinuxDevice, str], ...]
) -> list[oci.LinuxDeviceCgroup]:
    if hc.privileged:
        return [oci.LinuxDeviceCgroup(allow=True, access="rwm")]
    rules = [
        oci.LinuxDeviceCgroup(allow=allow, type=kind, major=major, minor=minor, access="rwm")
        for allow, kind, major, minor in _DEVICE_RULES
    ]
    for device, permissions in devices:
        rules.append(
            oci.LinuxDeviceCgroup(
                allow=True, type=device.type, major=device.major, minor=device.minor, access=permissions
            )
        )
    rules.extend(_parse_device_rule(rule) for rule in hc.device_cgroup_rules)
    return rules


def _parse_device_rule(rule: str) -> oci.LinuxDeviceCgroup:
    """``--device-cgroup-rule 'c 1:3 rwm'`` (type a/b/c, major:minor with ``*``, access)."""
    try:
        kind, numbers, access = rule.split()
        major_text, minor_text = numbers.split(":")
        if kind not in ("a", "b", "c") or not access or set(access) - set("rwm"):
            raise ValueError(rule)
        major = None if major_text == "*" else int(major_text)
        minor = None if minor_text == "*" else int(minor_text)
    except ValueError:
        raise InvalidArgument(f"invalid device cgroup format '{rule}'") from None
    return oci.LinuxDeviceCgroup(allow=True, type=kind, major=major, minor=minor, access=access)


def _memory(hc: HostConfig) -> oci.LinuxMemory:
    memory = oci.LinuxMemory(disable_oom_killer=bool(hc.oom_kill_disable))
    if hc.memory > 0:
        memory.limit = hc.memory
    if hc.memory_reservation > 0:
        memory.reservation = hc.memory_reservation
    if hc.memory_swap > 0 or hc.memory_swap == -1:
        memory.swap = hc.memory_swap
    if hc.memory_swappiness is not None and hc.memory_swappiness >= 0:
        memory.swappiness = hc.memory_swappiness
    return memory


def _cpu(hc: HostConfig) -> oci.LinuxCPU | None:
    cpu = oci.LinuxCPU()
    if hc.cpu_shares > 0:
        cpu.shares = hc.cpu_shares
    if hc.nano_cpus > 0:
        # moby getCPUResources: a 100 ms period and the matching quota.
        cpu.period = 100_000
        cpu.quota = hc.nano_cpus * 100_000 // 1_000_000_000
    else:
        if hc.cpu_period > 0:
            cpu.period = hc.cpu_period
        if hc.cpu_quota != 0:
            cpu.quota = hc.cpu_quota
    if hc.cpuset_cpus:
        cpu.cpus = hc.cpuset_cpus
    if hc.cpuset_mems:
        cpu.mems = hc.cpuset_mems
    if hc.cpu_realtime_period > 0:
        cpu.realtime_period = hc.cpu_realtime_period
    if hc.cpu_realtime_runtime > 0:
        cpu.realtime_runtime = hc.cpu_realtime_runtime
    return cpu if cpu.to_json() else None


def _resources(hc: HostConfig, inputs_devices: tuple[tuple[oci.LinuxDevice, str], ...]) -> oci.LinuxResources:
    resources = oci.LinuxResources(
        devices=_device_rules(hc, inputs_devices), memory=_memory(hc), cpu=_cpu(hc)
    )
    if hc.pids_limit is not None and hc.pids_limit != 0:
        resources.pids = oci.LinuxPids(limit=hc.pids_limit if hc.pids_limit > 0 else -1)
    if hc.blkio_weight > 0:
        resources.block_io = oci.LinuxBlockIO(weight=hc.blkio_weight)
    return resources


def _sysctls(hc: HostConfig) -> dict[str, str]:
    sysctls = {}
    if hc.network_mode != "host" and not hc.network_mode.startswith("container:"):
        # moby withCommonOptions: ping and low ports for unprivileged users, in a private netns only.
        sysctls["net.ipv4.ping_group_range"] = "0 2147483647"
        sysctls["net.ipv4.ip_unprivileged_port_start"] = "0"
    sysctls.update(hc.sysctls)
    return sysctls


def _masked_and_readonly(hc: HostConfig, facts: HostFacts, sec: SecurityOpts) -> tuple[list[str], list[str]]:
    if hc.privileged or sec.systempaths_unconfined:
        return [], []
    masked = (
        list(hc.masked_paths)
        if hc.masked_paths is not None
        else [*_MASKED_PATHS, *facts.thermal_throttle_paths]
    )
    readonly = list(hc.readonly_paths) if hc.readonly_paths is not None else list(_READONLY_PATHS)
    return masked, readonly


def _linux(
    container: Container,
    inputs: SpecInputs,
    facts: HostFacts,
    caps: list[str],
    sec: SecurityOpts,
    seccomp: SeccompProvider,
) -> oci.Linux:
    hc = container.host_config
    masked, readonly = _masked_and_readonly(hc, facts, sec)
    devices = [d for d, _ in inputs.devices] + (list(inputs.host_devices) if hc.privileged else [])
    parent = (hc.cgroup_parent or facts.cgroup_parent).rstrip("/")
    linux = oci.Linux(
        namespaces=_namespaces(hc, inputs, facts),
        resources=_resources(hc, inputs.devices),
        cgroups_path=f"{parent}/{container.id}",
        devices=devices,
        masked_paths=masked,
        readonly_paths=readonly,
        sysctl=_sysctls(hc),
    )
    if _wants_seccomp(hc, sec):
        linux.seccomp = seccomp(caps, sec.seccomp)
    return linux


def _wants_seccomp(hc: HostConfig, sec: SecurityOpts) -> bool:
    """moby ``WithSeccomp``: none when unconfined; a privileged container drops the *default*
    profile only, and keeps a custom one (moby #47499, since Docker 27)."""
    if sec.seccomp == "unconfined":
        return False
    return not (hc.privileged and not sec.seccomp)


def build_spec(
    container: Container, *, inputs: SpecInputs, facts: HostFacts, seccomp: SeccompProvider
) -> oci.Spec:
    """The ``config.json`` for one start of ``container``, with Docker's defaults.

    ``seccomp`` resolves Docker's profile template for the effective capabilities (or a custom
    profile given with ``--security-opt seccomp=<json>``; None from it leaves the filter out); it
    is not called for ``seccomp=unconfined``, nor for privileged containers without a custom
    profile.

    Raises:
        InvalidArgument: a setting Docker would refuse (unknown capability, bad bind, bad device
            rule, no command), with Docker's wording.
    """
    hc = container.host_config
    sec = parse_security_opts(hc.security_opt)
    caps = effective_capabilities(hc, last_cap=facts.last_cap, available=facts.available_capabilities)
    user_mounts = _user_mounts(container, inputs, facts)
    shm = hc.shm_size if hc.shm_size > 0 else DEFAULT_SHM_SIZE
    spec = oci.Spec(
        oci_version=OCI_VERSION,
        process=_process(container, inputs, facts, caps, sec),
        root=oci.Root(path=inputs.rootfs, readonly=hc.readonly_rootfs or None),
        hostname=container.config.hostname if hc.uts_mode != "host" else None,
        domainname=container.config.domainname or None,
        mounts=_merge_mounts(_default_mounts(hc, shm_size=shm), user_mounts),
        annotations=dict(hc.annotations),
        linux=_linux(container, inputs, facts, caps, sec, seccomp),
    )
    return spec
