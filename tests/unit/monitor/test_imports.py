"""The monitor program's import closure is pinned: it starts for every container."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dockyard

SRC = str(Path(dockyard.__file__).resolve().parent.parent)
FORBIDDEN = {
    "asyncio",
    "json",
    "re",
    "dataclasses",
    "typing",
    "enum",
    "subprocess",
    "socket",
    "logging",
    "signal",
    "argparse",
    "inspect",
}
DAEMON_ROOMS = ("api", "build", "cli", "config", "daemon", "engine", "image", "network", "registry", "volume")


def _modules_after(statement: str) -> set[str]:
    # -I -S: the closure of our code alone, as the monitor runs it (no site, no sitecustomize).
    code = f"import sys; sys.path.insert(0, {SRC!r}); {statement}; print(' '.join(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return set(out.split())


def test_monitor_program_imports_nothing_heavy() -> None:
    loaded = _modules_after("import dockyard.monitor.main, dockyard.monitor.zygote")
    assert not loaded & FORBIDDEN, sorted(loaded & FORBIDDEN)
    rooms = {name.split(".")[1] for name in loaded if name.startswith("dockyard.") and name.count(".") >= 1}
    assert not rooms & set(DAEMON_ROOMS), sorted(rooms & set(DAEMON_ROOMS))
    assert not {m for m in loaded if m.startswith(("dockyard.monitor.client", "dockyard.monitor.spawner"))}


def test_the_door_resolves_the_client_lazily() -> None:
    loaded = _modules_after("import dockyard.monitor")
    assert "dockyard.monitor.client" not in loaded
    assert "asyncio" not in loaded
    loaded = _modules_after("from dockyard.monitor import MonitorClient")
    assert "dockyard.monitor.client" in loaded
