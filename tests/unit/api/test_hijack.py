"""Attach and exec start: the hijacked connection, with raw sockets as the docker CLI uses it."""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import time
from collections.abc import Iterator

from tests.unit.api.conftest import ServerThread


class Hijacked:
    """A raw client connection that sent one request and reads the stream after the headers."""

    def __init__(
        self, api: ServerThread, method: str, path: str, body: bytes = b"", upgrade: bool = True
    ) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(api.socket_path)
        headers = b"Host: d\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
        if upgrade:
            headers += b"Connection: Upgrade\r\nUpgrade: tcp\r\n"
        self.sock.sendall(
            method.encode() + b" " + path.encode() + b" HTTP/1.1\r\n" + headers + b"\r\n" + body
        )
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            assert chunk, self.buffer
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        self.status_line = lines[0]
        self.headers = {k.lower(): v for k, _, v in (line.partition(": ") for line in lines[1:])}

    def read_exact(self, size: int) -> bytes:
        while len(self.buffer) < size:
            chunk = self.sock.recv(4096)
            assert chunk, f"EOF after {self.buffer!r}"
            self.buffer += chunk
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def read_frame(self) -> tuple[int, bytes]:
        kind, size = struct.unpack(">BxxxI", self.read_exact(8))
        return kind, self.read_exact(size)

    def read_to_eof(self) -> bytes:
        data = self.buffer
        while chunk := self.sock.recv(4096):
            data += chunk
        self.buffer = b""
        return data

    def close(self) -> None:
        self.sock.close()


@contextlib.contextmanager
def attached(
    api: ServerThread, cmd: list[str], query: str, **config: object
) -> Iterator[tuple[str, Hijacked]]:
    """A started container and a hijacked attach to it."""
    cid = api.run(cmd, **config)
    client = Hijacked(api, "POST", f"/containers/{cid}/attach?{query}")
    try:
        yield cid, client
    finally:
        client.close()


def _running(api: ServerThread, cid: str) -> bool:
    return bool(api.request("GET", f"/containers/{cid}/json").json()["State"]["Running"])


def test_attach_upgrades_and_multiplexes_without_tty(api: ServerThread) -> None:
    cid = api.create(cmd=["echo", "hello"])
    client = Hijacked(api, "POST", f"/v1.45/containers/{cid}/attach?stream=1&stdout=1&stderr=1")
    try:
        assert client.status_line == "HTTP/1.1 101 UPGRADED"
        assert client.headers["content-type"] == "application/vnd.docker.multiplexed-stream"
        assert client.headers["upgrade"] == "tcp"
        assert client.headers["api-version"] == "1.45"
        assert api.request("POST", f"/containers/{cid}/start").status == 204
        assert client.read_frame() == (1, b"hello\n")
        assert client.read_to_eof() == b""  # the end of the output closes the connection
    finally:
        client.close()


def test_attach_without_upgrade_answers_200_raw_stream(api: ServerThread) -> None:
    cid = api.create(cmd=["echo", "x"])
    client = Hijacked(api, "POST", f"/containers/{cid}/attach?stream=1&stdout=1", upgrade=False)
    try:
        assert client.status_line == "HTTP/1.1 200 OK"
        assert client.headers["content-type"] == "application/vnd.docker.raw-stream"
        api.request("POST", f"/containers/{cid}/start")
        assert client.read_frame() == (1, b"x\n")
    finally:
        client.close()


def test_attach_before_1_42_announces_raw_stream(api: ServerThread) -> None:
    cid = api.create(cmd=["echo", "x"])
    client = Hijacked(api, "POST", f"/v1.41/containers/{cid}/attach?stream=1&stdout=1")
    try:
        assert client.headers["content-type"] == "application/vnd.docker.raw-stream"
    finally:
        client.close()


def test_stdin_reaches_the_container_and_half_close_ends_it(api: ServerThread) -> None:
    with attached(api, ["cat"], "stream=1&stdin=1&stdout=1", OpenStdin=True, StdinOnce=True) as (cid, client):
        client.sock.sendall(b"ping\n")
        assert client.read_frame() == (1, b"ping\n")
        client.sock.shutdown(socket.SHUT_WR)
        assert client.read_to_eof() == b""
    assert not _running(api, cid)


def test_half_close_without_stdin_keeps_the_output_flowing(api: ServerThread) -> None:
    with attached(api, ["sleep"], "stream=1&stdout=1") as (cid, client):
        client.sock.shutdown(socket.SHUT_WR)  # what `docker start -a` without -i does at once
        time.sleep(0.1)
        assert _running(api, cid)
        api.request("POST", f"/containers/{cid}/kill")
        assert client.read_to_eof() == b""


def test_tty_attach_is_raw(api: ServerThread) -> None:
    with attached(api, ["cat"], "stream=1&stdin=1&stdout=1&stderr=1", Tty=True, OpenStdin=True) as (
        _,
        client,
    ):
        assert client.headers["content-type"] == "application/vnd.docker.raw-stream"
        client.sock.sendall(b"abc")
        assert client.read_exact(3) == b"abc"


def test_detach_keys_end_the_attach_but_not_the_container(api: ServerThread) -> None:
    with attached(api, ["cat"], "stream=1&stdin=1&stdout=1", Tty=True, OpenStdin=True) as (cid, client):
        client.sock.sendall(b"\x10\x11")  # ctrl-p ctrl-q
        assert client.read_to_eof() == b""
    assert _running(api, cid)


def test_custom_detach_keys(api: ServerThread) -> None:
    query = "stream=1&stdin=1&stdout=1&detachKeys=ctrl-x"
    with attached(api, ["cat"], query, Tty=True, OpenStdin=True) as (_, client):
        client.sock.sendall(b"\x18")
        assert client.read_to_eof() == b""


def test_stdin_sent_with_the_request_is_not_lost(api: ServerThread) -> None:
    cid = api.run(["cat"], OpenStdin=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(5)
    sock.connect(api.socket_path)
    try:
        sock.sendall(
            f"POST /containers/{cid}/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\nHost: d\r\n"
            "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\nearly\n".encode()
        )
        data = b""
        while b"early\n" not in data:
            chunk = sock.recv(4096)
            assert chunk
            data += chunk
    finally:
        sock.close()


def _exec(api: ServerThread, cid: str, cmd: list[str], **config: object) -> str:
    body = {"Cmd": cmd, "AttachStdout": True, "AttachStderr": True, **config}
    reply = api.request("POST", f"/containers/{cid}/exec", body)
    assert reply.status == 201, reply.body
    return str(reply.json()["Id"])


def test_exec_start_streams_frames_and_records_the_exit_code(api: ServerThread) -> None:
    cid = api.run(["sleep"])
    exec_id = _exec(api, cid, ["warn", "oops"])
    client = Hijacked(
        api, "POST", f"/exec/{exec_id}/start", json.dumps({"Detach": False, "Tty": False}).encode()
    )
    try:
        assert client.status_line == "HTTP/1.1 101 UPGRADED"
        assert client.headers["content-type"] == "application/vnd.docker.multiplexed-stream"
        assert client.read_frame() == (2, b"oops\n")
        assert client.read_to_eof() == b""
    finally:
        client.close()
    document = api.request("GET", f"/exec/{exec_id}/json").json()
    assert document["ExitCode"] == 0
    assert document["Running"] is False
    assert document["ContainerID"] == cid
    assert document["ProcessConfig"] == {
        "tty": False,
        "entrypoint": "warn",
        "arguments": ["oops"],
        "privileged": False,
        "user": "",
    }


def test_exec_exit_code_is_recorded_when_the_stream_ends(api: ServerThread) -> None:
    cid = api.run(["sleep"])
    for _ in range(3):
        exec_id = _exec(api, cid, ["exit", "3"])
        client = Hijacked(api, "POST", f"/exec/{exec_id}/start", b"{}")
        try:
            assert client.read_to_eof() == b""
        finally:
            client.close()
        # what the docker CLI does right after the stream closes
        assert api.request("GET", f"/exec/{exec_id}/json").json()["ExitCode"] == 3


def test_exec_with_tty_is_raw_even_without_upgrade(api: ServerThread) -> None:
    cid = api.run(["sleep"])
    exec_id = _exec(api, cid, ["echo", "t"], Tty=True)
    client = Hijacked(api, "POST", f"/exec/{exec_id}/start", b'{"Tty": true}', upgrade=False)
    try:
        assert client.status_line == "HTTP/1.1 200 OK"
        assert client.headers["content-type"] == "application/vnd.docker.raw-stream"
        assert client.read_to_eof() == b"t\n"
    finally:
        client.close()


def test_detached_exec_answers_a_bare_200(api: ServerThread) -> None:
    cid = api.run(["sleep"])
    exec_id = _exec(api, cid, ["true"])
    reply = api.request("POST", f"/exec/{exec_id}/start", {"Detach": True})
    assert reply.status == 200
    assert reply.body == b""
    deadline = time.monotonic() + 5
    while api.request("GET", f"/exec/{exec_id}/json").json()["ExitCode"] is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_exec_errors(api: ServerThread) -> None:
    cid = api.create(cmd=["sleep"])
    reply = api.request("POST", f"/containers/{cid}/exec", {"Cmd": ["true"]})
    assert reply.status == 409
    assert reply.message == f"Container {cid} is not running"
    api.request("POST", f"/containers/{cid}/start")
    empty = api.request("POST", f"/containers/{cid}/exec", {"Cmd": []})
    assert empty.status == 400
    assert empty.message == "No exec command specified"
    assert api.request("POST", "/exec/nosuch/start", {"Detach": True}).status == 404
    assert api.request("GET", "/exec/nosuch/json").message == "No such exec instance: nosuch"
    exec_id = _exec(api, cid, ["sleep"])
    console = api.request("POST", f"/exec/{exec_id}/start", {"Detach": True, "ConsoleSize": [10, 10]})
    assert console.status == 400
    assert console.message == "console size is only supported when TTY is enabled"


def test_exec_start_failure_after_the_upgrade_is_written_into_the_stream(api: ServerThread) -> None:
    cid = api.run(["sleep"])
    exec_id = _exec(api, cid, ["true"])
    api.request("POST", f"/exec/{exec_id}/start", {"Detach": True})
    time.sleep(0.1)
    client = Hijacked(api, "POST", f"/exec/{exec_id}/start", b"{}")
    try:
        assert client.status_line == "HTTP/1.1 101 UPGRADED"
        assert b"is already running" in client.read_to_eof()
    finally:
        client.close()


def test_exec_resize(api: ServerThread) -> None:
    cid = api.run(["sleep"])
    exec_id = _exec(api, cid, ["sleep"], Tty=True)
    api.request("POST", f"/exec/{exec_id}/start", {"Detach": True, "Tty": True})
    assert api.request("POST", f"/exec/{exec_id}/resize?h=40&w=120").status == 200
    assert api.request("POST", f"/exec/{exec_id}/resize?h=40").status == 400
