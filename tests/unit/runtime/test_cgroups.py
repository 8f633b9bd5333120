"""The Cgroup lifecycle on cgroup v1 and on the hybrid layout, against a fake cgroupfs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument
from dockyard.oci import runtime_spec as rs
from dockyard.runtime.cgroups import Cgroup, CgroupError
from tests.unit.runtime.fake_cgroupfs import FakeCgroupfs, WriteLog

DOCKER_DEVICES = [
    rs.LinuxDeviceCgroup(allow=False, access="rwm"),
    rs.LinuxDeviceCgroup(allow=True, type="c", major=1, minor=5, access="rwm"),
    rs.LinuxDeviceCgroup(allow=True, type="c", major=1, minor=3, access="rwm"),
    rs.LinuxDeviceCgroup(allow=True, type="c", major=1, minor=9, access="rwm"),
    rs.LinuxDeviceCgroup(allow=True, type="c", major=1, minor=8, access="rwm"),
    rs.LinuxDeviceCgroup(allow=True, type="c", major=5, minor=0, access="rwm"),
    rs.LinuxDeviceCgroup(allow=True, type="c", major=5, minor=1, access="rwm"),
    rs.LinuxDeviceCgroup(allow=False, type="c", major=10, minor=229, access="rwm"),
]


@pytest.fixture
def v1(tmp_path: Path) -> FakeCgroupfs:
    fake = FakeCgroupfs(tmp_path, "v1")
    fake.dirs("dyt/c1")
    return fake


@pytest.fixture
def hybrid(tmp_path: Path) -> FakeCgroupfs:
    fake = FakeCgroupfs(tmp_path, "hybrid", v2_controllers="hugetlb")
    fake.dirs("dyt/c1")
    return fake


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch) -> WriteLog:
    return WriteLog(monkeypatch)


def _open(fake: FakeCgroupfs, path: str | None = "/dyt/c1") -> Cgroup:
    return Cgroup.for_container(
        "c1", path, root=str(fake.root), mountinfo=fake.mountinfo, self_cgroup=fake.self_cgroup
    )


def test_paths_cover_every_v1_hierarchy(v1: FakeCgroupfs) -> None:
    paths = _open(v1).paths()
    assert paths["memory"] == str(v1.root / "memory/dyt/c1")
    assert paths["cpu"] == paths["cpuacct"] == str(v1.root / "cpu,cpuacct/dyt/c1")
    assert paths["name=systemd"] == str(v1.root / "systemd/dyt/c1")
    assert "unified" not in paths


def test_create_makes_the_directory_in_every_hierarchy(tmp_path: Path) -> None:
    fake = FakeCgroupfs(tmp_path, "v1")
    fake.dirs("dyt/c1")
    cgroup = _open(fake, "/dyt/c2")
    # cpuset directories need their files to be filled in; the fake gives the new one empty files.
    (fake.root / "cpuset/dyt/c2").mkdir()
    (fake.root / "cpuset/dyt/c2/cpuset.cpus").write_text("")
    (fake.root / "cpuset/dyt/c2/cpuset.mems").write_text("")
    cgroup.create()
    assert all(os.path.isdir(p) for p in cgroup.paths().values())


def test_create_copies_cpus_and_mems_into_new_cpuset_directories(v1: FakeCgroupfs, log: WriteLog) -> None:
    # "dyt" and "dyt/c1" exist with empty cpuset files, as the kernel makes them.
    _open(v1).create()
    cpuset = v1.root / "cpuset"
    assert (cpuset / "dyt/cpuset.cpus").read_text() == "0-1"
    assert (cpuset / "dyt/c1/cpuset.mems").read_text() == "0"
    assert log.to("cpuset.cpus") == ["0-1", "0-1"]  # parent first, then the leaf


def test_create_fills_every_cpuset_level_it_makes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeCgroupfs(tmp_path, "v1")
    real_mkdir = os.mkdir

    def kernel_mkdir(path: str, mode: int = 0o777) -> None:
        # cgroupfs populates a new cpuset directory with empty cpus and mems files.
        real_mkdir(path, mode)
        if str(path).startswith(str(fake.root / "cpuset")):
            for name in ("cpuset.cpus", "cpuset.mems"):
                Path(path, name).write_text("")

    monkeypatch.setattr(os, "mkdir", kernel_mkdir)
    _open(fake, "/a/b/c").create()
    for level in ("a", "a/b", "a/b/c"):
        assert (fake.root / "cpuset" / level / "cpuset.cpus").read_text() == "0-1", level
        assert (fake.root / "cpuset" / level / "cpuset.mems").read_text() == "0", level


def test_add_process_writes_the_pid_once_per_directory(v1: FakeCgroupfs, log: WriteLog) -> None:
    _open(v1).add_process(4242)
    # 10 hierarchies, cpu and cpuacct co-mounted, net_cls and net_prio co-mounted: 10 directories.
    assert log.to("cgroup.procs") == ["4242"] * 10


def test_hybrid_also_joins_the_unified_hierarchy(hybrid: FakeCgroupfs, log: WriteLog) -> None:
    cgroup = _open(hybrid)
    cgroup.add_process(7)
    assert cgroup.paths()["unified"] == str(hybrid.root / "unified/dyt/c1")
    assert (hybrid.root / "unified/dyt/c1/cgroup.procs").read_text() == "7"
    assert len(log.to("cgroup.procs")) == 10  # 9 v1 hierarchies + unified


def test_enter_moves_the_calling_thread_through_tasks_in_v1(v1: FakeCgroupfs, log: WriteLog) -> None:
    # "0" in tasks: the calling thread alone, which the kernel moves without the global rwsem.
    _open(v1).enter()
    assert log.to("tasks") == ["0"] * 10
    assert log.to("cgroup.procs") == []


def test_enter_joins_the_unified_directory_through_cgroup_procs_unless_born_there(
    hybrid: FakeCgroupfs, log: WriteLog
) -> None:
    cgroup = _open(hybrid)
    cgroup.enter()
    assert log.to("tasks") == ["0"] * 9
    assert log.to("cgroup.procs") == ["0"]
    assert (hybrid.root / "unified/dyt/c1/cgroup.procs").read_text() == "0"
    cgroup.enter(cloned_into_unified=True)
    assert log.to("cgroup.procs") == ["0"]  # nothing more
    assert log.to("tasks") == ["0"] * 18


@pytest.mark.parametrize("layout", ["v1", "hybrid"])
def test_fork_child_is_a_plain_fork_without_a_usable_unified_directory(tmp_path: Path, layout: str) -> None:
    # v1 has no cgroup2 directory; the fake hybrid's is a plain directory, not cgroup2, so clone3
    # refuses it as a kernel without CLONE_INTO_CGROUP would: the child is forked and told so.
    fake = FakeCgroupfs(tmp_path, layout)
    fake.dirs("dyt/c1")
    pid, cloned = _open(fake).fork_child()
    if pid == 0:
        os._exit(0 if not cloned else 1)
    assert cloned is False
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


def test_memory_limit_swap_and_reservation(v1: FakeCgroupfs, log: WriteLog) -> None:
    memory = rs.LinuxMemory(limit=64 << 20, swap=128 << 20, reservation=32 << 20, swappiness=0)
    _open(v1).set_resources(rs.LinuxResources(memory=memory))
    mem = v1.root / "memory/dyt/c1"
    assert (mem / "memory.limit_in_bytes").read_text() == str(64 << 20)
    assert (mem / "memory.memsw.limit_in_bytes").read_text() == str(128 << 20)
    assert (mem / "memory.soft_limit_in_bytes").read_text() == str(32 << 20)
    assert (mem / "memory.swappiness").read_text() == "0"


def test_raising_memory_writes_memsw_first(v1: FakeCgroupfs, log: WriteLog) -> None:
    (v1.root / "memory/dyt/c1/memory.limit_in_bytes").write_text(str(64 << 20))
    memory = rs.LinuxMemory(limit=256 << 20, swap=512 << 20)
    _open(v1).update(rs.LinuxResources(memory=memory))
    names = [n for n in log.names() if n.startswith("memory.")]
    assert names == ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]


def test_lowering_memory_writes_the_limit_first(v1: FakeCgroupfs, log: WriteLog) -> None:
    (v1.root / "memory/dyt/c1/memory.limit_in_bytes").write_text(str(1 << 30))
    memory = rs.LinuxMemory(limit=64 << 20, swap=128 << 20)
    _open(v1).update(rs.LinuxResources(memory=memory))
    names = [n for n in log.names() if n.startswith("memory.")]
    assert names == ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]


def test_unlimited_memory_also_lifts_memsw(v1: FakeCgroupfs, log: WriteLog) -> None:
    _open(v1).update(rs.LinuxResources(memory=rs.LinuxMemory(limit=-1)))
    assert log.to("memory.memsw.limit_in_bytes") == ["-1"]
    assert log.to("memory.limit_in_bytes") == ["-1"]


def test_disable_oom_killer(v1: FakeCgroupfs, log: WriteLog) -> None:
    _open(v1).update(rs.LinuxResources(memory=rs.LinuxMemory(disable_oom_killer=True)))
    assert log.to("memory.oom_control") == ["1"]


def test_swappiness_out_of_range_is_refused(v1: FakeCgroupfs) -> None:
    with pytest.raises(InvalidArgument, match="valid range is 0-100"):
        _open(v1).update(rs.LinuxResources(memory=rs.LinuxMemory(swappiness=101)))


def test_cpu_shares_quota_period_and_cpuset(v1: FakeCgroupfs, log: WriteLog) -> None:
    cpu = rs.LinuxCPU(shares=512, quota=50000, period=100000, cpus="1", mems="0")
    _open(v1).update(rs.LinuxResources(cpu=cpu))
    assert log.to("cpu.shares") == ["512"]
    assert [n for n in log.names() if n.startswith("cpu.cfs")] == ["cpu.cfs_period_us", "cpu.cfs_quota_us"]
    assert (v1.root / "cpuset/dyt/c1/cpuset.cpus").read_text() == "1"


def test_cpu_period_refused_before_the_quota_is_retried_after_it(
    v1: FakeCgroupfs, log: WriteLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dockyard.runtime import cgroups_fs

    recording = cgroups_fs.write
    refused: list[str] = []

    def picky(directory: str, name: str, value: str) -> None:
        if name == "cpu.cfs_period_us" and not refused:
            refused.append(value)
            raise CgroupError(f"write {value} to {name}: invalid argument") from OSError(
                22, "Invalid argument"
            )
        recording(directory, name, value)

    monkeypatch.setattr(cgroups_fs, "write", picky)
    _open(v1).update(rs.LinuxResources(cpu=rs.LinuxCPU(quota=20000, period=50000)))
    assert [n for n in log.names() if n.startswith("cpu.cfs")] == ["cpu.cfs_quota_us", "cpu.cfs_period_us"]


def test_clamped_cpu_shares_are_reported(v1: FakeCgroupfs, monkeypatch: pytest.MonkeyPatch) -> None:
    from dockyard.runtime import cgroups_fs

    real = cgroups_fs.write

    def clamp(directory: str, name: str, value: str) -> None:
        real(directory, name, "262144" if name == "cpu.shares" else value)

    monkeypatch.setattr(cgroups_fs, "write", clamp)
    with pytest.raises(CgroupError, match="the kernel set 262144"):
        _open(v1).update(rs.LinuxResources(cpu=rs.LinuxCPU(shares=1 << 20)))


@pytest.mark.parametrize(("limit", "written"), [(100, "100"), (-1, "max"), (0, "max")])
def test_pids_limit(v1: FakeCgroupfs, limit: int, written: str) -> None:
    _open(v1).update(rs.LinuxResources(pids=rs.LinuxPids(limit=limit)))
    assert (v1.root / "pids/dyt/c1/pids.max").read_text() == written


def test_blkio_weight_and_throttles(v1: FakeCgroupfs, log: WriteLog) -> None:
    blkio = rs.LinuxBlockIO(
        weight=300,
        weight_device=[rs.LinuxWeightDevice(major=8, minor=0, weight=400)],
        throttle_read_bps_device=[rs.LinuxThrottleDevice(major=8, minor=0, rate=1048576)],
        throttle_write_iops_device=[rs.LinuxThrottleDevice(major=8, minor=16, rate=100)],
    )
    _open(v1).update(rs.LinuxResources(block_io=blkio))
    assert log.to("blkio.weight") == ["300"]
    assert log.to("blkio.weight_device") == ["8:0 400"]
    assert log.to("blkio.throttle.read_bps_device") == ["8:0 1048576"]
    assert log.to("blkio.throttle.write_iops_device") == ["8:16 100"]


def test_blkio_weight_goes_to_bfq_when_only_bfq_exists(v1: FakeCgroupfs, log: WriteLog) -> None:
    directory = v1.root / "blkio/dyt/c1"
    (directory / "blkio.weight").unlink()
    (directory / "blkio.bfq.weight").write_text("100")
    _open(v1).update(rs.LinuxResources(block_io=rs.LinuxBlockIO(weight=250)))
    assert log.to("blkio.bfq.weight") == ["250"]


def test_hugetlb_and_net_cls_on_v1(v1: FakeCgroupfs, log: WriteLog) -> None:
    resources = rs.LinuxResources(
        hugepage_limits=[rs.LinuxHugepageLimit(page_size="2MB", limit=4 << 20)],
        network=rs.LinuxNetwork(class_id=0x100001, priorities=[{"name": "eth0", "priority": 5}]),
    )
    _open(v1).update(resources)
    assert log.to("hugetlb.2MB.limit_in_bytes") == [str(4 << 20)]
    assert log.to("net_cls.classid") == [str(0x100001)]
    assert log.to("net_prio.ifpriomap") == ["eth0 5"]


def test_hybrid_writes_hugetlb_into_the_unified_hierarchy(hybrid: FakeCgroupfs, log: WriteLog) -> None:
    resources = rs.LinuxResources(hugepage_limits=[rs.LinuxHugepageLimit(page_size="2MB", limit=2 << 20)])
    _open(hybrid).update(resources)
    assert (hybrid.root / "unified/dyt/c1/hugetlb.2MB.max").read_text() == str(2 << 20)
    # hugetlb was switched on from the top of the unified tree down to the parent.
    assert (hybrid.root / "unified/cgroup.subtree_control").read_text() == "+hugetlb"
    assert (hybrid.root / "unified/dyt/cgroup.subtree_control").read_text() == "+hugetlb"


def test_hybrid_create_enables_nothing_in_the_unified_tree(hybrid: FakeCgroupfs, log: WriteLog) -> None:
    _open(hybrid).create()
    assert "cgroup.subtree_control" not in log.names()


def test_docker_device_rules_give_runcs_device_list(v1: FakeCgroupfs, log: WriteLog) -> None:
    _open(v1).set_resources(rs.LinuxResources(devices=DOCKER_DEVICES))
    assert log.to("devices.deny") == ["a"]
    # The order runc 1.1.5 produced on the project machine (devices.list of a runc container).
    assert log.to("devices.allow") == [
        "c 1:5 rwm",
        "c 1:3 rwm",
        "c 1:9 rwm",
        "c 1:8 rwm",
        "c 5:0 rwm",
        "c 5:1 rwm",
        "c *:* m",
        "b *:* m",
        "c 1:7 rwm",
        "c 136:* rwm",
        "c 5:2 rwm",
        "c 10:200 rwm",
    ]


def test_no_resources_still_gets_the_default_device_rules(v1: FakeCgroupfs, log: WriteLog) -> None:
    _open(v1).set_resources(None)
    assert log.to("devices.deny") == ["a"]
    assert len(log.to("devices.allow")) == 11


def test_update_without_device_rules_leaves_devices_alone(v1: FakeCgroupfs, log: WriteLog) -> None:
    _open(v1).update(rs.LinuxResources(pids=rs.LinuxPids(limit=5)))
    assert not [n for n in log.names() if n.startswith("devices.")]


def test_the_unified_map_is_refused_on_v1(hybrid: FakeCgroupfs) -> None:
    with pytest.raises(InvalidArgument, match="cannot use unified on cgroup v1"):
        _open(hybrid).update(rs.LinuxResources(unified={"memory.high": "1G"}))


def test_a_refused_write_names_the_file_and_the_value(v1: FakeCgroupfs) -> None:
    (v1.root / "memory/dyt/c1/memory.limit_in_bytes").unlink()
    with pytest.raises(CgroupError, match=r"^write 10 to memory.limit_in_bytes: no such file or directory$"):
        _open(v1).update(rs.LinuxResources(memory=rs.LinuxMemory(limit=10)))


def test_freeze_and_thaw_through_the_freezer(v1: FakeCgroupfs, log: WriteLog) -> None:
    cgroup = _open(v1)
    cgroup.freeze()
    assert cgroup.is_frozen()
    cgroup.thaw()
    assert not cgroup.is_frozen()
    assert log.to("freezer.state") == ["FROZEN", "THAWED"]


def test_freeze_polls_while_freezing(v1: FakeCgroupfs, monkeypatch: pytest.MonkeyPatch) -> None:
    from dockyard.runtime import cgroups_fs

    reads = iter(["FREEZING", "FREEZING", "FROZEN"])
    real_read = cgroups_fs.read
    monkeypatch.setattr(
        cgroups_fs, "read", lambda d, n: next(reads) if n == "freezer.state" else real_read(d, n)
    )
    _open(v1).freeze()


def test_pids_include_sub_cgroups(v1: FakeCgroupfs) -> None:
    freezer = v1.root / "freezer/dyt/c1"
    (freezer / "cgroup.procs").write_text("12\n10\n")
    (freezer / "sub").mkdir()
    (freezer / "sub/cgroup.procs").write_text("11\n")
    assert _open(v1).pids() == [10, 11, 12]


def test_kill_all_freezes_signals_and_thaws(
    v1: FakeCgroupfs, log: WriteLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    (v1.root / "freezer/dyt/c1/cgroup.procs").write_text("101\n102\n")
    sent: list[tuple[int, int]] = []

    def fake_kill(pid: int, sig: int) -> None:
        sent.append((pid, sig))
        if pid == 102:
            raise ProcessLookupError

    monkeypatch.setattr(os, "kill", fake_kill)
    _open(v1).kill_all(15)
    assert sent == [(101, 15), (102, 15)]
    assert log.to("freezer.state") == ["FROZEN", "THAWED"]


def test_oom_kill_count_reads_memory_oom_control(v1: FakeCgroupfs) -> None:
    (v1.root / "memory/dyt/c1/memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")
    assert _open(v1).oom_kill_count() == 3


def test_stats_have_runcs_shape(v1: FakeCgroupfs) -> None:
    directory = v1.root / "memory/dyt/c1"
    (directory / "memory.usage_in_bytes").write_text("4096")
    (v1.root / "pids/dyt/c1/pids.current").write_text("3")
    (v1.root / "pids/dyt/c1/pids.max").write_text("20")
    (v1.root / "cpu,cpuacct/dyt/c1/cpuacct.stat").write_text("user 5\nsystem 2\n")
    stats = _open(v1).stats()
    assert stats["memory"]["usage"]["usage"] == 4096  # type: ignore[index]
    assert stats["pids"] == {"current": 3, "limit": 20}
    assert stats["cpu"]["usage"]["user"] == 50_000_000  # type: ignore[index]


def test_state_round_trips(v1: FakeCgroupfs) -> None:
    cgroup = _open(v1)
    again = Cgroup.from_state(cgroup.to_state())
    assert again.paths() == cgroup.paths()
    assert again.mode == "v1"


@pytest.mark.parametrize(
    "record",
    [{}, {"version": 1, "mode": "v3", "paths": {}}, {"version": 1, "mode": "v1", "paths": {"memory": 3}}],
)
def test_a_bad_state_record_is_refused(record: dict[str, object]) -> None:
    with pytest.raises(CgroupError):
        Cgroup.from_state(record)


def test_destroy_removes_sub_cgroups_first_and_tolerates_missing_ones(tmp_path: Path) -> None:
    (tmp_path / "memory/c1/sub/deeper").mkdir(parents=True)
    (tmp_path / "pids").mkdir()
    paths = {"memory": str(tmp_path / "memory/c1"), "pids": str(tmp_path / "pids/c1")}
    cgroup = Cgroup("v1", paths, {})
    assert cgroup.exists()
    cgroup.destroy()
    assert not cgroup.exists()
    assert (tmp_path / "memory").is_dir()


def test_destroy_reports_a_directory_it_cannot_remove(tmp_path: Path) -> None:
    (tmp_path / "memory/c1").mkdir(parents=True)
    (tmp_path / "memory/c1/stray-file").write_text("")
    with pytest.raises(CgroupError, match=r"rmdir .*/memory/c1: directory not empty"):
        Cgroup("v1", {"memory": str(tmp_path / "memory/c1")}, {}).destroy()


def test_the_kernel_policy_modules_import_only_cheap_stdlib() -> None:
    # The runtime starts for every container: these modules must not pull in json, re, typing,
    # dataclasses, enum, subprocess, socket or logging (docs/unwritten-rules.md).
    import subprocess
    import sys

    src = str(Path(__file__).parents[3] / "src")
    code = (
        f"import sys; sys.path.insert(0, {src!r}); before = set(sys.modules);"
        "import dockyard.runtime.cgroups, dockyard.runtime.seccomp, dockyard.runtime.capabilities;"
        "print(' '.join(sorted(set(sys.modules) - before)))"
    )
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True)
    assert "dockyard.runtime.seccomp" in out.stdout
    loaded = {m.split(".")[0] for m in out.stdout.split()}
    forbidden = {
        "json",
        "re",
        "typing",
        "dataclasses",
        "enum",
        "subprocess",
        "socket",
        "logging",
        "signal",
        "contextlib",
        "asyncio",
    }
    assert loaded & forbidden == set()
