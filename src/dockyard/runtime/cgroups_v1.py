"""cgroup v1: one directory per hierarchy, and the files each controller reads its limits from.

The writes follow runc's fs driver (libcontainer/cgroups/fs/*.go), because containers moved
between runc and dockyard-runtime must get the same limits, and because the kernel is picky
about order:

- **memory**: the v1 kernel refuses ``memory.memsw.limit_in_bytes`` (memory+swap) below
  ``memory.limit_in_bytes``, and a memory limit above the current memsw limit. So when both are
  set, memsw goes first if it is growing (or unlimited), the memory limit first otherwise. A limit
  of -1 without a swap value also lifts memsw, so that "unlimited" means unlimited.
- **cpu**: ``cfs_period_us`` may be refused (EINVAL) while the old quota is still in place, so it
  is written again after ``cfs_quota_us``. ``cpu.shares`` is clamped silently by the kernel, so
  it is read back and a clamped value is an error.
- **cpuset**: a new v1 cpuset directory starts with empty ``cpus`` and ``mems``, and a task cannot
  join an empty cpuset. Every directory created on the way gets its parent's values.
- **freezer**: writing ``FROZEN`` may leave the cgroup in ``FREEZING`` while tasks are in
  uninterruptible sleep; the state is polled, re-asked, and after a while briefly thawed and
  retried (runc does the same, so a busy container does not stall a pause forever).
"""

from __future__ import annotations

import os
import time

from dockyard.errors import InvalidArgument
from dockyard.runtime import cgroups_fs as fs
from dockyard.runtime.cgroups_fs import CgroupError

TYPE_CHECKING = False  # mypy treats this name as true; importing typing would cost the runtime
if TYPE_CHECKING:
    from dockyard.oci.runtime_spec import (
        LinuxBlockIO,
        LinuxCPU,
        LinuxHugepageLimit,
        LinuxMemory,
        LinuxNetwork,
        LinuxResources,
    )

__all__ = ["freeze", "make_dirs", "oom_kill_count", "set_limits", "stats", "thaw"]


def make_dirs(paths: dict[str, str]) -> None:
    """Create every hierarchy's directory (cpuset ones with their parent's cpus and mems).

    Raises:
        CgroupError: a directory cannot be created.
    """
    for controller, path in paths.items():
        if controller == "unified":
            continue
        try:
            if controller == "cpuset":
                _make_cpuset_dir(path)
            else:
                os.makedirs(path, 0o755, exist_ok=True)
        except OSError as exc:
            raise CgroupError(f"mkdir {path}: {fs.describe(exc)}") from exc


def _make_cpuset_dir(path: str) -> None:
    # Walk up to the first directory that exists with cpus and mems set (or that is not a cpuset
    # directory at all: above the mount point), then come back down, creating and filling each
    # level (runc: cpusetEnsureParent / cpusetCopyIfNeeded). A task cannot join a cpuset whose
    # cpus or mems is empty (ENOSPC), and a child cannot get values its parent lacks.
    chain = []
    current = path
    while not os.path.isdir(current) or (fs.exists(current, "cpuset.cpus") and not _cpuset_filled(current)):
        chain.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    for directory in reversed(chain):
        try:
            os.mkdir(directory, 0o755)
        except FileExistsError:
            pass
        parent = os.path.dirname(directory)
        for name in ("cpuset.cpus", "cpuset.mems"):
            if not fs.read(directory, name) and fs.exists(parent, name):
                fs.write(directory, name, fs.read(parent, name))


def _cpuset_filled(path: str) -> bool:
    try:
        return bool(fs.read(path, "cpuset.cpus")) and bool(fs.read(path, "cpuset.mems"))
    except CgroupError:
        return False


def set_limits(paths: dict[str, str], resources: LinuxResources) -> None:
    """Write every limit ``resources`` sets into the matching hierarchy.

    Controllers that are not mounted are skipped, as runc does. Device rules are handled by
    ``cgroups_devices`` and hugetlb in hybrid mode by ``cgroups_v2``.

    Raises:
        CgroupError: the kernel refused a value (the message names the file and the value).
        InvalidArgument: a value is out of the range the spec allows.
    """
    if resources.memory is not None and "memory" in paths:
        _memory(paths["memory"], resources.memory)
    if resources.cpu is not None:
        if "cpu" in paths:
            _cpu(paths["cpu"], resources.cpu)
        if "cpuset" in paths:
            _cpuset(paths["cpuset"], resources.cpu)
    if resources.pids is not None and resources.pids.limit is not None and "pids" in paths:
        limit = resources.pids.limit
        fs.write(paths["pids"], "pids.max", str(limit) if limit > 0 else "max")
    if resources.block_io is not None and "blkio" in paths:
        _blkio(paths["blkio"], resources.block_io)
    if resources.hugepage_limits and "hugetlb" in paths:
        _hugetlb(paths["hugetlb"], resources.hugepage_limits)
    if resources.network is not None:
        _network(paths, resources.network)


def _memory(path: str, memory: LinuxMemory) -> None:
    limit = memory.limit or 0
    swap = memory.swap or 0
    if limit == -1 and swap == 0 and fs.exists(path, "memory.memsw.limit_in_bytes"):
        swap = -1
    order = ["limit", "swap"]
    if limit and swap:
        current = fs.read_int(path, "memory.limit_in_bytes")
        if swap == -1 or current < swap:
            order = ["swap", "limit"]
    for what in order:
        if what == "limit" and limit:
            fs.write(path, "memory.limit_in_bytes", str(limit))
        elif what == "swap" and swap:
            fs.write(path, "memory.memsw.limit_in_bytes", str(swap))
    if memory.reservation:
        fs.write(path, "memory.soft_limit_in_bytes", str(memory.reservation))
    if memory.kernel_tcp:
        fs.write(path, "memory.kmem.tcp.limit_in_bytes", str(memory.kernel_tcp))
    if memory.swappiness is not None and memory.swappiness != -1:
        if not 0 <= memory.swappiness <= 100:
            raise InvalidArgument(
                f"invalid memory swappiness value: {memory.swappiness} (valid range is 0-100)"
            )
        fs.write(path, "memory.swappiness", str(memory.swappiness))
    if memory.disable_oom_killer:
        fs.write(path, "memory.oom_control", "1")


def _cpu(path: str, cpu: LinuxCPU) -> None:
    if cpu.shares:
        fs.write(path, "cpu.shares", str(cpu.shares))
        actual = fs.read_int(path, "cpu.shares")
        if actual != cpu.shares:
            raise CgroupError(
                f"write {cpu.shares} to cpu.shares: the kernel set {actual} (valid range 2-262144)"
            )
    if cpu.realtime_period:
        fs.write(path, "cpu.rt_period_us", str(cpu.realtime_period))
    if cpu.realtime_runtime:
        fs.write(path, "cpu.rt_runtime_us", str(cpu.realtime_runtime))
    pending_period = ""
    if cpu.period:
        try:
            fs.write(path, "cpu.cfs_period_us", str(cpu.period))
        except CgroupError as exc:
            # EINVAL while the old quota/new period pair exceeds the parent: retry after the quota.
            if not cpu.quota or not isinstance(exc.__cause__, OSError) or exc.__cause__.errno != 22:
                raise
            pending_period = str(cpu.period)
    if cpu.quota:
        fs.write(path, "cpu.cfs_quota_us", str(cpu.quota))
        if pending_period:
            fs.write(path, "cpu.cfs_period_us", pending_period)
    if cpu.burst is not None:
        fs.write(path, "cpu.cfs_burst_us", str(cpu.burst))
    if cpu.idle is not None:
        fs.write(path, "cpu.idle", str(cpu.idle))


def _cpuset(path: str, cpu: LinuxCPU) -> None:
    if cpu.cpus:
        fs.write(path, "cpuset.cpus", cpu.cpus)
    if cpu.mems:
        fs.write(path, "cpuset.mems", cpu.mems)


def _blkio(path: str, blkio: LinuxBlockIO) -> None:
    # Kernels with BFQ but without CFQ only have the blkio.bfq.* files.
    prefix = "blkio." if fs.exists(path, "blkio.weight") else "blkio.bfq."
    if blkio.weight:
        fs.write(path, prefix + "weight", str(blkio.weight))
    if blkio.leaf_weight:
        fs.write(path, "blkio.leaf_weight", str(blkio.leaf_weight))
    for device in blkio.weight_device:
        if device.weight:
            fs.write(path, prefix + "weight_device", f"{device.major}:{device.minor} {device.weight}")
        if device.leaf_weight:
            fs.write(path, "blkio.leaf_weight_device", f"{device.major}:{device.minor} {device.leaf_weight}")
    throttles = (
        ("blkio.throttle.read_bps_device", blkio.throttle_read_bps_device),
        ("blkio.throttle.write_bps_device", blkio.throttle_write_bps_device),
        ("blkio.throttle.read_iops_device", blkio.throttle_read_iops_device),
        ("blkio.throttle.write_iops_device", blkio.throttle_write_iops_device),
    )
    for name, devices in throttles:
        for throttle in devices:
            fs.write(path, name, f"{throttle.major}:{throttle.minor} {throttle.rate}")


def _hugetlb(path: str, limits: list[LinuxHugepageLimit]) -> None:
    for limit in limits:
        fs.write(path, f"hugetlb.{limit.page_size}.limit_in_bytes", str(limit.limit))


def _network(paths: dict[str, str], network: LinuxNetwork) -> None:
    if network.class_id is not None and "net_cls" in paths:
        fs.write(paths["net_cls"], "net_cls.classid", str(network.class_id))
    if "net_prio" in paths:
        for priority in network.priorities:
            fs.write(
                paths["net_prio"], "net_prio.ifpriomap", f"{priority.get('name')} {priority.get('priority')}"
            )


def freeze(path: str) -> None:
    """Freeze the v1 freezer cgroup at ``path``, waiting until every task is frozen.

    Raises:
        CgroupError: the state file cannot be written, or tasks stayed in FREEZING.
    """
    for attempt in range(1000):
        if attempt % 50 == 49:
            # New tasks keep appearing, or one is stuck: let everything run briefly, then retry.
            fs.write(path, "freezer.state", "THAWED")
            time.sleep(0.01)
        fs.write(path, "freezer.state", "FROZEN")
        if attempt % 25 == 24:
            time.sleep(0.00001)
        state = fs.read(path, "freezer.state")
        if state == "FROZEN":
            return
        if state != "FREEZING":
            raise CgroupError(f"freeze {path}: unexpected state {state} after writing FROZEN")
    fs.write(path, "freezer.state", "THAWED")
    raise CgroupError(f"freeze {path}: tasks stayed in FREEZING")


def thaw(path: str) -> None:
    """Thaw the v1 freezer cgroup at ``path``.

    Raises:
        CgroupError: the state file cannot be written.
    """
    fs.write(path, "freezer.state", "THAWED")


def oom_kill_count(path: str) -> int:
    """The ``oom_kill`` counter of ``memory.oom_control`` (kernel 4.13 and later; else 0)."""
    return fs.keyed(path, "memory.oom_control").get("oom_kill", 0)


def _usage(path: str, prefix: str) -> dict[str, int]:
    entry: dict[str, int] = {}
    for key, suffix in (
        ("usage", "usage_in_bytes"),
        ("max", "max_usage_in_bytes"),
        ("limit", "limit_in_bytes"),
        ("failcnt", "failcnt"),
    ):
        if fs.exists(path, prefix + suffix):
            entry[key] = fs.read_int(path, prefix + suffix)
    return entry


def stats(paths: dict[str, str]) -> dict[str, object]:
    """Memory, cpu and pids usage in the shape of runc's ``events --stats`` ``data`` object."""
    out: dict[str, object] = {}
    if "memory" in paths and os.path.isdir(paths["memory"]):
        path = paths["memory"]
        raw = fs.keyed(path, "memory.stat")
        out["memory"] = {
            "cache": raw.get("cache", 0),
            "usage": _usage(path, "memory."),
            "swap": _usage(path, "memory.memsw."),
            "raw": raw,
        }
    cpu: dict[str, object] = {}
    if "cpuacct" in paths and os.path.isdir(paths["cpuacct"]):
        path = paths["cpuacct"]
        ticks = fs.keyed(path, "cpuacct.stat")
        # cpuacct.stat counts USER_HZ ticks (100 per second on every Linux ABI); runc reports ns.
        cpu["usage"] = {
            "total": fs.read_int(path, "cpuacct.usage"),
            "percpu": [int(v) for v in fs.read(path, "cpuacct.usage_percpu").split()],
            "kernel": ticks.get("system", 0) * 10_000_000,
            "user": ticks.get("user", 0) * 10_000_000,
        }
    if "cpu" in paths and os.path.isdir(paths["cpu"]):
        throttled = fs.keyed(paths["cpu"], "cpu.stat")
        cpu["throttling"] = {
            "periods": throttled.get("nr_periods", 0),
            "throttled_periods": throttled.get("nr_throttled", 0),
            "throttled_time": throttled.get("throttled_time", 0),
        }
    if cpu:
        out["cpu"] = cpu
    if "pids" in paths and os.path.isdir(paths["pids"]):
        path = paths["pids"]
        limit = fs.read_int(path, "pids.max")
        out["pids"] = {"current": fs.read_int(path, "pids.current"), "limit": max(limit, 0)}
    return out
