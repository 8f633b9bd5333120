"""The composition root's own files: the two roots' directories and the engine ID."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

from dockyard.config import DaemonConfig, Paths
from dockyard.engine.engine import _engine_id, _make_dirs, registry_config


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


def test_the_registry_client_falls_back_to_the_docker_config_as_the_cli_finds_it(tmp_path: Path) -> None:
    config = DaemonConfig(insecure_registries=("10.0.0.0/8",), registry_mirrors=("https://m.example",))
    from_home = registry_config(config, {"HOME": str(tmp_path)})
    assert from_home.docker_config == tmp_path / ".docker" / "config.json"
    assert (from_home.insecure_registries, from_home.mirrors) == (("10.0.0.0/8",), ("https://m.example",))
    chosen = registry_config(config, {"HOME": str(tmp_path), "DOCKER_CONFIG": str(tmp_path / "cfg")})
    assert chosen.docker_config == tmp_path / "cfg" / "config.json"


def test_making_the_registry_client_imports_no_http_library() -> None:
    # Why the engine needs no lazy wrapper: an idle daemon must not pay httpx's ~5 MiB.
    probe = (
        "import os, sys\n"
        "from dockyard.config import DaemonConfig\n"
        "from dockyard.engine.engine import registry_config\n"
        "from dockyard.image.push import RegistryWriter\n"
        "from dockyard.registry import RegistryClient\n"
        "client = RegistryClient(registry_config(DaemonConfig(), os.environ))\n"
        "assert isinstance(client, RegistryWriter)\n"
        "print('httpx' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "False"
