"""A container's cgroup, on cgroup v1, v2 or the hybrid of both, behind one interface.

The runtime creates the cgroup before the container's first process exists, moves that process
in (in every hierarchy, so ``/proc/<pid>/cgroup`` is right in each), writes the limits, and
later freezes, signals, inspects and removes it. This class is that lifecycle; the version
specifics live in ``cgroups_v1``, ``cgroups_v2`` and ``cgroups_devices``, the mount discovery and
path rules in ``cgroups_layout``.

Modes (``cgroups_layout``):

- ``v1``: a directory per hierarchy, ``paths()`` keyed by controller (``memory``, ``cpu``,
  ``name=systemd``...);
- ``hybrid``: the same plus ``unified``, the cgroup2 directory, which runc joins too. Limits for
  controllers that only the cgroup2 mount has (hugetlb on the project machine) are written there;
- ``v2``: only ``unified``. Device rules become an eBPF program attached to the directory.

The whole state is the mode and the directories, so ``to_state()`` is small and ``from_state()``
never re-reads mountinfo: ``runc kill`` and ``runc delete`` must work on the same directories
``create`` made, even if mounts have changed since.

Paths and files are injectable (``root``, ``mountinfo``, ``self_cgroup``) so the unit tests run
against a fake cgroupfs in a temporary directory.

The version modules are imported by the methods that need them: a process that only enters,
inspects or removes a cgroup (init, ``kill --all``, ``delete``) loads this module and
``cgroups_fs`` alone.
"""

from __future__ import annotations

import errno
import os
import time

from dockyard.runtime import cgroups_fs as fs
from dockyard.runtime.cgroups_fs import HYBRID, LEGACY, UNIFIED, CgroupError

TYPE_CHECKING = False  # mypy treats this name as true; importing typing would cost the runtime
if TYPE_CHECKING:
    from dockyard.oci.runtime_spec import LinuxResources
    from dockyard.runtime.cgroups_devices import Rule

__all__ = ["HYBRID", "LEGACY", "UNIFIED", "Cgroup", "CgroupError"]

_STATE_VERSION = 1


class Cgroup:
    """One container's cgroup directories, and what the runtime does with them."""

    __slots__ = ("_mode", "_mounts", "_paths")

    def __init__(self, mode: str, paths: dict[str, str], mounts: dict[str, str]) -> None:
        """Prefer :meth:`for_container` or :meth:`from_state`.

        ``mounts`` maps ``"unified"`` to the cgroup2 mount point (needed to enable controllers).
        """
        self._mode = mode
        self._paths = dict(paths)
        self._mounts = dict(mounts)

    # --- construction ------------------------------------------------------------------------

    @classmethod
    def for_container(
        cls,
        container_id: str,
        cgroups_path: str | None,
        *,
        root: str = "/sys/fs/cgroup",
        mountinfo: str | None = None,
        self_cgroup: str | None = None,
    ) -> Cgroup:
        """The cgroup for ``container_id`` at ``cgroups_path`` (runc's cgroupfs-driver rules).

        An absolute ``cgroups_path`` is taken under each hierarchy's mount point; a relative one
        under the caller's own cgroup; an empty one is the container ID, relative. Nothing is
        created until :meth:`create`.

        Raises:
            CgroupError: no cgroup filesystem is mounted under ``root``.
        """
        from dockyard.runtime.cgroups_layout import Layout, container_paths

        layout = Layout.detect(root, mountinfo=mountinfo, self_cgroup=self_cgroup)
        mounts = {"unified": layout.unified.mount_point} if layout.unified is not None else {}
        return cls(layout.mode, container_paths(layout, container_id, cgroups_path), mounts)

    @classmethod
    def from_state(cls, data: dict[str, object]) -> Cgroup:
        """Reopen the cgroup that :meth:`to_state` described.

        Raises:
            CgroupError: ``data`` is not a cgroup state record of a known version.
        """
        mode, paths, mounts = data.get("mode"), data.get("paths"), data.get("mounts", {})
        if data.get("version") != _STATE_VERSION or mode not in (LEGACY, HYBRID, UNIFIED):
            raise CgroupError(f"unknown cgroup state record: {data!r}")
        if not _is_str_map(paths) or not _is_str_map(mounts):
            raise CgroupError(f"corrupt cgroup state record: {data!r}")
        return cls(str(mode), paths, mounts)  # type: ignore[arg-type]

    def to_state(self) -> dict[str, object]:
        """A JSON-ready record from which :meth:`from_state` reopens this cgroup."""
        return {
            "version": _STATE_VERSION,
            "mode": self._mode,
            "paths": dict(self._paths),
            "mounts": dict(self._mounts),
        }

    # --- queries -----------------------------------------------------------------------------

    @property
    def mode(self) -> str:
        """``v1``, ``hybrid`` or ``v2``."""
        return self._mode

    def paths(self) -> dict[str, str]:
        """Controller (or ``"unified"`` for the cgroup2 directory) to directory."""
        return dict(self._paths)

    def exists(self) -> bool:
        """Whether any of the directories exists (a partial leftover still needs destroy)."""
        return any(os.path.isdir(p) for p in self._paths.values())

    def _dirs(self) -> list[str]:
        return list(dict.fromkeys(self._paths.values()))

    # --- lifecycle ---------------------------------------------------------------------------

    def create(self) -> None:
        """Create the directories in every hierarchy (idempotent).

        Raises:
            CgroupError: a directory cannot be created.
        """
        from dockyard.runtime import cgroups_v1, cgroups_v2

        cgroups_v1.make_dirs(self._paths)
        unified = self._paths.get("unified")
        if unified is not None:
            # Hybrid hosts: join the cgroup2 tree too, but enable nothing there until a limit
            # needs it (enabling is a change to the host's own root cgroup).
            wanted: list[str] | None = None if self._mode == UNIFIED else []
            cgroups_v2.make_dir(unified, self._mounts["unified"], wanted)

    def add_process(self, pid: int) -> None:
        """Move ``pid`` (the whole thread group) into the cgroup in every hierarchy.

        The first such write after a quiet spell waits for an RCU grace period (~9 ms here), see
        :meth:`enter`; the runtime's own processes use that instead.

        Raises:
            CgroupError: a directory is missing or the kernel refused the move.
        """
        for directory in self._dirs():
            fs.write(directory, "cgroup.procs", str(pid))

    def fork_child(self) -> tuple[int, bool]:
        """``os.fork()`` with the child born in the cgroup2 directory, when the kernel can.

        Returns (pid, whether the child was cloned into the cgroup2 directory); pass the
        second to the child's :meth:`enter`. Without a cgroup2 directory this is a plain fork;
        where clone3 is refused (kernels before 5.7, a seccomp filter that says ENOSYS, as
        Docker's does) it falls back to one, and :meth:`enter` writes ``cgroup.procs`` instead.

        Raises:
            CgroupError: the cgroup2 directory cannot be opened.
            OSError: fork(2) failed.
        """
        unified = self._paths.get("unified")
        if unified is None:
            return os.fork(), False
        from dockyard.util import libc

        fd = fs.open_dir(unified, os.O_PATH)
        try:
            try:
                return libc.fork_into_cgroup(fd), True
            except OSError:
                return os.fork(), False  # the child joins through cgroup.procs
        finally:
            os.close(fd)

    def enter(self, *, cloned_into_unified: bool = False) -> None:
        """Move the calling process, which must be single-threaded, into every hierarchy.

        A write to ``cgroup.procs`` moves a thread group under the global
        ``cgroup_threadgroup_rwsem``, whose writer first waits for an RCU grace period unless
        another writer just passed (~9 ms on the project machine, a third of a whole ``run``).
        Writing 0 to a v1 hierarchy's ``tasks`` moves only the calling thread, which the kernel
        does without that lock (kernel/cgroup/cgroup.c, ``cgroup_procs_write_start``: a single
        thread that is ``current`` cannot exit or exec under it); for a single-threaded
        process the thread is the process. Measured: 0.3 ms for nine v1 hierarchies, against
        8-15 ms for one ``cgroup.procs`` write. cgroup2 refuses to move a thread between domain
        cgroups (EOPNOTSUPP), so its directory is entered at birth (``libc.fork_into_cgroup``,
        then ``cloned_into_unified``) or else through ``cgroup.procs``.

        Raises:
            CgroupError: a directory is missing or the kernel refused the move.
        """
        unified = self._paths.get("unified")
        for directory in self._dirs():
            if directory != unified:
                fs.write(directory, "tasks", "0")
            elif not cloned_into_unified:
                fs.write(directory, "cgroup.procs", "0")

    def preload(self) -> None:
        """Import what :meth:`set_resources` needs now, for a caller with time to spare.

        ``create`` calls it while init makes its rootfs, so the imports are off the critical
        path that runs from "rootfs made" to "limits set".
        """
        from dockyard.runtime import cgroups_devices, cgroups_v1, cgroups_v2  # noqa: F401

    def set_resources(self, resources: LinuxResources | None) -> None:
        """Write the limits and the device rules (the spec's, then runc's allowed devices).

        With ``resources`` None, only the device rules apply: deny everything but runc's
        defaults, as runc does for a spec without resources.

        Raises:
            CgroupError: the kernel refused a value; the message names the file and value.
            InvalidArgument: a value the spec does not allow (bad device type, swap < memory).
        """
        from dockyard.runtime import cgroups_devices

        if resources is not None:
            self._set_limits(resources)
        rules = cgroups_devices.rules_from_spec(resources.devices if resources is not None else [])
        self._set_devices(rules)

    def update(self, resources: LinuxResources) -> None:
        """Change the limits of a live cgroup (``runc update``); device rules only if given.

        Raises:
            CgroupError: the kernel refused a value.
            InvalidArgument: a value the spec does not allow.
        """
        from dockyard.runtime import cgroups_devices

        self._set_limits(resources)
        if resources.devices:
            self._set_devices(cgroups_devices.rules_from_spec(resources.devices))

    def _set_limits(self, resources: LinuxResources) -> None:
        from dockyard.errors import InvalidArgument
        from dockyard.runtime import cgroups_v1, cgroups_v2

        if self._mode == UNIFIED:
            cpu = resources.cpu
            if cpu is not None and (cpu.realtime_period or cpu.realtime_runtime):
                raise InvalidArgument(
                    "invalid configuration: cpu realtime limits are not supported on cgroup v2"
                )
            cgroups_v2.set_limits(self._paths["unified"], resources)
            return
        if resources.unified:
            # runc's ErrV1NoUnified: the unified map names cgroup v2 files only.
            raise InvalidArgument("invalid configuration: cannot use unified on cgroup v1")
        cgroups_v1.set_limits(self._paths, resources)
        if self._mode == HYBRID and resources.hugepage_limits and "hugetlb" not in self._paths:
            unified = self._paths["unified"]
            cgroups_v2.enable_controllers(unified, self._mounts["unified"], ["hugetlb"])
            cgroups_v2.set_hugetlb(unified, resources)

    def _set_devices(self, rules: list[Rule]) -> None:
        from dockyard.runtime import cgroups_devices

        if self._mode == UNIFIED:
            from dockyard.runtime import cgroups_bpf

            cgroups_bpf.attach_device_filter(self._paths["unified"], cgroups_devices.ebpf_program(rules))
            return
        if "devices" not in self._paths:
            return
        for name, line in cgroups_devices.v1_writes(rules):
            fs.write(self._paths["devices"], name, line)

    # --- freezer -----------------------------------------------------------------------------

    def freeze(self) -> None:
        """Freeze every task (``pause``), waiting until the kernel reports them frozen.

        Raises:
            CgroupError: no freezer is available, or the tasks did not freeze.
        """
        from dockyard.runtime import cgroups_v1, cgroups_v2

        if self._mode == UNIFIED:
            cgroups_v2.freeze(self._paths["unified"])
        elif "freezer" in self._paths:
            cgroups_v1.freeze(self._paths["freezer"])
        else:
            raise CgroupError("cannot freeze: the freezer controller is not mounted")

    def thaw(self) -> None:
        """Let every task run again (``resume``).

        Raises:
            CgroupError: no freezer is available, or the write failed.
        """
        from dockyard.runtime import cgroups_v1, cgroups_v2

        if self._mode == UNIFIED:
            cgroups_v2.thaw(self._paths["unified"])
        elif "freezer" in self._paths:
            cgroups_v1.thaw(self._paths["freezer"])
        else:
            raise CgroupError("cannot thaw: the freezer controller is not mounted")

    def is_frozen(self) -> bool:
        """Whether the cgroup is frozen (False when there is no freezer or no directory)."""
        return fs.is_frozen(self._mode, self._paths)

    # --- processes ---------------------------------------------------------------------------

    def _tasks_dir(self) -> str:
        if self._mode == UNIFIED:
            return self._paths["unified"]
        for controller in ("freezer", "devices", "memory", "pids", "cpu"):
            if controller in self._paths:
                return self._paths[controller]
        return self._dirs()[0]

    def pids(self) -> list[int]:
        """Every process in the cgroup and its sub-cgroups, sorted (empty if it is gone)."""
        found: set[int] = set()
        top = self._tasks_dir()
        for directory, _subdirs, _files in os.walk(top):
            try:
                found.update(int(p) for p in fs.read(directory, "cgroup.procs").split())
            except CgroupError:
                continue
        return sorted(found)

    def kill_all(self, sig: int) -> None:
        """Send ``sig`` to every process: frozen first, so none can fork away meanwhile.

        On v2 with ``cgroup.kill`` (Linux 5.14), SIGKILL is one write instead.

        Raises:
            CgroupError: freezing or thawing failed.
        """
        from dockyard.runtime import cgroups_v2

        if self._mode == UNIFIED and sig == 9 and cgroups_v2.kill(self._paths["unified"]):
            return
        can_freeze = self._mode == UNIFIED or "freezer" in self._paths
        if can_freeze:
            self.freeze()
        try:
            for pid in self.pids():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        finally:
            if can_freeze:
                self.thaw()

    def oom_kill_count(self) -> int:
        """How many processes the OOM killer has killed in this cgroup (0 if unknown)."""
        from dockyard.runtime import cgroups_v1, cgroups_v2

        if self._mode == UNIFIED:
            return cgroups_v2.oom_kill_count(self._paths["unified"])
        if "memory" in self._paths:
            return cgroups_v1.oom_kill_count(self._paths["memory"])
        return 0

    def stats(self) -> dict[str, object]:
        """Usage in the shape of runc's ``events --stats`` ``data``: memory, cpu, pids.

        Raises:
            CgroupError: a statistics file exists but cannot be read.
        """
        from dockyard.runtime import cgroups_v1, cgroups_v2

        if self._mode == UNIFIED:
            return cgroups_v2.stats(self._paths["unified"])
        return cgroups_v1.stats(self._paths)

    def destroy(self) -> None:
        """Remove the directories in every hierarchy, sub-cgroups first.

        A missing directory is fine. ``rmdir`` answers EBUSY while exiting tasks are still
        attached, so it is retried for up to about a second.

        Raises:
            CgroupError: a directory could not be removed.
        """
        failures = []
        for directory in self._dirs():
            try:
                _remove_tree(directory)
            except CgroupError as exc:
                failures.append(exc)
        if failures:
            raise failures[0]


def _remove_tree(top: str) -> None:
    if not os.path.isdir(top):
        return
    for directory, _subdirs, _files in os.walk(top, topdown=False):
        _rmdir(directory)


def _rmdir(directory: str) -> None:
    delay = 0.002
    deadline = time.monotonic() + 1.0
    while True:
        try:
            os.rmdir(directory)
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                raise CgroupError(f"rmdir {directory}: {fs.describe(exc)}") from exc
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def _is_str_map(value: object) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )
