"""plan_mounts and plan_finalize: pure functions of the spec."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidArgument
from dockyard.oci import runtime_spec as rs
from dockyard.runtime import mounts
from dockyard.util import libc
from tests.support.bundles import default_spec


@pytest.mark.parametrize(
    ("options", "flags", "propagation", "data"),
    [
        (["nosuid", "noexec", "nodev"], libc.MS_NOSUID | libc.MS_NOEXEC | libc.MS_NODEV, 0, ""),
        (["ro", "rw"], 0, 0, ""),
        (
            ["rbind", "ro", "rslave"],
            libc.MS_BIND | libc.MS_REC | libc.MS_RDONLY,
            libc.MS_SLAVE | libc.MS_REC,
            "",
        ),
        (["mode=755", "size=65536k", "strictatime"], libc.MS_STRICTATIME, 0, "mode=755,size=65536k"),
        (["shared", "tmpcopyup"], 0, libc.MS_SHARED, ""),
        (["noatime", "atime"], 0, 0, ""),
    ],
    ids=["flags", "ro-then-rw", "rbind-ro-rslave", "data", "shared", "cleared"],
)
def test_parse_options(options: list[str], flags: int, propagation: int, data: str) -> None:
    assert mounts.parse_options(options) == (flags, propagation, data)


def test_plan_of_the_default_spec() -> None:
    ops = mounts.plan_mounts(default_spec(["true"]))
    kinds = [(op.kind, op.target) for op in ops]
    assert kinds[:7] == [
        ("mount", "/proc"),
        ("mount", "/dev"),
        ("mount", "/dev/pts"),
        ("mount", "/dev/shm"),
        ("mount", "/dev/mqueue"),
        ("mount", "/sys"),
        ("cgroup", "/sys/fs/cgroup"),
    ]
    devices = {op.target: op.device for op in ops if op.kind == "device"}
    assert devices["/dev/null"] == ("c", 1, 3, 0o666, 0, 0)
    assert set(devices) == {"/dev/null", "/dev/zero", "/dev/full", "/dev/tty", "/dev/urandom", "/dev/random"}
    links = {op.target: op.source for op in ops if op.kind == "symlink"}
    assert links["/dev/ptmx"] == "pts/ptmx"
    assert links["/dev/fd"] == "/proc/self/fd"
    sys_op = ops[5]
    assert sys_op.fstype == "sysfs"
    assert sys_op.flags & libc.MS_RDONLY


def test_bind_is_remounted_for_its_flags() -> None:
    spec = default_spec(["true"])
    spec.mounts = [
        rs.Mount(
            destination="/data/", type="bind", source="/srv", options=["rbind", "ro", "nosuid", "rprivate"]
        )
    ]
    (op, *_) = mounts.plan_mounts(spec)
    assert op == mounts.MountOp(
        "bind", "/data", source="/srv", flags=libc.MS_BIND | libc.MS_REC,
        propagation=libc.MS_PRIVATE | libc.MS_REC, remount=libc.MS_RDONLY | libc.MS_NOSUID,
    )  # fmt: skip


def test_a_bind_over_dev_means_no_device_setup() -> None:
    spec = default_spec(["true"])
    spec.mounts.append(rs.Mount(destination="/dev", type="bind", source="/dev", options=["rbind"]))
    assert not [op for op in mounts.plan_mounts(spec) if op.kind in ("device", "symlink")]


def test_user_namespace_binds_device_nodes() -> None:
    ops = mounts.plan_mounts(default_spec(["true"]), userns=True)
    null = next(op for op in ops if op.target == "/dev/null")
    assert (null.kind, null.source) == ("bind", "/dev/null")


def test_spec_devices_follow_the_defaults() -> None:
    spec = default_spec(["true"])
    assert spec.linux is not None
    spec.linux.devices = [rs.LinuxDevice(path="/dev/fuse", type="c", major=10, minor=229, file_mode=0o600)]
    devices = [op for op in mounts.plan_mounts(spec) if op.kind == "device"]
    assert devices[-1].device == ("c", 10, 229, 0o600, 0, 0)


def test_relative_destination_is_refused() -> None:
    spec = default_spec(["true"])
    spec.mounts.append(rs.Mount(destination="data", type="tmpfs", source="tmpfs"))
    with pytest.raises(InvalidArgument, match="not absolute"):
        mounts.plan_mounts(spec)


def test_finalize_plan() -> None:
    spec = default_spec(["true"])
    assert spec.root is not None
    spec.root.readonly = True
    ops = mounts.plan_finalize(spec)
    assert ops[0] == mounts.MountOp("remount-ro", "/", flags=libc.MS_BIND)
    assert next(op.target for op in ops if op.kind == "readonly") == "/proc/bus"
    assert "/proc/kcore" in [op.target for op in ops if op.kind == "mask"]
