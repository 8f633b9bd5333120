"""Listening sockets: -H parsing, unix socket permissions and reuse rules, TCP and TLS refusals."""

from __future__ import annotations

import logging
import os
import socket
import stat
from pathlib import Path

import pytest

from dockyard.api import listeners
from dockyard.api.listeners import Endpoint, TlsFiles, bind_tcp, bind_unix, parse_host, tls_context
from dockyard.errors import InvalidArgument, SystemFailure


@pytest.mark.parametrize(
    ("value", "endpoint"),
    [
        ("unix:///run/dockyard.sock", Endpoint(scheme="unix", path="/run/dockyard.sock")),
        ("/tmp/x.sock", Endpoint(scheme="unix", path="/tmp/x.sock")),
        ("tcp://127.0.0.1:2375", Endpoint(scheme="tcp", host="127.0.0.1", port=2375)),
        ("tcp://localhost", Endpoint(scheme="tcp", host="localhost", port=2375)),
        ("tcp://[::1]:1234", Endpoint(scheme="tcp", host="::1", port=1234)),
        ("127.0.0.1:9", Endpoint(scheme="tcp", host="127.0.0.1", port=9)),
        ("tcp://:2376", Endpoint(scheme="tcp", host="127.0.0.1", port=2376)),
    ],
)
def test_parse_host(value: str, endpoint: Endpoint) -> None:
    assert parse_host(value) == endpoint


def test_tls_changes_the_default_port() -> None:
    assert parse_host("tcp://127.0.0.1", tls=True).port == 2376


@pytest.mark.parametrize("value", ["fd://", "ssh://host", "unix://", "tcp://host:port", "tcp://host:99999"])
def test_bad_hosts_are_refused(value: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_host(value)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("::1", True), ("localhost", True), ("10.0.0.1", False), ("0.0.0.0", False)],
)
def test_loopback_detection(host: str, loopback: bool) -> None:
    assert Endpoint(scheme="tcp", host=host, port=1).is_loopback is loopback


def test_unix_socket_mode_is_0660_before_listening(tmp_path: Path) -> None:
    path = str(tmp_path / "d.sock")
    sock = bind_unix(path, group="")
    try:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o660
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with pytest.raises(ConnectionRefusedError):  # bound, not yet listening
            probe.connect(path)
        probe.close()
    finally:
        sock.close()


def test_stale_socket_is_replaced_and_live_one_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "d.sock")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    stale.close()  # the file stays; nobody answers
    bind_unix(path, group="").close()
    live = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    os.unlink(path)
    live.bind(path)
    live.listen(1)
    try:
        with pytest.raises(SystemFailure, match="address already in use"):
            bind_unix(path, group="")
    finally:
        live.close()


def test_a_regular_file_is_never_removed(tmp_path: Path) -> None:
    path = tmp_path / "d.sock"
    path.write_text("precious")
    with pytest.raises(SystemFailure, match="not a socket"):
        bind_unix(str(path), group="")
    assert path.read_text() == "precious"


def test_overlong_socket_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemFailure, match="longer than 107 bytes"):
        bind_unix(str(tmp_path / ("x" * 120)), group="")


def test_missing_docker_group_falls_back_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import grp

    def no_group(name: str) -> grp.struct_group:
        raise KeyError(name)

    monkeypatch.setattr(grp, "getgrnam", no_group)
    with caplog.at_level(logging.WARNING, logger="dockyard.api.listeners"):
        assert listeners._socket_gid("docker") == os.getgid()
    assert "socket group docker not found" in caplog.text
    with pytest.raises(InvalidArgument, match="group staff-x not found"):
        listeners._socket_gid("staff-x")
    assert listeners._socket_gid("4242") == 4242


def test_plain_tcp_needs_loopback() -> None:
    with pytest.raises(InvalidArgument, match="refusing to listen"):
        bind_tcp(Endpoint(scheme="tcp", host="0.0.0.0", port=0), tls=None)
    sock = bind_tcp(Endpoint(scheme="tcp", host="127.0.0.1", port=0), tls=None)
    sock.close()


def test_tls_context_requires_a_ca_to_verify_and_readable_files(tmp_path: Path) -> None:
    missing = TlsFiles(ca=None, cert=tmp_path / "c.pem", key=tmp_path / "k.pem", verify=True)
    with pytest.raises(InvalidArgument, match="--tlscacert"):
        tls_context(missing)
    unreadable = TlsFiles(
        ca=tmp_path / "ca.pem", cert=tmp_path / "c.pem", key=tmp_path / "k.pem", verify=True
    )
    with pytest.raises(SystemFailure, match="could not load TLS files"):
        tls_context(unreadable)
