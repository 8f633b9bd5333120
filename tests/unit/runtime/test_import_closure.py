"""The runtime starts for every container: its import closure stays tiny (docs/unwritten-rules.md)."""

from __future__ import annotations

import subprocess
import sys

import pytest

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
