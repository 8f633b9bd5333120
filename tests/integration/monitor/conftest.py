"""Fixtures for the monitor's root tests: real containers, real runtimes, everything cleaned up.

``rig`` gives each test a ``Rig``: a ``dyt-<hex>`` name, a scratch directory, a runtime state
root, a cgroup parent ``/dyt-<hex>`` and helpers that build bundles and monitor configs. At
teardown it kills and deletes every container it created, SIGKILLs any monitor still alive,
and removes its cgroup directories, even when the test failed.

Tests run once per leg (``LEGS``): runc through the plain launcher and through the zygote, and
``dockyard-runtime`` through the zygote, but that leg only if a probe (create and start of a
``/bin/true`` bundle, once per session) succeeds, since the runtime is being written in
parallel. A failed probe skips that leg with the runtime's own error, never a runc leg.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from dockyard.monitor import MonitorClient, MonitorConfig, Zygote
from dockyard.monitor.spawner import Launcher
from dockyard.oci import runtime_spec as rs
from tests.support.bundles import make_bundle

T = TypeVar("T")

RUNC = "/usr/bin/runc"
OURS = str(Path(sys.executable).parent / "dockyard-runtime")
_probe_result: dict[str, str | None] = {}


def _probe_ours(base: Path) -> str | None:
    """None if dockyard-runtime can create and start a container here, else why not."""
    if not os.access(OURS, os.X_OK):
        return f"{OURS} is not installed"
    name = f"dyt-{uuid.uuid4().hex[:10]}"
    bundle = base / "probe"
    make_bundle(bundle, ["/bin/true"], cgroups_path=f"/{name}/probe")
    log = base / "probe.log"
    argv = [OURS, "--root", str(base / "probe-root"), "--log", str(log), "--log-format", "json"]
    try:
        for command in (
            ["create", "--bundle", str(bundle), "--pid-file", str(base / "probe.pid"), name],
            ["start", name],
        ):
            # stdio is not captured: the created process inherits it (runc's pass-through mode).
            done = subprocess.run(argv + command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, timeout=20, check=False)  # fmt: skip
            if done.returncode != 0:
                last = log.read_text().strip().splitlines()[-1:] if log.exists() else []
                return f"dockyard-runtime {command[0]} failed: {last[0] if last else done.returncode}"
        return None
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"dockyard-runtime probe: {exc}"
    finally:
        subprocess.run([*argv, "delete", "--force", name], capture_output=True, timeout=20, check=False)
        _remove_cgroups(name)


def _remove_cgroups(name: str) -> None:
    """rmdir /sys/fs/cgroup/*/<name> (and anything below it), deepest first, with retries."""
    for top in Path("/sys/fs/cgroup").iterdir():
        parent = top / name
        if not parent.is_dir():
            continue
        dirs = sorted((p for p in parent.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts))
        for directory in [*dirs, parent]:
            for _ in range(50):
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)  # tasks still exiting


LEGS = {
    "runc-exec": (RUNC, "exec"),
    "runc-zygote": (RUNC, "zygote"),
    "ours-zygote": ("dockyard-runtime", "zygote"),
}
"""Runtime and launcher per leg: runc through both launchers, our runtime through the
zygote (the engine's default), to keep the tier's time in budget."""


@pytest.fixture(params=list(LEGS))
def leg(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """(runtime binary, launcher kind) for this leg."""
    runtime, launcher = LEGS[request.param]
    if runtime == RUNC:
        return runtime, launcher
    if "ours" not in _probe_result:
        _probe_result["ours"] = _probe_ours(tmp_path_factory.mktemp("dyt-probe"))
    reason = _probe_result["ours"]
    if reason is not None:
        pytest.skip(f"dockyard-runtime not usable yet: {reason}")
    return OURS, launcher


class Rig:
    """One test's containers and monitors, and the means to build them."""

    def __init__(self, base: Path, runtime: str, launcher: str = "exec") -> None:
        self.name = f"dyt-{uuid.uuid4().hex[:12]}"
        self.base = base
        self.runtime = runtime
        self.launcher = launcher
        self.zygote: Zygote | None = None
        self.root = base / "runtime-root"
        self.containers: list[str] = []
        self.monitor_dirs: list[Path] = []
        self.extra_pids: list[int] = []

    def bundle(
        self, label: str, args: list[str], *, mutate: Callable[[rs.Spec], None] | None = None
    ) -> tuple[str, Path]:
        """A busybox bundle running ``args``; returns (container id, bundle path)."""
        container_id = f"{self.name}-{label}"
        path = self.base / f"bundle-{label}"
        make_bundle(path, args, cgroups_path=f"/{self.name}/{label}", mutate=mutate)
        self.containers.append(container_id)
        return container_id, path

    def config(self, label: str, args: list[str], **fields: Any) -> MonitorConfig:
        """An init-mode config for a new bundle (``mutate`` goes to the bundle)."""
        container_id, path = self.bundle(label, args, mutate=fields.pop("mutate", None))
        fields.setdefault("log_path", str(self.base / f"{label}-json.log"))
        return MonitorConfig(
            task_id=container_id,
            container_id=container_id,
            mode="init",
            monitor_dir=fields.pop("monitor_dir", self.base / f"m-{label}"),
            runtime=self.runtime,
            runtime_root=self.root,
            bundle=path,
            **fields,
        )

    def exec_config(self, container_id: str, label: str, args: list[str], **fields: Any) -> MonitorConfig:
        """An exec-mode config running ``args`` in ``container_id``."""
        size = fields.get("console_size")
        process = rs.Process(
            terminal=bool(fields.get("terminal", False)),
            # As Docker does: the runtime sizes the pty before the process starts; the monitor's
            # own resize would come after an exec'd process already runs.
            console_size=rs.ConsoleSize(height=size[0], width=size[1]) if size else None,
            user=rs.User(uid=0, gid=0),
            args=args,
            env=["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
            cwd="/",
        )
        process_path = self.base / f"process-{label}.json"
        from dockyard.util import jsoncodec

        process_path.write_text(jsoncodec.dumps(process.to_json()))
        return MonitorConfig(
            task_id=f"{container_id}-{label}",
            container_id=container_id,
            mode="exec",
            monitor_dir=self.base / f"m-{label}",
            runtime=self.runtime,
            runtime_root=self.root,
            process_path=process_path,
            **fields,
        )

    async def spawn(self, config: MonitorConfig, launcher: Launcher | None = None) -> MonitorClient:
        """Spawn a monitor (through this leg's launcher) and remember it for cleanup."""
        self.monitor_dirs.append(Path(config.monitor_dir))
        return await MonitorClient.spawn(config, launcher=launcher or self.zygote, timeout=60)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 20) -> T:
        """Run a test body on a fresh event loop, with this leg's zygote if it has one."""

        async def body() -> T:
            if self.launcher == "zygote":
                self.zygote = await Zygote.start()
            try:
                return await asyncio.wait_for(coro, timeout)
            finally:
                if self.zygote is not None:
                    await self.zygote.close()
                    self.zygote = None

        return asyncio.run(body())

    def runtime_cmd(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run the runtime directly (kill, state, ...)."""
        argv = [self.runtime, "--root", str(self.root), *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)

    def cleanup(self) -> None:
        for container_id in self.containers:
            self.runtime_cmd("kill", container_id, "KILL")
            self.runtime_cmd("delete", "--force", container_id)
        for directory in self.monitor_dirs:
            pid_file = directory / "monitor.pid"
            try:
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        for pid in self.extra_pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _remove_cgroups(self.name)
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture
def rig(leg: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    """A Rig on the leg's runtime and launcher, cleaned up afterwards whatever happened."""
    rig = Rig(tmp_path_factory.mktemp("dyt-mon"), *leg)
    try:
        yield rig
    finally:
        rig.cleanup()


async def read_all(stream: Any) -> bytes:
    """Everything an attach stream delivers until it ends."""
    chunks = []
    while chunk := await stream.read():
        chunks.append(chunk)
    return b"".join(chunks)


def demux(data: bytes) -> dict[int, bytes]:
    """Split Docker stdcopy frames into stream number -> bytes."""
    out: dict[int, bytes] = {1: b"", 2: b""}
    while data:
        assert len(data) >= 8, data
        assert data[1:4] == b"\0\0\0", data[:16]
        size = int.from_bytes(data[4:8], "big")
        out[data[0]] += data[8 : 8 + size]
        data = data[8 + size :]
    return out
