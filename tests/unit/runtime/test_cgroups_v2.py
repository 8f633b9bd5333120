"""The Cgroup lifecycle on a unified (cgroup v2) layout, against a fake cgroupfs."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument
from dockyard.oci import runtime_spec as rs
from dockyard.runtime import cgroups_v2
from dockyard.runtime.cgroups import Cgroup, CgroupError
from tests.unit.runtime.fake_cgroupfs import FakeCgroupfs, WriteLog


@pytest.fixture
def v2(tmp_path: Path) -> FakeCgroupfs:
    fake = FakeCgroupfs(tmp_path, "v2", v2_controllers="cpuset cpu io memory hugetlb pids")
    fake.dirs("dyt/c1")
    return fake


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch) -> WriteLog:
    return WriteLog(monkeypatch)


def _open(fake: FakeCgroupfs) -> Cgroup:
    return Cgroup.for_container(
        "c1", "/dyt/c1", root=str(fake.root), mountinfo=fake.mountinfo, self_cgroup=fake.self_cgroup
    )


def test_create_enables_the_controllers_in_every_ancestor(v2: FakeCgroupfs, log: WriteLog) -> None:
    _open(v2).create()
    want = "+cpuset +cpu +io +memory +hugetlb +pids"
    assert (v2.root / "cgroup.subtree_control").read_text() == want
    assert (v2.root / "dyt/cgroup.subtree_control").read_text() == want
    assert (v2.root / "dyt/c1/cgroup.subtree_control").read_text() == ""  # not the leaf


def test_a_refused_bulk_enable_is_retried_one_controller_at_a_time(
    v2: FakeCgroupfs, log: WriteLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dockyard.runtime import cgroups_fs

    recording = cgroups_fs.write

    def picky(directory: str, name: str, value: str) -> None:
        if name == "cgroup.subtree_control" and " " in value:
            raise CgroupError(f"write {value} to {name}: device or resource busy")
        recording(directory, name, value)

    monkeypatch.setattr(cgroups_fs, "write", picky)
    cgroups_v2.enable_controllers(str(v2.root / "dyt/c1"), str(v2.root), ["memory", "pids"])
    assert log.to("cgroup.subtree_control") == ["+memory", "+pids", "+memory", "+pids"]


def test_memory_swap_is_converted_to_swap_only(v2: FakeCgroupfs) -> None:
    memory = rs.LinuxMemory(limit=64 << 20, swap=96 << 20, reservation=16 << 20)
    _open(v2).update(rs.LinuxResources(memory=memory))
    directory = v2.root / "dyt/c1"
    assert (directory / "memory.max").read_text() == str(64 << 20)
    assert (directory / "memory.swap.max").read_text() == str(32 << 20)
    assert (directory / "memory.low").read_text() == str(16 << 20)


@pytest.mark.parametrize(
    ("swap", "limit", "expected"),
    [(0, -1, -1), (-1, 100, -1), (0, 100, 0), (100, 100, 0), (300, 100, 200)],
)
def test_swap_max_follows_runc(swap: int, limit: int, expected: int) -> None:
    assert cgroups_v2.swap_max(swap, limit) == expected


@pytest.mark.parametrize(
    ("swap", "limit", "message"),
    [(100, 0, "without memory limit"), (50, 100, "should be >= memory limit")],
)
def test_impossible_swap_is_refused(swap: int, limit: int, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        cgroups_v2.swap_max(swap, limit)


def test_unlimited_memory_writes_max(v2: FakeCgroupfs, log: WriteLog) -> None:
    _open(v2).update(rs.LinuxResources(memory=rs.LinuxMemory(limit=-1)))
    assert log.to("memory.max") == ["max"]
    assert log.to("memory.swap.max") == ["max"]


@pytest.mark.parametrize(("shares", "weight"), [(2, 1), (1024, 39), (262144, 10000), (512, 20)])
def test_cpu_weight_from_shares_as_runc_converts(shares: int, weight: int) -> None:
    assert cgroups_v2.weight_from_shares(shares) == weight


def test_cpu_max_and_weight(v2: FakeCgroupfs, log: WriteLog) -> None:
    _open(v2).update(rs.LinuxResources(cpu=rs.LinuxCPU(shares=1024, quota=50000, period=100000, cpus="0")))
    assert log.to("cpu.weight") == ["39"]
    assert log.to("cpu.max") == ["50000 100000"]
    assert log.to("cpuset.cpus") == ["0"]


def test_realtime_cpu_limits_are_refused_on_v2(v2: FakeCgroupfs) -> None:
    with pytest.raises(InvalidArgument, match="realtime"):
        _open(v2).update(rs.LinuxResources(cpu=rs.LinuxCPU(realtime_runtime=950000)))


def test_period_without_quota_keeps_max(v2: FakeCgroupfs, log: WriteLog) -> None:
    _open(v2).update(rs.LinuxResources(cpu=rs.LinuxCPU(period=50000)))
    assert log.to("cpu.max") == ["max 50000"]


def test_pids_hugetlb_and_io(v2: FakeCgroupfs, log: WriteLog) -> None:
    resources = rs.LinuxResources(
        pids=rs.LinuxPids(limit=-1),
        hugepage_limits=[rs.LinuxHugepageLimit(page_size="2MB", limit=2 << 20)],
        block_io=rs.LinuxBlockIO(
            weight=500, throttle_write_bps_device=[rs.LinuxThrottleDevice(major=8, minor=0, rate=4096)]
        ),
    )
    _open(v2).update(resources)
    assert log.to("pids.max") == ["max"]
    assert log.to("hugetlb.2MB.max") == [str(2 << 20)]
    assert log.to("io.weight") == [str(1 + (500 - 10) * 9999 // 990)]
    assert log.to("io.max") == ["8:0 wbps=4096"]


def test_io_weight_goes_to_bfq_unconverted_when_bfq_exists(v2: FakeCgroupfs, log: WriteLog) -> None:
    (v2.root / "dyt/c1/io.bfq.weight").write_text("default 100")
    _open(v2).update(rs.LinuxResources(block_io=rs.LinuxBlockIO(weight=500)))
    assert log.to("io.bfq.weight") == ["500"]


def test_unified_values_are_written_verbatim(v2: FakeCgroupfs, log: WriteLog) -> None:
    _open(v2).update(rs.LinuxResources(unified={"memory.max": "1G", "cpu.weight": "7"}))
    assert log.to("memory.max") == ["1G"]
    assert log.to("cpu.weight") == ["7"]


@pytest.mark.parametrize("key", ["../memory.max", "memory", "cgroup.procs", "memory.max/x", ".hidden"])
def test_unsafe_unified_keys_are_refused(v2: FakeCgroupfs, key: str) -> None:
    with pytest.raises(InvalidArgument, match="unified resource"):
        _open(v2).update(rs.LinuxResources(unified={key: "1"}))


def test_unified_key_of_a_missing_controller_is_refused(v2: FakeCgroupfs) -> None:
    with pytest.raises(CgroupError, match="controller 'rdma' is not available"):
        _open(v2).update(rs.LinuxResources(unified={"rdma.max": "mlx4_0 hca_handle=2"}))


def test_freeze_waits_for_cgroup_events(v2: FakeCgroupfs, monkeypatch: pytest.MonkeyPatch) -> None:
    from dockyard.runtime import cgroups_fs

    events = iter([{"frozen": 0}, {"frozen": 0}, {"frozen": 1}])
    real = cgroups_fs.keyed
    monkeypatch.setattr(
        cgroups_fs, "keyed", lambda d, n: next(events) if n == "cgroup.events" else real(d, n)
    )
    cgroup = _open(v2)
    cgroup.freeze()
    assert cgroup.is_frozen()


def test_thaw_writes_zero(v2: FakeCgroupfs, log: WriteLog) -> None:
    _open(v2).thaw()
    assert log.to("cgroup.freeze") == ["0"]


def test_sigkill_uses_cgroup_kill(v2: FakeCgroupfs, log: WriteLog) -> None:
    _open(v2).kill_all(9)
    assert log.to("cgroup.kill") == ["1"]
    assert "cgroup.freeze" not in log.names()


def test_oom_kills_come_from_memory_events(v2: FakeCgroupfs) -> None:
    (v2.root / "dyt/c1/memory.events").write_text("low 0\nhigh 0\nmax 4\noom 2\noom_kill 1\n")
    assert _open(v2).oom_kill_count() == 1


def test_stats_convert_microseconds_to_nanoseconds(v2: FakeCgroupfs) -> None:
    (v2.root / "dyt/c1/cpu.stat").write_text("usage_usec 7\nuser_usec 5\nsystem_usec 2\n")
    stats = _open(v2).stats()
    assert stats["cpu"]["usage"] == {"total": 7000, "kernel": 2000, "user": 5000}  # type: ignore[index]
    assert stats["memory"]["usage"]["limit"] == -1  # type: ignore[index]


def test_device_rules_are_attached_as_an_ebpf_program(
    v2: FakeCgroupfs, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dockyard.runtime import cgroups_bpf

    attached: list[tuple[str, bytes]] = []
    monkeypatch.setattr(cgroups_bpf, "attach_device_filter", lambda d, p: attached.append((d, p)))
    _open(v2).set_resources(None)
    assert [d for d, _p in attached] == [str(v2.root / "dyt/c1")]
    assert len(attached[0][1]) % 8 == 0
