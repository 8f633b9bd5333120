"""The lab's API calls against the real daemon: docker-py, hijacked attach, pull progress, schemas."""

from __future__ import annotations

import json
import socket
import struct
import time
from typing import Any

import pytest
from docker.errors import APIError, NotFound

from tests.support.daemon import DaemonHarness
from tests.support.registry import FixtureRegistry
from tests.unit.api.spec import response_schema, validate, validate_definition


def test_docker_py_lab(lab: DaemonHarness) -> None:
    client = lab.client()
    assert client.api.api_version == "1.45"
    assert (
        client.containers.run("alpine", ["echo", "hello from alpine"], remove=True) == b"hello from alpine\n"
    )
    listing = client.containers.run("alpine", ["ls", "/"])
    assert b"bin" in listing.split()
    container = client.containers.run("alpine", ["sleep", "1000"], detach=True, name="bg")
    container.reload()
    assert container.status == "running"
    result = container.exec_run(["sh", "-c", "echo hello > /hello.txt; cat /hello.txt; exit 4"])
    assert result.exit_code == 4
    assert result.output == b"hello\n"
    container.stop(timeout=1)
    container.reload()
    assert container.status == "exited"
    container.start()
    assert container.exec_run(["cat", "/hello.txt"]).output == b"hello\n"  # the writable layer survives
    container.remove(force=True)
    with pytest.raises(NotFound):
        client.containers.get("bg")
    image = client.images.get("alpine")
    assert "alpine:latest" in image.tags
    with pytest.raises(APIError) as conflict:
        client.images.remove("alpine")  # the stopped `ls` container still uses it
    assert conflict.value.status_code == 409


def _hijack(daemon: DaemonHarness, path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(20)
    sock.connect(daemon.socket)
    upgrade = "Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0"
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: d\r\n{upgrade}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        assert chunk, head
        head += chunk
    assert head.startswith(b"HTTP/1.1 101 UPGRADED"), head
    return sock


def _frame(sock: socket.socket) -> tuple[int, bytes]:
    def exact(size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = sock.recv(size - len(data))
            assert chunk, data
            data += chunk
        return data

    kind, size = struct.unpack(">BxxxI", exact(8))
    return kind, exact(size)


def test_attach_with_stdin_is_hijacked_and_multiplexed(lab: DaemonHarness) -> None:
    created = lab.request(
        "POST",
        "/containers/create",
        {"Image": "alpine", "Cmd": ["cat"], "OpenStdin": True, "StdinOnce": True},
    )
    cid = created.json()["Id"]
    with _hijack(lab, f"/containers/{cid}/attach?stream=1&stdin=1&stdout=1&stderr=1") as sock:
        assert lab.request("POST", f"/containers/{cid}/start").status == 204
        sock.sendall(b"over the wire\n")
        assert _frame(sock) == (1, b"over the wire\n")
        sock.shutdown(socket.SHUT_WR)
        rest = b""
        while chunk := sock.recv(4096):
            rest += chunk
        assert rest == b""
    waited = lab.request("POST", f"/containers/{cid}/wait")
    assert waited.json() == {"Error": None, "StatusCode": 0}


def test_pull_streams_dockers_progress(
    daemon: DaemonHarness, registry_with_fixtures: FixtureRegistry
) -> None:
    image = f"{registry_with_fixtures.host}/library/busybox"
    reply = daemon.request("POST", f"/v1.45/images/create?fromImage={image}&tag=latest")
    assert reply.status == 200
    lines = [json.loads(line) for line in reply.body.splitlines()]
    assert all("error" not in line for line in lines), lines
    statuses = [line["status"] for line in lines]
    assert statuses[0] == "Pulling from library/busybox"
    assert any(s.startswith("Digest: sha256:") for s in statuses)
    assert statuses[-1] == f"Status: Downloaded newer image for {image}:latest"
    for line in lines:
        validate_definition(line, "CreateImageInfo", "1.55")
    missing = daemon.request(
        "POST", f"/images/create?fromImage={registry_with_fixtures.host}/nosuch&tag=latest"
    )
    assert missing.status == 404 or b'"error"' in missing.body


def _check(daemon: DaemonHarness, path: str, spec_path: str, method: str = "get", status: int = 200) -> Any:
    reply = daemon.request(method.upper(), "/v1.45" + path)
    assert reply.status == status, reply.body
    validate(reply.json(), response_schema("1.55", spec_path, method, status), "1.55")
    old = daemon.request(method.upper(), "/v1.41" + path)
    validate(old.json(), response_schema("1.41", spec_path, method, status), "1.41")
    return reply.json()


def test_real_responses_validate_against_the_schema(lab: DaemonHarness) -> None:
    running = lab.request("POST", "/containers/create", {"Image": "alpine", "Cmd": ["sleep", "1000"]}).json()[
        "Id"
    ]
    lab.request("POST", f"/containers/{running}/start")
    lab.request("POST", "/containers/create", {"Image": "alpine", "Cmd": ["true"]})
    validate_definition(lab.request("GET", "/version").json(), "SystemVersion", "1.55")
    validate_definition(lab.request("GET", "/info").json(), "SystemInfo", "1.55")
    validate_definition(lab.request("GET", "/v1.41/info").json(), "SystemInfo", "1.41")
    for row in _check(lab, "/containers/json?all=1", "/containers/json"):
        _check(lab, f"/containers/{row['Id']}/json", "/containers/{id}/json")
    _check(lab, f"/containers/{running}/top", "/containers/{id}/top")
    _check(lab, "/images/json", "/images/json")
    validate_definition(lab.request("GET", "/images/alpine/json").json(), "ImageInspect", "1.55")
    _check(lab, "/images/alpine/history", "/images/{name}/history")
    exec_id = lab.request("POST", f"/containers/{running}/exec", {"Cmd": ["true"]}).json()["Id"]
    _check(lab, f"/exec/{exec_id}/json", "/exec/{id}/json")
    events = lab.request("GET", f"/events?since=0&until={time.time():.3f}")
    for line in events.body.splitlines():
        validate_definition(json.loads(line), "EventMessage", "1.55")
