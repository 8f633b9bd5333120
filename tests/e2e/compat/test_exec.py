"""docker-py's exec calls: ``exec_run`` with and without tty, stream and demux; exec inspect.

The lab's ``container exec <id> ls`` is ``exec_run`` here; the other forms are what docker-py
programs use. Every response is validated against the Engine API document (``compat.check()``).
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import Iterator
from typing import Any

import docker
import pytest

from tests.e2e.compat.conftest import Compat


@pytest.fixture
def running(compat: Compat) -> Iterator[Any]:
    container = compat.client.containers.run("alpine", ["sleep", "300"], detach=True)
    yield container
    compat.daemon.request("DELETE", f"/containers/{container.id}?force=1")


def test_exec_run_ls_like_the_lab(compat: Compat, running: Any) -> None:
    running.exec_run(["sh", "-c", 'echo "hello world" > /hello.txt'])
    code, output = running.exec_run("ls /")
    assert code == 0
    assert "hello.txt" in output.decode().split()
    compat.check()


def test_exec_run_demux_separates_the_streams(compat: Compat, running: Any) -> None:
    code, (out, err) = running.exec_run(["sh", "-c", "echo out; echo err >&2; exit 5"], demux=True)
    assert (code, out, err) == (5, b"out\n", b"err\n")
    code, output = running.exec_run(["sh", "-c", "echo out; echo err >&2"])
    assert code == 0
    assert sorted(output.splitlines()) == [b"err", b"out"]
    compat.check()


def test_exec_run_with_a_tty_gets_a_terminal(compat: Compat, running: Any) -> None:
    code, output = running.exec_run(["sh", "-c", "test -t 1 && echo tty"], tty=True)
    assert (code, output) == (0, b"tty\r\n")  # the pty turns \n into \r\n
    code, output = running.exec_run(["sh", "-c", "test -t 1 || echo no tty"])
    assert (code, output) == (0, b"no tty\n")
    compat.check()


def test_exec_run_streams(compat: Compat, running: Any) -> None:
    result = running.exec_run(["sh", "-c", "echo a; sleep 0.2; echo b"], stream=True)
    assert result.exit_code is None  # a stream has no exit code yet
    assert b"".join(result.output) == b"a\nb\n"
    result = running.exec_run(["sh", "-c", "echo a; echo b >&2"], stream=True, demux=True)
    frames = list(result.output)
    assert b"".join(out for out, _ in frames if out) == b"a\n"
    assert b"".join(err for _, err in frames if err) == b"b\n"
    del result
    with warnings.catch_warnings():  # docker-py's exec stream never closes its socket
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
    compat.check()


def test_exec_run_environment_workdir_and_user(compat: Compat, running: Any) -> None:
    assert running.exec_run("pwd", workdir="/tmp") == (0, b"/tmp\n")
    assert running.exec_run(["sh", "-c", "echo $DYT"], environment={"DYT": "set"}) == (0, b"set\n")
    assert running.exec_run("id -u", user="nobody") == (0, b"65534\n")
    compat.check()


def test_exec_inspect_reports_the_exit_code(compat: Compat, running: Any) -> None:
    created = compat.client.api.exec_create(running.id, ["sh", "-c", "exit 9"])
    before = compat.client.api.exec_inspect(created["Id"])
    assert (before["Running"], before["ExitCode"], before["Pid"]) == (False, None, 0)
    compat.client.api.exec_start(created["Id"])
    details = compat.client.api.exec_inspect(created["Id"])
    assert (details["ExitCode"], details["Running"], details["ContainerID"]) == (9, False, running.id)
    assert details["ProcessConfig"]["entrypoint"] == "sh"
    compat.check()


def test_exec_in_a_stopped_container_is_refused(compat: Compat) -> None:
    container = compat.client.containers.create("alpine", ["true"])
    with pytest.raises(docker.errors.APIError) as caught:
        container.exec_run("ls")
    assert caught.value.response.status_code == 409
    assert caught.value.explanation == f"Container {container.id} is not running"
    compat.check()


def test_exec_of_a_missing_program_fails_with_126(compat: Compat, running: Any) -> None:
    # dockerd 20.10 + runc: 126, 'OCI runtime exec failed: exec failed: unable to start container
    # process: exec: "/nosuch": stat /nosuch: no such file or directory: unknown'
    code, output = running.exec_run("/nosuch")
    assert code == 126, (code, output)
    assert b"no such file or directory" in output
    compat.check()
