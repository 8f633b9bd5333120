"""OCI hooks: each kind runs at its point, in its namespace, with the state on stdin."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from dockyard.oci import runtime_spec as rs
from tests.support.conformance import Lab

_KINDS = ("prestart", "create_runtime", "create_container", "start_container", "poststart", "poststop")


def _hook(record: Path, name: str) -> rs.Hook:
    # The state goes to a file named after the hook, with the namespace of the hook's process.
    # createContainer/startContainer run inside the container's mount namespace, so the record
    # directory is bind-mounted at the same path inside.
    script = (
        f"cat > {record}/{name}.json; readlink /proc/self/ns/mnt > {record}/{name}.ns; "
        f'echo "$@" > {record}/{name}.args'
    )
    return rs.Hook(path="/bin/sh", args=["sh", "-c", script, "arg0", "one", "two"], env=["DYT=1"])


def _with_hooks(record: Path) -> object:
    def mutate(spec: rs.Spec) -> None:
        spec.hooks = rs.Hooks(**{kind: [_hook(record, kind)] for kind in _KINDS})
        spec.mounts.append(
            rs.Mount(destination=str(record), type="bind", source=str(record), options=["rbind"])
        )
        spec.annotations["dyt.hook"] = "yes"

    return mutate


def _state(record: Path, kind: str) -> dict[str, object]:
    data = json.loads((record / f"{kind}.json").read_text())
    assert isinstance(data, dict)
    return data


def test_hooks_run_in_order_with_the_state(lab: Lab) -> None:
    record = lab.dir / "hooks"
    record.mkdir()
    ident, bundle = lab.bundle(["sleep", "60"], mutate=_with_hooks(record))  # type: ignore[arg-type]
    lab.cmd("create", "--bundle", str(bundle), ident).ok()
    pid = lab.pid(ident)
    for kind in ("prestart", "create_runtime", "create_container"):
        state = _state(record, kind)
        assert state["id"] == ident
        # runc reports createContainer's pid as seen inside the container (1); ours the host's.
        assert state["pid"] == pid or (kind == "create_container" and state["pid"] == 1)
        assert state["bundle"] == str(bundle)
        assert state["status"] == "creating"
        assert state["annotations"] == {"dyt.hook": "yes"}
    assert not (record / "start_container.json").exists()
    if lab.runtime != "runc":  # runc 1.1 runs poststart hooks at the end of create (see below)
        assert not (record / "poststart.json").exists()
    lab.cmd("start", ident).ok()
    # startContainer runs in init after the start signal: ``start`` may return before it ends.
    deadline = time.monotonic() + 10
    while not (record / "start_container.args").exists():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert _state(record, "start_container")["status"] == "created"
    assert _state(record, "poststart")["status"] in (
        ("created", "running") if lab.runtime == "runc" else ("running",)
    )
    assert _state(record, "poststart")["pid"] == pid
    assert not (record / "poststop.json").exists()
    lab.cmd("kill", ident, "KILL").ok()
    lab.wait_stopped(ident)
    lab.cmd("delete", ident).ok()
    assert _state(record, "poststop")["status"] == "stopped"
    host_mnt = os.readlink("/proc/self/ns/mnt")
    for kind in ("prestart", "create_runtime", "poststart", "poststop"):
        assert (record / f"{kind}.ns").read_text().strip() == host_mnt, kind
    for kind in ("create_container", "start_container"):
        assert (record / f"{kind}.ns").read_text().strip() != host_mnt, kind
    assert (record / "prestart.args").read_text().split() == ["one", "two"]


def test_failing_create_runtime_hook_fails_create_and_cleans_up(lab: Lab) -> None:
    def failing(spec: rs.Spec) -> None:
        spec.hooks = rs.Hooks(create_runtime=[rs.Hook(path="/bin/false", args=["false"])])

    ident, bundle = lab.bundle(["sleep", "60"], mutate=failing)
    result = lab.cmd("create", "--bundle", str(bundle), ident)
    assert result.returncode == 1
    assert lab.cmd("state", ident).returncode == 1
    assert not lab.cgroup_dir("memory", ident).exists()


def test_hook_timeout_kills_it(lab: Lab) -> None:
    def slow(spec: rs.Spec) -> None:
        spec.hooks = rs.Hooks(prestart=[rs.Hook(path="/bin/sleep", args=["sleep", "30"], timeout=1)])

    ident, bundle = lab.bundle(["true"], mutate=slow)
    result = lab.cmd("create", "--bundle", str(bundle), ident, timeout=20)
    assert result.returncode == 1
    assert lab.cmd("state", ident).returncode == 1


def test_failing_poststart_hook_is_only_a_warning(lab: Lab) -> None:
    if lab.runtime == "runc":
        pytest.skip("runc 1.1 runs poststart hooks inside create and fails on them (changed in runc 1.2)")

    def failing(spec: rs.Spec) -> None:
        spec.hooks = rs.Hooks(poststart=[rs.Hook(path="/bin/false", args=["false"])])

    ident = lab.create(["sleep", "60"], mutate=failing)
    lab.cmd("start", ident)
    assert lab.state(ident)["status"] == "running"
