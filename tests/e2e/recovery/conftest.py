"""Fixtures for the crash tests: a daemon with the lab's alpine loaded, and what it leaves behind.

Containers must outlive their daemon (issue #3, deliverable 1): they run under their monitors,
not under ``dockyardd``. These tests kill the daemon (and a monitor) with SIGKILL, so the harness
teardown cannot be trusted to show a leak: it kills and unmounts everything it finds. Each test
therefore checks for itself, through ``residue``, that once the containers are removed nothing of
theirs is left: no process (a container's, or a monitor, found by its open files under the
daemon's roots), no mount under the roots, no cgroup below the daemon's cgroup parent.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.lab.clis import DEBIAN_DOCKER
from tests.support.daemon import DaemonHarness
from tests.support.oci_layouts import fixture, write_docker_save

CGROUP_ROOT = Path("/sys/fs/cgroup")


@pytest.fixture(scope="session")
def alpine_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``docker save`` archive of the lab's alpine, tagged ``alpine:latest``."""
    return Path(
        write_docker_save(tmp_path_factory.mktemp("dyt-recovery") / "alpine.tar", [(fixture("alpine"), None)])
    )


def docker(daemon: DaemonHarness, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Debian's docker against ``daemon``; never raises on status."""
    return subprocess.run(
        [DEBIAN_DOCKER, *args], env=daemon.env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="class")
def crashable(alpine_archive: Path) -> Iterator[DaemonHarness]:
    """A daemon for one crash scenario (a class), with alpine loaded."""
    with DaemonHarness() as daemon:
        loaded = docker(daemon, "load", "-q", "-i", str(alpine_archive))
        assert loaded.returncode == 0, loaded.stderr
        yield daemon


def alive(pid: int) -> bool:
    """``pid`` exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _holds_files_under(pid: str, root: str) -> bool:
    try:
        return any(os.readlink(fd).startswith(root) for fd in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False


def residue(daemon: DaemonHarness) -> list[str]:
    """What is left of containers and monitors: processes, mounts and cgroups (see the docstring)."""
    root = str(daemon.root)
    found = []
    for entry in Path("/proc").iterdir():
        pid = entry.name
        if not pid.isdigit() or int(pid) in (os.getpid(), daemon.pid):
            continue
        if daemon._ours(pid) or _holds_files_under(pid, root):
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            found.append(f"process {pid}: {command[:100]}")
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4]
        if point.startswith(root + "/"):
            found.append(f"mount {point}")
    for controller in CGROUP_ROOT.iterdir():
        parent = controller / daemon.tag
        if parent.is_dir():
            found += [f"cgroup {child}" for child in parent.iterdir() if child.is_dir()]
    return found
