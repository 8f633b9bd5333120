"""A container's monitor killed with SIGKILL: whatever the engine does, it must end consistent.

The monitor is the container's parent (it reaps it and records its exit). When it dies, the
engine may keep the container running or end it; either way ``inspect`` must settle on a state
that matches the process (running with its pid alive, or exited with the process gone), the
container must be removable, and nothing may be left behind. Checked with the daemon up, and
with the daemon killed at the same time (the restarted daemon must sort it out).

dockyard ends it, as containerd ends a container whose shim died (``cleanupAfterDeadShim``: the
runtime's ``delete --force``, and the exit recorded as killed, 137), and the container can be
started again.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.recovery.conftest import alive, docker, residue
from tests.support.daemon import DaemonHarness


def _monitor_of(pid: int) -> int:
    """The container process's parent, which must be a dockyard monitor."""
    parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    command = Path(f"/proc/{parent}/cmdline").read_bytes().decode(errors="replace")
    assert "dockyard" in command, command
    assert "monitor" in command, command
    return parent


def _settled(daemon: DaemonHarness, name: str, pid: int, window: float = 3) -> dict[str, object]:
    """The state once the engine has had ``window`` seconds to notice; it must match the process.

    A lost monitor is noticed within about a second and a half here; what the engine then decides
    (keep the container, or end it) must agree with what the kernel says about the process.
    """
    time.sleep(window)
    state: dict[str, object] = daemon.request("GET", f"/containers/{name}/json").json()["State"]
    running = bool(state["Running"]) and state["Pid"] == pid
    assert (running, alive(pid)) in ((True, True), (False, False)), (
        f"inspect says {state['Status']} (pid {state['Pid']}, exit {state['ExitCode']}); "
        f"the container process {pid} is {'alive' if alive(pid) else 'gone'}"
    )
    return state


def _run(daemon: DaemonHarness, name: str) -> tuple[int, int]:
    started = docker(daemon, "run", "-d", "--name", name, "alpine", "sleep", "1000")
    assert started.returncode == 0, started.stderr
    pid = daemon.request("GET", f"/containers/{name}/json").json()["State"]["Pid"]
    return pid, _monitor_of(pid)


def _orphan(daemon: DaemonHarness, name: str, *, kill_daemon: bool) -> tuple[int, int]:
    """Run ``name``, SIGKILL its monitor (and the daemon with it, then start the daemon again)."""
    pid, monitor = _run(daemon, name)
    if kill_daemon:
        daemon.kill(signal.SIGKILL)
    os.kill(monitor, signal.SIGKILL)
    if kill_daemon:
        daemon.start()
    return pid, monitor


def _removed_without_trace(daemon: DaemonHarness, name: str, pid: int) -> None:
    removed = docker(daemon, "rm", "-f", name)
    assert (removed.returncode, removed.stdout) == (0, f"{name}\n"), removed.stderr
    assert daemon.request("GET", f"/containers/{name}/json").status == 404
    deadline = time.monotonic() + 10
    while (alive(pid) or residue(daemon)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(pid)
    assert residue(daemon) == []


@pytest.fixture
def crashable(alpine_archive: Path) -> Iterator[DaemonHarness]:
    """A daemon per test: a test that fails leaves what it leaked to itself."""
    with DaemonHarness() as daemon:
        loaded = docker(daemon, "load", "-q", "-i", str(alpine_archive))
        assert loaded.returncode == 0, loaded.stderr
        yield daemon


class TestMonitorKill:
    def test_with_the_daemon_up(self, crashable: DaemonHarness) -> None:
        pid, monitor = _run(crashable, "dyt-orphan")
        os.kill(monitor, signal.SIGKILL)
        state = _settled(crashable, "dyt-orphan", pid)
        if state["Status"] == "exited":
            assert state["ExitCode"] == 137
        _removed_without_trace(crashable, "dyt-orphan", pid)

    def test_with_the_daemon_killed_too(self, crashable: DaemonHarness) -> None:
        pid, monitor = _run(crashable, "dyt-twice-orphaned")
        crashable.kill(signal.SIGKILL)
        os.kill(monitor, signal.SIGKILL)
        time.sleep(0.5)
        crashable.start()
        _settled(crashable, "dyt-twice-orphaned", pid)
        _removed_without_trace(crashable, "dyt-twice-orphaned", pid)

    @pytest.mark.parametrize("kill_daemon", [False, True])
    def test_a_stop_after_the_monitor_died(self, crashable: DaemonHarness, kill_daemon: bool) -> None:
        name = f"dyt-stop-{int(kill_daemon)}"
        pid, _ = _orphan(crashable, name, kill_daemon=kill_daemon)
        state = _settled(crashable, name, pid)
        if state["Running"]:
            stopped = docker(crashable, "stop", "-t", "1", name)
            assert stopped.returncode == 0, stopped.stderr
            assert _settled(crashable, name, pid)["Status"] == "exited"
        _removed_without_trace(crashable, name, pid)

    @pytest.mark.parametrize("kill_daemon", [False, True])
    def test_started_again_after_the_monitor_died(self, crashable: DaemonHarness, kill_daemon: bool) -> None:
        name = f"dyt-again-{int(kill_daemon)}"
        pid, monitor = _orphan(crashable, name, kill_daemon=kill_daemon)
        state = _settled(crashable, name, pid)
        assert (state["Status"], state["ExitCode"], state["Pid"]) == ("exited", 137, 0)
        started = docker(crashable, "start", name)
        assert (started.returncode, started.stdout) == (0, f"{name}\n"), started.stderr
        again = crashable.request("GET", f"/containers/{name}/json").json()["State"]
        assert again["Running"]
        assert alive(again["Pid"])
        assert _monitor_of(again["Pid"]) != monitor
        _removed_without_trace(crashable, name, again["Pid"])
