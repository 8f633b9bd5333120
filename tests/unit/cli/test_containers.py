"""Container commands against a fake Engine API: the requests sent and docker's exact output.

Expected outputs were produced by docker CLI 28.2.2 against the same canned answers.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.unit.cli.fakeapi import Reply, error, frame

NOW = int(time.time())
CONTAINERS = [
    {
        "Id": "3030c9c91e12" + "b" * 52,
        "Names": ["/fervent_newton"],
        "Image": "alpine",
        "ImageID": "sha256:" + "c" * 64,
        "Command": "echo 'hello from alpine'",
        "Created": NOW - 300,
        "Ports": [
            {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 32769, "Type": "tcp"},
            {"IP": "::", "PrivatePort": 80, "PublicPort": 32769, "Type": "tcp"},
            {"PrivatePort": 443, "Type": "tcp"},
        ],
        "Labels": {"b": "2", "a": "1"},
        "State": "exited",
        "Status": "Exited (0) 2 minutes ago",
        "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.2"}}},
        "Mounts": [
            {
                "Type": "volume",
                "Name": "vol1234567890123456",
                "Source": "/v",
                "Destination": "/d",
                "Driver": "local",
            }
        ],
        "SizeRw": 2,
        "SizeRootFs": 21500000,
    },
    {
        "Id": "ff0a5c3750b9" + "d" * 52,
        "Names": ["/elated_ramanujan"],
        "Image": "sha256:" + "e" * 64,
        "ImageID": "sha256:" + "e" * 64,
        "Command": "/bin/sh",
        "Created": NOW - 90,
        "Ports": [],
        "Labels": {},
        "State": "running",
        "Status": "Up 14 seconds",
        "NetworkSettings": {"Networks": {}},
        "Mounts": [],
    },
]


@pytest.fixture
def listing(engine):
    engine.route("GET", "/containers/json", Reply(200, CONTAINERS))
    return engine


def test_ps_prints_dockers_table(listing, dockyard) -> None:
    result = dockyard("ps")
    assert result.status == 0
    assert result.out.splitlines() == [
        "CONTAINER ID   IMAGE          COMMAND                  CREATED              "
        "STATUS                     PORTS                                                NAMES",
        '3030c9c91e12   alpine         "echo \'hello from al…"   5 minutes ago        '
        "Exited (0) 2 minutes ago   443/tcp, 0.0.0.0:32769->80/tcp, [::]:32769->80/tcp   fervent_newton",
        'ff0a5c3750b9   eeeeeeeeeeee   "/bin/sh"                About a minute ago   '
        "Up 14 seconds                                                                   elated_ramanujan",
    ]
    assert [(r.method, r.path, r.raw_query) for r in listing.calls()] == [("GET", "/containers/json", "")]


def test_ps_with_nothing_running_prints_the_header(engine, dockyard) -> None:
    engine.route("GET", "/containers/json", Reply(200, []))
    assert dockyard("container", "ls").out == (
        "CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n"
    )


def test_ps_flags_become_query(listing, dockyard) -> None:
    dockyard("ps", "-a", "-s", "-n", "3", "--filter", "status=exited", "--filter", "name=x")
    query = listing.calls()[0].raw_query
    assert query == (
        "all=1&filters=%7B%22status%22%3A%7B%22exited%22%3Atrue%7D%2C%22name%22%3A%7B%22x%22%3Atrue%7D%7D"
        "&limit=3&size=1"
    )


def test_ps_latest_is_limit_one(listing, dockyard) -> None:
    dockyard("ps", "-l")
    assert listing.calls()[0].raw_query == "limit=1"


def test_ps_quiet_prints_short_ids(listing, dockyard) -> None:
    assert dockyard("ps", "-aq").out == "3030c9c91e12\nff0a5c3750b9\n"


def test_ps_no_trunc_with_size(listing, dockyard) -> None:
    lines = dockyard("ps", "-a", "-s", "--no-trunc").out.splitlines()
    assert lines[0].endswith("NAMES              SIZE")
    assert lines[1].startswith("3030c9c91e12" + "b" * 52 + "   alpine ")
    assert "\"echo 'hello from alpine'\"" in lines[1]
    assert lines[1].endswith("fervent_newton     2B (virtual 21.5MB)")
    assert "sha256:" + "e" * 64 in lines[2]


def test_ps_json_format(listing, dockyard) -> None:
    first = json.loads(dockyard("ps", "--format", "{{json .}}").out.splitlines()[0])
    assert first == {
        "Command": '"echo \'hello from al…"',
        "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(NOW - 300)),
        "ID": "3030c9c91e12",
        "Image": "alpine",
        "Labels": "a=1,b=2",
        "LocalVolumes": "1",
        "Mounts": "vol12345678901…",
        "Names": "fervent_newton",
        "Networks": "bridge",
        "Platform": None,
        "Ports": "443/tcp, 0.0.0.0:32769->80/tcp, [::]:32769->80/tcp",
        "RunningFor": "5 minutes ago",
        "Size": "2B (virtual 21.5MB)",
        "State": "exited",
        "Status": "Exited (0) 2 minutes ago",
    }


def test_ps_custom_table_requests_sizes_it_shows(listing, dockyard) -> None:
    result = dockyard("ps", "--format", 'table {{.Names}}\\t{{.Size}}\\t{{.Label "a"}}')
    assert result.out == (
        "NAMES              SIZE                  a\n"
        "fervent_newton     2B (virtual 21.5MB)   1\n"
        "elated_ramanujan   0B                    \n"
    )
    assert listing.calls()[0].raw_query == "size=1"


def test_ps_bad_template_fails_before_printing(listing, dockyard) -> None:
    result = dockyard("ps", "--format", "{{.Nope}}")
    assert result.status == 1
    assert result.err == (
        'template parsing error: template: :1:2: executing "" at <.Nope>: '
        "can't evaluate field Nope in type *formatter.ContainerRow\n"
    )


INSPECTED = {
    "Id": "y1",
    "Name": "/y",
    "Config": {"Cmd": ["a > b"], "Entrypoint": None, "Labels": {}},
    "State": {"ExitCode": 3},
}


@pytest.fixture
def inspectable(engine):
    engine.route(
        "GET",
        "/containers/y/json",
        Reply(200, json.dumps(INSPECTED).encode(), content_type="application/json"),
    )
    engine.route("GET", "/containers/x/json", error(404, "No such container: x"))
    engine.route("GET", "/images/x/json", error(404, "No such image: x:latest"))
    engine.route("GET", "/networks/x", error(404, "network x not found"))
    engine.route("GET", "/volumes/x", error(404, "get x: no such volume"))
    return engine


def test_inspect_reindents_the_daemons_json(inspectable, dockyard) -> None:
    result = dockyard("container", "inspect", "y")
    assert result.status == 0
    assert result.out == (
        '[\n    {\n        "Id": "y1",\n        "Name": "/y",\n        "Config": {\n            "Cmd": [\n'
        '                "a > b"\n            ],\n            "Entrypoint": null,\n            "Labels": {}\n'
        '        },\n        "State": {\n            "ExitCode": 3\n        }\n    }\n]\n'
    )


def test_inspect_unknown_prints_empty_array_and_the_error(inspectable, dockyard) -> None:
    result = dockyard("container", "inspect", "x")
    assert (result.status, result.out, result.err) == (
        1,
        "[]\n",
        "Error response from daemon: No such container: x\n",
    )


def test_generic_inspect_tries_each_kind(inspectable, dockyard) -> None:
    result = dockyard("inspect", "-f", "{{.State.ExitCode}}", "y", "x")
    assert (result.status, result.out, result.err) == (1, "3\n", "Error: No such object: x\n")
    paths = [r.path for r in inspectable.calls()]
    assert paths == [
        "/containers/y/json",
        "/containers/x/json",
        "/images/x/json",
        "/networks/x",
        "/volumes/x",
    ]


def test_inspect_json_format_is_compact(inspectable, dockyard) -> None:
    assert (
        dockyard("inspect", "--format", "json", "y").out
        == json.dumps([INSPECTED], separators=(",", ":")) + "\n"
    )


def test_inspect_bad_template_exits_64(inspectable, dockyard) -> None:
    result = dockyard("inspect", "-f", "{{", "y")
    assert (result.status, result.err) == (64, "template parsing error: template: :1: unclosed action\n")


_STOP_FIRST = "stop the container before removing or force remove"


def test_rm_reports_each_argument_and_fails_at_the_end(engine, dockyard) -> None:
    engine.route("DELETE", "/containers/a", Reply(204))
    engine.route(
        "DELETE",
        "/containers/b",
        error(409, 'cannot remove container "/b": container is running: ' + _STOP_FIRST),
    )
    engine.route("DELETE", "/containers/c", Reply(204))
    result = dockyard("rm", "a", "b", "c")
    assert (result.status, result.out) == (1, "a\nc\n")
    assert (
        result.err
        == f'Error response from daemon: cannot remove container "/b": container is running: {_STOP_FIRST}\n'
    )


def test_rm_force_ignores_missing_containers(engine, dockyard) -> None:
    engine.route("DELETE", "/containers/a", Reply(204))
    engine.route("DELETE", "/containers/gone", error(404, "No such container: gone"))
    result = dockyard("rm", "-f", "-v", "gone", "a")
    assert (result.status, result.out) == (0, "a\n")
    assert result.err == "Error response from daemon: No such container: gone\n"
    assert {r.raw_query for r in engine.calls("DELETE")} == {"force=1&v=1"}


def test_stop_restart_kill_send_their_options(engine, dockyard) -> None:
    for action in ("stop", "restart", "kill"):
        engine.route("POST", f"/containers/[ab]/{action}", Reply(204))
    assert dockyard("stop", "-t", "3", "a", "b").out == "a\nb\n"
    assert dockyard("restart", "a").out == "a\n"
    assert dockyard("kill", "-s", "HUP", "b").out == "b\n"
    queries = [(r.path, r.raw_query) for r in engine.calls("POST")]
    assert sorted(queries[:2]) == [("/containers/a/stop", "t=3"), ("/containers/b/stop", "t=3")]
    assert queries[2:] == [("/containers/a/restart", ""), ("/containers/b/kill", "signal=HUP")]


def test_stop_of_stopped_container_is_quiet_success(engine, dockyard) -> None:
    engine.route("POST", "/containers/a/stop", Reply(304))
    assert (dockyard("stop", "a").status, dockyard("stop", "a").out) == (0, "a\n")


def test_wait_prints_exit_codes(engine, dockyard) -> None:
    engine.route("POST", "/containers/a/wait", Reply(200, {"StatusCode": 137}))
    engine.route("POST", "/containers/b/wait", error(404, "No such container: b"))
    result = dockyard("wait", "a", "b")
    assert (result.status, result.out, result.err) == (
        1,
        "137\n",
        "Error response from daemon: No such container: b\n",
    )


def test_logs_split_streams_and_pass_options(engine, dockyard) -> None:
    engine.route("GET", "/containers/c/json", Reply(200, {"Id": "c", "Config": {"Tty": False}}))
    engine.route("GET", "/containers/c/logs", Reply(stream=[frame(1, b"out\n"), frame(2, b"err\n")]))
    result = dockyard("logs", "-t", "-n", "5", "--since", "2023-11-14T22:13:20Z", "c")
    assert (result.out, result.err) == ("out\n", "err\n")
    query = engine.calls("GET", "/containers/c/logs")[0].raw_query
    assert query == "since=1700000000.000000000&stderr=1&stdout=1&tail=5&timestamps=1"


def test_logs_of_tty_container_is_raw(engine, dockyard) -> None:
    engine.route("GET", "/containers/c/json", Reply(200, {"Id": "c", "Config": {"Tty": True}}))
    engine.route("GET", "/containers/c/logs", Reply(stream=[b"raw \r\n", b"bytes"]))
    assert dockyard("logs", "-f", "c").out == "raw \r\nbytes"
    assert engine.calls("GET", "/containers/c/logs")[0].raw_query == "follow=1&stderr=1&stdout=1&tail=all"


def test_top_prints_ps_table(engine, dockyard) -> None:
    engine.route(
        "GET",
        "/containers/c/top",
        Reply(
            200,
            {
                "Titles": ["UID", "PID", "CMD"],
                "Processes": [["root", "1906", "/bin/sh"], ["root", "1999", "top"]],
            },
        ),
    )
    result = dockyard("top", "c", "-ef")
    assert result.out == (
        "UID                 PID                 CMD\nroot                1906                /bin/sh\n"
        "root                1999                top\n"
    )
    assert engine.calls()[0].raw_query == "ps_args=-ef"


def test_start_prints_names_and_reports_failures(engine, dockyard) -> None:
    engine.route("POST", "/containers/a/start", Reply(204))
    engine.route("POST", "/containers/b/start", error(404, "No such container: b"))
    result = dockyard("start", "a", "b")
    assert (result.status, result.out) == (1, "a\n")
    assert (
        result.err
        == "Error response from daemon: No such container: b\nError: failed to start containers: b\n"
    )
