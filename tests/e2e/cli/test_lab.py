"""The lab of seed 000 ("First Alpine Linux Containers"), step by step, with ``dockyard``.

Run against a real dockyardd and the session registry; only the image names differ from the
lab's (``<registry>/library/alpine`` for ``alpine``). Each step checks what the lab tells the
user to look for, and the output's shape as docker prints it.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time

from tests.e2e.cli.conftest import DOCKYARD

ID = re.compile(r"^[0-9a-f]{12}$")


def _rows(table: str) -> list[list[str]]:
    """A docker table's rows split on its column gaps (three or more spaces)."""
    return [re.split(r"\s{3,}", line.rstrip()) for line in table.splitlines()[1:]]


def test_lab_first_alpine_containers(registry, dockyard, terminal) -> None:
    hello, alpine = f"{registry}/library/hello-world", f"{registry}/library/alpine"

    # 1.0 Running your first container: the image is pulled first, then it runs.
    run = dockyard("container", "run", hello)
    assert run.status == 0, run
    assert run.err.startswith(f"Unable to find image '{hello}:latest' locally\n"), run
    assert "latest: Pulling from library/hello-world" in run.err
    assert f"Status: Downloaded newer image for {hello}:latest" in run.err
    assert "Hello from Docker!" in run.out

    # 1.1 Docker Images: pull, then list.
    pull = dockyard("image", "pull", alpine)
    assert pull.status == 0, pull
    lines = pull.out.splitlines()
    assert lines[:2] == ["Using default tag: latest", "latest: Pulling from library/alpine"], pull
    assert any(re.fullmatch(r"[0-9a-f]{12}: Pull complete", line) for line in lines), pull
    assert re.fullmatch(r"Digest: sha256:[0-9a-f]{64}", lines[-3]), pull
    assert lines[-2:] == [f"Status: Downloaded newer image for {alpine}:latest", f"{alpine}:latest"]

    images = dockyard("image", "ls")
    assert images.out.splitlines()[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    listed = {(row[0], row[1]) for row in _rows(images.out)}
    assert {(alpine, "latest"), (hello, "latest")} <= listed
    assert all(ID.match(row[2]) and re.fullmatch(r"[\d.]+[kMG]?B", row[4]) for row in _rows(images.out))

    # 1.1 Docker Container Run: commands run and exit.
    listing = dockyard("container", "run", alpine, "ls", "-l")
    assert listing.status == 0
    assert re.search(r"^drwxr-xr-x\s.*\sbin$", listing.out, re.M), listing
    assert dockyard("container", "run", alpine, "echo", "hello from alpine").out == "hello from alpine\n"
    shell = dockyard("container", "run", alpine, "/bin/sh")
    assert (shell.status, shell.out) == (0, "")

    term = terminal("container", "run", "-it", alpine, "/bin/sh")
    term.expect("/ # ")
    term.type("uname -a\n")
    term.expect("Linux")
    term.type("exit\n")
    assert term.wait() == 0

    # Nothing runs any more; -a shows every instance, newest first.
    assert dockyard("container", "ls").out.splitlines() == [
        "CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES"
    ]
    every = _rows(dockyard("container", "ls", "-a").out)
    assert [row[2] for row in every] == [
        '"/bin/sh"',
        '"/bin/sh"',
        '"echo \'hello from al…"',
        '"ls -l"',
        '"/hello"',
    ]
    assert all(row[4].startswith("Exited (0) ") for row in every)
    assert all(re.fullmatch(r"[a-z]+_[a-z]+", row[-1]) for row in every)

    # 1.2 Container Isolation: a file written in one container...
    term = terminal("container", "run", "-it", alpine, "/bin/ash")
    term.expect("/ # ")
    term.type('echo "hello world" > hello.txt\n')
    term.type("ls\n")
    term.expect("hello.txt")
    term.type("exit\n")
    assert term.wait() == 0
    # ... is not in a new container from the same image.
    assert "hello.txt" not in dockyard("container", "run", alpine, "ls").out.split()

    # The container that has it is started again, and stays up (ash waits on its terminal).
    ash = next(row for row in _rows(dockyard("container", "ls", "-a").out) if row[2] == '"/bin/ash"')
    prefix = ash[0][:4]
    start = dockyard("container", "start", prefix)
    assert (start.status, start.out) == (0, f"{prefix}\n"), start
    running = _rows(dockyard("container", "ls").out)
    assert [row[0] for row in running] == [ash[0]]
    assert running[0][4].startswith("Up ")
    assert "hello.txt" in dockyard("container", "exec", prefix, "ls").out.split()

    # 1.3 Terminology: inspect the image.
    inspected = json.loads(dockyard("image", "inspect", alpine).out)
    assert inspected[0]["RepoTags"] == [f"{alpine}:latest"]
    assert dockyard("image", "inspect", "-f", "{{.Config.Cmd}}", alpine).out == "[/bin/sh]\n"

    # Stop and remove everything.
    stop = dockyard("container", "stop", "-t", "1", prefix)
    assert (stop.status, stop.out) == (0, f"{prefix}\n")
    ids = dockyard("container", "ls", "-aq").out.split()
    assert len(ids) == 7
    removed = dockyard("container", "rm", *ids)
    assert (removed.status, removed.out.split()) == (0, ids)
    assert dockyard("container", "ls", "-a").out.count("\n") == 1


def test_detach_with_ctrl_p_ctrl_q_then_attach_again(registry, dockyard, terminal) -> None:
    alpine = f"{registry}/library/alpine"
    assert dockyard("pull", "-q", alpine).status == 0
    term = terminal("run", "-it", "--name", "dyt-detach", alpine, "/bin/sh")
    term.expect("/ # ")
    term.type("\x10")
    term.type("\x11")
    assert term.wait() == 0
    state = dockyard("inspect", "-f", "{{.State.Status}}", "dyt-detach")
    assert state.out == "running\n", state

    again = terminal("attach", "dyt-detach")
    again.type("\n")
    again.expect("/ # ")
    again.type("exit 3\n")
    assert again.wait() == 3
    assert dockyard("inspect", "-f", "{{.State.ExitCode}}", "dyt-detach").out == "3\n"
    assert dockyard("rm", "dyt-detach").status == 0


def test_run_exit_codes_and_errors(registry, dockyard) -> None:
    alpine = f"{registry}/library/alpine"
    assert dockyard("pull", "-q", alpine).status == 0
    assert dockyard("run", "--rm", alpine, "sh", "-c", "exit 7").status == 7
    assert dockyard("ps", "-aq").out == ""  # --rm removed it
    missing = dockyard("run", "--name", "dyt-missing-cmd", alpine, "no-such-command")
    assert missing.status == 127, missing
    report = missing.err.splitlines()[-3:]
    assert report[0].startswith("dockyard: Error response from daemon: "), missing
    assert "no-such-command" in report[0]
    assert report[1:] == ["", "Run 'dockyard run --help' for more information"]
    assert dockyard("rm", "dyt-missing-cmd").status == 0

    unknown = dockyard("run", f"{registry}/library/nope")
    assert unknown.status == 125
    assert unknown.err.startswith(f"Unable to find image '{registry}/library/nope:latest' locally\n"), unknown
    assert "manifest unknown" in unknown.err.splitlines()[-3], unknown

    created = dockyard("create", "--name", "dyt-twice", alpine)
    assert created.status == 0
    twice = dockyard("create", "--name", "dyt-twice", alpine)
    assert twice.status == 125
    assert 'Conflict. The container name "/dyt-twice" is already in use' in twice.err
    assert dockyard("rm", "dyt-twice", "dyt-missing").status == 1


def test_logs_follow_and_detached_run(registry, dockyard) -> None:
    alpine = f"{registry}/library/alpine"
    assert dockyard("pull", "-q", alpine).status == 0
    started = dockyard("run", "-d", alpine, "sh", "-c", "echo out; echo err >&2; sleep 1; echo done")
    assert started.status == 0
    cid = started.out.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", cid), started
    logs = dockyard("logs", "-f", cid[:12])
    assert (logs.out, logs.err) == ("out\ndone\n", "err\n")
    assert dockyard("wait", cid[:12]).out == "0\n"
    stamped = dockyard("logs", "-t", "-n", "1", cid[:12])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z done\n", stamped.out), stamped
    assert dockyard("rm", cid).status == 0


def test_run_rm_removes_a_container_whose_command_is_missing(registry, dockyard) -> None:
    alpine = f"{registry}/library/alpine"
    assert dockyard("pull", "-q", alpine).status == 0
    missing = dockyard("run", "--rm", alpine, "no-such-command")
    assert missing.status == 127, missing
    try:
        assert dockyard("ps", "-aq").out == ""
    finally:
        dockyard("rm", "-f", *dockyard("ps", "-aq").out.split())


def test_tty_size_follows_the_terminal(registry, dockyard, terminal) -> None:
    alpine = f"{registry}/library/alpine"
    assert dockyard("pull", "-q", alpine).status == 0
    term = terminal("run", "-it", "--rm", alpine, "/bin/sh")
    term.expect("/ # ")
    term.type("busybox stty size\n")
    term.expect("24 80")  # set from our terminal when the container starts
    term.resize(40, 132)
    time.sleep(0.5)
    term.type("busybox stty size\n")
    term.expect("40 132")  # and again on SIGWINCH
    term.type("exit\n")
    assert term.wait() == 0


def test_signals_are_proxied_to_a_non_tty_container(registry, dockyard, env) -> None:
    alpine = f"{registry}/library/alpine"
    assert dockyard("pull", "-q", alpine).status == 0
    script = "trap 'echo got TERM; exit 5' TERM; echo ready; while :; do sleep 0.1; done"
    process = subprocess.Popen(
        [DOCKYARD, "run", "--rm", alpine, "sh", "-c", script],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == b"ready\n"
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert (process.returncode, out) == (5, b"got TERM\n")
