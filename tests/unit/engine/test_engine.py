"""The composition root's own files: the two roots' directories and the engine ID."""

from __future__ import annotations

import stat
from pathlib import Path

from dockyard.config import Paths
from dockyard.engine.engine import _engine_id, _make_dirs


def test_the_directories_are_the_ones_paths_names(tmp_path: Path) -> None:
    paths = Paths(data_root=tmp_path / "data", exec_root=tmp_path / "exec")
    _make_dirs(paths)
    expected = {
        paths.containers_root: 0o710,
        paths.bundles_root: 0o711,
        paths.monitors_root: 0o700,
        paths.netns_root: 0o711,
        paths.runtimes_root: 0o700,
    }
    assert {p: stat.S_IMODE(p.stat().st_mode) for p in expected} == expected


def test_the_engine_id_is_kept_where_paths_says(tmp_path: Path) -> None:
    paths = Paths(data_root=tmp_path / "data", exec_root=tmp_path / "exec")
    _make_dirs(paths)
    first = _engine_id(paths)
    assert paths.engine_id.read_text().strip() == first
    assert _engine_id(paths) == first
