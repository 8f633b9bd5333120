"""The API over the real daemon: framing attacks, bad bodies, negotiation with both docker CLIs."""

from __future__ import annotations

import re
import socket
import subprocess

import pytest

from tests.support.daemon import DaemonHarness

DEBIAN_DOCKER = "/usr/bin/docker"  # docker.io 20.10, API 1.41
NEW_DOCKER = "/usr/local/bin/docker"  # 28.x, asks for 1.50 and negotiates down
CREATE = b'{"Image": "alpine", "Cmd": ["true"]}'


def _raw(daemon: DaemonHarness, data: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(daemon.socket)
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def _containers(daemon: DaemonHarness) -> list[object]:
    return list(daemon.request("GET", "/containers/json?all=1").json())


def test_ambiguous_framing_creates_nothing(lab: DaemonHarness) -> None:
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(CREATE), CREATE)
    both = _raw(
        lab,
        b"POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n" % len(chunked) + chunked,
    )
    twice = _raw(
        lab,
        b"POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\nContent-Length: %d\r\n\r\n" % (len(CREATE), len(CREATE)) + CREATE,
    )
    smuggled = _raw(
        lab,
        b"POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\n"
        b"Content-Length: 0\r\n\r\n" + CREATE + b"\r\n\r\n",
    )
    for answer in (both, twice, smuggled):
        assert re.findall(rb"HTTP/1\.1 (\d{3})", answer)[0] == b"400"
    assert _containers(lab) == []
    assert lab.request("GET", "/_ping").status == 200


def test_oversized_headers_are_431(daemon: DaemonHarness) -> None:
    answer = _raw(daemon, b"GET /_ping HTTP/1.1\r\nHost: d\r\nX-Big: " + b"a" * (70 * 1024) + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 431")


def test_bad_create_bodies_get_dockers_answers(lab: DaemonHarness) -> None:
    malformed = lab.request("POST", "/containers/create", headers={"Content-Type": "application/json"})
    assert malformed.status == 400
    assert malformed.json()["message"] == "invalid JSON: got EOF while reading request body"
    typed = lab.request("POST", "/containers/create", {"Image": "alpine", "Tty": "yes"})
    assert typed.status == 400
    assert "cannot unmarshal string into Go struct field Config.Tty of type bool" in typed.json()["message"]
    assert _containers(lab) == []
    unknown = lab.request("POST", "/containers/create", {"Image": "alpine", "SomethingNew": {"x": 1}})
    assert unknown.status == 201


def test_unknown_image_and_duplicate_name(lab: DaemonHarness) -> None:
    missing = lab.request("POST", "/containers/create", {"Image": "nosuch:1"})
    assert missing.status == 404
    assert "No such image" in missing.json()["message"]
    assert lab.request("POST", "/containers/create?name=one", {"Image": "alpine"}).status == 201
    taken = lab.request("POST", "/containers/create?name=one", {"Image": "alpine"})
    assert taken.status == 409
    assert taken.json()["message"].startswith('Conflict. The container name "/one" is already in use')


@pytest.mark.parametrize(("cli", "client_api"), [(DEBIAN_DOCKER, "1.41"), (NEW_DOCKER, "1.45")])
def test_docker_clis_negotiate(daemon: DaemonHarness, cli: str, client_api: str) -> None:
    result = subprocess.run(
        [
            cli,
            "version",
            "--format",
            "{{.Client.APIVersion}} {{.Server.APIVersion}} {{.Server.MinAPIVersion}}",
        ],
        env=daemon.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [client_api, "1.45", "1.24"]


def test_a_too_old_client_gets_dockerds_message(daemon: DaemonHarness) -> None:
    env = dict(daemon.env, DOCKER_API_VERSION="1.20")
    result = subprocess.run([DEBIAN_DOCKER, "ps"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "client version 1.20 is too old. Minimum supported API version is 1.24" in result.stderr


def test_docker_info_and_ps_read_our_answers(lab: DaemonHarness) -> None:
    for cli in (DEBIAN_DOCKER, NEW_DOCKER):
        info = subprocess.run([cli, "info"], env=lab.env, capture_output=True, text=True, timeout=60)
        assert info.returncode == 0, info.stderr
        assert "Swarm: inactive" in info.stdout
        assert "Default Runtime: dockyard-runtime" in info.stdout
        ps = subprocess.run([cli, "ps", "-a"], env=lab.env, capture_output=True, text=True, timeout=60)
        assert ps.returncode == 0, ps.stderr
        assert ps.stdout.startswith("CONTAINER ID")
