"""Facts about this host that the spec and ``/info`` depend on, probed once at daemon start.

Everything here reads ``/proc``, ``/sys`` or ``/etc`` and nothing changes it: the cgroup layout
(v1, hybrid or v2), the per-CPU ``thermal_throttle`` directories to mask, the current hard
rlimits (containers may not ask for more: root here lacks CAP_SYS_RESOURCE), the init binary
for ``--init``, and the values ``/info`` reports (kernel, OS, CPUs, memory).
"""

from __future__ import annotations

import glob
import os
import resource
import shutil
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["HostInfo", "probe_host"]

_RLIMITS = {
    "RLIMIT_CPU": resource.RLIMIT_CPU,
    "RLIMIT_FSIZE": resource.RLIMIT_FSIZE,
    "RLIMIT_DATA": resource.RLIMIT_DATA,
    "RLIMIT_STACK": resource.RLIMIT_STACK,
    "RLIMIT_CORE": resource.RLIMIT_CORE,
    "RLIMIT_RSS": resource.RLIMIT_RSS,
    "RLIMIT_NPROC": resource.RLIMIT_NPROC,
    "RLIMIT_NOFILE": resource.RLIMIT_NOFILE,
    "RLIMIT_MEMLOCK": resource.RLIMIT_MEMLOCK,
    "RLIMIT_AS": resource.RLIMIT_AS,
    "RLIMIT_SIGPENDING": resource.RLIMIT_SIGPENDING,
    "RLIMIT_MSGQUEUE": resource.RLIMIT_MSGQUEUE,
    "RLIMIT_NICE": resource.RLIMIT_NICE,
    "RLIMIT_RTPRIO": resource.RLIMIT_RTPRIO,
    "RLIMIT_RTTIME": resource.RLIMIT_RTTIME,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class HostInfo:
    """What was probed. ``rlimit_hard`` maps ``RLIMIT_*`` names to the hard limit (-1: none)."""

    cgroup_version: int
    thermal_throttle_paths: tuple[str, ...]
    rlimit_hard: dict[str, int] = field(default_factory=dict)
    init_binary: str | None = None
    time_namespace: bool = False
    last_cap: int = 40
    kernel_version: str = ""
    operating_system: str = ""
    os_version: str = ""
    architecture: str = ""
    ncpu: int = 1
    mem_total: int = 0
    hostname: str = ""
    swap_limit: bool = False
    memory_limit: bool = False
    pids_limit: bool = False
    cpu_cfs: bool = False
    cpu_shares: bool = False
    cpuset: bool = False
    capabilities: tuple[str, ...] | None = None  # the daemon's bounding set, by name


def _cgroup_version() -> int:
    # A unified mount at /sys/fs/cgroup is v2; anything else (v1 or hybrid) counts as v1, as in
    # dockerd (hybrid hosts report "1").
    return 2 if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else 1


def _os_release() -> tuple[str, str]:
    fields = {}
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            text = Path(path).read_text()
        except OSError:
            continue
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep:
                fields[key.strip()] = value.strip().strip('"')
        break
    return fields.get("PRETTY_NAME", "Linux"), fields.get("VERSION_ID", "")


def _mem_total() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _init_binary() -> str | None:
    # A static tini works in any image (the dynamic one needs the image's libc).
    for candidate in ("/usr/bin/tini-static", "/usr/bin/docker-init", "/usr/bin/tini"):
        if os.access(candidate, os.X_OK):
            return os.path.realpath(candidate)
    return shutil.which("docker-init")


def _last_cap() -> int:
    try:
        return int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    except (OSError, ValueError):
        return 40


def _bounding_set() -> tuple[str, ...] | None:
    """The capabilities this process may ever hold (``CapBnd`` of /proc/self/status), by name."""
    from dockyard.engine.specgen import ALL_CAPABILITIES

    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapBnd:"):
                mask = int(line.split()[1], 16)
                return tuple(name for bit, name in enumerate(ALL_CAPABILITIES) if mask >> bit & 1)
    except (OSError, ValueError):
        pass
    return None


def _v1_has(controller: str, name: str) -> bool:
    return os.path.exists(f"/sys/fs/cgroup/{controller}/{name}")


def probe_host() -> HostInfo:
    """Probe this host (reads only; a few ms)."""
    uname = os.uname()
    operating_system, os_version = _os_release()
    version = _cgroup_version()
    limits = {}
    for name, number in _RLIMITS.items():
        hard = resource.getrlimit(number)[1]
        limits[name] = -1 if hard == resource.RLIM_INFINITY else hard
    v2 = version == 2
    return HostInfo(
        cgroup_version=version,
        thermal_throttle_paths=tuple(sorted(glob.glob("/sys/devices/system/cpu/cpu[0-9]*/thermal_throttle"))),
        rlimit_hard=limits,
        init_binary=_init_binary(),
        time_namespace=os.path.exists("/proc/self/ns/time"),
        last_cap=_last_cap(),
        kernel_version=uname.release,
        operating_system=operating_system,
        os_version=os_version,
        architecture=uname.machine,
        ncpu=len(os.sched_getaffinity(0)),
        mem_total=_mem_total(),
        hostname=uname.nodename,
        memory_limit=v2 or _v1_has("memory", "memory.limit_in_bytes"),
        swap_limit=v2 or _v1_has("memory", "memory.memsw.limit_in_bytes"),
        pids_limit=v2 or os.path.isdir("/sys/fs/cgroup/pids"),
        cpu_cfs=v2 or _v1_has("cpu", "cpu.cfs_quota_us"),
        cpu_shares=v2 or _v1_has("cpu", "cpu.shares"),
        cpuset=v2 or os.path.isdir("/sys/fs/cgroup/cpuset"),
        capabilities=_bounding_set(),
    )
