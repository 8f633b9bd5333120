"""dockyard is a client of the Engine API, not of dockyardd: against dockerd it prints what docker does.

A private dockerd (Debian's docker.io, API 1.41) runs on throwaway roots, without a bridge or
iptables, its cgroups under ``/dyt-<hex>``. Each step runs the same command with the docker CLI
and with dockyard (names differ so the two do not collide) and compares status and output.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cli.conftest import DOCKYARD
from tests.support.oci_layouts import fixture, write_docker_save

DOCKERD = Path("/usr/sbin/dockerd")
DOCKER = "/usr/local/bin/docker"  # a modern client (28.2), downgrading to dockerd 20.10's API


def _cleanup(root: Path) -> None:
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines() if str(root) in line]
    for point in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)
    for controller in Path("/sys/fs/cgroup").iterdir():
        parent = controller / root.name
        if parent.is_dir():
            for directory in [*sorted(parent.rglob("*"), key=lambda p: -len(p.parts)), parent]:
                if directory.is_dir():
                    try:
                        directory.rmdir()
                    except OSError:
                        pass
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def dockerd() -> Iterator[dict[str, str]]:
    if not DOCKERD.exists():
        pytest.fail(f"{DOCKERD} is missing: apt-get install docker.io")
    root = Path(tempfile.mkdtemp(prefix="dyt-", dir="/tmp"))
    socket_path = root / "d.sock"
    with open(root / "dockerd.log", "wb") as log:
        process = subprocess.Popen(
            [str(DOCKERD), "--data-root", str(root / "data"), "--exec-root", str(root / "exec"),
             "-H", f"unix://{socket_path}", "--pidfile", str(root / "d.pid"), "--bridge=none",
             "--iptables=false", "--ip-masq=false", "--cgroup-parent", f"/{root.name}"],
            stdout=log, stderr=log, start_new_session=True,
        )  # fmt: skip
    env = dict(os.environ, DOCKER_HOST=f"unix://{socket_path}", DOCKYARD_HOST=f"unix://{socket_path}",
               DOCKYARD_AUTOSTART="0", HOME=str(root))  # fmt: skip
    env.pop("DOCKER_API_VERSION", None)
    try:
        deadline = time.monotonic() + 60
        while subprocess.run([DOCKER, "version"], env=env, capture_output=True, check=False).returncode:
            assert process.poll() is None, (root / "dockerd.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "dockerd did not answer"
            time.sleep(0.2)
        archive = write_docker_save(root / "alpine.tar", [(fixture("alpine"), None)])
        subprocess.run([DOCKER, "load", "-q", "-i", str(archive)], env=env, check=True, capture_output=True)
        yield env
    finally:
        subprocess.run(
            ["sh", "-c", f"{DOCKER} rm -f $({DOCKER} ps -aq) 2>/dev/null"],
            env=env,
            capture_output=True,
            check=False,
        )
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        _cleanup(root)


def _both(env: dict[str, str], *argv: str, stdin: bytes | None = None) -> tuple[tuple[int, str, str], ...]:
    """(status, stdout, stderr) of docker then dockyard; ``{}`` in an argument is the CLI's name."""
    results = []
    for program, name in ((DOCKER, "docker"), (DOCKYARD, "dockyard")):
        args = [a.replace("{}", f"dyt-{name}") for a in argv]
        done = subprocess.run(
            [program, *args], env=env, input=stdin, capture_output=True, timeout=60, check=False
        )
        out = done.stdout.decode().replace(f"dyt-{name}", "{}")
        err = done.stderr.decode().replace(f"dyt-{name}", "{}").replace("docker", "dockyard")
        results.append((done.returncode, out, err))
    return tuple(results)


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(("images",), id="images"),
        pytest.param(("run", "--name", "{}-1", "alpine", "echo", "hello from alpine"), id="run-echo"),
        pytest.param(
            ("run", "--rm", "alpine", "sh", "-c", "echo out; echo err >&2; exit 3"), id="run-streams-status"
        ),
        pytest.param(("logs", "{}-1"), id="logs"),
        pytest.param(
            (
                "inspect",
                "-f",
                "{{.State.ExitCode}} {{.Config.Cmd}} {{json .Config.Entrypoint}} {{len .ID}}",
                "{}-1",
            ),
            id="inspect-template",
        ),
        pytest.param(
            ("image", "inspect", "-f", "{{.RepoTags}} {{.Config.Cmd}} {{.Os}}", "alpine"), id="image-inspect"
        ),
        pytest.param(
            (
                "ps",
                "-a",
                "--filter",
                "name={}-1",
                "--format",
                "{{.Names}} {{.Command}} {{.State}} {{.Image}}",
            ),
            id="ps",
        ),
        pytest.param(("history", "--format", "{{.CreatedBy}}|{{.Size}}", "alpine"), id="history"),
        pytest.param(("inspect", "{}-missing"), id="inspect-missing"),
        pytest.param(("rm", "{}-1", "{}-missing"), id="rm-partial-failure"),
        pytest.param(("version", "--format", "{{.Server.APIVersion}}"), id="version-go-field-name"),
        pytest.param(("info", "--format", "{{.OSType}} {{.Driver}}"), id="info"),
    ],
)
def test_same_answers_as_docker(dockerd, argv) -> None:
    docker, dockyard = _both(dockerd, *argv)
    assert dockyard == docker


def test_stdin_exec_and_stop_like_docker(dockerd) -> None:
    assert _both(dockerd, "run", "-i", "--rm", "alpine", "cat", stdin=b"piped\n") == ((0, "piped\n", ""),) * 2
    docker, dockyard = _both(dockerd, "run", "-d", "--name", "{}-2", "alpine", "sleep", "60")
    assert (docker[0], dockyard[0]) == (0, 0)
    assert _both(dockerd, "exec", "{}-2", "sh", "-c", "echo in; exit 4") == ((4, "in\n", ""),) * 2
    assert _both(dockerd, "stop", "-t", "1", "{}-2") == ((0, "{}-2\n", ""),) * 2
    assert _both(dockerd, "rm", "{}-2") == ((0, "{}-2\n", ""),) * 2
