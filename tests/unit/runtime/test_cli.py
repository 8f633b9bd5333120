"""The runc grammar, parsed by hand; signal names; runc's state text."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidArgument
from dockyard.runtime import cli, commands
from dockyard.runtime.failures import UsageError


@pytest.mark.parametrize(
    ("argv", "command", "flags", "args"),
    [
        (["--root", "/r", "create", "--bundle", "/b", "id1"], "create", {"bundle": "/b"}, ["id1"]),
        (["create", "-b", "/b", "--pid-file=/p", "id1"], "create",
         {"bundle": "/b", "pid-file": "/p"}, ["id1"]),
        (["kill", "--all", "id1", "KILL"], "kill", {"all": True}, ["id1", "KILL"]),
        (["delete", "id1", "--force"], "delete", {"force": True}, ["id1"]),
        (["exec", "-e", "A=1", "--env", "B=2", "-t", "id1", "sh", "-c", "x"], "exec",
         {"env": ["A=1", "B=2"], "tty": True}, ["id1", "sh", "-c", "x"]),
        (["exec", "id1", "--", "ls", "-l"], "exec", {}, ["id1", "ls", "-l"]),
        (["exec", "id1", "ls", "-l"], "exec", {}, ["id1", "ls", "-l"]),
        (["ps", "-f", "json", "id1"], "ps", {"format": "json"}, ["id1"]),
        (["rm", "id1"], "delete", {}, ["id1"]),
        (["features"], "features", {}, []),
    ],
    ids=["create", "aliases", "kill-all", "flag-after-id", "exec-flags", "exec-dashdash", "exec-args",
         "ps", "rm-alias", "features"],
)  # fmt: skip
def test_parse(argv: list[str], command: str, flags: dict[str, object], args: list[str]) -> None:
    parsed = cli.parse(argv)
    assert parsed.command == command
    assert parsed.flags == flags
    assert parsed.args == args


def test_global_flags() -> None:
    parsed = cli.parse(["--root", "/r", "--log", "/l", "--log-format", "json", "--debug", "state", "x"])
    assert parsed.globals == {"root": "/r", "log": "/l", "log-format": "json", "debug": True}


@pytest.mark.parametrize(
    "argv",
    [[], ["nope"], ["create"], ["start", "a", "b"], ["create", "--nope", "x"], ["create", "--bundle"]],
    ids=["empty", "unknown-command", "missing-id", "extra-arg", "unknown-flag", "missing-value"],
)
def test_usage_errors(argv: list[str]) -> None:
    with pytest.raises(UsageError):
        cli.parse(argv)


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("KILL", 9),
        ("SIGKILL", 9),
        ("sigterm", 15),
        ("15", 15),
        ("SIGUSR1", 10),
        ("WINCH", 28),
        ("RTMIN+2", 36),
    ],
)
def test_parse_signal(text: str, number: int) -> None:
    assert commands.parse_signal(text) == number


@pytest.mark.parametrize("text", ["SIGNOPE", "0", "65", "", "KILLX"])
def test_unknown_signal(text: str) -> None:
    with pytest.raises(InvalidArgument, match="unknown signal"):
        commands.parse_signal(text)


def test_state_text_is_gos_marshal_indent() -> None:
    text = commands._state_text({"ociVersion": "1.2.0", "id": "x", "pid": 3, "annotations": {"a": "b"}})
    assert (
        text
        == '{\n  "ociVersion": "1.2.0",\n  "id": "x",\n  "pid": 3,\n  "annotations": {\n    "a": "b"\n  }\n}'
    )


def test_main_reports_errors_with_status_1(capsys: pytest.CaptureFixture[str], tmp_path: object) -> None:
    assert cli.main(["--root", str(tmp_path), "state", "nope"]) == 1
    assert capsys.readouterr().err == 'container "nope" does not exist\n'


def test_main_writes_json_log_lines(tmp_path: object) -> None:
    from pathlib import Path

    from dockyard.util import jsoncodec

    log = Path(str(tmp_path)) / "log.json"
    assert cli.main(["--root", str(tmp_path), "--log", str(log), "--log-format", "json", "kill", "nope"]) == 1
    entry = jsoncodec.loads(log.read_text().splitlines()[0])
    assert isinstance(entry, dict)
    assert entry["level"] == "error"
    assert entry["msg"] == 'container "nope" does not exist'
    assert str(entry["time"]).endswith("Z")


def test_systemd_cgroup_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--systemd-cgroup", "state", "x"]) == 1
    assert "not supported" in capsys.readouterr().err
