"""run, create, exec, attach and start -a: docker's call sequence, streams and exit statuses."""

from __future__ import annotations

import os
import socket
import threading

import pytest

from dockyard.cli import terminal
from dockyard.cli.wire import Connection
from tests.unit.cli.fakeapi import Reply, error, frame, json_lines

CID = "a" * 64
MUX = "application/vnd.docker.multiplexed-stream"


def _attach_replying(*frames: bytes):
    def serve(sock: socket.socket) -> None:
        sock.sendall(b"".join(frames))
        sock.shutdown(socket.SHUT_WR)

    return Reply(hijack=serve, content_type=MUX)


@pytest.fixture
def runnable(engine):
    engine.route("POST", "/containers/create", Reply(201, {"Id": CID, "Warnings": []}))
    engine.route(
        "POST", f"/containers/{CID}/attach", _attach_replying(frame(1, b"hello\n"), frame(2, b"oops\n"))
    )
    engine.route("POST", f"/containers/{CID}/wait", Reply(200, {"StatusCode": 3}))
    engine.route("POST", f"/containers/{CID}/start", Reply(204))
    return engine


def _sequence(engine) -> list[str]:
    return [f"{r.method} {r.path.replace(CID, 'ID')} {r.raw_query}".rstrip() for r in engine.calls()]


def test_run_attaches_waits_starts_and_exits_with_the_containers_code(runnable, dockyard) -> None:
    result = dockyard("container", "run", "alpine", "echo", "hello")
    assert (result.status, result.out, result.err) == (3, "hello\n", "oops\n")
    assert _sequence(runnable) == [
        "POST /containers/create",
        "POST /containers/ID/attach stderr=1&stdout=1&stream=1",
        "POST /containers/ID/wait condition=next-exit",
        "POST /containers/ID/start",
    ]
    body = runnable.calls("POST", "/containers/create")[0].json()
    assert body["Cmd"] == ["echo", "hello"]
    assert (body["AttachStdout"], body["AttachStderr"], body["AttachStdin"], body["Tty"]) == (
        True,
        True,
        False,
        False,
    )


def test_run_pulls_a_missing_image_then_creates_again(runnable, dockyard) -> None:
    answers = iter([Reply(404, {"message": "No such image: alpine:latest"}), Reply(201, {"Id": CID})])
    runnable.route("POST", "/containers/create", lambda request: next(answers))
    runnable.route(
        "POST",
        "/images/create",
        Reply(
            stream=json_lines(
                {"status": "Pulling from library/alpine", "id": "latest"}, {"status": "Status: ok"}
            )
        ),
    )
    result = dockyard("run", "--rm", "alpine")
    assert result.err.splitlines() == [
        "Unable to find image 'alpine:latest' locally",
        "latest: Pulling from library/alpine",
        "Status: ok",
        "oops",
    ]
    assert _sequence(runnable) == [
        "POST /containers/create",
        "POST /images/create fromImage=docker.io%2Flibrary%2Falpine&tag=latest",
        "POST /containers/create",
        "POST /containers/ID/attach stderr=1&stdout=1&stream=1",
        "POST /containers/ID/wait condition=removed",
        "POST /containers/ID/start",
    ]
    assert runnable.calls("POST", "/containers/create")[1].json()["HostConfig"]["AutoRemove"] is True


def test_run_detached_prints_the_full_id(runnable, dockyard) -> None:
    result = dockyard("run", "-d", "--name", "web", "alpine", "sleep", "1d")
    assert (result.status, result.out) == (0, CID + "\n")
    assert _sequence(runnable) == ["POST /containers/create name=web", "POST /containers/ID/start"]
    body = runnable.calls("POST", "/containers/create")[0].json()
    assert (body["AttachStdout"], body["AttachStderr"], body["StdinOnce"]) == (False, False, False)


@pytest.mark.parametrize(
    ("message", "status"),
    [
        pytest.param('exec: "nope": executable file not found in $PATH: unknown', 127, id="not-found"),
        pytest.param("exec /etc: permission denied: unknown", 126, id="not-executable"),
        pytest.param("cgroup setup failed", 125, id="daemon-failure"),
    ],
)
def test_run_start_failure_statuses(runnable, dockyard, message, status) -> None:
    runnable.route("POST", f"/containers/{CID}/start", error(500, message))
    result = dockyard("run", "alpine", "nope")
    assert result.status == status
    assert result.err.endswith(
        f"dockyard: Error response from daemon: {message}\n\nRun 'dockyard run --help' for more information\n"
    )


def test_create_conflict_is_125_with_dockers_report(runnable, dockyard) -> None:
    message = 'Conflict. The container name "/x" is already in use by container "abc".'
    runnable.route("POST", "/containers/create", error(409, message))
    result = dockyard("create", "--name", "x", "alpine")
    assert (result.status, result.out) == (125, "")
    assert result.err.splitlines() == [
        f"dockyard: Error response from daemon: {message}",
        "",
        "Run 'dockyard create --help' for more information",
    ]


def test_create_prints_the_id_and_warnings(runnable, dockyard) -> None:
    runnable.route("POST", "/containers/create", Reply(201, {"Id": CID, "Warnings": ["memory limited"]}))
    result = dockyard("create", "alpine")
    assert (result.out, result.err) == (CID + "\n", "WARNING: memory limited\n")


def test_run_tty_with_piped_stdin_is_refused(runnable, dockyard) -> None:
    result = dockyard("run", "-it", "alpine", "sh", stdin=b"")
    assert (result.status, result.err) == (1, "the input device is not a TTY\n")
    assert runnable.calls() == []


def test_run_interactive_forwards_stdin_and_half_closes(runnable, dockyard) -> None:
    def echo(sock: socket.socket) -> None:
        received = b""
        while chunk := sock.recv(4096):  # ends when the client shuts its write side
            received += chunk
        sock.sendall(frame(1, received.upper()))
        sock.shutdown(socket.SHUT_WR)

    runnable.route("POST", f"/containers/{CID}/attach", Reply(hijack=echo, content_type=MUX))
    result = dockyard("run", "-i", "alpine", "cat", stdin=b"hello\nworld\n")
    assert (result.status, result.out) == (3, "HELLO\nWORLD\n")
    attach = runnable.calls("POST", f"/containers/{CID}/attach")[0]
    assert attach.raw_query == "stderr=1&stdin=1&stdout=1&stream=1"
    body = runnable.calls("POST", "/containers/create")[0].json()
    assert (body["OpenStdin"], body["StdinOnce"], body["AttachStdin"]) == (True, True, True)


def test_run_options_reach_the_create_body(runnable, dockyard) -> None:
    dockyard(
        "run", "-d", "-e", "A=1", "-e", "FROM_ENV", "-l", "tier=front", "-m", "512m", "--cpus", "1.5",
        "--pids-limit", "100", "--stop-signal", "SIGINT", "--stop-timeout", "5", "--runtime", "runc",
        "--network", "none", "-w", "/tmp", "-u", "1000", "--entrypoint", "/bin/sh", "--hostname", "box",
        "-p", "8080:80", "-v", "/tmp:/data:ro", "-v", "/anon", "--restart", "on-failure:3",
        "--cap-add", "net_admin",
        "--ulimit", "nofile=1024:2048", "--platform", "linux/amd64", "--init",
        "alpine", "-c", "true",
        environ={"FROM_ENV": "yes"},
    )  # fmt: skip
    request = runnable.calls("POST", "/containers/create")[0]
    assert request.raw_query == "platform=linux%2Famd64"
    body = request.json()
    host = body["HostConfig"]
    assert body["Env"] == ["A=1", "FROM_ENV=yes"]
    assert (body["Labels"], body["WorkingDir"], body["User"], body["Hostname"]) == (
        {"tier": "front"},
        "/tmp",
        "1000",
        "box",
    )
    assert (body["Entrypoint"], body["Cmd"], body["StopSignal"], body["StopTimeout"]) == (
        ["/bin/sh"],
        ["-c", "true"],
        "SIGINT",
        5,
    )
    assert (body["ExposedPorts"], body["Volumes"]) == ({"80/tcp": {}}, {"/anon": {}})
    assert (host["Memory"], host["NanoCpus"], host["PidsLimit"]) == (512 << 20, 1_500_000_000, 100)
    assert (host["Runtime"], host["NetworkMode"], host["Binds"], host["Init"]) == (
        "runc",
        "none",
        ["/tmp:/data:ro"],
        True,
    )
    assert host["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert host["CapAdd"] == ["CAP_NET_ADMIN"]
    assert host["Ulimits"] == [{"Name": "nofile", "Hard": 2048, "Soft": 1024}]


@pytest.mark.parametrize(
    ("argv", "status", "message"),
    [
        pytest.param(
            ["--rm", "--restart", "always"], 125,
            "dockyard: conflicting options: cannot specify both --restart and --rm",
            id="rm-and-restart",
        ),
        pytest.param(
            ["--pull", "sometimes"], 125,
            "dockyard: invalid pull option: 'sometimes': must be one of \"always\", \"missing\" or \"never\"",
            id="bad-pull",
        ),
        pytest.param(
            ["-e", "=x"], 125, 'invalid argument "=x" for "-e, --env" flag: invalid environment variable: =x',
            id="bad-env",
        ),
        pytest.param(
            ["--sysctl", "kernel.panic=1"], 125,
            "invalid argument \"kernel.panic=1\" for \"--sysctl\" flag: "
            "sysctl 'kernel.panic=1' is not whitelisted",
            id="bad-sysctl",
        ),
        pytest.param(
            ["-d", "-a", "stdout"],
            1,
            "conflicting options: cannot specify both --attach and --detach",
            id="d-and-a",
        ),
    ],
)  # fmt: skip
def test_run_refuses_bad_options_before_calling_the_daemon(runnable, dockyard, argv, status, message) -> None:
    result = dockyard("run", *argv, "alpine")
    assert result.status == status
    assert result.err.startswith(message)
    assert runnable.calls() == []


@pytest.fixture
def exec_ready(engine):
    engine.route("GET", "/containers/web/json", Reply(200, {"Id": "w", "State": {"Running": True}}))
    engine.route("POST", "/containers/web/exec", Reply(201, {"Id": "e1"}))
    engine.route("POST", "/exec/e1/start", _attach_replying(frame(1, b"out\n"), frame(2, b"err\n")))
    engine.route("GET", "/exec/e1/json", Reply(200, {"ExitCode": 7, "Running": False}))
    return engine


def test_exec_runs_and_exits_with_the_process_code(exec_ready, dockyard) -> None:
    result = dockyard("exec", "-e", "A=1", "-w", "/tmp", "-u", "1", "web", "ls", "-l")
    assert (result.status, result.out, result.err) == (7, "out\n", "err\n")
    assert [r.path for r in exec_ready.calls()] == [
        "/containers/web/json",
        "/containers/web/exec",
        "/exec/e1/start",
        "/exec/e1/json",
    ]
    assert exec_ready.calls("POST", "/containers/web/exec")[0].json() == {
        "User": "1", "Privileged": False, "Tty": False, "AttachStdin": False, "AttachStderr": True,
        "AttachStdout": True, "Detach": False, "DetachKeys": "", "Env": ["A=1"], "WorkingDir": "/tmp",
        "Cmd": ["ls", "-l"],
    }  # fmt: skip
    start = exec_ready.calls("POST", "/exec/e1/start")[0]
    assert (start.json(), start.headers["upgrade"]) == ({"Detach": False, "Tty": False}, "tcp")


def test_exec_detached_does_not_attach(exec_ready, dockyard) -> None:
    exec_ready.route("POST", "/exec/e1/start", Reply(200, b""))
    assert dockyard("exec", "-d", "web", "sleep", "9").status == 0
    start = exec_ready.calls("POST", "/exec/e1/start")[0]
    assert "upgrade" not in start.headers
    assert start.json() == {"Detach": True, "Tty": False}


def test_exec_in_stopped_container_reports_the_daemons_conflict(exec_ready, dockyard) -> None:
    exec_ready.route("POST", "/containers/web/exec", error(409, "container web is not running"))
    result = dockyard("exec", "web", "ls")
    assert (result.status, result.err) == (1, "Error response from daemon: container web is not running\n")


def test_attach_to_a_stopped_container_is_refused(engine, dockyard) -> None:
    engine.route(
        "GET", "/containers/c/json", Reply(200, {"Id": "c", "State": {"Running": False}, "Config": {}})
    )
    result = dockyard("attach", "c")
    assert (result.status, result.err) == (1, "You cannot attach to a stopped container, start it first\n")


def test_attach_streams_then_exits_with_the_containers_code(engine, dockyard) -> None:
    engine.route(
        "GET", "/containers/c/json", Reply(200, {"Id": "c", "State": {"Running": True}, "Config": {}})
    )
    engine.route("POST", "/containers/c/attach", _attach_replying(frame(1, b"tick\n")))
    engine.route("POST", "/containers/c/wait", Reply(200, {"StatusCode": 4}))
    result = dockyard("attach", "--detach-keys", "ctrl-a,x", "c")
    assert (result.status, result.out) == (4, "tick\n")
    assert engine.calls("POST")[0].raw_query == "detachKeys=ctrl-a%2Cx&stderr=1&stdout=1&stream=1"
    # The wait goes out before the stream is relayed, with docker's default condition.
    assert (engine.calls("POST")[1].path, engine.calls("POST")[1].raw_query) == ("/containers/c/wait", "")


def test_start_attach_waits_for_the_exit_code(runnable, dockyard) -> None:
    runnable.route(
        "GET", f"/containers/{CID}/json", Reply(200, {"Id": CID, "Config": {"Tty": False}, "HostConfig": {}})
    )
    result = dockyard("start", "-a", CID)
    assert (result.status, result.out) == (3, "hello\n")
    assert _sequence(runnable)[1:] == [
        "POST /containers/ID/attach stderr=1&stdout=1&stream=1",
        "POST /containers/ID/wait condition=next-exit",
        "POST /containers/ID/start",
    ]


# --- the pump and the terminal helpers ------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "keys"),
    [
        pytest.param("ctrl-p,ctrl-q", b"\x10\x11", id="default"),
        pytest.param("ctrl-a,x", b"\x01x", id="letter"),
        pytest.param("ctrl-@,ctrl-[,ctrl-_", b"\x00\x1b\x1f", id="punctuation"),
    ],
)
def test_parse_detach_keys(spec, keys) -> None:
    assert terminal.parse_detach_keys(spec) == keys


def test_parse_detach_keys_refuses_unknown_names() -> None:
    with pytest.raises(terminal.InvalidArgument, match="Unknown character: 'ctrl-1'"):
        terminal.parse_detach_keys("ctrl-1")


@pytest.mark.parametrize(
    ("pieces", "sent", "detached"),
    [
        pytest.param([b"ab\x10", b"\x11cd"], b"ab", True, id="split-across-reads"),
        pytest.param([b"a\x10b"], b"a\x10b", False, id="lone-first-key-passes"),
        pytest.param([b"\x10\x10\x11"], b"\x10", True, id="repeated-first-key"),
        pytest.param([b"plain"], b"plain", False, id="no-keys"),
    ],
)
def test_detach_scanner(pieces, sent, detached) -> None:
    scanner = terminal._DetachScanner(b"\x10\x11")
    out = b""
    found = False
    for piece in pieces:
        data, found = scanner.feed(piece)
        out += data
        if found:
            break
    assert (out, found) == (sent, detached)


def _pump_with(stdin_data: bytes, server, *, tty: bool, keys: bytes | None):
    """Run a Pump over a socketpair against ``server``, feeding ``stdin_data`` through a pipe."""
    ours, theirs = socket.socketpair()
    thread = threading.Thread(target=server, args=(theirs,), daemon=True)
    thread.start()
    read_fd, write_fd = os.pipe()
    os.write(write_fd, stdin_data)
    os.close(write_fd)
    out_r, out_w = os.pipe()
    try:
        with os.fdopen(out_w, "wb") as out:
            pump = terminal.Pump(
                Connection(ours, "test"), stdin_fd=read_fd, stdout=out, stderr=out, tty=tty, detach_keys=keys
            )
            outcome = pump.run()
        with os.fdopen(out_r, "rb") as reader:
            printed = reader.read()
    finally:
        os.close(read_fd)
        ours.close()
        thread.join(timeout=5)
        theirs.close()
    return outcome, printed


def test_pump_detaches_on_the_key_sequence_and_keeps_earlier_input() -> None:
    received = []

    def server(sock: socket.socket) -> None:
        received.append(sock.recv(100))
        sock.recv(100)  # wait for the client to go away

    outcome, _ = _pump_with(b"ls\x10\x11", server, tty=True, keys=b"\x10\x11")
    assert outcome == "detached"
    assert received == [b"ls"]


def test_pump_passes_tty_output_raw() -> None:
    def server(sock: socket.socket) -> None:
        sock.sendall(b"\x1b[1mbold\r\n")
        sock.shutdown(socket.SHUT_WR)
        sock.recv(100)

    outcome, printed = _pump_with(b"", server, tty=True, keys=None)
    assert (outcome, printed) == ("ended", b"\x1b[1mbold\r\n")


def test_winch_number_is_linuxs() -> None:
    import signal

    assert terminal._WINCH == signal.SIGWINCH


def test_pump_ends_on_sigterm_without_proxy_so_the_terminal_is_restored() -> None:
    import signal

    def server(sock: socket.socket) -> None:
        import time

        deadline = time.monotonic() + 5
        while signal.getsignal(signal.SIGTERM) is signal.SIG_DFL and time.monotonic() < deadline:
            time.sleep(0.01)  # until the pump has its handler in place
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:  # never kill the test runner
            os.kill(os.getpid(), signal.SIGTERM)
            sock.recv(100)

    ours, theirs = socket.socketpair()
    thread = threading.Thread(target=server, args=(theirs,), daemon=True)
    out_r, out_w = os.pipe()
    try:
        with os.fdopen(out_w, "wb") as out:
            pump = terminal.Pump(Connection(ours, "test"), stdin_fd=None, stdout=out, stderr=out, tty=True,
                                 detach_keys=None)  # fmt: skip
            thread.start()
            outcome = pump.run()
    finally:
        os.close(out_r)
        ours.close()
        thread.join(timeout=5)
        theirs.close()
    assert (outcome, pump.ended_by) == ("signalled", signal.SIGTERM)
