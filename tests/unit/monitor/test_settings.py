"""MonitorConfig: one constructor checks what the engine writes and what the monitor reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard import errors
from dockyard.monitor import MonitorConfig
from dockyard.util import jsoncodec


def _fields(**changes: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "task_id": "a" * 64,
        "container_id": "a" * 64,
        "mode": "init",
        "monitor_dir": "/run/dockyard/m/aaaa",
        "runtime": "/usr/bin/runc",
        "runtime_root": "/run/dockyard/runtime/runc",
        "bundle": "/run/dockyard/bundles/aaaa",
        "terminal": True,
        "stdin": True,
        "stdin_once": True,
        "console_size": (24, 80),
        "log_path": "/var/lib/dockyard/containers/a/a-json.log",
        "log_max_size": 10 << 20,
        "log_max_file": 3,
    }
    fields.update(changes)
    return fields


def test_config_round_trips_through_json(tmp_path: Path) -> None:
    config = MonitorConfig(**_fields(runtime_args=["--systemd-cgroup"]))  # type: ignore[arg-type]
    path = tmp_path / "config.json"
    path.write_text(jsoncodec.dumps(config.to_json()))
    loaded = MonitorConfig.load(str(path))
    assert loaded == config
    assert loaded.console_size == (24, 80)
    assert loaded.runtime_args == ("--systemd-cgroup",)


def test_paths_may_be_pathlike() -> None:
    config = MonitorConfig(**_fields(monitor_dir=Path("/run/m/x")))  # type: ignore[arg-type]
    assert config.path("exit.json") == "/run/m/x/exit.json"


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"container_id": "bad/id"}, id="id-with-slash"),
        pytest.param({"task_id": ".."}, id="dot-dot-id"),
        pytest.param({"mode": "restart"}, id="unknown-mode"),
        pytest.param({"runtime": "runc"}, id="relative-runtime"),
        pytest.param({"bundle": None}, id="init-without-bundle"),
        pytest.param({"mode": "exec"}, id="exec-without-process"),
        pytest.param({"console_size": (24, 70000)}, id="console-too-wide"),
        pytest.param({"console_size": [24]}, id="console-not-a-pair"),
        pytest.param({"log_max_size": 0}, id="zero-max-size"),
        pytest.param({"log_max_file": 0}, id="zero-max-file"),
        pytest.param({"stdin": "yes"}, id="stdin-not-bool"),
        pytest.param({"runtime_args": ["--x", 3]}, id="runtime-arg-not-str"),
    ],
)
def test_invalid_config_is_refused(changes: dict[str, object]) -> None:
    with pytest.raises(errors.InvalidArgument):
        MonitorConfig(**_fields(**changes))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"v": 2}, id="future-version"),
        pytest.param([], id="not-an-object"),
        pytest.param({"v": 1, **_fields(), "surprise": 1}, id="unknown-field"),
        pytest.param({"v": 1, "mode": "init"}, id="missing-fields"),
    ],
)
def test_invalid_config_json_is_refused(data: object) -> None:
    with pytest.raises(errors.InvalidArgument):
        MonitorConfig.from_json(data)


def test_unparsable_config_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text("{not json")
    with pytest.raises(errors.InvalidArgument, match="config"):
        MonitorConfig.load(str(path))
