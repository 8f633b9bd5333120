"""A fake cgroupfs in a temporary directory, laid out like the real v1, hybrid and v2 ones.

The kernel creates a controller's interface files when a cgroup directory is made; a plain
directory does not. So the fake pre-creates the files in the hierarchy roots *and* in the
directories the test will use, with the values a fresh kernel cgroup shows. Writes replace the
file's content (the kernel would validate them; the tests check what was written, and in which
order, through ``WriteLog``). ``mountinfo`` and ``self_cgroup`` give the text the layout
detection reads instead of /proc.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.runtime import cgroups_fs

_V1_FILES = {
    "memory": {
        "memory.limit_in_bytes": "9223372036854771712",
        "memory.memsw.limit_in_bytes": "9223372036854771712",
        "memory.soft_limit_in_bytes": "9223372036854771712",
        "memory.kmem.tcp.limit_in_bytes": "9223372036854771712",
        "memory.swappiness": "60",
        "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
        "memory.usage_in_bytes": "0",
        "memory.max_usage_in_bytes": "0",
        "memory.failcnt": "0",
        "memory.memsw.usage_in_bytes": "0",
        "memory.memsw.max_usage_in_bytes": "0",
        "memory.memsw.failcnt": "0",
        "memory.stat": "cache 0\nrss 0\n",
    },
    "cpu": {
        "cpu.shares": "1024",
        "cpu.cfs_period_us": "100000",
        "cpu.cfs_quota_us": "-1",
        "cpu.cfs_burst_us": "0",
        "cpu.rt_period_us": "1000000",
        "cpu.rt_runtime_us": "0",
        "cpu.idle": "0",
        "cpu.stat": "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n",
    },
    "cpuacct": {
        "cpuacct.usage": "0",
        "cpuacct.usage_percpu": "0 0 ",
        "cpuacct.stat": "user 0\nsystem 0\n",
    },
    "cpuset": {"cpuset.cpus": "", "cpuset.mems": ""},
    "devices": {"devices.allow": "", "devices.deny": "", "devices.list": "a *:* rwm"},
    "freezer": {"freezer.state": "THAWED"},
    "blkio": {
        "blkio.weight": "500",
        "blkio.weight_device": "",
        "blkio.leaf_weight": "500",
        "blkio.leaf_weight_device": "",
        "blkio.throttle.read_bps_device": "",
        "blkio.throttle.write_bps_device": "",
        "blkio.throttle.read_iops_device": "",
        "blkio.throttle.write_iops_device": "",
    },
    "pids": {"pids.max": "max", "pids.current": "0"},
    "hugetlb": {"hugetlb.2MB.limit_in_bytes": "9223372036854771712", "hugetlb.1GB.limit_in_bytes": "0"},
    "net_cls": {"net_cls.classid": "0"},
    "net_prio": {"net_prio.ifpriomap": ""},
}

_V2_FILES = {
    "cgroup.controllers": "",
    "cgroup.subtree_control": "",
    "cgroup.procs": "",
    "cgroup.freeze": "0",
    "cgroup.events": "populated 0\nfrozen 0\n",
    "cgroup.kill": "",
    "memory.max": "max",
    "memory.swap.max": "max",
    "memory.low": "0",
    "memory.current": "0",
    "memory.swap.current": "0",
    "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n",
    "memory.stat": "anon 0\nfile 0\n",
    "cpu.weight": "100",
    "cpu.max": "max 100000",
    "cpu.max.burst": "0",
    "cpu.idle": "0",
    "cpu.stat": "usage_usec 0\nuser_usec 0\nsystem_usec 0\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n",
    "cpuset.cpus": "",
    "cpuset.mems": "",
    "pids.max": "max",
    "pids.current": "0",
    "io.weight": "default 100",
    "io.max": "",
    "hugetlb.2MB.max": "max",
}

# Hierarchies: (mount directory name, super options, controllers whose files it has).
LEGACY = (
    ("cpu,cpuacct", "rw,cpu,cpuacct", ("cpu", "cpuacct")),
    ("cpuset", "rw,cpuset", ("cpuset",)),
    ("memory", "rw,memory", ("memory",)),
    ("devices", "rw,devices", ("devices",)),
    ("freezer", "rw,freezer", ("freezer",)),
    ("blkio", "rw,blkio", ("blkio",)),
    ("pids", "rw,pids", ("pids",)),
    ("hugetlb", "rw,hugetlb", ("hugetlb",)),
    ("net_cls,net_prio", "rw,net_cls,net_prio", ("net_cls", "net_prio")),
    ("systemd", "rw,xattr,name=systemd", ()),
)
# The project machine: separate cpu and cpuacct, no hugetlb/net_* in v1, cgroup2 with hugetlb.
HYBRID = (
    ("cpu", "rw,cpu", ("cpu",)),
    ("cpuacct", "rw,cpuacct", ("cpuacct",)),
    ("cpuset", "rw,cpuset", ("cpuset",)),
    ("memory", "rw,memory", ("memory",)),
    ("devices", "rw,devices", ("devices",)),
    ("freezer", "rw,freezer", ("freezer",)),
    ("blkio", "rw,blkio", ("blkio",)),
    ("pids", "rw,pids", ("pids",)),
    ("systemd", "rw,name=systemd", ()),
)


class FakeCgroupfs:
    """One fake layout under ``root``; ``dirs(relative)`` pre-creates cgroup directories."""

    def __init__(self, root: Path, mode: str, own: str = "/", v2_controllers: str = "") -> None:
        self.root = root
        self.mode = mode
        self.own = own
        self.lines: list[str] = []
        self.v1: list[tuple[Path, tuple[str, ...]]] = []
        self.unified: Path | None = None
        self.v2_controllers = v2_controllers
        hierarchies = LEGACY if mode == "v1" else HYBRID if mode == "hybrid" else ()
        for i, (name, options, controllers) in enumerate(hierarchies):
            mount = root / name
            self.v1.append((mount, controllers))
            self.lines.append(f"{40 + i} 31 0:{40 + i} / {mount} rw,relatime - cgroup cgroup {options}")
        if mode == "hybrid":
            self.unified = root / "unified"
        elif mode == "v2":
            self.unified = root
        if self.unified is not None:
            self.lines.append(f"60 31 0:60 / {self.unified} rw,relatime - cgroup2 cgroup2 rw,nsdelegate")
        self.lines.insert(0, "22 1 0:21 / /proc rw,relatime - proc proc rw")
        self.dirs("")

    @property
    def mountinfo(self) -> str:
        return "\n".join(self.lines) + "\n"

    @property
    def self_cgroup(self) -> str:
        rows = [f"{i + 1}:{','.join(c) or 'name=systemd'}:{self.own}" for i, (_m, c) in enumerate(self.v1)]
        if self.unified is not None:
            rows.append(f"0::{self.own}")
        return "\n".join(rows) + "\n"

    def dirs(self, relative: str, *, cpus: str = "0-1", mems: str = "0") -> None:
        """Create ``relative`` and its parents in every hierarchy, with the kernel's files."""
        parts = relative.split("/") if relative else []
        for depth in range(1, len(parts)):
            self._dir("/".join(parts[:depth]), cpus, mems)
        self._dir(relative, cpus, mems)

    def _dir(self, relative: str, cpus: str, mems: str) -> None:
        for mount, controllers in self.v1:
            directory = mount / relative if relative else mount
            directory.mkdir(parents=True, exist_ok=True)
            _touch(directory, {"cgroup.procs": "", "tasks": ""})
            for controller in controllers:
                files = dict(_V1_FILES[controller])
                if controller == "cpuset" and not relative:
                    files = {"cpuset.cpus": cpus, "cpuset.mems": mems}
                _touch(directory, files)
        if self.unified is not None:
            directory = self.unified / relative if relative else self.unified
            directory.mkdir(parents=True, exist_ok=True)
            _touch(directory, _V2_FILES)
            if not relative:
                (directory / "cgroup.controllers").write_text(self.v2_controllers)

    def read(self, path: Path | str) -> str:
        return Path(path).read_text()


def _touch(directory: Path, files: dict[str, str]) -> None:
    for name, content in files.items():
        path = directory / name
        if not path.exists():
            path.write_text(content)


class WriteLog:
    """Records every ``cgroups_fs.write`` as ``(file name, value)``, then performs it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[str, str, str]] = []
        real = cgroups_fs.write

        def write(directory: str, name: str, value: str) -> None:
            self.calls.append((directory, name, value))
            real(directory, name, value)

        monkeypatch.setattr(cgroups_fs, "write", write)

    def to(self, name: str) -> list[str]:
        """Values written to files called ``name``, in order."""
        return [value for _d, n, value in self.calls if n == name]

    def names(self) -> list[str]:
        return [n for _d, n, _v in self.calls]
