"""Errors: a clear message on stderr and in the json ``--log``, exit status 1, nothing left behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.oci import runtime_spec as rs
from tests.support.conformance import Lab, Result


def _assert_reported(lab: Lab, result: Result, *words: str) -> None:
    assert result.returncode == 1, result
    logged = " ".join(lab.log_messages("error"))
    for word in words:
        assert word in result.stderr, result
        assert word in logged, logged


def _assert_nothing_left(lab: Lab, ident: str) -> None:
    assert not (lab.root / ident).exists()
    for controller in ("memory", "pids", "freezer", "cpu"):
        assert not lab.cgroup_dir(controller, ident).exists()
    assert lab.cmd("state", ident).returncode == 1


def test_malformed_config_json(lab: Lab) -> None:
    ident, bundle = lab.bundle(["true"])
    (bundle / "config.json").write_text('{"ociVersion": "1.0.2", "process": {bad')
    result = lab.cmd("create", "--bundle", str(bundle), ident)
    _assert_reported(lab, result)
    assert result.stderr.strip()
    _assert_nothing_left(lab, ident)


def test_config_json_with_a_wrongly_typed_field_names_the_field(lab: Lab) -> None:
    ident, bundle = lab.bundle(["true"])
    text = (bundle / "config.json").read_text().replace('"uid": 0', '"uid": "zero"')
    (bundle / "config.json").write_text(text)
    result = lab.cmd("create", "--bundle", str(bundle), ident)
    _assert_reported(lab, result, "uid")
    _assert_nothing_left(lab, ident)


def test_missing_rootfs(lab: Lab) -> None:
    def elsewhere(spec: rs.Spec) -> None:
        assert spec.root is not None
        spec.root.path = "no-such-rootfs"

    ident, bundle = lab.bundle(["true"], mutate=elsewhere)
    result = lab.cmd("create", "--bundle", str(bundle), ident)
    _assert_reported(lab, result, "no-such-rootfs")
    _assert_nothing_left(lab, ident)


@pytest.mark.parametrize("command", ["state", "start", "kill", "delete", "pause", "resume"])
def test_unknown_id(lab: Lab, command: str) -> None:
    result = lab.cmd(command, "dyt-no-such-container")
    _assert_reported(lab, result)
    # runc and ours: "... does not exist"; crun names the missing state file of that id.
    assert "does not exist" in result.stderr or "dyt-no-such-container" in result.stderr


def test_duplicate_id(lab: Lab) -> None:
    ident = lab.create(["sleep", "60"])
    _, other = lab.bundle(["true"])
    result = lab.cmd("create", "--bundle", str(other), ident)
    _assert_reported(lab, result, "exists")
    assert lab.state(ident)["status"] == "created"  # the first one is untouched


def test_unknown_signal(lab: Lab) -> None:
    ident = lab.start_sleeper()
    result = lab.cmd("kill", ident, "SIGNOPE")
    _assert_reported(lab, result, "unknown signal")
    assert lab.state(ident)["status"] == "running"


def test_command_not_found_fails_create(lab: Lab) -> None:
    ident, bundle = lab.bundle(["no-such-command"])
    result = lab.cmd("create", "--bundle", str(bundle), ident)
    _assert_reported(lab, result, 'exec: "no-such-command": executable file not found in $PATH')
    _assert_nothing_left(lab, ident)


def test_start_of_a_running_container_is_refused(lab: Lab) -> None:
    ident = lab.start_sleeper()
    result = lab.cmd("start", ident)
    assert result.returncode == 1
    assert lab.state(ident)["status"] == "running"


def test_failed_create_leaves_no_process(lab: Lab) -> None:
    ident, bundle = lab.bundle(["no-such-command"])
    lab.cmd("create", "--bundle", str(bundle), ident)
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                root = (proc / "root").readlink()
            except OSError:
                continue
            assert str(bundle) not in str(root)
