"""docker-py's container calls: run, create, start, stop, kill, wait, logs, attach, remove, list, get.

Each test drives docker-py as an application would, asserts what Docker answers, and validates
every response against the Engine API document of the negotiated version (``compat.check()``).
"""

from __future__ import annotations

import gc
import socket
import struct
import threading
import time
import warnings

import docker
import pytest

from tests.e2e.compat.conftest import Compat
from tests.support.oci_layouts import HELLO, fixture

TRAP = "trap 'exit {code}' {signal}; while :; do sleep 0.1; done"


def test_run_returns_the_output_and_removes_the_container(compat: Compat) -> None:
    out = compat.client.containers.run("alpine", ["echo", "hello from alpine"], remove=True)
    assert out == b"hello from alpine\n"
    assert compat.client.containers.list(all=True) == []
    compat.check()


def test_run_pulls_a_missing_image(compat: Compat) -> None:
    ref = f"{compat.reg}/library/hello-world"
    if compat.daemon.request("GET", f"/images/{ref}/json").status == 200:
        compat.daemon.request("DELETE", f"/images/{ref}?force=1")
    try:
        out = compat.client.containers.run(ref, remove=True)
    finally:
        compat.daemon.request("DELETE", f"/images/{ref}?force=1")
    assert out == ("\n" + HELLO + "\n").encode()
    compat.check()


def test_run_detached_then_stop_wait_remove(compat: Compat) -> None:
    container = compat.client.containers.run("alpine", ["sleep", "60"], detach=True, name="dyt-sleeper")
    assert container.status == "created"  # docker-py's object is from the create answer
    container.reload()
    assert container.status == "running"
    assert container.name == "dyt-sleeper"
    details = compat.client.api.inspect_container(container.id)
    assert details["Name"] == "/dyt-sleeper"
    assert details["Config"]["Image"] == "alpine"
    assert details["Image"] == fixture("alpine").image_id
    assert details["State"]["Running"] is True
    assert details["State"]["Pid"] > 0
    assert details["Config"]["Hostname"] == container.id[:12]
    container.stop(timeout=1)  # sleep as PID 1 ignores SIGTERM: SIGKILL after 1 s
    assert container.wait() == {"StatusCode": 137, "Error": None}
    container.reload()
    assert container.status == "exited"
    assert container.attrs["State"]["ExitCode"] == 137
    container.remove()
    with pytest.raises(docker.errors.NotFound) as caught:
        compat.client.containers.get("dyt-sleeper")
    assert caught.value.response.status_code == 404
    assert caught.value.explanation == "No such container: dyt-sleeper"
    compat.check()


def test_create_start_wait_and_logs_by_stream(compat: Compat) -> None:
    container = compat.client.containers.create(
        "alpine", ["sh", "-c", "echo out; echo err >&2; exit 3"], labels={"dyt": "logs"}
    )
    assert container.status == "created"
    container.start()
    assert container.wait(timeout=30)["StatusCode"] == 3
    assert container.logs(stdout=True, stderr=False) == b"out\n"
    assert container.logs(stdout=False, stderr=True) == b"err\n"
    assert sorted(container.logs().splitlines()) == [b"err", b"out"]
    stamped = container.logs(stdout=True, stderr=False, timestamps=True).decode()
    assert stamped.endswith(" out\n")
    assert stamped[:4].isdigit()
    assert "T" in stamped[:20]
    assert container.logs(stdout=True, stderr=True, tail=1) in (b"out\n", b"err\n")
    compat.check()


@pytest.mark.parametrize(("signal", "code"), [("SIGUSR1", 7), ("SIGTERM", 0)])
def test_kill_sends_the_signal(compat: Compat, signal: str, code: int) -> None:
    container = compat.client.containers.run(
        "alpine", ["sh", "-c", TRAP.format(code=code, signal=signal.removeprefix("SIG"))], detach=True
    )
    time.sleep(0.3)  # let the shell install its trap
    container.kill(signal=signal)
    assert container.wait(timeout=30)["StatusCode"] == code
    compat.check()


def test_kill_defaults_to_sigkill_and_refuses_a_stopped_container(compat: Compat) -> None:
    container = compat.client.containers.run("alpine", ["sleep", "60"], detach=True)
    container.kill()
    assert container.wait(timeout=30)["StatusCode"] == 137
    with pytest.raises(docker.errors.APIError) as caught:
        container.kill()
    assert caught.value.response.status_code == 409
    # dockerd 20.10 capitalises the wrapper ("Cannot kill container: ..."); moby since 23.0 does not
    assert caught.value.explanation in (
        f"{verb} kill container: {container.id}: Container {container.id} is not running"
        for verb in ("Cannot", "cannot")
    )
    compat.check()


def test_wait_next_exit_returns_when_the_container_ends(compat: Compat) -> None:
    container = compat.client.containers.create("alpine", ["sh", "-c", "exit 4"])
    answers: list[dict[str, object]] = []
    waiter = threading.Thread(
        target=lambda: answers.append(compat.client.api.wait(container.id, condition="next-exit", timeout=30))
    )
    waiter.start()
    time.sleep(0.3)  # the wait must be registered before the start
    container.start()
    waiter.join(30)
    assert answers == [{"StatusCode": 4, "Error": None}]
    compat.check()


def test_attach_streams_the_output(compat: Compat) -> None:
    container = compat.client.containers.create(
        "alpine", ["sh", "-c", "for i in 1 2 3; do echo line $i; sleep 0.1; done"]
    )
    stream = container.attach(stdout=True, stderr=True, stream=True, logs=True)
    container.start()
    assert b"".join(stream) == b"line 1\nline 2\nline 3\n"
    del stream
    with warnings.catch_warnings():  # docker-py's attach generator never closes its socket
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
    compat.check()


def _read_frames(raw: socket.socket, want: bytes, timeout: float = 10) -> bytes:
    """Read stdcopy frames (8-byte header: stream, 0, 0, 0, size) until ``want`` has arrived."""
    raw.settimeout(timeout)
    payload = b""
    buffer = b""
    while want not in payload:
        chunk = raw.recv(4096)
        if not chunk:
            break
        buffer += chunk
        while len(buffer) >= 8:
            kind, size = buffer[0], struct.unpack(">I", buffer[4:8])[0]
            if len(buffer) < 8 + size:
                break
            assert kind in (1, 2), buffer[:8]
            payload += buffer[8 : 8 + size]
            buffer = buffer[8 + size :]
    return payload


def test_attach_socket_carries_stdin(compat: Compat) -> None:
    container = compat.client.containers.run("alpine", ["cat"], detach=True, stdin_open=True)
    sock = compat.client.api.attach_socket(
        container.id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
    )
    raw = getattr(sock, "_sock", sock)  # docker-py hands a SocketIO; its close leaves the socket open
    try:
        raw.sendall(b"echo me\n")
        assert _read_frames(raw, b"echo me\n") == b"echo me\n"
    finally:
        sock.close()
        raw.close()
    container.kill()
    compat.check()


def test_list_with_filters_limit_and_order(compat: Compat) -> None:
    first = compat.client.containers.create("alpine", ["true"], name="dyt-first", labels={"dyt": "a"})
    second = compat.client.containers.run("alpine", ["sleep", "60"], name="dyt-second", labels={"dyt": "b"},
                                          detach=True)  # fmt: skip
    listed = compat.client.containers.list(all=True)
    assert [c.id for c in listed] == [second.id, first.id]  # newest first
    assert [c.id for c in compat.client.containers.list()] == [second.id]
    assert [c.id for c in compat.client.containers.list(all=True, filters={"label": "dyt=a"})] == [first.id]
    assert [c.id for c in compat.client.containers.list(all=True, filters={"name": "dyt-sec"})] == [second.id]
    assert [c.id for c in compat.client.containers.list(all=True, filters={"status": "created"})] == [
        first.id
    ]
    assert [c.id for c in compat.client.containers.list(all=True, filters={"id": first.id[:10]})] == [
        first.id
    ]
    assert [c.id for c in compat.client.containers.list(all=True, limit=1)] == [second.id]
    rows = compat.client.api.containers(all=True)
    assert {row["Names"][0] for row in rows} == {"/dyt-first", "/dyt-second"}
    assert {row["Command"] for row in rows} == {"true", "sleep 60"}
    second.kill()
    compat.check()


def test_get_by_name_and_unique_prefix(compat: Compat) -> None:
    container = compat.client.containers.create("alpine", ["true"], name="dyt-named")
    assert compat.client.containers.get("dyt-named").id == container.id
    assert compat.client.containers.get(container.id[:12]).id == container.id
    compat.check()


def test_get_by_name_with_its_leading_slash(compat: Compat) -> None:
    """docker-py asks for ``/containers//dyt-slashed/json``; dockerd (Go's ServeMux) answers 301
    to the cleaned path, which docker-py follows."""
    container = compat.client.containers.create("alpine", ["true"], name="dyt-slashed")
    assert compat.client.containers.get("/dyt-slashed").id == container.id
    compat.check()
    redirects = [e for e in compat.recorder.exchanges if e.status == 301]
    assert [(e.path, e.location) for e in redirects] == [
        ("/containers//dyt-slashed/json", f"/v{compat.negotiated}/containers/dyt-slashed/json")
    ]


def test_remove_refuses_a_running_container_unless_forced(compat: Compat) -> None:
    container = compat.client.containers.run("alpine", ["sleep", "60"], name="dyt-busy", detach=True)
    with pytest.raises(docker.errors.APIError) as caught:
        container.remove()
    assert caught.value.response.status_code == 409
    assert caught.value.explanation == (
        'cannot remove container "/dyt-busy": container is running: '
        "stop the container before removing or force remove"
    )
    assert compat.client.containers.get(container.id).status == "running"
    container.remove(force=True)
    assert compat.client.containers.list(all=True) == []
    compat.check()


def test_restart_runs_the_container_again(compat: Compat) -> None:
    container = compat.client.containers.run("alpine", ["sleep", "60"], detach=True)
    container.reload()
    started = container.attrs["State"]["StartedAt"]
    pid = container.attrs["State"]["Pid"]
    container.restart(timeout=0)
    container.reload()
    assert container.status == "running"
    assert container.attrs["State"]["StartedAt"] > started
    assert container.attrs["State"]["Pid"] != pid
    container.kill()
    compat.check()


def test_top_lists_the_processes(compat: Compat) -> None:
    container = compat.client.containers.run("alpine", ["sleep", "60"], detach=True)
    top = container.top()
    assert "PID" in top["Titles"]
    assert "CMD" in top["Titles"]
    commands = [row[top["Titles"].index("CMD")] for row in top["Processes"]]
    assert commands == ["sleep 60"]
    container.kill()
    compat.check()


def test_unknown_and_ambiguous_references(compat: Compat) -> None:
    with pytest.raises(docker.errors.NotFound) as caught:
        compat.client.containers.get("dyt-nosuch")
    assert caught.value.explanation == "No such container: dyt-nosuch"
    ids = {compat.client.containers.create("alpine", ["true"]).id for _ in range(17)}
    shared = next(c for c in "0123456789abcdef" if sum(i.startswith(c) for i in ids) >= 2)
    with pytest.raises(docker.errors.APIError) as ambiguous:
        compat.client.containers.get(shared)
    # moby since 23.0 (20.10 answered 500 "Multiple IDs found...")
    assert ambiguous.value.response.status_code == 400
    assert ambiguous.value.explanation == f"multiple IDs found with provided prefix: {shared}"
    compat.check()
