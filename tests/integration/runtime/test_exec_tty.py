"""``exec`` joins every namespace and the cgroup; terminals through the console socket."""

from __future__ import annotations

import os
import time

from dockyard.oci import runtime_spec as rs
from tests.support.conformance import Lab
from tests.support.console import ConsoleSocket

_KINDS = ("pid", "net", "ipc", "uts", "mnt", "cgroup")


def _with_cgroupns(spec: rs.Spec) -> None:
    assert spec.linux is not None
    spec.linux.namespaces.append(rs.LinuxNamespace(type="cgroup"))


def test_exec_joins_every_namespace_and_the_cgroup(lab: Lab) -> None:
    ident = lab.start_sleeper(mutate=_with_cgroupns)
    pid = lab.pid(ident)
    script = (
        "for n in "
        + " ".join(_KINDS)
        + "; do echo $n $(readlink /proc/self/ns/$n); done; cat /proc/self/cgroup"
    )
    out = lab.cmd("exec", ident, "sh", "-c", script).ok().stdout
    lines = out.splitlines()
    for line in lines[: len(_KINDS)]:
        kind, link = line.split(" ", 1)
        assert link == os.readlink(f"/proc/{pid}/ns/{kind}"), kind
    cgroups = lines[len(_KINDS) :]
    assert any(line.endswith(":/") and "memory" in line for line in cgroups), cgroups
    host_view = lab.cgroup_dir("memory", ident).joinpath("cgroup.procs").read_text().split()
    assert len(host_view) >= 1


def test_exec_process_is_in_the_container_cgroup(lab: Lab) -> None:
    ident = lab.start_sleeper()
    lab.cmd("exec", "-d", ident, "sleep", "30").ok()
    procs = lab.cgroup_dir("pids", ident).joinpath("cgroup.procs").read_text().split()
    assert len(procs) == 2


def test_exec_options(lab: Lab) -> None:
    ident = lab.start_sleeper()
    out = lab.cmd("exec", "--cwd", "/tmp", "--env", "DYT=yes", "--user", "1000:1001", ident,
                  "sh", "-c", 'pwd; echo $DYT; id -u; id -g').ok().stdout  # fmt: skip
    assert out.split() == ["/tmp", "yes", "1000", "1001"]


def test_exec_exit_status_and_pid_file(lab: Lab) -> None:
    ident = lab.start_sleeper()
    pid_file = lab.dir / "exec.pid"
    result = lab.cmd("exec", "--pid-file", str(pid_file), ident, "sh", "-c", "exit 5")
    assert result.returncode == 5
    assert int(pid_file.read_text()) > 0


def test_exec_with_process_file(lab: Lab) -> None:
    ident = lab.start_sleeper()
    process = lab.dir / "process.json"
    process.write_text(
        '{"user": {"uid": 0, "gid": 0}, "args": ["sh", "-c", "echo $X"], "env": ["X=from-file", "PATH=/bin"],'
        ' "cwd": "/"}'
    )
    assert lab.cmd("exec", "--process", str(process), ident).ok().stdout.strip() == "from-file"


def test_exec_in_a_stopped_container_fails(lab: Lab) -> None:
    ident = lab.create(["true"])
    lab.cmd("start", ident).ok()
    lab.wait_stopped(ident)
    assert lab.cmd("exec", ident, "true").returncode != 0


def _terminal(spec: rs.Spec) -> None:
    assert spec.process is not None
    spec.process.terminal = True
    spec.process.console_size = rs.ConsoleSize(height=33, width=77)


def test_terminal_through_the_console_socket(lab: Lab) -> None:
    console = ConsoleSocket(lab.dir / "console.sock")
    try:
        ident = lab.create(["sh", "-c", "tty; stty size; readlink /proc/self/fd/0"], mutate=_terminal,
                           extra=("--console-socket", str(console.path)))  # fmt: skip
        _, master = console.receive()
        lab.cmd("start", ident).ok()
        out = ConsoleSocket.read_all(master)
        os.close(master)
    finally:
        console.close()
    lines = out.split()
    assert lines[0].startswith("/dev/pts/")
    assert lines[1:3] == ["33", "77"]


def test_exec_with_a_terminal(lab: Lab) -> None:
    ident = lab.start_sleeper()
    console = ConsoleSocket(lab.dir / "exec-console.sock")
    try:
        result = lab.cmd(
            "exec", "-d", "--tty", "--console-socket", str(console.path), ident, "sh", "-c", "tty; sleep 1"
        )
        result.ok()
        _, master = console.receive()
        out = ConsoleSocket.read_all(master, timeout=5)
        os.close(master)
    finally:
        console.close()
    assert out.strip().startswith("/dev/pts/")


def test_exec_is_visible_only_as_the_command(lab: Lab) -> None:
    ident = lab.start_sleeper()
    lab.cmd("exec", "-d", ident, "sleep", "30").ok()
    time.sleep(0.1)
    out = lab.cmd("exec", ident, "ps", "-o", "pid,comm").ok().stdout
    comms = [line.split()[1] for line in out.splitlines()[1:]]
    assert sorted(comms) == ["ps", "sleep", "sleep"]


def test_exec_cap_adds_a_capability(lab: Lab) -> None:
    ident = lab.start_sleeper()
    out = lab.cmd("exec", "--cap", "CAP_SYS_ADMIN", ident, "grep", "CapEff", "/proc/self/status").ok().stdout
    assert int(out.split()[1], 16) == 0xA80425FB | 1 << 21
