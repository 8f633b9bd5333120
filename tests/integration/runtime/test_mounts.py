"""Mounts: binds and options, propagation, /dev and its devices, masked and read-only paths."""

from __future__ import annotations

from pathlib import Path

from dockyard.oci import runtime_spec as rs
from tests.support.conformance import Lab


def _mount_line(mountinfo: str, point: str) -> str:
    lines = [line for line in mountinfo.splitlines() if line.split()[4] == point]
    assert lines, f"{point} is not a mount point"
    return lines[-1]


def test_bind_mount_read_only(lab: Lab) -> None:
    shared = lab.dir / "shared"
    shared.mkdir()
    (shared / "data").write_text("from the host\n")

    def bind(spec: rs.Spec) -> None:
        spec.mounts.append(
            rs.Mount(destination="/data", type="bind", source=str(shared), options=["rbind", "ro"])
        )

    result = lab.run(["sh", "-c", "cat /data/data; touch /data/x; echo rc=$?"], mutate=bind)
    assert "from the host" in result.stdout
    assert "rc=1" in result.stdout
    assert "Read-only file system" in result.stderr
    assert not (shared / "x").exists()


def test_bind_mount_read_write_reaches_the_host(lab: Lab) -> None:
    shared = lab.dir / "rw"
    shared.mkdir()

    def bind(spec: rs.Spec) -> None:
        spec.mounts.append(
            rs.Mount(destination="/deep/er/rw", type="bind", source=str(shared), options=["bind"])
        )

    lab.run(["sh", "-c", "echo hi > /deep/er/rw/out"], mutate=bind).ok()
    assert (shared / "out").read_text() == "hi\n"


def test_tmpfs_options_and_flags(lab: Lab) -> None:
    def tmpfs(spec: rs.Spec) -> None:
        spec.mounts.append(
            rs.Mount(
                destination="/scratch",
                type="tmpfs",
                source="tmpfs",
                options=["nosuid", "nodev", "size=1m", "mode=700"],
            )
        )

    info = lab.run(["cat", "/proc/self/mountinfo"], mutate=tmpfs).ok().stdout
    line = _mount_line(info, "/scratch")
    assert "nosuid" in line.split()[5]
    assert "nodev" in line.split()[5]
    assert "size=1024k" in line
    assert "mode=700" in line


def test_mount_propagation_flags(lab: Lab) -> None:
    shared = lab.dir / "prop"
    shared.mkdir()

    def bind(spec: rs.Spec) -> None:
        spec.mounts.append(
            rs.Mount(destination="/shared", type="bind", source=str(shared), options=["rbind", "rshared"])
        )
        spec.mounts.append(
            rs.Mount(destination="/private", type="bind", source=str(shared), options=["rbind", "rprivate"])
        )

    info = lab.run(["cat", "/proc/self/mountinfo"], mutate=bind).ok().stdout
    assert "shared:" in _mount_line(info, "/shared")
    assert "shared:" not in _mount_line(info, "/private")


def test_mounts_of_the_container_do_not_reach_the_host(lab: Lab) -> None:
    def tmpfs(spec: rs.Spec) -> None:
        spec.mounts.append(rs.Mount(destination="/scratch", type="tmpfs", source="tmpfs"))

    lab.run(["true"], mutate=tmpfs).ok()
    assert lab.tag not in Path("/proc/self/mountinfo").read_text()


def test_readonly_root(lab: Lab) -> None:
    def readonly(spec: rs.Spec) -> None:
        assert spec.root is not None
        spec.root.readonly = True

    result = lab.run(["sh", "-c", "touch /x; echo rc=$?; touch /dev/shm/ok && echo shm"], mutate=readonly)
    assert "rc=1" in result.stdout
    assert "shm" in result.stdout


def test_default_devices(lab: Lab) -> None:
    out = (
        lab.run(
            [
                "sh",
                "-c",
                "for d in null zero full random urandom tty; do stat -c '%n %F %t:%T %a' /dev/$d; done",
            ]
        )
        .ok()
        .stdout
    )
    assert out.splitlines() == [
        "/dev/null character special file 1:3 666",
        "/dev/zero character special file 1:5 666",
        "/dev/full character special file 1:7 666",
        "/dev/random character special file 1:8 666",
        "/dev/urandom character special file 1:9 666",
        "/dev/tty character special file 5:0 666",
    ]


def test_dev_symlinks_and_pts(lab: Lab) -> None:
    out = (
        lab.run(["sh", "-c", "for l in fd stdin stdout stderr ptmx; do readlink /dev/$l; done; ls /dev/pts"])
        .ok()
        .stdout
    )
    assert out.split()[:5] == [
        "/proc/self/fd",
        "/proc/self/fd/0",
        "/proc/self/fd/1",
        "/proc/self/fd/2",
        "pts/ptmx",
    ]
    assert "ptmx" in out.split()[5:]


def test_spec_devices_are_created(lab: Lab) -> None:
    def device(spec: rs.Spec) -> None:
        assert spec.linux is not None
        spec.linux.devices.append(
            rs.LinuxDevice(path="/dev/dyt-null", type="c", major=1, minor=3, file_mode=0o640, uid=0, gid=5)
        )

    out = (
        lab.run(
            ["sh", "-c", "stat -c '%F %t:%T %a %g' /dev/dyt-null; echo x > /dev/dyt-null && echo wrote"],
            mutate=device,
        )
        .ok()
        .stdout
    )
    assert out.splitlines() == ["character special file 1:3 640 5", "wrote"]


def test_a_spec_device_the_cgroup_denies_exists_but_cannot_be_opened(lab: Lab) -> None:
    # runc makes the node before it applies the device rules, which deny everything but the
    # defaults here (tests/support/bundles.py): the node is there, opening it is refused.
    def device(spec: rs.Spec) -> None:
        assert spec.linux is not None
        spec.linux.devices.append(rs.LinuxDevice(path="/dev/dyt-fuse", type="c", major=10, minor=229))

    script = "stat -c '%F %t:%T' /dev/dyt-fuse; cat /dev/dyt-fuse; echo rc=$?"
    result = lab.run(["sh", "-c", script], mutate=device).ok()
    assert result.stdout.splitlines() == ["character special file a:e5", "rc=1"]
    assert "Operation not permitted" in result.stderr


def test_masked_paths_read_empty_and_refuse_writes(lab: Lab) -> None:
    # /proc/keys and /proc/timer_list are files, /sys/firmware a directory, on this kernel. A
    # masked file is /dev/null: it reads empty and swallows writes; a masked directory is a
    # read-only tmpfs.
    script = (
        "cat /proc/keys | wc -c; cat /proc/timer_list | wc -c; ls -A /sys/firmware | wc -l; "
        "echo x > /proc/keys; cat /proc/keys | wc -c; touch /sys/firmware/x; echo rc=$?"
    )
    result = lab.run(["sh", "-c", script])
    assert result.stdout.split() == ["0", "0", "0", "0", "rc=1"]
    assert "Read-only file system" in result.stderr


def test_readonly_paths_refuse_writes(lab: Lab) -> None:
    result = lab.run(["sh", "-c", "echo dyt > /proc/sys/kernel/hostname; echo rc=$?; hostname"])
    assert "rc=1" in result.stdout
    assert "Read-only file system" in result.stderr
    assert result.stdout.split()[-1] == "dyt"


def test_sysctl(lab: Lab) -> None:
    def sysctl(spec: rs.Spec) -> None:
        assert spec.linux is not None
        spec.linux.sysctl = {"net.ipv4.ip_forward": "1", "kernel.shmmax": "12345678"}

    out = (
        lab.run(["cat", "/proc/sys/net/ipv4/ip_forward", "/proc/sys/kernel/shmmax"], mutate=sysctl)
        .ok()
        .stdout
    )
    assert out.split() == ["1", "12345678"]


def test_cgroup_mount_shows_the_container_cgroup(lab: Lab) -> None:
    out = lab.run(
        [
            "sh",
            "-c",
            "ls /sys/fs/cgroup/memory/memory.limit_in_bytes && touch /sys/fs/cgroup/memory/x; echo rc=$?",
        ]
    )
    assert "memory.limit_in_bytes" in out.stdout
    assert "rc=1" in out.stdout
