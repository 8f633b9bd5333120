"""The interactive parts of the tutorials, on a pseudo-terminal, with each client.

``run -it`` and Ctrl-P Ctrl-Q (seed 003's C21: detach and leave PID 1 running), ``attach`` back
into it, window resizes forwarded to the container's terminal, ``exec -it`` beside PID 1, and a
user-chosen ``--detach-keys``. The terminal is the test's (see ``terminal``), so the clients
behave as they do for a person: raw mode, SIGWINCH, the detach sequence read from the keyboard.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.e2e.lab.conftest import LabSession
from tests.e2e.lab.terminal import CTRL_P_CTRL_Q, Terminal

PROMPT = r"/ # "
ESCAPE_NOTICE = "read escape sequence"  # docker's words when attach or exec -it detaches


@pytest.fixture(scope="class")
def ready(lab: LabSession) -> LabSession:
    lab.run("image", "pull", "-q", f"{lab.reg}/library/alpine").ok()
    lab.run("image", "tag", f"{lab.reg}/library/alpine", "alpine").ok()
    return lab


@pytest.fixture
def session(ready: LabSession) -> Iterator[LabSession]:
    yield ready
    for cid in ready.container_ids():
        ready.daemon.request("DELETE", f"/containers/{cid}?force=1")


def _state(lab: LabSession, name: str) -> dict[str, object]:
    state = lab.inspect(name)["State"]
    assert isinstance(state, dict)
    return state


def _run_it(lab: LabSession, name: str, *extra: str, rows: int = 24, columns: int = 80) -> Terminal:
    term = lab.terminal("run", "-it", "--name", name, *extra, "alpine", "/bin/sh", rows=rows, columns=columns)
    term.expect(PROMPT)
    return term


class TestInteractive:
    def test_ctrl_p_ctrl_q_detaches_and_attach_comes_back(self, session: LabSession) -> None:
        with _run_it(session, "dyt-detach") as term:
            term.type_line("echo before-$((40+2))")
            term.expect("before-42")
            pid = _state(session, "dyt-detach")["Pid"]
            term.send(CTRL_P_CTRL_Q)
            assert term.wait() == 0  # from `run -it`, docker detaches quietly with status 0
            assert ESCAPE_NOTICE not in term.transcript.decode(errors="replace")
        state = _state(session, "dyt-detach")
        assert (state["Running"], state["Pid"]) == (True, pid)
        listed = session.run("ps", "--format", "{{.Names}} {{.Status}}").ok().stdout
        assert listed.startswith("dyt-detach Up ")
        with session.terminal("attach", "dyt-detach") as term:
            time.sleep(0.5)  # attach gives no prompt of its own: the shell is waiting for input
            term.type_line("echo after-$((40+2))")
            term.expect("after-42")
            term.type_line("exit 3")
            assert term.wait() == 3  # attach returns the container's exit status
        state = _state(session, "dyt-detach")
        assert (state["Status"], state["ExitCode"]) == ("exited", 3)

    def test_window_size_follows_the_terminal(self, session: LabSession) -> None:
        with _run_it(session, "dyt-resize", rows=30, columns=100) as term:
            term.type_line("stty size")
            term.expect(r"\b30 100\b")
            term.resize(40, 132)
            time.sleep(0.5)  # SIGWINCH -> client -> POST /containers/{id}/resize
            term.type_line("stty size")
            term.expect(r"\b40 132\b")
            term.type_line("exit")
            assert term.wait() == 0

    def test_exec_it_runs_beside_pid_1(self, session: LabSession) -> None:
        session.run("run", "-d", "-it", "--name", "dyt-exec", "alpine", "/bin/ash").ok()
        with session.terminal("exec", "-it", "dyt-exec", "/bin/sh") as term:
            term.expect(PROMPT)
            term.type_line("ps -o pid,args")
            term.expect(r"1 /bin/ash")
            term.expect(PROMPT)
            term.type_line("hostname")
            term.expect(session.inspect("dyt-exec")["Id"][:12])  # type: ignore[index]
            term.type_line("exit 4")
            assert term.wait() == 4
        assert _state(session, "dyt-exec")["Running"] is True

    def test_detach_keys_of_the_users_choice(self, session: LabSession) -> None:
        session.run("run", "-d", "-it", "--name", "dyt-keys", "alpine", "/bin/sh").ok()
        with session.terminal("attach", "--detach-keys", "ctrl-a,a", "dyt-keys") as term:
            time.sleep(0.5)
            term.type_line("echo keyed-$((40+2))")
            term.expect("keyed-42")
            term.send(b"\x01a")
            assert term.wait() == 1  # from `attach`, docker says so and exits 1 (as with dockerd)
            assert term.transcript.decode(errors="replace").endswith(ESCAPE_NOTICE + "\r\n")
        assert _state(session, "dyt-keys")["Running"] is True

    def test_ctrl_p_ctrl_q_leaves_an_exec_running(self, session: LabSession) -> None:
        session.run("run", "-d", "-it", "--name", "dyt-execd", "alpine", "/bin/ash").ok()
        with session.terminal("exec", "-it", "dyt-execd", "/bin/sh") as term:
            term.expect(PROMPT)
            term.send(CTRL_P_CTRL_Q)
            assert term.wait() == 1
            assert term.transcript.decode(errors="replace").endswith(ESCAPE_NOTICE + "\r\n")
        shells = session.run("exec", "dyt-execd", "ps", "-o", "args").ok().stdout.split("\n")
        assert shells.count("/bin/sh") == 1, shells  # the detached exec still runs

    def test_ctrl_p_alone_reaches_the_shell(self, session: LabSession) -> None:
        with _run_it(session, "dyt-ctrlp") as term:
            term.send(b"\x10")  # Ctrl-P, then something that is not Ctrl-Q: both go through
            term.type_line("echo still-here")
            term.expect("still-here")
            term.type_line("exit")
            assert term.wait() == 0
        assert _state(session, "dyt-ctrlp")["ExitCode"] == 0
