"""Namespaces: each kind created, joined by path, and the user namespace's id maps."""

from __future__ import annotations

import os

import pytest

from dockyard.oci import runtime_spec as rs
from tests.support.conformance import Lab

_PROC = {"pid": "pid", "network": "net", "ipc": "ipc", "uts": "uts", "mount": "mnt", "cgroup": "cgroup"}


def _ns_links(lab: Lab, mutate: object = None) -> dict[str, str]:
    names = " ".join(_PROC.values())
    script = f"for n in {names} user time; do echo $n $(readlink /proc/self/ns/$n); done"
    out = lab.run(["sh", "-c", script], mutate=mutate).ok().stdout  # type: ignore[arg-type]
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


@pytest.mark.parametrize("kind", sorted(_PROC))
def test_each_namespace_is_new(lab: Lab, kind: str) -> None:
    def add(spec: rs.Spec) -> None:
        assert spec.linux is not None
        if all(ns.type != kind for ns in spec.linux.namespaces):
            spec.linux.namespaces.append(rs.LinuxNamespace(type=kind))

    inside = _ns_links(lab, add)
    assert inside[_PROC[kind]] != os.readlink(f"/proc/self/ns/{_PROC[kind]}")


def test_without_a_namespace_the_host_one_is_kept(lab: Lab) -> None:
    def host_net(spec: rs.Spec) -> None:
        assert spec.linux is not None
        spec.linux.namespaces = [ns for ns in spec.linux.namespaces if ns.type != "network"]

    assert _ns_links(lab, host_net)["net"] == os.readlink("/proc/self/ns/net")


def test_time_namespace_where_the_kernel_has_it(lab: Lab) -> None:
    if not os.path.exists("/proc/self/ns/time"):
        pytest.skip("the kernel has no time namespaces")

    def add(spec: rs.Spec) -> None:
        assert spec.linux is not None
        spec.linux.namespaces.append(rs.LinuxNamespace(type="time"))

    ident, bundle = lab.bundle(["readlink", "/proc/self/ns/time"], mutate=add)
    result = lab.cmd("run", "--bundle", str(bundle), ident)
    if result.returncode != 0 and lab.runtime != "dockyard-runtime":
        # runc 1.1.5: 'namespace {"time" ""} does not exist'; crun 1.8.1 fails on its sync socket.
        pytest.skip(f"{lab.runtime} cannot create a time namespace: {result.stderr.strip()}")
    assert result.ok().stdout.strip() != os.readlink("/proc/self/ns/time")


def test_join_namespaces_by_path(lab: Lab) -> None:
    first = lab.start_sleeper()
    pid = lab.pid(first)

    def join(spec: rs.Spec) -> None:
        assert spec.linux is not None
        for ns in spec.linux.namespaces:
            if ns.type in ("network", "ipc", "uts"):
                ns.path = f"/proc/{pid}/ns/{_PROC[ns.type]}"

    inside = _ns_links(lab, join)
    for kind in ("net", "ipc", "uts"):
        assert inside[kind] == os.readlink(f"/proc/{pid}/ns/{kind}")
    assert inside["pid"] != os.readlink(f"/proc/{pid}/ns/pid")


def test_user_namespace_with_id_maps(lab: Lab) -> None:
    def userns(spec: rs.Spec) -> None:
        assert spec.linux is not None
        spec.linux.namespaces.append(rs.LinuxNamespace(type="user"))
        spec.linux.uid_mappings = [rs.IDMapping(container_id=0, host_id=100000, size=65536)]
        spec.linux.gid_mappings = [rs.IDMapping(container_id=0, host_id=100000, size=65536)]
        spec.mounts = [m for m in spec.mounts if m.type not in ("cgroup",)]

    # The rootfs belongs to host root, unmapped inside: only reading is needed here.
    out = lab.run(["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u"], mutate=userns).ok().stdout
    lines = [line.split() for line in out.splitlines()]
    assert lines[0] == ["0", "100000", "65536"]
    assert lines[1] == ["0", "100000", "65536"]
    assert lines[2] == ["0"]


def test_pid_one_is_the_process(lab: Lab) -> None:
    assert lab.run(["sh", "-c", "echo $$"]).ok().stdout.strip() == "1"


def test_exec_joins_the_user_namespace(lab: Lab) -> None:
    def userns(spec: rs.Spec) -> None:
        assert spec.linux is not None
        spec.linux.namespaces.append(rs.LinuxNamespace(type="user"))
        spec.linux.uid_mappings = [rs.IDMapping(container_id=0, host_id=100000, size=65536)]
        spec.linux.gid_mappings = [rs.IDMapping(container_id=0, host_id=100000, size=65536)]
        spec.mounts = [m for m in spec.mounts if m.type != "cgroup"]

    ident = lab.start_sleeper(mutate=userns)
    pid = lab.pid(ident)
    out = (
        lab.cmd("exec", ident, "sh", "-c", "readlink /proc/self/ns/user; id -u; cat /proc/self/uid_map")
        .ok()
        .stdout
    )
    lines = out.splitlines()
    assert lines[0] == os.readlink(f"/proc/{pid}/ns/user")
    assert lines[1] == "0"
    assert lines[2].split() == ["0", "100000", "65536"]
