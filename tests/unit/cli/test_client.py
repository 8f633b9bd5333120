"""The Engine API client: addressing, version negotiation, errors, bodies, streams, hijacking."""

from __future__ import annotations

import socket

import pytest

from dockyard.cli import client as api
from dockyard.cli import wire
from dockyard.cli.client import Client, resolve_host
from dockyard.cli.wire import demux, encode_query, json_messages
from dockyard.errors import Conflict, InvalidArgument, NotFound, SystemFailure, Unavailable
from tests.unit.cli.fakeapi import FakeEngine, Reply, error, frame


@pytest.fixture
def engine(tmp_path):
    with FakeEngine(tmp_path) as fake:
        yield fake


@pytest.mark.parametrize(
    ("flag", "environ", "host"),
    [
        pytest.param(None, {}, "unix:///run/dockyard.sock", id="default"),
        pytest.param(None, {"DOCKER_HOST": "tcp://h:2375"}, "tcp://h:2375", id="docker-host"),
        pytest.param(
            None,
            {"DOCKER_HOST": "tcp://h:2375", "DOCKYARD_HOST": "unix:///d.sock"},
            "unix:///d.sock",
            id="dockyard-wins",
        ),
        pytest.param(
            "unix:///flag.sock", {"DOCKYARD_HOST": "unix:///d.sock"}, "unix:///flag.sock", id="flag-wins"
        ),
    ],
)
def test_resolve_host_precedence(flag, environ, host) -> None:
    assert resolve_host(flag, environ) == host


@pytest.mark.parametrize("host", ["ssh://x", "npipe:////./pipe/docker", "no-scheme", "unix://"])
def test_unsupported_hosts_are_refused(host) -> None:
    with pytest.raises(InvalidArgument):
        Client(host)


def test_encode_query_is_gos_url_values_encode() -> None:
    query = {"tag": "latest", "fromImage": "docker.io/library/alpine", "names": ["a b", "c&d"], "x": "é"}
    assert encode_query(query) == (
        "fromImage=docker.io%2Flibrary%2Falpine&names=a+b&names=c%26d&tag=latest&x=%C3%A9"
    )


@pytest.mark.parametrize(
    ("server", "pinned", "expected"),
    [
        pytest.param("1.41", None, "1.41", id="older-daemon"),
        pytest.param("1.51", None, api.MAX_API, id="newer-daemon-capped"),
        pytest.param("1.51", "1.30", "1.30", id="pinned"),
    ],
)
def test_version_negotiation_uses_ping_header(tmp_path, monkeypatch, server, pinned, expected) -> None:
    if pinned:
        monkeypatch.setenv("DOCKER_API_VERSION", pinned)
    else:
        monkeypatch.delenv("DOCKER_API_VERSION", raising=False)
    with FakeEngine(tmp_path, api_version=server) as engine:
        engine.route("GET", "/info", Reply(200, {"ID": "x"}))
        with Client(engine.host) as client:
            assert client.call("GET", "/info") == {"ID": "x"}
        assert engine.requests[0].method == "HEAD"
        assert engine.requests[0].path == "/_ping"
        assert engine.requests[0].version is None
        assert engine.calls()[0].version == expected


def test_ping_falls_back_to_get_when_head_fails(engine) -> None:
    engine.route("HEAD", "/_ping", error(500, "no HEAD here"))
    engine.route("GET", "/version", Reply(200, {"Version": "1"}))
    with Client(engine.host) as client:
        client.call("GET", "/version")
    assert [r.method for r in engine.requests] == ["HEAD", "GET", "GET"]


def test_keep_alive_reuses_one_connection(engine, monkeypatch) -> None:
    engine.route("GET", "/info", Reply(200, {}))
    connections = []
    real = Client.connect

    def counting(self):
        connections.append(1)
        return real(self)

    monkeypatch.setattr(Client, "connect", counting)
    with Client(engine.host) as client:
        for _ in range(3):
            client.call("GET", "/info")
    assert len(connections) == 1


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        pytest.param(404, NotFound, id="404"),
        pytest.param(409, Conflict, id="409"),
        pytest.param(500, SystemFailure, id="500"),
        pytest.param(400, InvalidArgument, id="400"),
    ],
)
def test_error_statuses_become_error_kinds_with_dockers_wording(engine, status, kind) -> None:
    engine.route("POST", "/containers/x/start", error(status, "the daemon says no"))
    with Client(engine.host) as client, pytest.raises(kind) as caught:
        client.call("POST", "/containers/x/start")
    assert str(caught.value) == "Error response from daemon: the daemon says no"


def test_plain_text_error_body_is_kept(engine) -> None:
    engine.route("GET", "/info", Reply(500, b"plain failure\n", content_type="text/plain"))
    with (
        Client(engine.host) as client,
        pytest.raises(SystemFailure, match=r"^Error response from daemon: plain"),
    ):
        client.call("GET", "/info")


def test_not_modified_is_not_an_error(engine) -> None:
    engine.route("POST", "/containers/x/stop", Reply(304))
    with Client(engine.host) as client:
        assert client.call("POST", "/containers/x/stop") is None


def test_nothing_listening_says_cannot_connect(tmp_path) -> None:
    host = f"unix://{tmp_path}/absent.sock"
    with pytest.raises(Unavailable) as caught:
        Client(host).negotiate()
    assert str(caught.value) == (
        f"Cannot connect to the dockyard daemon at {host}. Is the dockyard daemon running?"
    )


def test_chunked_stream_arrives_piece_by_piece(engine) -> None:
    engine.route("GET", "/containers/x/logs", Reply(stream=[b"one", b"two", b"three"]))
    with Client(engine.host) as client:
        response = client.request("GET", "/containers/x/logs")
        assert list(response.chunks()) == [b"one", b"two", b"three"]
        client.release(response)


def test_chunked_request_body_is_sent_whole(engine) -> None:
    engine.route("POST", "/images/load", Reply(200, {}))
    with Client(engine.host) as client:
        client.call("POST", "/images/load", body=iter([b"tar", b"", b"ball"]))
    request = engine.calls("POST", "/images/load")[0]
    assert request.headers["transfer-encoding"] == "chunked"
    assert request.body == b"tarball"


def test_json_body_has_length_and_type(engine) -> None:
    engine.route("POST", "/containers/create", Reply(201, {"Id": "x"}))
    with Client(engine.host) as client:
        client.call("POST", "/containers/create", body={"Image": "alpine"})
    request = engine.calls("POST")[0]
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {"Image": "alpine"}


def test_hijack_upgrades_and_returns_a_duplex_stream(engine) -> None:
    def echo(sock: socket.socket) -> None:
        data = sock.recv(100)
        sock.sendall(b"echo:" + data)
        sock.shutdown(socket.SHUT_WR)

    engine.route("POST", "/containers/x/attach", Reply(hijack=echo))
    with Client(engine.host) as client:
        conn = client.hijack("/containers/x/attach", query={"stream": "1", "stdin": "1"})
    conn.send(b"ping")
    received = b""
    while chunk := conn.read_some():
        received += chunk
    conn.close()
    assert received == b"echo:ping"
    request = engine.calls("POST")[0]
    assert request.headers["connection"] == "Upgrade"
    assert request.headers["upgrade"] == "tcp"
    assert request.raw_query == "stdin=1&stream=1"


def test_hijack_refused_raises_the_daemons_error(engine) -> None:
    engine.route("POST", "/containers/x/attach", error(409, "container x is not running"))
    with Client(engine.host) as client, pytest.raises(Conflict, match="container x is not running"):
        client.hijack("/containers/x/attach")


def test_demux_splits_frames_across_chunk_boundaries() -> None:
    stream = frame(1, b"out\n") + frame(2, b"err\n") + frame(1, b"")
    pieces = [stream[:3], stream[3:13], stream[13:]]
    assert list(demux(pieces)) == [(1, b"out\n"), (2, b"err\n"), (1, b"")]


def test_demux_reports_system_error_frames() -> None:
    with pytest.raises(wire.StreamError, match="error from daemon in stream: bad"):
        list(demux([frame(3, b"bad")]))


@pytest.mark.parametrize(
    "stream",
    [
        pytest.param([frame(1, b"abc")[:-1]], id="truncated"),
        pytest.param([bytes([7, 0, 0, 0, 0, 0, 0, 0])], id="unknown-stream"),
    ],
)
def test_demux_refuses_malformed_streams(stream) -> None:
    with pytest.raises(SystemFailure):
        list(demux(stream))


def test_json_messages_handles_split_lines_and_blank_lines() -> None:
    chunks = [b'{"status":"a"}\r\n{"sta', b'tus":"b"}\n\n', b'{"status":"c"}']
    assert [m["status"] for m in json_messages(chunks)] == ["a", "b", "c"]


def test_json_messages_refuses_garbage() -> None:
    with pytest.raises(SystemFailure, match="progress stream"):
        list(json_messages([b"not json\n"]))
