"""monitor.oom against fake /proc and cgroupfs trees (v1, v2, hybrid)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.monitor import oom

V1_LINE = "35 26 0:30 {root} {point} rw,nosuid - cgroup cgroup rw,memory\n"
V2_LINE = "30 26 0:26 {root} {point} rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"


def _proc(tmp_path: Path, cgroup: str, mountinfo: str, pid: int = 77) -> str:
    proc = tmp_path / "proc"
    (proc / str(pid)).mkdir(parents=True)
    (proc / "self").mkdir()
    (proc / str(pid) / "cgroup").write_text(cgroup)
    (proc / "self" / "mountinfo").write_text("24 1 8:1 / / rw - ext4 /dev/sda1 rw\n" + mountinfo)
    return str(proc)


def test_v1_memory_cgroup_is_found_under_its_mount(tmp_path: Path) -> None:
    point = tmp_path / "sys" / "memory"
    proc = _proc(
        tmp_path,
        "12:memory:/dyt-1/ctr\n11:pids:/dyt-1/ctr\n0::/\n",
        V1_LINE.format(root="/", point=point) + V2_LINE.format(root="/", point=tmp_path / "unified"),
    )
    assert oom.find_memory_cgroup(77, proc=proc) == f"{point}/dyt-1/ctr"


def test_v2_memory_cgroup_needs_memory_events(tmp_path: Path) -> None:
    point = tmp_path / "cg2"
    (point / "dyt-2").mkdir(parents=True)
    proc = _proc(tmp_path, "0::/dyt-2\n", V2_LINE.format(root="/", point=point))
    assert oom.find_memory_cgroup(77, proc=proc) is None  # no memory controller enabled there
    (point / "dyt-2" / "memory.events").write_text("low 0\nhigh 0\nmax 0\noom 1\noom_kill 1\n")
    assert oom.find_memory_cgroup(77, proc=proc) == f"{point}/dyt-2"


def test_mount_root_is_stripped_and_escapes_decoded(tmp_path: Path) -> None:
    point = tmp_path / "a dir"
    escaped = str(point).replace(" ", "\\040")
    proc = _proc(tmp_path, "4:memory:/outer/inner\n", V1_LINE.format(root="/outer", point=escaped))
    assert oom.find_memory_cgroup(77, proc=proc) == f"{point}/inner"


def test_cgroup_outside_the_mount_is_not_guessed(tmp_path: Path) -> None:
    proc = _proc(tmp_path, "4:memory:/elsewhere\n", V1_LINE.format(root="/mine", point=tmp_path / "m"))
    assert oom.find_memory_cgroup(77, proc=proc) is None


def test_missing_process_has_no_cgroup(tmp_path: Path) -> None:
    proc = _proc(tmp_path, "", "")
    assert oom.find_memory_cgroup(99, proc=proc) is None


@pytest.mark.parametrize(
    ("name", "content", "count"),
    [
        pytest.param("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n", 2, id="v1"),
        pytest.param("memory.events", "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n", 1, id="v2"),
        pytest.param("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\n", None, id="old-kernel"),
    ],
)
def test_oom_kill_count_reads_the_kernel_counter(
    tmp_path: Path, name: str, content: str, count: int | None
) -> None:
    (tmp_path / name).write_text(content)
    assert oom.oom_kill_count(str(tmp_path)) == count


def test_oom_kill_count_of_a_removed_cgroup_is_none(tmp_path: Path) -> None:
    assert oom.oom_kill_count(str(tmp_path / "gone")) is None
    assert oom.oom_kill_count(None) is None
