"""``dockyardd`` killed with SIGKILL and started again (issue #3's acceptance).

One scenario, in steps (a walk: see tests/e2e/conftest.py): containers are started, the daemon is
killed, some containers end while it is down (exit 0 and 3 on SIGTERM traps, 137 on SIGKILL),
a new daemon starts on the same roots, and then: the running ones still run with the same pid,
``logs -f`` follows them and ``attach`` gets into them, the ended ones show their exit codes,
one started before the kill is stopped and removed, and in the end nothing is left behind.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field

import pytest

from tests.e2e.lab.clis import DEBIAN_DOCKER, parse_table
from tests.e2e.lab.terminal import CTRL_P_CTRL_Q, Terminal
from tests.e2e.recovery.conftest import alive, docker, residue
from tests.support.daemon import DaemonHarness

TICKER = "i=0; while :; do echo tick $i; i=$((i+1)); sleep 0.2; done"
TRAP = "trap 'exit {code}' TERM; while :; do sleep 0.1; done"


def _wait_gone(pid: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while alive(pid):
        assert time.monotonic() < deadline, f"pid {pid} still alive"
        time.sleep(0.05)


@dataclass
class Scenario:
    daemon: DaemonHarness
    pids: dict[str, int] = field(default_factory=dict)
    ticks_before: int = 0


def _state(daemon: DaemonHarness, name: str) -> dict[str, object]:
    reply = daemon.request("GET", f"/containers/{name}/json")
    assert reply.status == 200, reply.body
    state: dict[str, object] = reply.json()["State"]
    return state


@pytest.fixture(scope="class")
def scenario(crashable: DaemonHarness) -> Scenario:
    return Scenario(crashable)


class TestDaemonKill:
    walk = True

    def test_01_containers_run(self, scenario: Scenario) -> None:
        daemon = scenario.daemon
        runs = {
            "ticker": ["alpine", "sh", "-c", TICKER],
            "shell": ["-it", "alpine", "/bin/sh"],
            "zero": ["alpine", "sh", "-c", TRAP.format(code=0)],
            "three": ["alpine", "sh", "-c", TRAP.format(code=3)],
            "killed": ["alpine", "sleep", "1000"],
            "stopped-later": ["alpine", "sleep", "1000"],
        }
        for name, args in runs.items():
            started = docker(daemon, "run", "-d", "--name", name, *args)
            assert started.returncode == 0, started.stderr
            pid = _state(daemon, name)["Pid"]
            assert isinstance(pid, int)
            scenario.pids[name] = pid
        time.sleep(0.6)  # some ticks, and the traps installed
        scenario.ticks_before = docker(daemon, "logs", "ticker").stdout.count("tick ")
        assert scenario.ticks_before >= 2

    def test_02_sigkill_leaves_the_containers_running(self, scenario: Scenario) -> None:
        scenario.daemon.kill(signal.SIGKILL)
        time.sleep(0.5)
        for name, pid in scenario.pids.items():
            assert alive(pid), f"{name} (pid {pid}) died with the daemon"

    def test_03_some_end_while_the_daemon_is_down(self, scenario: Scenario) -> None:
        os.kill(scenario.pids["zero"], signal.SIGTERM)
        os.kill(scenario.pids["three"], signal.SIGTERM)
        os.kill(scenario.pids["killed"], signal.SIGKILL)
        for name in ("zero", "three", "killed"):
            _wait_gone(scenario.pids[name])

    def test_04_a_new_daemon_starts_on_the_same_roots(self, scenario: Scenario) -> None:
        scenario.daemon.start()

    def test_05_running_containers_still_run_with_the_same_pid(self, scenario: Scenario) -> None:
        for name in ("ticker", "shell", "stopped-later"):
            state = _state(scenario.daemon, name)
            assert (state["Status"], state["Running"], state["Pid"]) == ("running", True, scenario.pids[name])
        rows = parse_table(docker(scenario.daemon, "ps").stdout)
        assert sorted(row["NAMES"] for row in rows) == ["shell", "stopped-later", "ticker"]
        assert all(row["STATUS"].startswith("Up ") for row in rows)

    def test_06_ended_containers_show_their_exit_codes(self, scenario: Scenario) -> None:
        for name, code in (("zero", 0), ("three", 3), ("killed", 137)):
            state = _state(scenario.daemon, name)
            assert (state["Status"], state["Running"], state["ExitCode"]) == ("exited", False, code), name
            waited = docker(scenario.daemon, "wait", name)
            assert waited.stdout == f"{code}\n"
        rows = {row["NAMES"]: row for row in parse_table(docker(scenario.daemon, "ps", "-a").stdout)}
        assert re.match(r"Exited \(3\) ", rows["three"]["STATUS"])
        assert re.match(r"Exited \(137\) ", rows["killed"]["STATUS"])

    def test_07_logs_follow_a_container_that_outlived_its_daemon(self, scenario: Scenario) -> None:
        follow = subprocess.Popen(
            [DEBIAN_DOCKER, "logs", "-f", "--tail", "0", "ticker"],
            env=scenario.daemon.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert follow.stdout is not None
            numbers = [int(follow.stdout.readline().split()[1]) for _ in range(3)]
        finally:
            follow.kill()
            follow.communicate(timeout=10)
        assert numbers == sorted(numbers)
        assert numbers[0] >= scenario.ticks_before  # new output, written after the restart
        everything = docker(scenario.daemon, "logs", "ticker").stdout.splitlines()
        assert everything[: scenario.ticks_before] == [f"tick {i}" for i in range(scenario.ticks_before)]

    def test_08_attach_gets_into_a_container_that_outlived_its_daemon(self, scenario: Scenario) -> None:
        with Terminal([DEBIAN_DOCKER, "attach", "shell"], scenario.daemon.env) as term:
            time.sleep(0.5)
            term.type_line("echo again-$((40+2))")
            term.expect("again-42")
            term.send(CTRL_P_CTRL_Q)
            assert term.wait() == 1  # docker's status after "read escape sequence"
        assert _state(scenario.daemon, "shell")["Running"] is True

    def test_09_a_container_from_before_the_kill_stops_and_goes(self, scenario: Scenario) -> None:
        stopped = docker(scenario.daemon, "stop", "-t", "1", "stopped-later")
        assert (stopped.returncode, stopped.stdout) == (0, "stopped-later\n"), stopped.stderr
        assert not alive(scenario.pids["stopped-later"])
        assert _state(scenario.daemon, "stopped-later")["ExitCode"] == 137
        removed = docker(scenario.daemon, "rm", "stopped-later")
        assert (removed.returncode, removed.stdout) == (0, "stopped-later\n"), removed.stderr

    def test_10_nothing_is_left_behind(self, scenario: Scenario) -> None:
        names = docker(scenario.daemon, "ps", "-aq").stdout.split()
        removed = docker(scenario.daemon, "rm", "-f", *names)
        assert removed.returncode == 0, removed.stderr
        for pid in scenario.pids.values():
            _wait_gone(pid)
        deadline = time.monotonic() + 10
        while residue(scenario.daemon) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert residue(scenario.daemon) == []
