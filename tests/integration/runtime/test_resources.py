"""Cgroup resources through the runtime: memory (OOM kill), pids, cpu quota, update."""

from __future__ import annotations

from pathlib import Path

from dockyard.oci import runtime_spec as rs
from tests.support.conformance import Lab


def _resources(**kwargs: object) -> object:
    def mutate(spec: rs.Spec) -> None:
        assert spec.linux is not None
        assert spec.linux.resources is not None
        for key, value in kwargs.items():
            setattr(spec.linux.resources, key, value)

    return mutate


def test_memory_limit_oom_kills_and_is_counted(lab: Lab) -> None:
    mutate = _resources(memory=rs.LinuxMemory(limit=32 << 20, swap=32 << 20))
    ident = lab.create(["sh", "-c", "x=a; while true; do x=$x$x$x$x; done"], mutate=mutate)  # type: ignore[arg-type]
    cgroup = lab.cgroup_dir("memory", ident)
    assert (cgroup / "memory.limit_in_bytes").read_text().strip() == str(32 << 20)
    lab.cmd("start", ident).ok()
    lab.wait_stopped(ident, timeout=30)
    oom_control = dict(line.split() for line in (cgroup / "memory.oom_control").read_text().splitlines())
    assert int(oom_control["oom_kill"]) >= 1  # read before delete, as an engine does
    lab.cmd("delete", ident).ok()


def test_memory_limit_exit_status_is_137(lab: Lab) -> None:
    mutate = _resources(memory=rs.LinuxMemory(limit=32 << 20, swap=32 << 20))
    result = lab.run(["sh", "-c", "x=a; while true; do x=$x$x$x$x; done"], mutate=mutate, timeout=60)  # type: ignore[arg-type]
    assert result.returncode == 137


def test_pids_limit_refuses_forks(lab: Lab) -> None:
    mutate = _resources(pids=rs.LinuxPids(limit=5))
    script = "for i in 1 2 3 4 5 6 7 8; do sleep 5 & done; wait; echo done"
    result = lab.run(["sh", "-c", script], mutate=mutate)  # type: ignore[arg-type]
    assert "can't fork" in result.stderr or "Resource temporarily unavailable" in result.stderr


def test_cpu_quota_is_applied(lab: Lab) -> None:
    mutate = _resources(cpu=rs.LinuxCPU(quota=20000, period=100000, shares=512))
    ident = lab.create(["sleep", "60"], mutate=mutate)  # type: ignore[arg-type]
    cpu = lab.cgroup_dir("cpu", ident)
    assert (cpu / "cpu.cfs_quota_us").read_text().strip() == "20000"
    assert (cpu / "cpu.cfs_period_us").read_text().strip() == "100000"
    assert (cpu / "cpu.shares").read_text().strip() == "512"


def test_update_resources(lab: Lab) -> None:
    ident = lab.start_sleeper()
    file = lab.dir / "resources.json"
    file.write_text('{"memory": {"limit": 67108864}, "pids": {"limit": 42}}')
    lab.cmd("update", "--resources", str(file), ident).ok()
    assert lab.cgroup_dir("memory", ident).joinpath("memory.limit_in_bytes").read_text().strip() == "67108864"
    assert lab.cgroup_dir("pids", ident).joinpath("pids.max").read_text().strip() == "42"


def test_process_is_in_the_container_cgroup(lab: Lab) -> None:
    ident = lab.start_sleeper()
    pid = lab.pid(ident)
    procs = lab.cgroup_dir("memory", ident).joinpath("cgroup.procs").read_text().split()
    assert str(pid) in procs


def _cgroup_paths(pid: int) -> set[str]:
    return {line.split(":", 2)[2] for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines()}


def test_init_and_exec_are_in_the_container_cgroup_in_every_hierarchy(lab: Lab) -> None:
    # v1 controllers, the named systemd hierarchy and the cgroup2 one ("0::") alike, as runc.
    ident = lab.start_sleeper()
    expected = {lab.cgroups_path(ident)}
    assert _cgroup_paths(lab.pid(ident)) == expected
    pid_file = lab.dir / "exec.pid"
    lab.cmd("exec", "-d", "--pid-file", str(pid_file), ident, "sleep", "30").ok()
    assert _cgroup_paths(int(pid_file.read_text())) == expected


def test_pinned_cpuset_under_a_new_parent(lab: Lab) -> None:
    # The container's cgroup parent (/dyt-<hex>) is new too: every cpuset level created on the way
    # needs cpus and mems, or the kernel refuses the task (ENOSPC).
    mutate = _resources(cpu=rs.LinuxCPU(cpus="0", mems="0"))
    ident = lab.create(["sleep", "60"], mutate=mutate)  # type: ignore[arg-type]
    leaf = lab.cgroup_dir("cpuset", ident)
    assert (leaf / "cpuset.cpus").read_text().strip() == "0"
    assert (leaf.parent / "cpuset.cpus").read_text().strip() != ""
    assert (leaf.parent / "cpuset.mems").read_text().strip() != ""
    status = lab.run(["grep", "-E", "^(Cpus|Mems)_allowed_list", "/proc/self/status"], mutate=mutate)  # type: ignore[arg-type]
    assert status.ok().stdout.split() == ["Cpus_allowed_list:", "0", "Mems_allowed_list:", "0"]
