"""Autostart: the CLI starts dockyardd when nothing answers on the default socket (as root)."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from dockyard.cli import client as api
from dockyard.cli.commands import autostart

REPO = Path(__file__).resolve().parents[3]
FAKE_DAEMON = f"""#!{sys.executable}
# A stand-in dockyardd: serves the fake Engine API on the socket given with -H.
import signal, sys, time
sys.path.insert(0, {str(REPO)!r})
from pathlib import Path
from tests.unit.cli.fakeapi import FakeEngine, Reply
socket_path = Path(sys.argv[sys.argv.index("-H") + 1].removeprefix("unix://"))
Path(sys.argv[0] + ".pid").write_text(str(__import__("os").getpid()))
time.sleep(0.3)  # a daemon takes a moment to listen
with FakeEngine(socket_path.parent, socket_path=socket_path) as engine:
    engine.route("GET", "/containers/json", Reply(200, []))
    signal.sigwait({{signal.SIGTERM}})
"""


@pytest.fixture
def as_root_with_default(tmp_path, monkeypatch):
    """Pretend to be root, with the default socket, log and lock inside ``tmp_path``."""
    monkeypatch.setattr(api, "DEFAULT_HOST", f"unix://{tmp_path}/dockyard.sock")
    monkeypatch.setattr(autostart, "LOG_PATH", str(tmp_path / "log" / "dockyardd.log"))
    monkeypatch.setattr(autostart, "LOCK_PATH", str(tmp_path / "autostart.lock"))
    monkeypatch.setattr(autostart.os, "geteuid", lambda: 0)
    return tmp_path


def _fake_daemon(directory: Path, source: str = FAKE_DAEMON) -> Path:
    program = directory / "dockyardd"
    program.write_text(source)
    program.chmod(0o755)
    return program


def _stop(program: Path) -> None:
    pid_file = Path(str(program) + ".pid")
    if pid_file.exists():
        pid = int(pid_file.read_text())
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):  # the CLI ran in this process, so the daemon is our child: reap it
            if os.waitpid(pid, os.WNOHANG)[0]:
                return
            time.sleep(0.05)


def test_starts_the_daemon_says_so_and_goes_on(
    as_root_with_default, monkeypatch, dockyard_without_host
) -> None:
    program = _fake_daemon(as_root_with_default)
    monkeypatch.setattr(autostart, "_daemon_binary", lambda: str(program))
    try:
        result = dockyard_without_host("ps")
    finally:
        _stop(program)
    socket_path = as_root_with_default / "dockyard.sock"
    assert result.status == 0, result
    assert result.err == f"Starting dockyardd (no daemon was listening on {socket_path})\n"
    assert result.out.startswith("CONTAINER ID")
    assert (as_root_with_default / "log" / "dockyardd.log").exists()


def test_a_daemon_that_exits_is_reported(as_root_with_default, monkeypatch, dockyard_without_host) -> None:
    program = _fake_daemon(as_root_with_default, f"#!{sys.executable}\nimport sys\nsys.exit(3)\n")
    monkeypatch.setattr(autostart, "_daemon_binary", lambda: str(program))
    result = dockyard_without_host("ps")
    assert result.status == 1
    assert result.err.splitlines()[-1] == (
        f"dockyardd exited with status 3 before answering on {as_root_with_default / 'dockyard.sock'}; "
        f"see {autostart.LOG_PATH}"
    )


@pytest.mark.parametrize(
    ("environ", "root"),
    [
        pytest.param({"DOCKER_HOST": "unix:///elsewhere.sock"}, True, id="docker-host-elsewhere"),
        pytest.param({"DOCKYARD_AUTOSTART": "0"}, True, id="disabled"),
        pytest.param({}, False, id="not-root"),
    ],
)
def test_no_autostart_unless_default_socket_and_root(
    as_root_with_default, monkeypatch, dockyard_without_host, environ, root
) -> None:
    monkeypatch.setattr(autostart.os, "geteuid", lambda: 0 if root else 1000)
    monkeypatch.setattr(autostart, "_daemon_binary", lambda: pytest.fail("must not start a daemon"))
    result = dockyard_without_host("ps", environ=environ)
    assert result.status == 1
    assert "Cannot connect to the dockyard daemon" in result.err
    assert "Starting dockyardd" not in result.err


@pytest.fixture
def dockyard_without_host(capsys, tmp_path):
    from dockyard.cli import main
    from tests.unit.cli.conftest import Result

    def run(*argv: str, environ: dict[str, str] | None = None) -> Result:
        env = {"HOME": str(tmp_path), "PATH": "/usr/bin", **(environ or {})}
        status = main.dispatch(list(argv), env)
        out, err = capsys.readouterr()
        return Result(status, out, err)

    return run
