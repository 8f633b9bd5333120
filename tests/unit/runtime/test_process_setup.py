"""Process set-up helpers that need no privileges: env, command lookup, rlimit names, cgroup binds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument, SystemFailure
from dockyard.runtime import intermediate_process, process_setup


def test_env_dict_keeps_order_and_later_wins() -> None:
    assert process_setup.env_dict(["A=1", "B=x=y", "A=2", "C="]) == {"A": "2", "B": "x=y", "C": ""}
    with pytest.raises(InvalidArgument):
        process_setup.env_dict(["NOEQUALS"])


def test_lookup_command_in_path(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    tool = tmp_path / "bin" / "tool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    (tmp_path / "bin" / "data").write_text("x")
    env = {"PATH": f"/nonexistent:{tmp_path}/bin"}
    assert process_setup.lookup_command("tool", env) == str(tool)
    with pytest.raises(SystemFailure, match=r'exec: "data": executable file not found in \$PATH'):
        process_setup.lookup_command("data", env)
    with pytest.raises(SystemFailure, match=r'exec: "/nope": stat /nope: no such file or directory'):
        process_setup.lookup_command("/nope", env)


def test_rlimit_names() -> None:
    assert process_setup.rlimit_number("RLIMIT_NOFILE") == 7
    with pytest.raises(InvalidArgument, match="wrong rlimit value: RLIMIT_NOPE"):
        process_setup.rlimit_number("RLIMIT_NOPE")


def test_close_fds_except_keeps_only_what_is_asked() -> None:
    pid = os.fork()
    if pid == 0:
        keep = os.open("/", os.O_RDONLY)
        drop = os.open("/", os.O_RDONLY)
        process_setup.close_fds_except({0, 1, 2, keep})
        try:
            os.fstat(drop)
            os._exit(1)
        except OSError:
            pass
        os.fstat(keep)
        os._exit(0)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


def test_cgroup_binds_from_a_hybrid_layout(tmp_path: Path) -> None:
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755\n"
        "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
        "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
        "40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n"
        "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
        "50 23 0:40 / /mnt/other rw - cgroup cgroup rw,pids\n"
    )
    cgroup = tmp_path / "cgroup"
    cgroup.write_text("9:name=systemd:/c\n4:memory:/c\n2:cpu,cpuacct:/c\n0::/c\n")
    assert intermediate_process.cgroup_binds(str(mountinfo), str(cgroup)) == [
        ("cpu,cpuacct", "/sys/fs/cgroup/cpu,cpuacct/c"),
        ("memory", "/sys/fs/cgroup/memory/c"),
        ("systemd", "/sys/fs/cgroup/systemd/c"),
        ("unified", "/sys/fs/cgroup/unified/c"),
    ]


def test_cgroup_binds_from_a_unified_layout(tmp_path: Path) -> None:
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text("31 23 0:28 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n")
    cgroup = tmp_path / "cgroup"
    cgroup.write_text("0::/x/y\n")
    assert intermediate_process.cgroup_binds(str(mountinfo), str(cgroup)) == [("", "/sys/fs/cgroup/x/y")]
