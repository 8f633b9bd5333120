"""Hooks, the pty and console-socket protocol, and the sync channel, without privileges."""

from __future__ import annotations

import array
import os
import socket
from pathlib import Path

import pytest

from dockyard.oci import runtime_spec as rs
from dockyard.oci.state import State
from dockyard.runtime import hooks, sync, tty
from dockyard.util import jsoncodec

_STATE = State(id="c1", status="creating", pid=42, bundle="/b", annotations={"a": "b"})


def test_hook_gets_the_state_on_stdin_args_and_env(tmp_path: Path) -> None:
    state, args = tmp_path / "state", tmp_path / "args"
    script = f'cat > {state}; echo "$0 $1 $X" > {args}'
    hook = rs.Hook(path="/bin/sh", args=["sh", "-c", script, "zero", "one"], env=["X=env"])
    hooks.run_hooks("prestart", [hook], _STATE)
    assert jsoncodec.loads(state.read_text()) == _STATE.hook_json()
    assert args.read_text() == "zero one env\n"


def test_failing_hook_is_fatal_or_a_warning() -> None:
    failing = rs.Hook(path="/bin/sh", args=["sh", "-c", "exit 3"])
    with pytest.raises(hooks.HookFailed, match=r"error running createRuntime hook #0: exit status 3"):
        hooks.run_hooks("createRuntime", [failing], _STATE)
    warnings = hooks.run_hooks("poststop", [failing, failing], _STATE, fatal=False)
    assert len(warnings) == 2


def test_hook_timeout_kills_it() -> None:
    slow = rs.Hook(path="/bin/sleep", args=["sleep", "30"], timeout=1)
    with pytest.raises(hooks.HookFailed, match="timeout after 1 seconds"):
        hooks.run_hooks("prestart", [slow], _STATE)


def test_missing_hook_binary() -> None:
    with pytest.raises(hooks.HookFailed, match="/nonexistent"):
        hooks.run_hooks("prestart", [rs.Hook(path="/nonexistent")], _STATE)


def test_pty_and_console_protocol() -> None:
    root = os.open("/", os.O_PATH | os.O_DIRECTORY)
    try:
        pty = tty.open_pty(root)
    finally:
        os.close(root)
    tty.set_size(pty.master, 24, 80)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    import _socket

    tty.send_master(_socket.socket(fileno=os.dup(theirs.fileno())), pty)
    theirs.close()
    fds = array.array("i")
    data, ancdata, _, _ = ours.recvmsg(1024, socket.CMSG_SPACE(fds.itemsize))
    ours.close()
    fds.frombytes(ancdata[0][2])
    master = fds[0]
    try:
        assert data.decode() == pty.name
        assert pty.name.startswith("/dev/pts/")
        os.write(pty.slave, b"hello\n")
        assert b"hello" in os.read(master, 100)
    finally:
        for fd in (master, pty.master, pty.slave):
            os.close(fd)


def test_console_size_is_bounded() -> None:
    from dockyard.errors import InvalidArgument

    with pytest.raises(InvalidArgument):
        tty.set_size(0, 70000, 80)


def test_channel_messages_errors_and_eof() -> None:
    parent, child = sync.channel_pair()
    child.send("pid", pid=7)
    assert parent.expect("pid") == {"pid": 7, "type": "pid"}
    child.send("error", message="mount /proc: permission denied")
    with pytest.raises(sync.ChildFailed, match="mount /proc: permission denied"):
        parent.recv()
    child.close()
    assert parent.recv() is None
    with pytest.raises(sync.ChildFailed, match="exited before"):
        parent.expect("ready")
    parent.close()
