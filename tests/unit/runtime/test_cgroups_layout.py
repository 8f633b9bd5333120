"""Mount discovery and runc's cgroupfs path rules."""

from __future__ import annotations

import pytest

from dockyard.runtime.cgroups import Cgroup, CgroupError
from dockyard.runtime.cgroups_layout import Layout, clean, parse_mountinfo, parse_self_cgroup

# /proc/self/mountinfo and /proc/self/cgroup of a process on the project machine.
MACHINE_MOUNTINFO = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
MACHINE_CGROUP = """\
9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/process_api/5ad8feaa
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
"""
UNIFIED_MOUNTINFO = "25 20 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec - cgroup2 cgroup2 rw,nsdelegate\n"
LEGACY_MOUNTINFO = """\
27 20 0:24 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,release_agent=/lib/x,name=systemd
30 20 0:27 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
31 20 0:28 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
"""


def _cgroup(container_id: str, path: str | None, mountinfo: str, own: str) -> Cgroup:
    return Cgroup.for_container(container_id, path, mountinfo=mountinfo, self_cgroup=own)


def test_the_project_machine_is_hybrid() -> None:
    layout = Layout.detect(mountinfo=MACHINE_MOUNTINFO, self_cgroup=MACHINE_CGROUP)
    assert layout.mode == "hybrid"
    assert [h.controllers for h in layout.hierarchies][-1] == ("name=systemd",)
    assert layout.unified is not None
    assert layout.unified.mount_point == "/sys/fs/cgroup/unified"


def test_a_lone_cgroup2_mount_is_unified() -> None:
    assert Layout.detect(mountinfo=UNIFIED_MOUNTINFO, self_cgroup="0::/user.slice\n").mode == "v2"


def test_v1_mounts_without_cgroup2_are_legacy() -> None:
    layout = Layout.detect(mountinfo=LEGACY_MOUNTINFO, self_cgroup="")
    assert layout.mode == "v1"
    # Mount options such as xattr and release_agent=... are not controllers.
    assert [h.controllers for h in layout.hierarchies] == [("name=systemd",), ("cpu", "cpuacct"), ("memory",)]


def test_no_cgroup_mount_is_an_error() -> None:
    with pytest.raises(CgroupError, match="no cgroup filesystem is mounted under /sys/fs/cgroup"):
        Layout.detect(mountinfo="22 1 0:21 / /proc rw - proc proc rw\n", self_cgroup="")


def test_mounts_outside_the_root_are_ignored() -> None:
    text = "50 1 0:40 / /mnt/other rw - cgroup cgroup rw,memory\n" + UNIFIED_MOUNTINFO
    assert parse_mountinfo(text, "/sys/fs/cgroup")[0].version == 2
    assert len(parse_mountinfo(text, "/sys/fs/cgroup")) == 1


def test_escaped_mount_points_are_decoded() -> None:
    text = "50 1 0:40 / /tmp/a\\040b/memory rw - cgroup cgroup rw,memory\n"
    assert parse_mountinfo(text, "/tmp/a b")[0].mount_point == "/tmp/a b/memory"


def test_a_second_mount_of_the_same_hierarchy_is_ignored() -> None:
    text = LEGACY_MOUNTINFO + "90 20 0:28 / /sys/fs/cgroup/memory2 rw - cgroup cgroup rw,memory\n"
    assert [h.mount_point for h in parse_mountinfo(text, "/sys/fs/cgroup")][-1] == "/sys/fs/cgroup/memory"


def test_self_cgroup_keys_each_controller_and_the_unified_entry() -> None:
    own = parse_self_cgroup("3:cpu,cpuacct:/a\n1:name=systemd:/b\n0::/c\n")
    assert own == {"cpu": "/a", "cpuacct": "/a", "name=systemd": "/b", "": "/c"}


def test_absolute_path_lands_under_every_mount_point() -> None:
    paths = _cgroup("abc", "/docker/abc", MACHINE_MOUNTINFO, MACHINE_CGROUP).paths()
    assert paths["memory"] == "/sys/fs/cgroup/memory/docker/abc"
    assert paths["name=systemd"] == "/sys/fs/cgroup/systemd/docker/abc"
    assert paths["unified"] == "/sys/fs/cgroup/unified/docker/abc"


def test_relative_path_lands_under_the_callers_own_cgroup() -> None:
    paths = _cgroup("abc", "dyt/abc", MACHINE_MOUNTINFO, MACHINE_CGROUP).paths()
    assert paths["memory"] == "/sys/fs/cgroup/memory/process_api/5ad8feaa/dyt/abc"
    assert paths["cpu"] == "/sys/fs/cgroup/cpu/dyt/abc"


def test_empty_path_is_the_container_id_relative_as_runc_does() -> None:
    paths = _cgroup("dyt-probe1", None, MACHINE_MOUNTINFO, MACHINE_CGROUP).paths()
    # What runc 1.1.5 did on the project machine for a bundle without cgroupsPath.
    assert paths["memory"] == "/sys/fs/cgroup/memory/process_api/5ad8feaa/dyt-probe1"
    assert paths["pids"] == "/sys/fs/cgroup/pids/dyt-probe1"
    assert paths["unified"] == "/sys/fs/cgroup/unified/dyt-probe1"


def test_dot_dot_cannot_climb_out_of_the_hierarchy() -> None:
    paths = _cgroup("x", "/../../etc/x", MACHINE_MOUNTINFO, MACHINE_CGROUP).paths()
    assert paths["memory"] == "/sys/fs/cgroup/memory/etc/x"
    assert clean("../../a/./b/..") == "a"


def test_co_mounted_controllers_share_one_directory() -> None:
    paths = _cgroup("x", "/x", LEGACY_MOUNTINFO, "").paths()
    assert paths["cpu"] == paths["cpuacct"] == "/sys/fs/cgroup/cpu,cpuacct/x"
    assert "unified" not in paths


def test_unified_has_only_the_unified_directory() -> None:
    assert _cgroup("x", "/x", UNIFIED_MOUNTINFO, "0::/").paths() == {"unified": "/sys/fs/cgroup/x"}


def test_own_cgroup_is_taken_relative_to_a_namespaced_mount_root() -> None:
    # Inside a cgroup namespace bind: the mount shows /docker/c1 as its root, and
    # /proc/self/cgroup names the full path below it.
    text = "25 20 0:22 /docker/c1 /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
    paths = _cgroup("x", "sub", text, "0::/docker/c1/init\n").paths()
    assert paths["unified"] == "/sys/fs/cgroup/init/sub"
