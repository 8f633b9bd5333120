"""The HTTP layer: framing hardening (D4), limits, keep-alive, headers, streaming, shutdown."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import time

import pytest

from dockyard.api import Limits
from tests.unit.api.conftest import ServerThread

CREATE_BODY = b'{"Image": "alpine", "Cmd": ["true"]}'


def _status(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1])


def _count_containers(api: ServerThread) -> int:
    return len(api.engine.containers.records)


def test_content_length_with_transfer_encoding_is_refused(api: ServerThread) -> None:
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(CREATE_BODY), CREATE_BODY)
    raw = api.raw(
        b"POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n" % len(chunked) + chunked
    )
    assert _status(raw) == 400
    assert b"Content-Length and Transfer-Encoding" in raw
    assert _count_containers(api) == 0


def test_duplicate_content_length_is_refused_even_when_equal(api: ServerThread) -> None:
    raw = api.raw(
        b"POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\nContent-Length: %d\r\n\r\n"
        % (len(CREATE_BODY), len(CREATE_BODY))
        + CREATE_BODY
    )
    assert _status(raw) == 400
    assert b"duplicate Content-Length" in raw
    assert _count_containers(api) == 0


def test_zero_content_length_with_a_body_creates_nothing(api: ServerThread) -> None:
    raw = api.raw(
        b"POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\n"
        b"Content-Length: 0\r\n\r\n" + CREATE_BODY + b"\r\n\r\n"
    )
    # The create sees an empty body; the smuggled bytes are then a malformed request of their own.
    assert re.findall(rb"HTTP/1\.1 (\d{3})", raw) == [b"400", b"400"]
    assert b"invalid JSON: got EOF while reading request body" in raw
    assert _count_containers(api) == 0


def test_oversized_headers_are_431(api: ServerThread) -> None:
    raw = api.raw(b"GET /_ping HTTP/1.1\r\nHost: d\r\nX-Big: " + b"a" * (70 * 1024) + b"\r\n\r\n")
    assert _status(raw) == 431


def test_oversized_json_body_is_413_without_reading_it() -> None:
    server = ServerThread(limits=Limits(max_body_bytes=1024))
    try:
        body = b'{"Image": "alpine", "Env": ["' + b"x" * 4096 + b'"]}'
        raw = server.raw(
            b"POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body) + body
        )
        assert _status(raw) == 413
        assert _count_containers(server) == 0
    finally:
        server.close()


def test_oversized_chunked_body_is_413() -> None:
    server = ServerThread(limits=Limits(max_body_bytes=1024))
    try:
        chunk = b"x" * 2048
        raw = server.raw(
            b"POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(chunk), chunk)
        )
        assert _status(raw) == 413
    finally:
        server.close()


def test_deeply_nested_json_is_400(api: ServerThread) -> None:
    body = b'{"Image": "alpine", "Labels": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    reply = api.request("POST", "/containers/create", raw=body, headers={"Content-Type": "application/json"})
    assert reply.status == 400
    assert reply.message == "invalid JSON: invalid character '[' exceeded max depth"  # Go's scanner


def test_invalid_utf8_is_400(api: ServerThread) -> None:
    body = b'{"Image": "alp\xffine"}'
    reply = api.request("POST", "/containers/create", raw=body, headers={"Content-Type": "application/json"})
    assert reply.status == 400
    assert reply.message.startswith("invalid JSON: invalid UTF-8")


def test_malformed_json_has_go_wording(api: ServerThread) -> None:
    reply = api.request("POST", "/containers/create", raw=b"{x", headers={"Content-Type": "application/json"})
    assert reply.status == 400
    assert reply.message == "invalid JSON: invalid character 'x' looking for beginning of object key string"


def test_trailing_content_after_json_is_400(api: ServerThread) -> None:
    reply = api.request(
        "POST", "/containers/create", raw=CREATE_BODY + b" {}", headers={"Content-Type": "application/json"}
    )
    assert reply.status == 400
    assert reply.message == "unexpected content after JSON"


def test_keep_alive_serves_several_requests(api: ServerThread) -> None:
    conn = api.connection()
    try:
        for _ in range(3):
            conn.request("GET", "/_ping")
            response = conn.getresponse()
            assert response.status == 200
            assert response.read() == b"OK"
    finally:
        conn.close()


def test_pipelined_requests_are_answered_in_order(api: ServerThread) -> None:
    raw = api.raw(
        b"GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n"
        b"GET /nope HTTP/1.1\r\nHost: d\r\n\r\n"
        b"GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n"
    )
    assert re.findall(rb"HTTP/1\.1 (\d{3})", raw) == [b"200", b"404", b"200"]


def test_pipelined_request_is_scanned_for_ambiguous_framing(api: ServerThread) -> None:
    raw = api.raw(
        b"GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n"
        b"POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\nContent-Length: %d\r\n\r\n"
        % (len(CREATE_BODY), len(CREATE_BODY))
        + CREATE_BODY
    )
    assert b"duplicate Content-Length" in raw
    assert _count_containers(api) == 0


@pytest.mark.parametrize("path", ["/_ping", "/version", "/nope", "/v1.10/version", "/containers/nosuch/json"])
def test_every_response_has_dockers_headers(api: ServerThread, path: str) -> None:
    reply = api.request("GET", path)
    assert reply.headers["api-version"] == "1.45"
    assert reply.headers["docker-experimental"] == "false"
    assert reply.headers["ostype"] == "linux"
    assert reply.headers["server"] == "Docker/0.1.0 (linux)"


def test_ping_headers(api: ServerThread) -> None:
    reply = api.request("GET", "/_ping")
    assert reply.body == b"OK"
    assert reply.headers["builder-version"] == "1"
    assert reply.headers["swarm"] == "inactive"
    assert reply.headers["cache-control"] == "no-cache, no-store, must-revalidate"
    assert reply.headers["pragma"] == "no-cache"


def test_head_ping_has_headers_and_no_body(api: ServerThread) -> None:
    raw = api.raw(b"HEAD /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert b"Api-Version: 1.45" in head
    assert body == b""


def test_wrong_method_on_known_path_is_page_not_found(api: ServerThread) -> None:
    reply = api.request("PUT", "/containers/json")
    assert reply.status == 404
    assert reply.message == "page not found"


def test_incomplete_headers_are_dropped_after_the_timeout() -> None:
    server = ServerThread(limits=Limits(header_timeout=0.3))
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(5)
        sock.connect(server.socket_path)
        sock.sendall(b"GET /_ping HTTP/1.1\r\nHost: d\r\n")
        started = time.monotonic()
        assert sock.recv(100) == b""
        assert time.monotonic() - started < 3
        sock.close()
    finally:
        server.close()


def test_events_subscription_ends_when_the_client_leaves(api: ServerThread) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(5)
    sock.connect(api.socket_path)
    sock.sendall(b"GET /events HTTP/1.1\r\nHost: d\r\n\r\n")
    assert sock.recv(4096).startswith(b"HTTP/1.1 200 OK")
    assert api.engine.events.listener_count == 1
    sock.close()
    deadline = time.monotonic() + 5
    while api.engine.events.listener_count and time.monotonic() < deadline:
        time.sleep(0.02)
    assert api.engine.events.listener_count == 0


def test_close_ends_idle_and_endless_connections_promptly() -> None:
    server = ServerThread()
    idle = server.connection()
    idle.request("GET", "/_ping")
    idle.getresponse().read()
    events = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    events.settimeout(5)
    events.connect(server.socket_path)
    events.sendall(b"GET /events HTTP/1.1\r\nHost: d\r\n\r\n")
    assert events.recv(4096).startswith(b"HTTP/1.1 200")
    started = time.monotonic()
    server.call(server.server.close(grace=10.0))
    assert time.monotonic() - started < 2
    assert idle.sock is not None
    assert idle.sock.recv(10) == b""
    events.close()
    idle.close()
    server.close()


def test_unexpected_error_is_500_with_request_id_logged_once(
    api: ServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(*args: object, **kwargs: object) -> object:
        raise RuntimeError("kaboom")

    api.engine.system.info = explode  # type: ignore[method-assign,assignment]
    with caplog.at_level(logging.ERROR, logger="dockyard.api"):
        reply = api.request("GET", "/info")
    assert reply.status == 500
    assert "request id" in reply.message
    assert "kaboom" not in reply.message
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].exc_info is not None
    request_id = reply.message.rsplit("request id ", 1)[1].rstrip(")")
    assert request_id in errors[0].getMessage()


def test_registry_credentials_never_reach_the_log(
    api: ServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "c2VjcmV0LXBhc3N3b3Jk"
    with caplog.at_level(logging.DEBUG):
        reply = api.request(
            "POST", "/images/create?fromImage=missing&tag=latest", headers={"X-Registry-Auth": secret}
        )
    assert reply.status == 404
    assert all(secret not in record.getMessage() for record in caplog.records)


def test_pull_progress_is_streamed_in_chunks(api: ServerThread) -> None:
    conn = api.connection()
    try:
        conn.request("POST", "/images/create?fromImage=busybox&tag=latest")
        response = conn.getresponse()
        assert response.status == 200
        assert response.getheader("Transfer-Encoding") == "chunked"
        lines = [json.loads(line) for line in response.read().splitlines()]
    finally:
        conn.close()
    assert lines[0]["status"] == "Pulling from library/busybox"
    assert lines[-1]["status"] == "Status: Downloaded newer image for busybox:latest"


def test_call_helper_reaches_the_engine_loop(api: ServerThread) -> None:
    async def running_loop() -> bool:
        return asyncio.get_running_loop() is api.loop

    assert api.call(running_loop())


def test_connection_is_reused_after_a_pull(api: ServerThread) -> None:
    conn = api.connection()
    try:
        conn.request("POST", "/images/create?fromImage=busybox&tag=latest")
        response = conn.getresponse()
        assert response.getheader("Connection") is None
        response.read()
        conn.request("GET", "/_ping")  # the same socket: http.client would reconnect only if closed
        sock = conn.sock
        reply = conn.getresponse()
        assert reply.status == 200
        assert reply.read() == b"OK"
        assert conn.sock is sock
    finally:
        conn.close()


def test_connection_is_reused_after_a_load(api: ServerThread) -> None:
    archive = api.request("GET", "/images/alpine/get").body
    conn = api.connection()
    try:
        conn.request("POST", "/images/load", body=archive, headers={"Content-Type": "application/x-tar"})
        conn.getresponse().read()
        sock = conn.sock
        conn.request("GET", "/_ping")
        assert conn.getresponse().read() == b"OK"
        assert conn.sock is sock
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/containers//web/json", "/containers/web/json"),
        ("/v1.45/containers//web/json?size=1", "/v1.45/containers/web/json?size=1"),
        ("/images/./alpine/../alpine/json", "/images/alpine/json"),
    ],
)
def test_unclean_paths_are_redirected_as_dockerd_does(api: ServerThread, path: str, location: str) -> None:
    raw = api.raw(f"GET {path} HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n".encode())
    assert raw.startswith(b"HTTP/1.1 301 Moved Permanently\r\n")
    assert f"\r\nLocation: {location}\r\n".encode() in raw
