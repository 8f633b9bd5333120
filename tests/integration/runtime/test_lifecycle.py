"""Lifecycle conformance: run, create/start/state, kill, delete, pause/resume."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.support.conformance import Lab


def test_run_returns_the_exit_status(lab: Lab) -> None:
    result = lab.run(["sh", "-c", "echo hello; exit 3"])
    assert result.returncode == 3
    assert result.stdout == "hello\n"


def test_run_reports_death_by_signal_as_128_plus_n(lab: Lab) -> None:
    ident, proc = lab.spawn_run(["sleep", "60"])
    try:
        lab.wait_running(ident)
        lab.cmd("kill", ident, "KILL").ok()
        assert proc.wait(timeout=10) == 137
    finally:
        proc.kill()
        proc.communicate()


def test_run_forwards_signals_to_the_container(lab: Lab) -> None:
    ident, proc = lab.spawn_run(["sh", "-c", "trap 'echo got-term; exit 7' TERM; sleep 60 & wait"])
    try:
        lab.wait_running(ident)
        time.sleep(0.2)  # let the shell install its trap
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
        assert proc.returncode == 7
        assert "got-term" in out
    finally:
        proc.kill()
        proc.communicate()


def test_state_fields_through_the_lifecycle(lab: Lab) -> None:
    ident, bundle = lab.bundle(["sleep", "60"], mutate=lambda s: s.annotations.update({"dyt.note": "x"}))
    lab.cmd("create", "--bundle", str(bundle), ident).ok()
    created = lab.state(ident)
    assert created["status"] == "created"
    assert created["id"] == ident
    assert created["bundle"] == str(bundle)
    assert created["rootfs"] == str(bundle / "rootfs")
    assert created["annotations"] == {"dyt.note": "x"}
    assert isinstance(created["ociVersion"], str)
    assert created["ociVersion"]
    assert isinstance(created["created"], str)
    assert created["created"].endswith("Z")
    pid = created["pid"]
    assert isinstance(pid, int)
    assert pid > 0
    assert os.path.exists(f"/proc/{pid}")
    lab.cmd("start", ident).ok()
    assert lab.state(ident)["status"] == "running"
    lab.cmd("kill", ident, "KILL").ok()
    lab.wait_stopped(ident)
    assert lab.state(ident)["pid"] == 0
    lab.cmd("delete", ident).ok()
    assert lab.cmd("state", ident).returncode == 1


def test_created_container_runs_nothing_until_start(lab: Lab, tmp_path_factory: object) -> None:
    ident = lab.create(["sh", "-c", "echo started > /tmp/mark; sleep 60"])
    bundle_rootfs = lab.dir / ident / "rootfs"
    time.sleep(0.2)
    assert not (bundle_rootfs / "tmp" / "mark").exists()
    lab.cmd("start", ident).ok()
    deadline = time.monotonic() + 5
    while not (bundle_rootfs / "tmp" / "mark").exists():
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_kill_accepts_names_and_numbers(lab: Lab) -> None:
    # pid 1 of a pid namespace gets only the signals it handles (pid_namespaces(7)): trap TERM.
    for signal in ("TERM", "SIGTERM", "15"):
        ident = lab.create(["sh", "-c", "trap 'exit 0' TERM; sleep 60 & wait"])
        lab.cmd("start", ident).ok()
        time.sleep(0.2)  # let the shell install its trap
        lab.cmd("kill", ident, signal).ok()
        lab.wait_stopped(ident)


def test_kill_all_signals_every_process(lab: Lab) -> None:
    ident = lab.start_sleeper()
    lab.cmd("exec", "-d", ident, "sleep", "60").ok()
    lab.cmd("kill", "--all", ident, "KILL").ok()
    lab.wait_stopped(ident)


def test_delete_refuses_a_running_container_without_force(lab: Lab) -> None:
    ident = lab.start_sleeper()
    result = lab.cmd("delete", ident)
    assert result.returncode == 1
    assert "not stopped" in result.stderr
    assert lab.state(ident)["status"] == "running"
    lab.cmd("delete", "--force", ident).ok()
    assert lab.cmd("state", ident).returncode == 1
    assert not lab.cgroup_dir("memory", ident).exists()


def test_delete_of_a_created_container_removes_it(lab: Lab) -> None:
    ident = lab.create(["sleep", "60"])
    pid = lab.pid(ident)
    lab.cmd("delete", ident).ok()
    assert lab.cmd("state", ident).returncode == 1
    deadline = time.monotonic() + 5
    while _alive(pid):
        assert time.monotonic() < deadline
        time.sleep(0.02)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_pause_and_resume(lab: Lab) -> None:
    ident = lab.start_sleeper()
    lab.cmd("pause", ident).ok()
    assert lab.state(ident)["status"] == "paused"
    assert lab.cgroup_dir("freezer", ident).joinpath("freezer.state").read_text().strip() == "FROZEN"
    lab.cmd("resume", ident).ok()
    assert lab.state(ident)["status"] == "running"


def test_ps_lists_the_container_processes(lab: Lab) -> None:
    ident = lab.start_sleeper()
    pid = lab.pid(ident)
    result = lab.cmd("ps", "--format", "json", ident).ok()
    assert str(pid) in result.stdout


def test_pid_file_holds_the_init_pid(lab: Lab) -> None:
    ident, bundle = lab.bundle(["sleep", "60"])
    pid_file = lab.dir / f"{ident}.pid"
    lab.cmd("create", "--bundle", str(bundle), "--pid-file", str(pid_file), ident).ok()
    assert int(pid_file.read_text()) == lab.pid(ident)


def _parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_bytes()
    return int(stat[stat.rfind(b")") + 2 :].split()[1])


def test_run_is_the_parent_of_init(lab: Lab) -> None:
    ident, proc = lab.spawn_run(["sleep", "60"])
    init = 0
    try:
        lab.wait_running(ident)
        init = lab.pid(ident)
        assert _parent_of(init) == proc.pid
    finally:
        if init:
            os.kill(init, 9)  # it holds our pipes to `run`
        proc.kill()
        proc.communicate()


# A caller that is a child subreaper, as a monitor is, runs `create`, says its pid and stays until
# its stdin closes: init must end up its child, as it does under runc.
_SUBREAPER = """
import ctypes, os, subprocess, sys
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
subprocess.run(sys.argv[1:], check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
print(os.getpid(), flush=True)
sys.stdin.read()
"""


def test_init_becomes_the_child_of_the_callers_subreaper(lab: Lab) -> None:
    import subprocess
    import sys

    from tests.support.conformance import runtime_argv

    ident, bundle = lab.bundle(["sleep", "60"])
    options = ["--root", str(lab.root), "--log", str(lab.log), "--log-format", "json"]
    argv = [*runtime_argv(lab.runtime), *options, "create", "--bundle", str(bundle), ident]
    caller = subprocess.Popen(
        [sys.executable, "-c", _SUBREAPER, *argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert caller.stdout is not None
        line = caller.stdout.readline()  # create has returned
        if not line:
            lab.cmd("state", ident)  # crun on a hybrid host: xfail with its reason
        assert int(line) == caller.pid
        assert _parent_of(lab.pid(ident)) == caller.pid
    finally:
        caller.kill()  # init goes with the lab's clean-up (delete --force)
        caller.communicate()
