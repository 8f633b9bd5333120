"""/_ping, /version, /info, /events, and the swarm and plugin answers."""

from __future__ import annotations

import json
import socket
import time
from typing import Any
from urllib.parse import quote

from tests.unit.api.conftest import ServerThread


def test_version_reports_the_servers_api_range(api: ServerThread) -> None:
    document = api.request("GET", "/version").json()
    assert document["ApiVersion"] == "1.45"
    assert document["MinAPIVersion"] == "1.24"
    assert document["Os"] == "linux"
    assert document["Components"][0]["Name"] == "Engine"
    assert "Experimental" not in document


def test_info_has_what_the_docker_cli_prints(api: ServerThread) -> None:
    api.create(cmd=["sleep"])
    document = api.request("GET", "/info").json()
    assert document["ID"] == "FAKE:ENGINE"
    assert document["Containers"] == 1
    assert document["ContainersStopped"] == 1
    assert document["NCPU"] == 2
    assert document["OSType"] == "linux"
    assert document["CPUShares"] is True
    assert document["Swarm"]["LocalNodeState"] == "inactive"
    assert document["Runtimes"]["runc"] == {"path": "runc"}
    assert document["DriverStatus"] == [["Backing Filesystem", "extfs"]]
    assert document["RegistryConfig"]["IndexConfigs"]["docker.io"]["Official"] is True
    assert document["Plugins"]["Authorization"] is None


def _events(api: ServerThread, query: str) -> list[dict[str, Any]]:
    reply = api.request("GET", f"/events?{query}")
    assert reply.status == 200, reply.body
    return [json.loads(line) for line in reply.body.splitlines()]


def test_events_replay_between_since_and_until(api: ServerThread) -> None:
    cid = api.create(cmd=["true"])
    api.request("POST", f"/containers/{cid}/start")
    time.sleep(0.1)
    now = time.time()
    events = _events(api, f"since=0&until={now + 0.5:.9f}")
    actions = [e["Action"] for e in events]
    assert actions[:2] == ["create", "start"]
    assert "die" in actions
    first = events[0]
    assert first["Type"] == "container"
    assert first["Actor"]["ID"] == cid
    assert first["status"] == "create"
    assert first["id"] == cid
    assert first["from"] == "alpine"
    assert first["scope"] == "local"
    assert first["time"] == first["timeNano"] // 10**9


def test_events_filters(api: ServerThread) -> None:
    cid = api.create(cmd=["true"])
    api.request("POST", f"/containers/{cid}/start")
    time.sleep(0.1)
    until = f"{time.time() + 0.5:.3f}"
    only_start = quote(json.dumps({"event": ["start"]}))
    assert [e["Action"] for e in _events(api, f"since=0&until={until}&filters={only_start}")] == ["start"]
    legacy = quote(json.dumps({"type": {"image": True}}))
    assert _events(api, f"since=0&until={until}&filters={legacy}") == []


def test_events_bad_arguments_are_400_before_streaming(api: ServerThread) -> None:
    bad_key = api.request("GET", "/events?filters=" + quote(json.dumps({"colour": ["red"]})))
    assert bad_key.status == 400
    assert bad_key.message == "invalid filter 'colour'"
    backwards = api.request("GET", "/events?since=20&until=10")
    assert backwards.status == 400
    assert backwards.message == "since time cannot be after until time"
    assert api.request("GET", "/events?since=yesterday").status == 400


def test_events_live(api: ServerThread) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(5)
    sock.connect(api.socket_path)
    try:
        sock.sendall(b"GET /events HTTP/1.1\r\nHost: d\r\n\r\n")
        head = sock.recv(4096)
        assert head.startswith(b"HTTP/1.1 200 OK")
        assert b"Transfer-Encoding: chunked" in head
        cid = api.create(cmd=["sleep"])
        data = b""
        while cid.encode() not in data:
            chunk = sock.recv(4096)
            assert chunk
            data += chunk
        assert b'"Action":"create"' in data
    finally:
        sock.close()


def test_swarm_endpoints_answer_not_a_manager(api: ServerThread) -> None:
    for path in ("/swarm", "/services", "/nodes", "/v1.41/tasks"):
        reply = api.request("GET", path)
        assert reply.status == 503
        assert reply.message.startswith("This node is not a swarm manager.")


def test_plugins_list_is_empty(api: ServerThread) -> None:
    assert api.request("GET", "/plugins").json() == []
