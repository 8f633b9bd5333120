"""cgroup v2: one directory, controllers enabled from the top, limits in the v2 file names.

Documentation/admin-guide/cgroup-v2.rst is the reference. Three things differ from v1 and shape
this module:

- **Controllers must be switched on from above.** A controller's files appear in a directory only
  when every ancestor lists it in ``cgroup.subtree_control``. So creating a cgroup writes
  ``+memory +pids ...`` into the subtree_control of each ancestor, for the controllers the mount
  root offers (runc's ``CreateCgroupPath``). A write can be refused (a domain with processes in
  it, a threaded subtree); runc then tries controller by controller and carries on, and the limit
  that needed the missing controller fails later with a precise message.
- **Value conversions.** v1 numbers in the spec are converted as runc does: ``cpu.weight = 1 +
  ((shares - 2) * 9999) / 262142``; ``memory.swap.max`` is swap only, so it is the spec's
  memory+swap minus the memory limit; ``io.weight = 1 + (weight - 10) * 9999 / 990`` unless the
  BFQ file (same 10-1000 range as v1) exists; -1 is ``max``.
- **Freezing and killing are per cgroup.** ``cgroup.freeze`` asks, ``cgroup.events`` says when
  the whole subtree is ``frozen 1``; ``cgroup.kill`` (Linux 5.14) SIGKILLs every task at once.

The same functions serve the unified hierarchy of a hybrid host, where only the controllers that
no v1 hierarchy took are available (on the project machine, hugetlb).
"""

from __future__ import annotations

import os
import time

from dockyard.errors import InvalidArgument
from dockyard.runtime import cgroups_fs as fs
from dockyard.runtime.cgroups_fs import CgroupError

TYPE_CHECKING = False  # mypy treats this name as true; importing typing would cost the runtime
if TYPE_CHECKING:
    from dockyard.oci.runtime_spec import LinuxBlockIO, LinuxCPU, LinuxMemory, LinuxResources

__all__ = [
    "enable_controllers",
    "freeze",
    "kill",
    "make_dir",
    "oom_kill_count",
    "set_hugetlb",
    "set_limits",
    "stats",
    "swap_max",
    "thaw",
    "weight_from_shares",
]


def make_dir(path: str, mount_point: str, wanted: list[str] | None = None) -> None:
    """Create ``path`` (and its parents) below ``mount_point``, enabling controllers on the way.

    ``wanted`` limits which controllers are enabled (default: all the mount root offers).

    Raises:
        CgroupError: a directory cannot be created.
    """
    try:
        os.makedirs(path, 0o755, exist_ok=True)
    except OSError as exc:
        raise CgroupError(f"mkdir {path}: {fs.describe(exc)}") from exc
    enable_controllers(path, mount_point, wanted)


def enable_controllers(path: str, mount_point: str, wanted: list[str] | None = None) -> None:
    """Write ``+controller`` into the subtree_control of every ancestor of ``path``.

    Refusals are tolerated (see the module docstring); a missing controller shows up as a
    missing file when its limit is written.
    """
    available = fs.read(mount_point, "cgroup.controllers").split()
    if wanted is not None:
        available = [c for c in available if c in wanted]
    if not available:
        return
    request = " ".join("+" + c for c in available)
    relative = os.path.relpath(path, mount_point)
    current = mount_point
    parts = [] if relative == "." else relative.split("/")
    for part in parts:
        enabled = fs.read(current, "cgroup.subtree_control").split()
        if any(c not in enabled for c in available):
            try:
                fs.write(current, "cgroup.subtree_control", request)
            except CgroupError:
                for controller in available:
                    try:
                        fs.write(current, "cgroup.subtree_control", "+" + controller)
                    except CgroupError:
                        pass
        current = os.path.join(current, part)


def weight_from_shares(shares: int) -> int:
    """runc's conversion of v1 cpu.shares (2-262144) to v2 cpu.weight (1-10000); 0 stays 0."""
    if shares == 0:
        return 0
    return 1 + ((shares - 2) * 9999) // 262142


def swap_max(swap: int, limit: int) -> int:
    """``memory.swap.max`` for the spec's memory+swap ``swap`` and memory ``limit`` (-1 = max).

    0 means "leave unset", as in the spec.

    Raises:
        InvalidArgument: swap without a memory limit, or memory+swap below memory.
    """
    if limit == -1 and swap == 0:
        return -1
    if swap in (-1, 0):
        return swap
    if limit in (0, -1):
        raise InvalidArgument("unable to set swap limit without memory limit")
    if limit < 0:
        raise InvalidArgument(f"invalid memory value: {limit}")
    if swap < limit:
        raise InvalidArgument("memory+swap limit should be >= memory limit")
    return swap - limit


def _max(value: int) -> str:
    return "max" if value == -1 else str(value)


def set_limits(path: str, resources: LinuxResources) -> None:
    """Write every limit ``resources`` sets, in v2 terms (devices are ``cgroups_devices``'s).

    Raises:
        CgroupError: the kernel refused a value, or its controller is not enabled here.
        InvalidArgument: a value cannot be converted (swap below memory, a bad unified key).
    """
    if resources.memory is not None:
        _memory(path, resources.memory)
    if resources.cpu is not None:
        _cpu(path, resources.cpu)
    if resources.pids is not None and resources.pids.limit is not None:
        limit = resources.pids.limit
        fs.write(path, "pids.max", str(limit) if limit > 0 else "max")
    if resources.block_io is not None:
        _io(path, resources.block_io)
    if resources.hugepage_limits:
        set_hugetlb(path, resources)
    for key, value in resources.unified.items():
        _unified(path, key, value)


def set_hugetlb(path: str, resources: LinuxResources) -> None:
    """``hugetlb.<size>.max`` for each hugepage limit.

    Raises:
        CgroupError: the page size is unknown or hugetlb is not enabled here.
    """
    for limit in resources.hugepage_limits:
        fs.write(path, f"hugetlb.{limit.page_size}.max", str(limit.limit))


def _memory(path: str, memory: LinuxMemory) -> None:
    limit = memory.limit or 0
    swap = swap_max(memory.swap or 0, limit)
    if swap:
        fs.write(path, "memory.swap.max", _max(swap))
    if limit:
        fs.write(path, "memory.max", _max(limit))
    if memory.reservation:
        fs.write(path, "memory.low", _max(memory.reservation))


def _cpu(path: str, cpu: LinuxCPU) -> None:
    if cpu.shares:
        fs.write(path, "cpu.weight", str(weight_from_shares(cpu.shares)))
    if cpu.quota or cpu.period:
        value = str(cpu.quota) if cpu.quota and cpu.quota > 0 else "max"
        if cpu.period:
            value += f" {cpu.period}"
        fs.write(path, "cpu.max", value)
    if cpu.burst is not None:
        fs.write(path, "cpu.max.burst", str(cpu.burst))
    if cpu.idle is not None:
        fs.write(path, "cpu.idle", str(cpu.idle))
    if cpu.cpus:
        fs.write(path, "cpuset.cpus", cpu.cpus)
    if cpu.mems:
        fs.write(path, "cpuset.mems", cpu.mems)


def _io(path: str, blkio: LinuxBlockIO) -> None:
    bfq = fs.exists(path, "io.bfq.weight")
    if blkio.weight:
        if bfq:
            fs.write(path, "io.bfq.weight", str(blkio.weight))
        else:
            fs.write(path, "io.weight", str(1 + (blkio.weight - 10) * 9999 // 990))
    for device in blkio.weight_device:
        if device.weight:
            fs.write(path, "io.bfq.weight", f"{device.major}:{device.minor} {device.weight}")
    throttles = (
        ("rbps", blkio.throttle_read_bps_device),
        ("wbps", blkio.throttle_write_bps_device),
        ("riops", blkio.throttle_read_iops_device),
        ("wiops", blkio.throttle_write_iops_device),
    )
    for key, devices in throttles:
        for throttle in devices:
            fs.write(path, "io.max", f"{throttle.major}:{throttle.minor} {key}={throttle.rate}")


def _unified(path: str, key: str, value: str) -> None:
    # A key is one interface file of this cgroup, "<controller>.<name>": never a path, never a
    # file that moves processes or reshapes the tree.
    controller, dot, rest = key.partition(".")
    if not dot or not controller or not rest or "/" in key or "\0" in key or key.startswith("."):
        raise InvalidArgument(f"unified resource {key!r}: not a cgroup interface file name")
    if key in ("cgroup.procs", "cgroup.threads", "cgroup.subtree_control", "cgroup.type"):
        raise InvalidArgument(f"unified resource {key!r}: may not be set")
    if controller != "cgroup" and not fs.exists(path, key):
        enabled = fs.read(path, "cgroup.controllers").split() if fs.exists(path, "cgroup.controllers") else []
        if controller not in enabled:
            raise CgroupError(f"unified resource {key!r}: controller {controller!r} is not available")
    fs.write(path, key, value)


def freeze(path: str) -> None:
    """Freeze the cgroup and wait until ``cgroup.events`` reports ``frozen 1``.

    Raises:
        CgroupError: the write failed, or the cgroup did not freeze within 5 seconds.
    """
    _set_frozen(path, "1")


def thaw(path: str) -> None:
    """Thaw the cgroup and wait until ``cgroup.events`` reports ``frozen 0``.

    Raises:
        CgroupError: the write failed, or the cgroup did not thaw within 5 seconds.
    """
    _set_frozen(path, "0")


def _set_frozen(path: str, value: str) -> None:
    fs.write(path, "cgroup.freeze", value)
    deadline = time.monotonic() + 5
    delay = 0.0005
    while fs.keyed(path, "cgroup.events").get("frozen") != int(value):
        if time.monotonic() > deadline:
            raise CgroupError(f"{'freeze' if value == '1' else 'thaw'} {path}: cgroup.events did not change")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def kill(path: str) -> bool:
    """SIGKILL every task with ``cgroup.kill``; False when the kernel lacks it (before 5.14).

    Raises:
        CgroupError: the file exists but the write failed.
    """
    if not fs.exists(path, "cgroup.kill"):
        return False
    fs.write(path, "cgroup.kill", "1")
    return True


def oom_kill_count(path: str) -> int:
    """The ``oom_kill`` counter of ``memory.events`` (0 without the memory controller)."""
    return fs.keyed(path, "memory.events").get("oom_kill", 0)


def stats(path: str) -> dict[str, object]:
    """Memory, cpu and pids usage in the shape of runc's ``events --stats`` ``data`` object."""
    out: dict[str, object] = {}
    if fs.exists(path, "memory.current"):
        raw = fs.keyed(path, "memory.stat")
        usage = {"usage": fs.read_int(path, "memory.current"), "limit": fs.read_int(path, "memory.max")}
        swap: dict[str, int] = {}
        if fs.exists(path, "memory.swap.current"):
            swap = {
                "usage": fs.read_int(path, "memory.swap.current"),
                "limit": fs.read_int(path, "memory.swap.max"),
            }
        out["memory"] = {"cache": raw.get("file", 0), "usage": usage, "swap": swap, "raw": raw}
    cpu = fs.keyed(path, "cpu.stat")
    if cpu:
        out["cpu"] = {
            "usage": {
                "total": cpu.get("usage_usec", 0) * 1000,
                "kernel": cpu.get("system_usec", 0) * 1000,
                "user": cpu.get("user_usec", 0) * 1000,
            },
            "throttling": {
                "periods": cpu.get("nr_periods", 0),
                "throttled_periods": cpu.get("nr_throttled", 0),
                "throttled_time": cpu.get("throttled_usec", 0) * 1000,
            },
        }
    if fs.exists(path, "pids.current"):
        out["pids"] = {
            "current": fs.read_int(path, "pids.current"),
            "limit": max(fs.read_int(path, "pids.max"), 0),
        }
    return out
