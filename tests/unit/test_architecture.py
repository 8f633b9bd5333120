"""The architecture holds: import contracts, and every door lists what it exports."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import dockyard

ROOT = Path(__file__).resolve().parents[2]
ROOMS = sorted(
    m.name for m in pkgutil.iter_modules(dockyard.__path__) if m.ispkg and m.name not in {"runtime"}
)


def test_import_contracts_hold() -> None:
    linter = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(linter), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("room", ROOMS)
def test_door_exports_exist(room: str) -> None:
    # Sorting is ruff's job (RUF022, isort-style); this checks the door is complete and honest.
    door = importlib.import_module(f"dockyard.{room}")
    exported = getattr(door, "__all__", None)
    assert exported is not None, f"dockyard.{room} has no __all__"
    for name in exported:
        assert getattr(door, name, None) is not None, f"dockyard.{room} exports {name} but lacks it"
