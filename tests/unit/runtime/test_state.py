"""The state record: runc's JSON, the OCI state for hooks, status derivation and namespaces plan."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument
from dockyard.oci import runtime_spec as rs
from dockyard.oci.state import State, rfc3339_nano
from dockyard.runtime import namespaces
from dockyard.runtime.container import RuntimeContainer, process_start_time
from dockyard.runtime.failures import ContainerExists, NoSuchRuntimeContainer
from tests.support.bundles import default_spec


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (1_795_700_000_123_456_789, "2026-11-26T13:33:20.123456789Z"),
        (1_795_700_000_100_000_000, "2026-11-26T13:33:20.1Z"),
        (1_795_700_000_000_000_000, "2026-11-26T13:33:20Z"),
    ],
)
def test_rfc3339_nano_trims_zeros_like_go(ns: int, text: str) -> None:
    assert rfc3339_nano(ns) == text


def test_state_round_trip_and_hook_subset() -> None:
    state = State(
        id="c", status="running", pid=7, bundle="/b", rootfs="/b/rootfs", created="t", annotations={"k": "v"}
    )
    assert State.from_json(state.to_json()).to_json() == state.to_json()
    assert list(state.to_json()) == [
        "ociVersion",
        "id",
        "pid",
        "status",
        "bundle",
        "rootfs",
        "created",
        "owner",
        "annotations",
    ]
    assert state.hook_json() == {
        "ociVersion": "1.2.0",
        "id": "c",
        "status": "running",
        "pid": 7,
        "bundle": "/b",
        "annotations": {"k": "v"},
    }


def test_reserve_load_and_status(tmp_path: Path) -> None:
    container = RuntimeContainer.reserve(str(tmp_path), "c1")
    with pytest.raises(ContainerExists, match="container with id exists: c1"):
        RuntimeContainer.reserve(str(tmp_path), "c1")
    container.record.update(pid=os.getpid(), start_time=process_start_time(os.getpid()), bundle="/b")
    container.save()
    loaded = RuntimeContainer.load(str(tmp_path), "c1")
    assert loaded.status() == "running"
    os.mkfifo(loaded.fifo_path)
    assert loaded.status() == "created"
    loaded.record["start_time"] = 1  # a recycled pid: same number, another process
    assert loaded.status() == "stopped"
    assert loaded.state().pid == 0
    loaded.remove_dir()
    with pytest.raises(NoSuchRuntimeContainer, match='container "c1" does not exist'):
        RuntimeContainer.load(str(tmp_path), "c1")


@pytest.mark.parametrize("ident", ["", ".", "..", "a/b", "a b", "ü"])
def test_bad_ids(tmp_path: Path, ident: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid id format"):
        RuntimeContainer.reserve(str(tmp_path), ident)


def test_namespace_plan_orders_joins_and_creations() -> None:
    spec = default_spec(["true"])
    assert spec.linux is not None
    spec.linux.namespaces = [
        rs.LinuxNamespace(type="mount", path="/proc/1/ns/mnt"),
        rs.LinuxNamespace(type="network", path="/run/netns/x"),
        rs.LinuxNamespace(type="user", path="/proc/1/ns/user"),
        rs.LinuxNamespace(type="pid"),
        rs.LinuxNamespace(type="uts"),
    ]
    plan = namespaces.plan_namespaces(spec)
    assert [kind for kind, _ in plan.join] == ["user", "network", "mount"]
    assert plan.create == ["pid", "uts"]
    assert plan.has("network")
    assert not plan.has("ipc")


def test_duplicate_or_unknown_namespaces_are_refused() -> None:
    spec = default_spec(["true"])
    assert spec.linux is not None
    spec.linux.namespaces.append(rs.LinuxNamespace(type="pid"))
    with pytest.raises(InvalidArgument, match="duplicated"):
        namespaces.plan_namespaces(spec)
    spec.linux.namespaces = [rs.LinuxNamespace(type="nope")]
    with pytest.raises(InvalidArgument, match="does not exist"):
        namespaces.plan_namespaces(spec)


def test_id_map_text() -> None:
    maps = [
        rs.IDMapping(container_id=0, host_id=1000, size=1),
        rs.IDMapping(container_id=1, host_id=100000, size=65535),
    ]
    assert namespaces.format_id_map(maps) == b"0 1000 1\n1 100000 65535\n"


def test_the_record_is_marshal_and_a_legacy_json_record_still_loads(tmp_path: Path) -> None:
    import marshal

    from dockyard.util import jsoncodec

    container = RuntimeContainer.reserve(str(tmp_path), "c1")
    container.record.update(pid=0, bundle="/b", config={"ociVersion": "1.2.0", "hooks": {}})
    container.save()
    record = marshal.loads((tmp_path / "c1" / "state.marshal").read_bytes())
    assert record["config"] == {"ociVersion": "1.2.0", "hooks": {}}
    (tmp_path / "c2").mkdir()
    (tmp_path / "c2" / "state.json").write_text(jsoncodec.dumps({"id": "c2", "pid": 0, "bundle": "/old"}))
    assert RuntimeContainer.load(str(tmp_path), "c2").bundle == "/old"
    assert RuntimeContainer.list_ids(str(tmp_path)) == ["c1", "c2"]


def test_a_half_written_record_is_no_container(tmp_path: Path) -> None:
    RuntimeContainer.reserve(str(tmp_path), "c1")
    (tmp_path / "c1" / "state.marshal").write_bytes(b"\xfb\x00")
    with pytest.raises(NoSuchRuntimeContainer):
        RuntimeContainer.load(str(tmp_path), "c1")
    assert RuntimeContainer.list_ids(str(tmp_path)) == ["c1"]  # listed; `list` skips what fails to load


def test_the_lock_excludes_another_holder_until_released(tmp_path: Path) -> None:
    import fcntl

    container = RuntimeContainer.reserve(str(tmp_path), "c1")
    other = os.open(container.lock_path(), os.O_RDONLY | os.O_CREAT, 0o600)
    try:
        with container.lock(), pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released with the block
    finally:
        os.close(other)
