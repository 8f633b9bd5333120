"""Container endpoints, method and path to status, body and headers, over a FakeEngine."""

from __future__ import annotations

import json
import time
from urllib.parse import quote

import pytest

from tests.unit.api.conftest import ServerThread


def _wait_status(api: ServerThread, cid: str, status: str) -> dict[str, object]:
    deadline = time.monotonic() + 5
    while True:
        state = api.request("GET", f"/containers/{cid}/json").json()["State"]
        if state["Status"] == status or time.monotonic() > deadline:
            return dict(state)
        time.sleep(0.01)


def test_create_answers_201_with_id_and_warnings(api: ServerThread) -> None:
    reply = api.request("POST", "/v1.45/containers/create?name=web", {"Image": "alpine", "Cmd": ["sleep"]})
    assert reply.status == 201
    body = reply.json()
    assert len(body["Id"]) == 64
    assert body["Warnings"] == []
    assert api.request("GET", "/containers/web/json").json()["Name"] == "/web"


def test_create_with_unknown_image_is_404(api: ServerThread) -> None:
    reply = api.request("POST", "/containers/create", {"Image": "nosuch"})
    assert reply.status == 404
    assert reply.message == "No such image: nosuch"


def test_duplicate_name_is_409_with_dockers_wording(api: ServerThread) -> None:
    assert api.request("POST", "/containers/create?name=dup", {"Image": "alpine"}).status == 201
    reply = api.request("POST", "/containers/create?name=dup", {"Image": "alpine"})
    assert reply.status == 409
    assert reply.message.startswith('Conflict. The container name "/dup" is already in use by container "')


def test_create_accepts_unknown_fields(api: ServerThread) -> None:
    reply = api.request("POST", "/containers/create", {"Image": "alpine", "NoSuchField": {"x": 1}})
    assert reply.status == 201


def test_create_refuses_non_json_content_type(api: ServerThread) -> None:
    reply = api.request(
        "POST", "/containers/create", raw=b'{"Image":"alpine"}', headers={"Content-Type": "text/plain"}
    )
    assert reply.status == 400
    assert reply.message == "Content-Type specified (text/plain) must be 'application/json'"


def test_create_with_empty_body_is_400(api: ServerThread) -> None:
    reply = api.request("POST", "/containers/create", raw=b"", headers={"Content-Type": "application/json"})
    assert reply.status == 400
    assert reply.message == "invalid JSON: got EOF while reading request body"


def test_lifecycle_start_stop_and_304s(api: ServerThread) -> None:
    cid = api.create(cmd=["sleep"])
    assert api.request("POST", f"/containers/{cid}/start").status == 204
    again = api.request("POST", f"/containers/{cid}/start")
    assert again.status == 304
    assert again.body == b""
    assert api.request("POST", f"/containers/{cid}/stop?t=1").status == 204
    assert _wait_status(api, cid, "exited")["ExitCode"] == 143
    stopped = api.request("POST", f"/containers/{cid}/stop")
    assert stopped.status == 304
    assert stopped.body == b""


def test_stop_signal_needs_api_1_42(api: ServerThread) -> None:
    cid = api.run(["sleep"])
    assert api.request("POST", f"/v1.41/containers/{cid}/stop?signal=SIGINT").status == 204
    assert _wait_status(api, cid, "exited")["ExitCode"] == 143  # signal ignored before 1.42
    api.request("POST", f"/containers/{cid}/start")
    assert api.request("POST", f"/v1.42/containers/{cid}/stop?signal=SIGINT").status == 204
    assert _wait_status(api, cid, "exited")["ExitCode"] == 130


def test_stop_with_bad_timeout_is_400(api: ServerThread) -> None:
    cid = api.create(cmd=["sleep"])
    reply = api.request("POST", f"/containers/{cid}/stop?t=soon")
    assert reply.status == 400
    assert reply.message == 'strconv.Atoi: parsing "soon": invalid syntax'


def test_start_with_a_body_is_refused(api: ServerThread) -> None:
    cid = api.create(cmd=["sleep"])
    reply = api.request("POST", f"/containers/{cid}/start", {"Binds": ["/:/host"]})
    assert reply.status == 400
    assert "removed in v1.24" in reply.message


def test_kill_stopped_container_is_409_with_context(api: ServerThread) -> None:
    cid = api.create(cmd=["sleep"])
    reply = api.request("POST", f"/containers/{cid}/kill")
    assert reply.status == 409
    assert reply.message == f"cannot kill container: {cid}: Container {cid} is not running"


def test_kill_running_container(api: ServerThread) -> None:
    cid = api.run(["sleep"])
    assert api.request("POST", f"/containers/{cid}/kill?signal=SIGKILL").status == 204
    assert _wait_status(api, cid, "exited")["ExitCode"] == 137


def test_unknown_container_is_404_everywhere(api: ServerThread) -> None:
    for method, path in [
        ("GET", "/containers/nosuch/json"),
        ("POST", "/containers/nosuch/start"),
        ("POST", "/containers/nosuch/stop"),
        ("DELETE", "/containers/nosuch"),
        ("GET", "/containers/nosuch/logs?stdout=1"),
        ("POST", "/containers/nosuch/wait"),
        ("POST", "/containers/nosuch/attach?stream=1&stdout=1"),
    ]:
        reply = api.request(method, path)
        assert reply.status == 404, (method, path)
        assert reply.message == "No such container: nosuch"


def test_ambiguous_prefix_is_refused(api: ServerThread) -> None:
    ids = [api.create(cmd=["sleep"]) for _ in range(40)]
    firsts = [i[0] for i in ids]
    shared = next(c for c in firsts if firsts.count(c) > 1)
    reply = api.request("GET", f"/containers/{shared}/json")
    assert reply.status == 400
    assert reply.message == f"multiple IDs found with provided prefix: {shared}"


def test_wait_returns_status_code_after_exit(api: ServerThread) -> None:
    cid = api.create(cmd=["exit", "3"])
    conn = api.connection()
    try:
        conn.request("POST", f"/containers/{cid}/wait?condition=next-exit")
        api.request("POST", f"/containers/{cid}/start")
        response = conn.getresponse()
        assert response.status == 200
        assert json.loads(response.read()) == {"Error": None, "StatusCode": 3}
    finally:
        conn.close()


def test_wait_with_bad_condition_is_400(api: ServerThread) -> None:
    cid = api.create(cmd=["true"])
    reply = api.request("POST", f"/containers/{cid}/wait?condition=sometime")
    assert reply.status == 400
    assert reply.message == 'invalid condition: "sometime"'
    assert api.request("POST", f"/v1.29/containers/{cid}/wait?condition=sometime").status == 200


def test_logs_are_multiplexed_without_tty(api: ServerThread) -> None:
    cid = api.run(["echo", "hello"])
    _wait_status(api, cid, "exited")
    reply = api.request("GET", f"/containers/{cid}/logs?stdout=1&stderr=1")
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/vnd.docker.multiplexed-stream"
    assert reply.body == b"\x01\x00\x00\x00\x00\x00\x00\x06hello\n"
    old = api.request("GET", f"/v1.41/containers/{cid}/logs?stdout=1")
    assert old.headers["content-type"] == "application/vnd.docker.raw-stream"


def test_logs_with_tty_are_raw_and_timestamps_are_fixed_width(api: ServerThread) -> None:
    cid = api.run(["echo", "hi"], Tty=True)
    _wait_status(api, cid, "exited")
    reply = api.request("GET", f"/containers/{cid}/logs?stdout=1&timestamps=1")
    assert reply.headers["content-type"] == "application/vnd.docker.raw-stream"
    stamp, _, line = reply.body.partition(b" ")
    assert line == b"hi\n"
    assert len(stamp) == len(b"2006-01-02T15:04:05.000000000Z")
    assert stamp.endswith(b"Z")


def test_logs_need_a_stream(api: ServerThread) -> None:
    cid = api.create(cmd=["true"])
    reply = api.request("GET", f"/containers/{cid}/logs")
    assert reply.status == 400
    assert reply.message == "Bad parameters: you must choose at least one stream"


def test_logs_follow_streams_until_exit(api: ServerThread) -> None:
    cid = api.run(["cat"], OpenStdin=True)
    conn = api.connection()
    conn.request("GET", f"/containers/{cid}/logs?stdout=1&follow=1")
    response = conn.getresponse()
    assert response.status == 200

    async def feed() -> None:
        process = api.engine.containers.processes[cid]
        process.feed(b"one\n")
        process.close_stdin()

    api.call(feed())
    assert response.read() == b"\x01\x00\x00\x00\x00\x00\x00\x04one\n"
    conn.close()


def test_list_shows_running_by_default_and_all_on_request(api: ServerThread) -> None:
    running = api.run(["sleep"])
    api.create(cmd=["sleep"])
    assert [c["Id"] for c in api.request("GET", "/containers/json").json()] == [running]
    everything = api.request("GET", "/containers/json?all=1").json()
    assert len(everything) == 2
    row = everything[-1] if everything[0]["Id"] == running else everything[0]
    assert row["State"] == "created"
    assert row["Status"] == "Created"
    assert row["Names"][0].startswith("/")
    assert isinstance(row["Created"], int)
    assert len(api.request("GET", "/containers/json?all=1&limit=1").json()) == 1


def test_list_filters_in_both_json_forms(api: ServerThread) -> None:
    api.create(cmd=["sleep"], Labels={"team": "a"})
    api.create(cmd=["sleep"], Labels={"team": "b"})
    new_form = quote(json.dumps({"label": {"team=a": True}}))
    legacy = quote(json.dumps({"label": ["team=a"]}))
    for filters in (new_form, legacy):
        rows = api.request("GET", f"/containers/json?all=1&filters={filters}").json()
        assert [r["Labels"] for r in rows] == [{"team": "a"}]


def test_list_bad_filter_is_400(api: ServerThread) -> None:
    assert api.request("GET", "/containers/json?filters=notjson").status == 400
    reply = api.request("GET", "/containers/json?filters=" + quote(json.dumps({"colour": ["red"]})))
    assert reply.status == 400
    assert reply.message == "invalid filter 'colour'"


def test_inspect_document_shape(api: ServerThread) -> None:
    cid = api.create(cmd=["echo", "x"], Env=["A=1"])
    document = api.request("GET", f"/containers/{cid}/json?size=1").json()
    assert document["Id"] == cid
    assert document["Path"] == "echo"
    assert document["Args"] == ["x"]
    assert document["State"]["Status"] == "created"
    assert document["State"]["Running"] is False
    assert document["Config"]["Env"] == ["A=1"]
    assert document["Config"]["Image"] == "alpine"
    assert document["HostConfig"]["LogConfig"] == {"Type": "json-file", "Config": {}}
    assert document["SizeRw"] == 0
    assert document["SizeRootFs"] == 1234
    assert "bridge" in document["NetworkSettings"]["Networks"]
    assert "SizeRw" not in api.request("GET", f"/containers/{cid}/json").json()


def test_remove_running_needs_force(api: ServerThread) -> None:
    cid = api.run(["sleep"])
    reply = api.request("DELETE", f"/containers/{cid}")
    assert reply.status == 409
    assert "container is running" in reply.message
    assert api.request("DELETE", f"/containers/{cid}?force=1&v=1").status == 204
    assert api.request("GET", f"/containers/{cid}/json").status == 404


def test_top_pause_unpause_rename_resize(api: ServerThread) -> None:
    cid = api.create(cmd=["sleep"])
    assert api.request("GET", f"/containers/{cid}/top").status == 409
    api.request("POST", f"/containers/{cid}/start")
    top = api.request("GET", f"/containers/{cid}/top?ps_args=-ef").json()
    assert top["Titles"][1] == "PID"
    assert len(top["Processes"]) == 1
    assert api.request("POST", f"/containers/{cid}/resize?h=24&w=80").status == 200
    assert api.request("POST", f"/containers/{cid}/resize?h=x&w=80").status == 400
    assert api.request("POST", f"/containers/{cid}/pause").status == 204
    assert _wait_status(api, cid, "paused")["Paused"] is True
    assert api.request("POST", f"/containers/{cid}/unpause").status == 204
    assert api.request("POST", f"/containers/{cid}/rename?name=renamed").status == 204
    assert api.request("GET", "/containers/renamed/json").json()["Id"] == cid


def test_prune_reports_what_it_removed(api: ServerThread) -> None:
    cid = api.run(["true"])
    _wait_status(api, cid, "exited")
    report = api.request("POST", "/containers/prune").json()
    assert report == {"ContainersDeleted": [cid], "SpaceReclaimed": 0}
    assert api.request("POST", "/containers/prune").json() == {"ContainersDeleted": None, "SpaceReclaimed": 0}


@pytest.mark.parametrize("version", ["1.24", "1.41", "1.45"])
def test_container_endpoints_work_on_every_version(api: ServerThread, version: str) -> None:
    reply = api.request("POST", f"/v{version}/containers/create", {"Image": "alpine", "Cmd": ["true"]})
    assert reply.status == 201
    cid = reply.json()["Id"]
    assert api.request("POST", f"/v{version}/containers/{cid}/start").status == 204
    assert api.request("GET", f"/v{version}/containers/{cid}/json").status == 200
