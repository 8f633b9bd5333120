"""runtime.cgroups against the real kernel (root): the project machine's hybrid layout, and its
cgroup2 mount on its own as a unified (v2) hierarchy.

Every cgroup is ``dyt-<hex>`` and is destroyed, and every child process killed, by the fixtures'
finalizers, so the session's leak check sees nothing left behind even when a test fails.
"""

from __future__ import annotations

import os
import secrets
import select
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dockyard.oci import runtime_spec as rs
from dockyard.runtime import cgroups_bpf, cgroups_devices
from dockyard.runtime.cgroups import Cgroup, CgroupError
from tests.unit.runtime.test_cgroups import DOCKER_DEVICES

UNIFIED = "/sys/fs/cgroup/unified"


class Child:
    """A forked process that waits for "go", runs ``body`` and reports its string result."""

    def __init__(self, body: Callable[[int], str]) -> None:
        go_r, self._go = os.pipe()
        self._result, result_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover - the child
            code = 0
            try:
                os.close(self._go)
                os.close(self._result)
                os.read(go_r, 1)
                os.write(result_w, body(result_w).encode())
            except BaseException as exc:  # report anything, never return into pytest
                os.write(result_w, f"error: {exc!r}".encode())
                code = 1
            finally:
                os._exit(code)
        os.close(go_r)
        os.close(result_w)

    def go(self) -> None:
        os.write(self._go, b"g")

    def result(self, timeout: float = 10) -> str:
        ready, _, _ = select.select([self._result], [], [], timeout)
        assert ready, "the child did not answer"
        chunks = []
        while data := os.read(self._result, 65536):
            chunks.append(data)
        return b"".join(chunks).decode()

    def wait(self) -> int:
        _pid, status = os.waitpid(self.pid, 0)
        self.pid = 0
        return status

    def kill(self) -> None:
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            self.pid = 0
        for fd in (self._go, self._result):
            try:
                os.close(fd)
            except OSError:
                pass


@pytest.fixture
def children() -> Iterator[Callable[[Callable[[int], str]], Child]]:
    made: list[Child] = []

    def make(body: Callable[[int], str]) -> Child:
        child = Child(body)
        made.append(child)
        return child

    yield make
    for child in made:
        child.kill()


@pytest.fixture
def name() -> str:
    return f"dyt-{secrets.token_hex(4)}"


@pytest.fixture
def hybrid(name: str) -> Iterator[Cgroup]:
    cgroup = Cgroup.for_container(name, f"/{name}")
    assert cgroup.mode == "hybrid", "the project machine runs v1 controllers plus a cgroup2 mount"
    yield cgroup
    _destroy(cgroup)


@pytest.fixture
def unified(name: str) -> Iterator[Cgroup]:
    # The cgroup2 mount alone, seen as a unified hierarchy: exercises the v2 code on this machine.
    cgroup = Cgroup.for_container(name, f"/{name}", root=UNIFIED)
    assert cgroup.mode == "v2"
    yield cgroup
    _destroy(cgroup)


def _destroy(cgroup: Cgroup) -> None:
    for pid in cgroup.pids():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if cgroup.is_frozen():
        cgroup.thaw()
    cgroup.destroy()


def _idle(_out: int) -> str:
    time.sleep(60)
    return ""


def _proc_cgroups(pid: int) -> dict[str, str]:
    rows = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    return {controllers or "unified": path for _hid, controllers, path in (r.split(":", 2) for r in rows)}


# --- hybrid: v1 controllers plus the unified mount -------------------------------------------------


def test_a_process_joins_every_hierarchy(hybrid: Cgroup, children, name: str) -> None:
    hybrid.create()
    child = children(_idle)
    hybrid.add_process(child.pid)
    joined = _proc_cgroups(child.pid)
    assert joined["memory"] == f"/{name}"
    assert joined["name=systemd"] == f"/{name}"
    assert joined["unified"] == f"/{name}"
    assert hybrid.pids() == [child.pid]


def test_a_child_is_born_in_unified_and_enters_v1_without_procs_writes(hybrid: Cgroup, name: str) -> None:
    # Cgroup.fork_child clones into the cgroup2 directory (CLONE_INTO_CGROUP); Cgroup.enter moves
    # the calling thread through each v1 "tasks". The child reports /proc/self/cgroup, then waits.
    hybrid.create()
    report_r, report_w = os.pipe()
    pid, cloned = hybrid.fork_child()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(report_r)
            hybrid.enter(cloned_into_unified=cloned)
            os.write(report_w, f"{cloned}\n{Path('/proc/self/cgroup').read_text()}".encode())
        finally:
            os._exit(0)
    os.close(report_w)
    try:
        with os.fdopen(report_r) as report:
            cloned_text, _, rows = report.read().partition("\n")
        assert cloned_text == "True"  # kernel 5.7+
        joined = {c or "unified": p for _h, c, p in (r.split(":", 2) for r in rows.splitlines())}
        assert set(joined.values()) == {f"/{name}"}, joined
        assert joined["unified"] == f"/{name}"
    finally:
        os.waitpid(pid, 0)


def test_limits_reach_the_kernel(hybrid: Cgroup) -> None:
    hybrid.create()
    resources = rs.LinuxResources(
        memory=rs.LinuxMemory(limit=64 << 20, swap=128 << 20, reservation=32 << 20),
        cpu=rs.LinuxCPU(shares=512, quota=50000, period=100000, cpus="0", mems="0"),
        pids=rs.LinuxPids(limit=20),
        block_io=rs.LinuxBlockIO(weight=300),
    )
    hybrid.set_resources(resources)
    paths = hybrid.paths()

    def read(controller: str, file: str) -> str:
        return Path(paths[controller], file).read_text().strip()

    assert read("memory", "memory.limit_in_bytes") == str(64 << 20)
    assert read("memory", "memory.memsw.limit_in_bytes") == str(128 << 20)
    assert read("memory", "memory.soft_limit_in_bytes") == str(32 << 20)
    assert read("cpu", "cpu.shares") == "512"
    assert read("cpu", "cpu.cfs_quota_us") == "50000"
    assert read("cpuset", "cpuset.cpus") == "0"
    assert read("pids", "pids.max") == "20"


def test_memory_can_be_raised_and_lowered_with_swap(hybrid: Cgroup) -> None:
    hybrid.create()
    hybrid.set_resources(rs.LinuxResources(memory=rs.LinuxMemory(limit=64 << 20, swap=128 << 20)))
    hybrid.update(rs.LinuxResources(memory=rs.LinuxMemory(limit=256 << 20, swap=512 << 20)))
    hybrid.update(rs.LinuxResources(memory=rs.LinuxMemory(limit=32 << 20, swap=48 << 20)))
    hybrid.update(rs.LinuxResources(memory=rs.LinuxMemory(limit=-1)))
    memory = hybrid.paths()["memory"]
    assert int(Path(memory, "memory.limit_in_bytes").read_text()) > 1 << 60


def test_device_list_is_runcs(hybrid: Cgroup) -> None:
    hybrid.create()
    hybrid.set_resources(rs.LinuxResources(devices=DOCKER_DEVICES))
    listed = Path(hybrid.paths()["devices"], "devices.list").read_text().split("\n")
    # runc 1.1.5 gave the same rules for the same spec on this machine (c 5:1 comes from Docker).
    assert set(filter(None, listed)) == {
        "c *:* m",
        "b *:* m",
        "c 1:3 rwm",
        "c 1:5 rwm",
        "c 1:7 rwm",
        "c 1:8 rwm",
        "c 1:9 rwm",
        "c 5:0 rwm",
        "c 5:1 rwm",
        "c 5:2 rwm",
        "c 10:200 rwm",
        "c 136:* rwm",
    }


def _device_probe(*attempts: tuple[str, int]) -> Callable[[int], str]:
    """A child body that opens each device and reports "ok" or the errno, in order."""

    def body(_out: int) -> str:
        results = []
        for path, flags in attempts:
            try:
                os.close(os.open(path, flags))
                results.append("ok")
            except OSError as exc:
                results.append(str(exc.errno))
        return " ".join(results)

    return body


def test_devices_outside_the_rules_are_refused(hybrid: Cgroup, children) -> None:
    hybrid.create()
    hybrid.set_resources(rs.LinuxResources(devices=DOCKER_DEVICES))
    child = children(_device_probe(("/dev/null", os.O_WRONLY), ("/dev/kmsg", os.O_RDONLY)))
    hybrid.add_process(child.pid)
    child.go()
    assert child.result() == "ok 1"  # /dev/kmsg (c 1:11): EPERM


def _fork_many(out: int) -> str:
    made, failed = [], 0
    for _ in range(8):
        try:
            pid = os.fork()
        except BlockingIOError:
            failed += 1
            continue
        if pid == 0:
            time.sleep(5)
            os._exit(0)
        made.append(pid)
    for pid in made:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    return f"{len(made)} {failed}"


def test_pids_limit_refuses_forks(hybrid: Cgroup, children) -> None:
    hybrid.create()
    hybrid.set_resources(rs.LinuxResources(pids=rs.LinuxPids(limit=4)))
    child = children(_fork_many)
    hybrid.add_process(child.pid)
    child.go()
    assert child.result() == "3 5"  # the child itself and 3 more make 4


def _tick(out: int) -> str:
    while True:
        os.write(out, b".")
        time.sleep(0.002)


def _ticks(child: Child, wait: float) -> int:
    time.sleep(wait)
    got = 0
    while select.select([child._result], [], [], 0)[0]:
        got += len(os.read(child._result, 65536))
    return got


def test_freeze_stops_and_thaw_resumes(hybrid: Cgroup, children) -> None:
    hybrid.create()
    child = children(_tick)
    hybrid.add_process(child.pid)
    child.go()
    assert _ticks(child, 0.05) > 0
    hybrid.freeze()
    assert hybrid.is_frozen()
    _ticks(child, 0)
    assert _ticks(child, 0.1) == 0
    hybrid.thaw()
    assert not hybrid.is_frozen()
    assert _ticks(child, 0.05) > 0


def test_kill_all_signals_every_process(hybrid: Cgroup, children) -> None:
    hybrid.create()
    first, second = children(_idle), children(_idle)
    hybrid.add_process(first.pid)
    hybrid.add_process(second.pid)
    hybrid.kill_all(signal.SIGKILL)
    assert os.WTERMSIG(first.wait()) == signal.SIGKILL
    assert os.WTERMSIG(second.wait()) == signal.SIGKILL
    assert not hybrid.is_frozen()


def _hog(out: int) -> str:
    chunks = []
    for _ in range(64):
        chunks.append(bytearray(8 << 20))  # zero-filled pages are really touched
    return "survived"


def test_an_oom_kill_is_counted(hybrid: Cgroup, children) -> None:
    hybrid.create()
    hybrid.set_resources(rs.LinuxResources(memory=rs.LinuxMemory(limit=48 << 20, swap=48 << 20)))
    child = children(_hog)
    hybrid.add_process(child.pid)
    child.go()
    status = child.wait()
    assert os.WIFSIGNALED(status)
    assert os.WTERMSIG(status) == signal.SIGKILL
    assert hybrid.oom_kill_count() == 1
    assert hybrid.stats()["memory"]["usage"]["max"] > 40 << 20  # type: ignore[index]


def test_a_limit_below_usage_names_file_value_and_reason(hybrid: Cgroup, children) -> None:
    hybrid.create()
    child = children(lambda out: _hold(out, 16 << 20))
    hybrid.add_process(child.pid)
    child.go()
    assert child.result(timeout=10).startswith("holding")
    with pytest.raises(CgroupError, match=r"^write 4096 to memory.limit_in_bytes: device or resource busy$"):
        hybrid.update(rs.LinuxResources(memory=rs.LinuxMemory(limit=4096)))


def _hold(out: int, size: int) -> str:
    block = bytearray(size)
    os.write(out, b"holding")
    os.close(out)
    time.sleep(60)
    return str(len(block))


def test_stats_report_usage(hybrid: Cgroup, children) -> None:
    hybrid.create()
    hybrid.set_resources(rs.LinuxResources(pids=rs.LinuxPids(limit=50)))
    child = children(lambda out: _hold(out, 4 << 20))
    hybrid.add_process(child.pid)
    child.go()
    assert child.result().startswith("holding")  # charged to the new cgroup: allocated after joining
    stats = hybrid.stats()
    assert stats["pids"] == {"current": 1, "limit": 50}
    assert stats["memory"]["usage"]["usage"] > 0  # type: ignore[index]
    assert "total" in stats["cpu"]["usage"]  # type: ignore[index]


def test_destroy_removes_every_directory_and_waits_for_exiting_tasks(hybrid: Cgroup, children) -> None:
    hybrid.create()
    os.mkdir(os.path.join(hybrid.paths()["memory"], "sub"))
    child = children(_idle)
    hybrid.add_process(child.pid)
    os.kill(child.pid, signal.SIGKILL)  # still a task until reaped: rmdir is EBUSY meanwhile
    child.wait()
    hybrid.destroy()
    assert not hybrid.exists()
    hybrid.destroy()  # gone already: fine


def test_state_reopens_the_same_cgroup(hybrid: Cgroup, children) -> None:
    hybrid.create()
    child = children(_idle)
    hybrid.add_process(child.pid)
    again = Cgroup.from_state(hybrid.to_state())
    assert again.pids() == [child.pid]


def test_hugetlb_limits_go_to_the_unified_hierarchy(hybrid: Cgroup) -> None:
    root_control = Path(UNIFIED, "cgroup.subtree_control")
    had = "hugetlb" in root_control.read_text().split()
    try:
        hybrid.create()
        limits = [rs.LinuxHugepageLimit(page_size="2MB", limit=4 << 20)]
        hybrid.set_resources(rs.LinuxResources(hugepage_limits=limits))
        assert Path(hybrid.paths()["unified"], "hugetlb.2MB.max").read_text().strip() == str(4 << 20)
    finally:
        _destroy(hybrid)
        if not had:
            root_control.write_text("-hugetlb")


# --- v2: the cgroup2 mount as a unified hierarchy -------------------------------------------------


def test_v2_device_rules_are_an_attached_ebpf_program(unified: Cgroup, children) -> None:
    unified.create()
    rules = [*DOCKER_DEVICES, rs.LinuxDeviceCgroup(allow=True, type="c", major=1, minor=11, access="r")]
    unified.set_resources(rs.LinuxResources(devices=rules))
    child = children(
        _device_probe(("/dev/null", os.O_RDWR), ("/dev/kmsg", os.O_RDONLY), ("/dev/kmsg", os.O_WRONLY))
    )
    unified.add_process(child.pid)  # only the unified hierarchy: v1 devices stays "allow all"
    child.go()
    assert child.result() == "ok ok 1"


def test_v2_update_replaces_the_device_program(unified: Cgroup) -> None:
    unified.create()
    directory = unified.paths()["unified"]
    unified.set_resources(None)
    unified.update(rs.LinuxResources(devices=DOCKER_DEVICES))
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert len(cgroups_bpf.attached_programs(fd)) == 1
    finally:
        os.close(fd)


def test_v2_verifier_accepts_large_rule_sets(unified: Cgroup) -> None:
    unified.create()
    rules = [rs.LinuxDeviceCgroup(allow=True, type="c", major=200, minor=i, access="rw") for i in range(300)]
    program = cgroups_devices.ebpf_program(cgroups_devices.rules_from_spec(rules))
    cgroups_bpf.attach_device_filter(unified.paths()["unified"], program)


def test_v2_freeze_and_kill(unified: Cgroup, children) -> None:
    unified.create()
    child = children(_tick)
    unified.add_process(child.pid)
    child.go()
    assert _ticks(child, 0.05) > 0
    unified.freeze()
    assert unified.is_frozen()
    _ticks(child, 0)
    assert _ticks(child, 0.1) == 0
    unified.kill_all(signal.SIGKILL)  # cgroup.kill, even while frozen
    assert os.WTERMSIG(child.wait()) == signal.SIGKILL
    unified.thaw()


def test_v2_signal_other_than_kill_freezes_signals_and_thaws(unified: Cgroup, children) -> None:
    unified.create()
    child = children(_idle)
    unified.add_process(child.pid)
    unified.kill_all(signal.SIGTERM)
    assert os.WTERMSIG(child.wait()) == signal.SIGTERM
    assert not unified.is_frozen()


def test_nested_path_with_missing_levels_can_be_joined(name: str, children) -> None:
    cgroup = Cgroup.for_container(name, f"/{name}/mid/leaf")
    parents = [os.path.dirname(os.path.dirname(p)) for p in cgroup.paths().values()]
    try:
        cgroup.create()
        child = children(_idle)
        cgroup.add_process(child.pid)  # ENOSPC if a cpuset level were left empty
        assert _proc_cgroups(child.pid)["cpuset"] == f"/{name}/mid/leaf"
    finally:
        _destroy(cgroup)
        for top in dict.fromkeys(parents):
            Cgroup("v1", {"x": top}, {}).destroy()  # the levels above the container's own
