"""The zygote's warm-up runs the monitor's code without side effects."""

from __future__ import annotations

import os
from pathlib import Path

from dockyard.monitor import warmup


def test_warm_up_runs_and_leaves_its_scratch_directory_empty(tmp_path: Path) -> None:
    fds_before = set(os.listdir("/proc/self/fd"))
    warmup.warm_up(str(tmp_path), rounds=2)
    assert list(tmp_path.iterdir()) == []
    assert set(os.listdir("/proc/self/fd")) <= fds_before | {str(n) for n in range(3)}
