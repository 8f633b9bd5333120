"""The warm-up self-migration: finds our own cgroup directory, and never fails the command."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.runtime import migration_warmup


def test_writes_our_pid_to_our_own_pids_cgroup(tmp_path: Path) -> None:
    proc = tmp_path / "cgroup"
    proc.write_text("9:name=systemd:/a\n8:pids:/a/b\n4:memory:/a/b\n0::/\n")
    target = tmp_path / "root" / "pids" / "a" / "b"
    target.mkdir(parents=True)
    (target / "cgroup.procs").write_text("")
    migration_warmup.migrate_self(str(proc), str(tmp_path / "root"))
    assert (target / "cgroup.procs").read_text() == str(os.getpid())


def test_unified_hosts(tmp_path: Path) -> None:
    proc = tmp_path / "cgroup"
    proc.write_text("0::/x\n")
    target = tmp_path / "root" / "x"
    target.mkdir(parents=True)
    (target / "cgroup.procs").write_text("")
    migration_warmup.migrate_self(str(proc), str(tmp_path / "root"))
    assert (target / "cgroup.procs").read_text() == str(os.getpid())


def test_failure_is_silent_and_wait_returns(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> None:
        raise PermissionError(13, "no")

    monkeypatch.setattr(migration_warmup, "migrate_self", broken)
    warmup = migration_warmup.Warmup()
    warmup.wait()
    warmup.wait()  # idempotent
