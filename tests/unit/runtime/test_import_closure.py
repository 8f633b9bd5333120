"""The runtime starts for every container: its import closure stays tiny (docs/unwritten-rules.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import dockyard
from dockyard.runtime.container import RuntimeContainer

FORBIDDEN = (
    "json", "dataclasses", "typing", "enum", "socket", "subprocess", "signal", "re", "argparse", "logging",
    "asyncio",
)  # fmt: skip
DAEMON_ROOMS = (
    "api",
    "engine",
    "image",
    "registry",
    "network",
    "volume",
    "monitor",
    "build",
    "cli",
    "config",
)


def _imported(module: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    names = set()
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


@pytest.mark.parametrize(
    "module",
    [
        "dockyard.runtime.cli",
        "dockyard.runtime.commands",
        "dockyard.runtime.main_process",
        "dockyard.runtime.run_process",
        "dockyard.runtime.join_process",
        "dockyard.runtime.lifecycle",
    ],
)
def test_the_runtime_imports_nothing_heavy(module: str) -> None:
    names = _imported(module)
    assert module in names
    assert not names & set(FORBIDDEN), sorted(names & set(FORBIDDEN))
    rooms = {n for n in names if n.split(".")[:2] in (["dockyard", r] for r in DAEMON_ROOMS)}
    assert not rooms, sorted(rooms)


# What a short command may load besides the interpreter's own start-up (cli.py's essay): no
# `os` (posix instead), no error classes unless it fails, no JSON unless it prints some.
SHORT_COMMAND_FORBIDDEN = {"os", "dockyard.errors", "_json", "dockyard.util.jsoncodec", "ctypes",
                           "dockyard.oci"}  # fmt: skip


def _command_imports(argv: list[str]) -> set[str]:
    src = str(Path(dockyard.__file__).resolve().parents[1])
    code = (
        f"import sys; sys.path.insert(0, {src!r}); sys.argv = {['dockyard-runtime', *argv]!r}; "
        "from dockyard.runtime.cli import main; main()"
    )
    argv = [sys.executable, "-I", "-S", "-X", "importtime", "-c", code]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stderr.splitlines()
    return {line.rsplit("|", 1)[1].strip() for line in lines if line.startswith("import time:")}


def test_delete_of_a_stopped_container_loads_no_os_no_errors_no_json(tmp_path: Path) -> None:
    container = RuntimeContainer.reserve(str(tmp_path), "c1")
    container.record.update(pid=0, bundle="/b", config={"ociVersion": "1.2.0"})
    container.save()
    names = _command_imports(["--root", str(tmp_path), "delete", "c1"])
    assert "dockyard.runtime.lifecycle" in names
    assert not names & SHORT_COMMAND_FORBIDDEN, sorted(names & SHORT_COMMAND_FORBIDDEN)
    assert not (tmp_path / "c1").exists()


@pytest.mark.parametrize("module", ["dockyard.runtime.main_process", "dockyard.runtime.join_process"])
def test_what_only_some_specs_need_is_imported_when_they_need_it(module: str) -> None:
    # seccomp (the filter cache, the compiler and its tables), hooks and terminals load with a
    # spec that has them; the exec path and the create path of every other spec go without.
    names = _imported(module)
    optional = ("seccomp", "seccomp_filter", "seccomp_syscalls", "seccomp_asm", "hooks", "tty")
    lazy = {f"dockyard.runtime.{name}" for name in optional}
    assert not names & lazy, sorted(names & lazy)
