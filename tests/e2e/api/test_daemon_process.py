"""dockyardd as a process: socket, pid file, one daemon per root, start-up errors, signals, TCP/TLS."""

from __future__ import annotations

import grp
import os
import signal
import socket
import ssl
import stat
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.daemon import DaemonError, DaemonHarness
from tests.support.registry import free_port, make_tls


def _docker_gid() -> int:
    try:
        return grp.getgrnam("docker").gr_gid
    except KeyError:
        return os.getgid()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not Path(f"/proc/{pid}/status").read_text().count("State:\tZ")


def _run(daemon: DaemonHarness, *cmd: str, name: str | None = None) -> str:
    path = "/containers/create" + (f"?name={name}" if name else "")
    reply = daemon.request("POST", path, {"Image": "alpine", "Cmd": list(cmd)})
    assert reply.status == 201, reply.body
    cid = str(reply.json()["Id"])
    started = daemon.request("POST", f"/containers/{cid}/start")
    assert started.status == 204, started.body
    return cid


def _state(daemon: DaemonHarness, cid: str) -> dict[str, object]:
    return dict(daemon.request("GET", f"/containers/{cid}/json").json()["State"])


def test_socket_is_root_only_and_pid_file_names_the_daemon(daemon: DaemonHarness) -> None:
    info = os.stat(daemon.socket)
    assert stat.S_ISSOCK(info.st_mode)
    assert stat.S_IMODE(info.st_mode) == 0o660
    assert (info.st_uid, info.st_gid) == (0, _docker_gid())
    assert daemon.pidfile.read_text().strip() == str(daemon.pid)


def test_a_second_daemon_on_the_same_data_root_is_refused(daemon: DaemonHarness) -> None:
    args = [a if a != daemon.host else f"unix://{daemon.root}/other.sock" for a in daemon.args]
    args[args.index("--pidfile") + 1] = str(daemon.root / "other.pid")
    result = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"another dockyardd (pid {daemon.pid}) is using data root {daemon.data_root}" in result.stderr
    assert daemon.request("GET", "/_ping").status == 200
    assert daemon.pidfile.read_text().strip() == str(daemon.pid)


def test_a_socket_in_use_is_refused(daemon: DaemonHarness) -> None:
    second = DaemonHarness(start=False, timeout=20)
    try:
        second.socket = daemon.socket
        with pytest.raises(DaemonError, match="address already in use"):
            second.start()
    finally:
        second.close()
    assert daemon.request("GET", "/_ping").status == 200


def test_a_missing_runtime_is_a_startup_error() -> None:
    harness = DaemonHarness(runtime="nosuch", start=False, timeout=20)
    try:
        with pytest.raises(DaemonError, match="default runtime 'nosuch' not found"):
            harness.start()
        assert not os.path.exists(harness.socket)
    finally:
        harness.close()


def test_sigterm_shuts_down_and_containers_keep_running(lab: DaemonHarness) -> None:
    cid = _run(lab, "sleep", "1000")
    pid = int(_state(lab, cid)["Pid"])  # type: ignore[call-overload]
    assert lab.stop() == 0
    assert "shutting down" in lab.log()
    assert not os.path.exists(lab.socket)
    assert not lab.pidfile.exists()
    assert _alive(pid)
    lab.start()
    state = _state(lab, cid)
    assert state["Status"] == "running"
    assert state["Pid"] == pid


def test_sigkill_then_restart_finds_running_and_ended_containers(lab: DaemonHarness) -> None:
    ticker = _run(lab, "sh", "-c", "while true; do echo tick; sleep 0.2; done")
    ending = _run(lab, "sh", "-c", "sleep 1; exit 3")
    pid = int(_state(lab, ticker)["Pid"])  # type: ignore[call-overload]
    lab.kill(signal.SIGKILL)
    time.sleep(2)
    assert _alive(pid)
    lab.start()
    assert _state(lab, ticker)["Status"] == "running"
    ended = _state(lab, ending)
    assert ended["Status"] == "exited"
    assert ended["ExitCode"] == 3
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:  # docker logs -f
        sock.settimeout(10)
        sock.connect(lab.socket)
        query = f"stdout=1&follow=1&since={int(time.time())}"
        sock.sendall(f"GET /containers/{ticker}/logs?{query} HTTP/1.1\r\nHost: d\r\n\r\n".encode())
        data = b""
        while b"tick" not in data:
            chunk = sock.recv(4096)
            assert chunk, data
            data += chunk


def test_loopback_tcp_without_tls_is_allowed_with_a_warning() -> None:
    port = free_port()
    with DaemonHarness(extra_args=["-H", f"tcp://127.0.0.1:{port}"]) as daemon:
        assert "without TLS" in daemon.log()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
            assert sock.recv(4096).startswith(b"HTTP/1.1 200 OK")


def test_non_loopback_tcp_without_tls_is_refused() -> None:
    harness = DaemonHarness(extra_args=["-H", "tcp://0.0.0.0:2375"], start=False, timeout=20)
    try:
        with pytest.raises(
            DaemonError, match=r"refusing to listen on tcp://0\.0\.0\.0:2375 without --tlsverify"
        ):
            harness.start()
    finally:
        harness.close()


def _tls_ping(port: int, context: ssl.SSLContext) -> bytes:
    """``GET /_ping`` over TLS; the first bytes of the answer (``b""`` if the server hung up)."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as sock,
    ):
        sock.sendall(b"GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
        return sock.recv(4096)


def _refused(port: int, context: ssl.SSLContext) -> bool:
    try:
        return _tls_ping(port, context) == b""
    except (ssl.SSLError, ConnectionError):
        return True


def test_mutual_tls(tmp_path: Path) -> None:
    files = make_tls(tmp_path)
    port = free_port()
    tls_args = [
        "-H", f"tcp://127.0.0.1:{port}", "--tlsverify", "--tlscacert", str(files.ca),
        "--tlscert", str(files.server_cert), "--tlskey", str(files.server_key),
    ]  # fmt: skip
    with DaemonHarness(extra_args=tls_args) as daemon:
        good = ssl.create_default_context(cafile=str(files.ca))
        good.load_cert_chain(str(files.client_cert), str(files.client_key))
        assert _tls_ping(port, good).startswith(b"HTTP/1.1 200 OK")
        assert _refused(port, ssl.create_default_context(cafile=str(files.ca)))  # no client certificate
        certs = tmp_path / "docker-certs"
        certs.mkdir()
        for source, name in (
            (files.ca, "ca.pem"),
            (files.client_cert, "cert.pem"),
            (files.client_key, "key.pem"),
        ):
            (certs / name).write_bytes(source.read_bytes())
        env = dict(
            daemon.env,
            DOCKER_HOST=f"tcp://127.0.0.1:{port}",
            DOCKER_TLS_VERIFY="1",
            DOCKER_CERT_PATH=str(certs),
        )
        result = subprocess.run(
            ["docker", "version", "--format", "{{.Server.APIVersion}}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "1.45"


def test_an_unknown_socket_group_is_a_startup_error() -> None:
    harness = DaemonHarness(extra_args=["--group", "dyt-no-such-group"], start=False, timeout=20)
    try:
        with pytest.raises(DaemonError, match="group dyt-no-such-group not found"):
            harness.start()
    finally:
        harness.close()
