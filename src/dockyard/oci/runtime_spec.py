"""The OCI runtime spec (``config.json``, runtime-spec 1.x) as Python objects.

The engine builds a ``Spec`` and writes it into a bundle; ``dockyard-runtime`` reads it back at
every container start. Because of the second use, this module cannot afford ``dataclasses``
(13 ms of imports on the project machines) or ``typing``: each class is a plain ``__slots__``
class whose fields are declared once in a ``_FIELDS`` table that drives construction,
validation, ``from_json`` and ``to_json``. The class-level annotations are for mypy only (with
postponed evaluation they cost nothing at run time).

Names are snake_case here and camelCase in JSON; the table holds both. Parsing is strict about
types (``config.json`` may come from anywhere, e.g. ``runc spec`` edited by hand) and ignores
unknown fields, as the spec asks of runtimes. Serialising omits ``None`` and empty collections,
which is how runc, Docker and containerd write their specs.

Validation errors are ``SpecError`` (an ``InvalidArgument``) naming the JSON path, e.g.
``config.json: process.user.uid: expected an integer``.
"""

from __future__ import annotations

from dockyard.errors import InvalidArgument

TYPE_CHECKING = False  # mypy treats this name as true; importing typing would cost the runtime
if TYPE_CHECKING:
    from collections.abc import Callable

    _Parser = Callable[[object, str], object]

__all__ = [
    "NAMESPACE_TYPES",
    "OCI_VERSION",
    "ConsoleSize",
    "Hook",
    "Hooks",
    "IDMapping",
    "Linux",
    "LinuxBlockIO",
    "LinuxCPU",
    "LinuxCapabilities",
    "LinuxDevice",
    "LinuxDeviceCgroup",
    "LinuxHugepageLimit",
    "LinuxMemory",
    "LinuxNamespace",
    "LinuxNetwork",
    "LinuxPersonality",
    "LinuxPids",
    "LinuxResources",
    "LinuxSeccomp",
    "LinuxSeccompArg",
    "LinuxSyscall",
    "LinuxThrottleDevice",
    "LinuxWeightDevice",
    "Mount",
    "POSIXRlimit",
    "Process",
    "Root",
    "Spec",
    "SpecError",
    "User",
    "load_spec",
]

OCI_VERSION = "1.2.0"
NAMESPACE_TYPES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time")


class SpecError(InvalidArgument):
    """``config.json`` is malformed: wrong JSON type, a missing required field, a bad value."""


# --- field parsers: (value, json path) -> value -----------------------------------------------


def _fail(path: str, what: str) -> SpecError:
    return SpecError(f"config.json: {path}: {what}")


def _str(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise _fail(path, "expected a string")
    return value


def _int(value: object, path: str) -> int:
    # JSON has one number type; a float with an integral value (1e3) is accepted, bools are not.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(path, "expected an integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise _fail(path, "expected an integer")
        return int(value)
    return value


def _bool(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(path, "expected true or false")
    return value


def _str_list(value: object, path: str) -> list[str]:
    if not isinstance(value, list):
        raise _fail(path, "expected a list")
    return [_str(v, f"{path}[{i}]") for i, v in enumerate(value)]


def _int_list(value: object, path: str) -> list[int]:
    if not isinstance(value, list):
        raise _fail(path, "expected a list")
    return [_int(v, f"{path}[{i}]") for i, v in enumerate(value)]


def _str_map(value: object, path: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _fail(path, "expected an object")
    return {_str(k, path): _str(v, f"{path}.{k}") for k, v in value.items()}


def _map(value: object, path: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise _fail(path, "expected an object")
    return dict(value)


def _obj(cls: type[_Obj]) -> _Parser:
    def parse(value: object, path: str) -> object:
        return cls.from_json(value, path)

    return parse


def _objs(cls: type[_Obj]) -> _Parser:
    def parse(value: object, path: str) -> object:
        if not isinstance(value, list):
            raise _fail(path, "expected a list")
        return [cls.from_json(v, f"{path}[{i}]") for i, v in enumerate(value)]

    parse.is_list = True  # type: ignore[attr-defined]
    return parse


def _map_list(value: object, path: str) -> list[dict[str, object]]:
    if not isinstance(value, list):
        raise _fail(path, "expected a list")
    return [_map(v, f"{path}[{i}]") for i, v in enumerate(value)]


class _Obj:
    """Base of every spec class: generic keyword construction, parsing and serialising.

    ``_FIELDS`` rows are ``(attribute, json name, parser, required)``. Absent optional fields
    are ``None``, or an empty list/dict for list/map fields (``_EMPTY``).
    """

    __slots__ = ()
    _FIELDS: tuple[tuple[str, str, _Parser, bool], ...] = ()
    _LISTS: frozenset[str] = frozenset()
    _MAPS: frozenset[str] = frozenset()

    def __init__(self, **values: object) -> None:
        for name, _json, _parse, _required in self._FIELDS:
            if name in values:
                value = values.pop(name)
            elif name in self._LISTS:
                value = []
            elif name in self._MAPS:
                value = {}
            else:
                value = None
            object.__setattr__(self, name, value)
        if values:
            raise TypeError(f"{type(self).__name__} has no field(s) {', '.join(sorted(values))}")

    @classmethod
    def from_json(cls, data: object, path: str = "") -> _Obj:
        """Build from parsed JSON.

        Raises:
            SpecError: a field has the wrong type or a required one is missing.
        """
        where = path or cls.__name__.lower()
        if not isinstance(data, dict):
            raise _fail(where, "expected an object")
        values: dict[str, object] = {}
        for name, json_name, parse, required in cls._FIELDS:
            child = f"{path}.{json_name}" if path else json_name
            raw = data.get(json_name)
            if raw is None:
                if required:
                    raise _fail(child, "required")
                continue
            values[name] = parse(raw, child)
        return cls(**values)

    def to_json(self) -> dict[str, object]:
        """The JSON object, omitting ``None`` and empty collections of optional fields."""
        out: dict[str, object] = {}
        for name, json_name, _parse, required in self._FIELDS:
            value = getattr(self, name)
            if value is None or (not required and value in ([], {})):
                continue
            out[json_name] = _dump(value)
        return out

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, f[0]) == getattr(other, f[0]) for f in self._FIELDS)

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{f[0]}={getattr(self, f[0])!r}"
            for f in self._FIELDS
            if getattr(self, f[0]) not in (None, [], {})
        )
        return f"{type(self).__name__}({shown})"


def _dump(value: object) -> object:
    if isinstance(value, _Obj):
        return value.to_json()
    if isinstance(value, list):
        return [_dump(v) for v in value]
    return value


def _fields(*rows: tuple[str, str, _Parser, bool]) -> tuple[tuple[str, str, _Parser, bool], ...]:
    return rows


def _setup(cls: type[_Obj]) -> None:
    """Record which absent fields default to ``[]`` and which to ``{}``."""
    lists = (_str_list, _int_list, _map_list)
    cls._LISTS = frozenset(r[0] for r in cls._FIELDS if r[2] in lists or getattr(r[2], "is_list", False))
    cls._MAPS = frozenset(r[0] for r in cls._FIELDS if r[2] in (_str_map, _map))


# --- the classes --------------------------------------------------------------------------------


class IDMapping(_Obj):
    """One line of a uid/gid map: ``size`` ids from ``container_id`` map to ``host_id``."""

    __slots__ = ("container_id", "host_id", "size")
    container_id: int
    host_id: int
    size: int
    _FIELDS = _fields(
        ("container_id", "containerID", _int, True),
        ("host_id", "hostID", _int, True),
        ("size", "size", _int, True),
    )


class ConsoleSize(_Obj):
    """The initial size of the terminal, in characters."""

    __slots__ = ("height", "width")
    height: int
    width: int
    _FIELDS = _fields(("height", "height", _int, True), ("width", "width", _int, True))


class User(_Obj):
    """The identity the process runs as (already resolved to numbers by the engine)."""

    __slots__ = ("additional_gids", "gid", "uid", "umask", "username")
    uid: int
    gid: int
    umask: int | None
    additional_gids: list[int]
    username: str | None
    _FIELDS = _fields(
        ("uid", "uid", _int, True),
        ("gid", "gid", _int, True),
        ("umask", "umask", _int, False),
        ("additional_gids", "additionalGids", _int_list, False),
        ("username", "username", _str, False),
    )


class LinuxCapabilities(_Obj):
    """The five capability sets, as ``CAP_*`` names."""

    __slots__ = ("ambient", "bounding", "effective", "inheritable", "permitted")
    bounding: list[str]
    effective: list[str]
    inheritable: list[str]
    permitted: list[str]
    ambient: list[str]
    _FIELDS = _fields(
        ("bounding", "bounding", _str_list, False),
        ("effective", "effective", _str_list, False),
        ("inheritable", "inheritable", _str_list, False),
        ("permitted", "permitted", _str_list, False),
        ("ambient", "ambient", _str_list, False),
    )


class POSIXRlimit(_Obj):
    """One ``setrlimit`` call: ``type`` is a name such as ``RLIMIT_NOFILE``."""

    __slots__ = ("hard", "soft", "type")
    type: str
    hard: int
    soft: int
    _FIELDS = _fields(
        ("type", "type", _str, True), ("hard", "hard", _int, True), ("soft", "soft", _int, True)
    )


class Process(_Obj):
    """The container process: what to run, as whom, with which privileges and limits."""

    __slots__ = (
        "apparmor_profile",
        "args",
        "capabilities",
        "console_size",
        "cwd",
        "env",
        "no_new_privileges",
        "oom_score_adj",
        "rlimits",
        "selinux_label",
        "terminal",
        "user",
    )
    terminal: bool | None
    console_size: ConsoleSize | None
    user: User
    args: list[str]
    env: list[str]
    cwd: str
    capabilities: LinuxCapabilities | None
    rlimits: list[POSIXRlimit]
    no_new_privileges: bool | None
    apparmor_profile: str | None
    oom_score_adj: int | None
    selinux_label: str | None
    _FIELDS = _fields(
        ("terminal", "terminal", _bool, False),
        ("console_size", "consoleSize", _obj(ConsoleSize), False),
        ("user", "user", _obj(User), True),
        ("args", "args", _str_list, False),
        ("env", "env", _str_list, False),
        ("cwd", "cwd", _str, True),
        ("capabilities", "capabilities", _obj(LinuxCapabilities), False),
        ("rlimits", "rlimits", _objs(POSIXRlimit), False),
        ("no_new_privileges", "noNewPrivileges", _bool, False),
        ("apparmor_profile", "apparmorProfile", _str, False),
        ("oom_score_adj", "oomScoreAdj", _int, False),
        ("selinux_label", "selinuxLabel", _str, False),
    )


class Root(_Obj):
    """The container's root filesystem, relative to the bundle unless absolute."""

    __slots__ = ("path", "readonly")
    path: str
    readonly: bool | None
    _FIELDS = _fields(("path", "path", _str, True), ("readonly", "readonly", _bool, False))


class Mount(_Obj):
    """One mount, made in order inside the container's mount namespace."""

    __slots__ = ("destination", "gid_mappings", "options", "source", "type", "uid_mappings")
    destination: str
    type: str | None
    source: str | None
    options: list[str]
    uid_mappings: list[IDMapping]
    gid_mappings: list[IDMapping]
    _FIELDS = _fields(
        ("destination", "destination", _str, True),
        ("type", "type", _str, False),
        ("source", "source", _str, False),
        ("options", "options", _str_list, False),
        ("uid_mappings", "uidMappings", _objs(IDMapping), False),
        ("gid_mappings", "gidMappings", _objs(IDMapping), False),
    )


class Hook(_Obj):
    """A program run at a point of the container's lifecycle, with its state on stdin."""

    __slots__ = ("args", "env", "path", "timeout")
    path: str
    args: list[str]
    env: list[str]
    timeout: int | None
    _FIELDS = _fields(
        ("path", "path", _str, True),
        ("args", "args", _str_list, False),
        ("env", "env", _str_list, False),
        ("timeout", "timeout", _int, False),
    )


class Hooks(_Obj):
    """Hooks by lifecycle point (``prestart`` is deprecated but still run, as runc does)."""

    __slots__ = (
        "create_container",
        "create_runtime",
        "poststart",
        "poststop",
        "prestart",
        "start_container",
    )
    prestart: list[Hook]
    create_runtime: list[Hook]
    create_container: list[Hook]
    start_container: list[Hook]
    poststart: list[Hook]
    poststop: list[Hook]
    _FIELDS = _fields(
        ("prestart", "prestart", _objs(Hook), False),
        ("create_runtime", "createRuntime", _objs(Hook), False),
        ("create_container", "createContainer", _objs(Hook), False),
        ("start_container", "startContainer", _objs(Hook), False),
        ("poststart", "poststart", _objs(Hook), False),
        ("poststop", "poststop", _objs(Hook), False),
    )


class LinuxNamespace(_Obj):
    """A namespace to create (no ``path``) or to join (``path`` to an nsfs file)."""

    __slots__ = ("path", "type")
    type: str
    path: str | None
    _FIELDS = _fields(("type", "type", _str, True), ("path", "path", _str, False))


class LinuxDevice(_Obj):
    """A device node the runtime creates in the container's ``/dev``."""

    __slots__ = ("file_mode", "gid", "major", "minor", "path", "type", "uid")
    path: str
    type: str
    major: int | None
    minor: int | None
    file_mode: int | None
    uid: int | None
    gid: int | None
    _FIELDS = _fields(
        ("path", "path", _str, True),
        ("type", "type", _str, True),
        ("major", "major", _int, False),
        ("minor", "minor", _int, False),
        ("file_mode", "fileMode", _int, False),
        ("uid", "uid", _int, False),
        ("gid", "gid", _int, False),
    )


class LinuxDeviceCgroup(_Obj):
    """A device cgroup rule: allow or deny ``access`` (rwm) to type/major/minor (None = all)."""

    __slots__ = ("access", "allow", "major", "minor", "type")
    allow: bool
    type: str | None
    major: int | None
    minor: int | None
    access: str | None
    _FIELDS = _fields(
        ("allow", "allow", _bool, True),
        ("type", "type", _str, False),
        ("major", "major", _int, False),
        ("minor", "minor", _int, False),
        ("access", "access", _str, False),
    )


class LinuxMemory(_Obj):
    """Memory limits in bytes; ``swap`` is memory+swap, as in cgroup v1's memsw."""

    __slots__ = (
        "check_before_update",
        "disable_oom_killer",
        "kernel",
        "kernel_tcp",
        "limit",
        "reservation",
        "swap",
        "swappiness",
        "use_hierarchy",
    )
    limit: int | None
    reservation: int | None
    swap: int | None
    kernel: int | None
    kernel_tcp: int | None
    swappiness: int | None
    disable_oom_killer: bool | None
    use_hierarchy: bool | None
    check_before_update: bool | None
    _FIELDS = _fields(
        ("limit", "limit", _int, False),
        ("reservation", "reservation", _int, False),
        ("swap", "swap", _int, False),
        ("kernel", "kernel", _int, False),
        ("kernel_tcp", "kernelTCP", _int, False),
        ("swappiness", "swappiness", _int, False),
        ("disable_oom_killer", "disableOOMKiller", _bool, False),
        ("use_hierarchy", "useHierarchy", _bool, False),
        ("check_before_update", "checkBeforeUpdate", _bool, False),
    )


class LinuxCPU(_Obj):
    """CPU shares (or weight), CFS quota and period in microseconds, cpusets."""

    __slots__ = (
        "burst",
        "cpus",
        "idle",
        "mems",
        "period",
        "quota",
        "realtime_period",
        "realtime_runtime",
        "shares",
    )
    shares: int | None
    quota: int | None
    burst: int | None
    period: int | None
    realtime_runtime: int | None
    realtime_period: int | None
    cpus: str | None
    mems: str | None
    idle: int | None
    _FIELDS = _fields(
        ("shares", "shares", _int, False),
        ("quota", "quota", _int, False),
        ("burst", "burst", _int, False),
        ("period", "period", _int, False),
        ("realtime_runtime", "realtimeRuntime", _int, False),
        ("realtime_period", "realtimePeriod", _int, False),
        ("cpus", "cpus", _str, False),
        ("mems", "mems", _str, False),
        ("idle", "idle", _int, False),
    )


class LinuxPids(_Obj):
    """The maximum number of tasks in the cgroup (-1 or 0 for no limit)."""

    __slots__ = ("limit",)
    limit: int | None
    _FIELDS = _fields(("limit", "limit", _int, False))


class LinuxWeightDevice(_Obj):
    """A per-device block IO weight."""

    __slots__ = ("leaf_weight", "major", "minor", "weight")
    major: int
    minor: int
    weight: int | None
    leaf_weight: int | None
    _FIELDS = _fields(
        ("major", "major", _int, True),
        ("minor", "minor", _int, True),
        ("weight", "weight", _int, False),
        ("leaf_weight", "leafWeight", _int, False),
    )


class LinuxThrottleDevice(_Obj):
    """A per-device block IO rate limit (bytes or operations per second)."""

    __slots__ = ("major", "minor", "rate")
    major: int
    minor: int
    rate: int
    _FIELDS = _fields(
        ("major", "major", _int, True), ("minor", "minor", _int, True), ("rate", "rate", _int, True)
    )


class LinuxBlockIO(_Obj):
    """Block IO weight and throttling."""

    __slots__ = (
        "leaf_weight",
        "throttle_read_bps_device",
        "throttle_read_iops_device",
        "throttle_write_bps_device",
        "throttle_write_iops_device",
        "weight",
        "weight_device",
    )
    weight: int | None
    leaf_weight: int | None
    weight_device: list[LinuxWeightDevice]
    throttle_read_bps_device: list[LinuxThrottleDevice]
    throttle_write_bps_device: list[LinuxThrottleDevice]
    throttle_read_iops_device: list[LinuxThrottleDevice]
    throttle_write_iops_device: list[LinuxThrottleDevice]
    _FIELDS = _fields(
        ("weight", "weight", _int, False),
        ("leaf_weight", "leafWeight", _int, False),
        ("weight_device", "weightDevice", _objs(LinuxWeightDevice), False),
        ("throttle_read_bps_device", "throttleReadBpsDevice", _objs(LinuxThrottleDevice), False),
        ("throttle_write_bps_device", "throttleWriteBpsDevice", _objs(LinuxThrottleDevice), False),
        ("throttle_read_iops_device", "throttleReadIOPSDevice", _objs(LinuxThrottleDevice), False),
        ("throttle_write_iops_device", "throttleWriteIOPSDevice", _objs(LinuxThrottleDevice), False),
    )


class LinuxHugepageLimit(_Obj):
    """A hugetlb limit for one page size (``2MB``, ``1GB``)."""

    __slots__ = ("limit", "page_size")
    page_size: str
    limit: int
    _FIELDS = _fields(("page_size", "pageSize", _str, True), ("limit", "limit", _int, True))


class LinuxNetwork(_Obj):
    """net_cls class id and net_prio priorities (cgroup v1 only)."""

    __slots__ = ("class_id", "priorities")
    class_id: int | None
    priorities: list[dict[str, object]]
    _FIELDS = _fields(("class_id", "classID", _int, False), ("priorities", "priorities", _map_list, False))


class LinuxResources(_Obj):
    """Everything the runtime writes into the container's cgroup."""

    __slots__ = ("block_io", "cpu", "devices", "hugepage_limits", "memory", "network", "pids", "unified")
    devices: list[LinuxDeviceCgroup]
    memory: LinuxMemory | None
    cpu: LinuxCPU | None
    pids: LinuxPids | None
    block_io: LinuxBlockIO | None
    hugepage_limits: list[LinuxHugepageLimit]
    network: LinuxNetwork | None
    unified: dict[str, str]
    _FIELDS = _fields(
        ("devices", "devices", _objs(LinuxDeviceCgroup), False),
        ("memory", "memory", _obj(LinuxMemory), False),
        ("cpu", "cpu", _obj(LinuxCPU), False),
        ("pids", "pids", _obj(LinuxPids), False),
        ("block_io", "blockIO", _obj(LinuxBlockIO), False),
        ("hugepage_limits", "hugepageLimits", _objs(LinuxHugepageLimit), False),
        ("network", "network", _obj(LinuxNetwork), False),
        ("unified", "unified", _str_map, False),
    )


class LinuxSeccompArg(_Obj):
    """A condition on one syscall argument: ``op`` is ``SCMP_CMP_EQ``, ``SCMP_CMP_MASKED_EQ``, ..."""

    __slots__ = ("index", "op", "value", "value_two")
    index: int
    value: int
    value_two: int | None
    op: str
    _FIELDS = _fields(
        ("index", "index", _int, True),
        ("value", "value", _int, True),
        ("value_two", "valueTwo", _int, False),
        ("op", "op", _str, True),
    )


class LinuxSyscall(_Obj):
    """A seccomp rule: ``action`` for the named syscalls when every ``args`` condition holds."""

    __slots__ = ("action", "args", "errno_ret", "names")
    names: list[str]
    action: str
    errno_ret: int | None
    args: list[LinuxSeccompArg]
    _FIELDS = _fields(
        ("names", "names", _str_list, True),
        ("action", "action", _str, True),
        ("errno_ret", "errnoRet", _int, False),
        ("args", "args", _objs(LinuxSeccompArg), False),
    )


class LinuxSeccomp(_Obj):
    """A seccomp profile in OCI form (already resolved from Docker's template by the engine)."""

    __slots__ = (
        "architectures",
        "default_action",
        "default_errno_ret",
        "flags",
        "listener_metadata",
        "listener_path",
        "syscalls",
    )
    default_action: str
    default_errno_ret: int | None
    architectures: list[str]
    flags: list[str]
    listener_path: str | None
    listener_metadata: str | None
    syscalls: list[LinuxSyscall]
    _FIELDS = _fields(
        ("default_action", "defaultAction", _str, True),
        ("default_errno_ret", "defaultErrnoRet", _int, False),
        ("architectures", "architectures", _str_list, False),
        ("flags", "flags", _str_list, False),
        ("listener_path", "listenerPath", _str, False),
        ("listener_metadata", "listenerMetadata", _str, False),
        ("syscalls", "syscalls", _objs(LinuxSyscall), False),
    )


class LinuxPersonality(_Obj):
    """The execution domain (``LINUX`` or ``LINUX32``)."""

    __slots__ = ("domain", "flags")
    domain: str
    flags: list[str]
    _FIELDS = _fields(("domain", "domain", _str, True), ("flags", "flags", _str_list, False))


class Linux(_Obj):
    """The Linux-specific part: namespaces, id maps, cgroups, devices, seccomp, paths."""

    __slots__ = (
        "cgroups_path",
        "devices",
        "gid_mappings",
        "masked_paths",
        "mount_label",
        "namespaces",
        "personality",
        "readonly_paths",
        "resources",
        "rootfs_propagation",
        "seccomp",
        "sysctl",
        "time_offsets",
        "uid_mappings",
    )
    uid_mappings: list[IDMapping]
    gid_mappings: list[IDMapping]
    time_offsets: dict[str, object]
    sysctl: dict[str, str]
    resources: LinuxResources | None
    cgroups_path: str | None
    namespaces: list[LinuxNamespace]
    devices: list[LinuxDevice]
    seccomp: LinuxSeccomp | None
    rootfs_propagation: str | None
    masked_paths: list[str]
    readonly_paths: list[str]
    mount_label: str | None
    personality: LinuxPersonality | None
    _FIELDS = _fields(
        ("uid_mappings", "uidMappings", _objs(IDMapping), False),
        ("gid_mappings", "gidMappings", _objs(IDMapping), False),
        ("time_offsets", "timeOffsets", _map, False),
        ("sysctl", "sysctl", _str_map, False),
        ("resources", "resources", _obj(LinuxResources), False),
        ("cgroups_path", "cgroupsPath", _str, False),
        ("namespaces", "namespaces", _objs(LinuxNamespace), False),
        ("devices", "devices", _objs(LinuxDevice), False),
        ("seccomp", "seccomp", _obj(LinuxSeccomp), False),
        ("rootfs_propagation", "rootfsPropagation", _str, False),
        ("masked_paths", "maskedPaths", _str_list, False),
        ("readonly_paths", "readonlyPaths", _str_list, False),
        ("mount_label", "mountLabel", _str, False),
        ("personality", "personality", _obj(LinuxPersonality), False),
    )


class Spec(_Obj):
    """A whole ``config.json``."""

    __slots__ = (
        "annotations",
        "domainname",
        "hooks",
        "hostname",
        "linux",
        "mounts",
        "oci_version",
        "process",
        "root",
    )
    oci_version: str
    process: Process | None
    root: Root | None
    hostname: str | None
    domainname: str | None
    mounts: list[Mount]
    hooks: Hooks | None
    annotations: dict[str, str]
    linux: Linux | None
    _FIELDS = _fields(
        ("oci_version", "ociVersion", _str, True),
        ("process", "process", _obj(Process), False),
        ("root", "root", _obj(Root), False),
        ("hostname", "hostname", _str, False),
        ("domainname", "domainname", _str, False),
        ("mounts", "mounts", _objs(Mount), False),
        ("hooks", "hooks", _obj(Hooks), False),
        ("annotations", "annotations", _str_map, False),
        ("linux", "linux", _obj(Linux), False),
    )


for _cls in list(globals().values()):
    if isinstance(_cls, type) and issubclass(_cls, _Obj) and _cls is not _Obj:
        _setup(_cls)
del _cls


def load_spec(data: object) -> Spec:
    """Parse a ``config.json`` document (already decoded from JSON).

    Raises:
        SpecError: the document does not follow the runtime spec.
    """
    spec = Spec.from_json(data, "")
    assert isinstance(spec, Spec)
    return spec
