"""Fixtures for the engine's root tests: an Engine on throwaway roots, with the lab's image loaded.

Every Engine opened through ``engines`` is torn down at the end of the test, whatever happened:
its containers are force-removed (which kills them and unmounts their root filesystems), the
engine is closed, anything still mounted under the roots is unmounted, monitors left alive are
killed, and the roots are deleted. Resources are named ``dyt-...`` so the leak check sees any
that escape.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from dockyard.config import DaemonConfig
from dockyard.engine import ContainerConfig, Engine, HostConfig, NetworkingConfig
from dockyard.util import libc
from tests.support import oci_layouts
from tests.support.engine_fakes import run_async_test

RUNTIMES = ("dockyard-runtime", "runc")


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    return run_async_test(pyfuncitem)


@pytest.fixture(scope="session")
def alpine_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lab's ``alpine`` as a docker-save archive (built once)."""
    path = tmp_path_factory.mktemp("dyt-images") / "alpine.tar"
    return oci_layouts.write_docker_save(path, [(oci_layouts.fixture("alpine"), ["alpine:latest"])])


async def _chunks(path: Path) -> AsyncIterator[bytes]:
    data = path.read_bytes()
    for start in range(0, len(data), 1 << 20):
        yield data[start : start + (1 << 20)]


class Engines:
    """Opens Engines on one pair of throwaway roots; remembers them for the teardown."""

    def __init__(self, root: Path, archive: Path, runtime: str) -> None:
        self.root = root
        self.archive = archive
        self.runtime = runtime
        self.config = DaemonConfig(
            data_root=root / "data",
            exec_root=root / "exec",
            default_runtime=runtime,
            cgroup_parent=f"/dyt-{root.name[-8:]}",
        )
        self.opened: list[Engine] = []
        self.closed: list[Engine] = []

    async def close(self, engine: Engine) -> None:
        """Close ``engine`` as a daemon shutdown would (containers keep running)."""
        await engine.close()
        self.closed.append(engine)

    async def open(self, *, load: bool = True) -> Engine:
        engine = await Engine.open(self.config)
        self.opened.append(engine)
        if load:
            async for _ in engine.images.load(_chunks(self.archive)):
                pass
        return engine

    async def async_teardown(self) -> None:
        """Remove every container and close every engine (in the test's loop)."""
        engine = self.opened[-1] if self.opened else None
        if engine is not None and engine not in self.closed:
            for listing in engine.containers.list(all=True):
                try:
                    await engine.containers.remove(listing.container.id, force=True)
                except Exception:
                    pass
        for opened in self.opened:
            if opened in self.closed:
                continue
            try:
                await opened.close()
            except Exception:
                pass


def _unmount_below(root: Path) -> None:
    for line in reversed(Path("/proc/self/mountinfo").read_text().splitlines()):
        point = line.split()[4].replace("\\040", " ")
        if point.startswith(str(root)):
            try:
                libc.umount2(point, libc.MNT_DETACH)
            except OSError:
                pass


def _kill_monitors(root: Path) -> None:
    """SIGKILL monitors still alive under the exec root (after a failed test)."""
    for pid_file in (root / "exec" / "m").glob("*/monitor.pid"):
        try:
            os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)
        except (OSError, ValueError):
            pass


def _remove_cgroups(parent: str) -> None:
    for controller in Path("/sys/fs/cgroup").iterdir():
        directory = controller / parent.lstrip("/")
        if directory.is_dir():
            for child in sorted(directory.rglob("*"), key=lambda p: -len(p.parts)):
                if child.is_dir():
                    try:
                        child.rmdir()
                    except OSError:
                        pass
            try:
                directory.rmdir()
            except OSError:
                pass


def _engines(runtime: str, archive: Path) -> Iterator[Engines]:
    root = Path(tempfile.mkdtemp(prefix="dyt-engine-"))
    opened = Engines(root, archive, runtime)
    try:
        yield opened
    finally:
        _kill_monitors(root)
        _unmount_below(root)
        _remove_cgroups(opened.config.cgroup_parent)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=RUNTIMES)
def engines(request: pytest.FixtureRequest, alpine_archive: Path) -> Iterator[Engines]:
    """Engines on fresh ``dyt-`` roots, once per runtime; everything cleaned up."""
    yield from _engines(request.param, alpine_archive)


@pytest.fixture
def engines1(alpine_archive: Path) -> Iterator[Engines]:
    """Engines with dockyard-runtime only, for behaviour the runtime does not change."""
    yield from _engines("dockyard-runtime", alpine_archive)


Runner = Callable[..., Awaitable[str]]


async def create(
    engine: Engine, *cmd: str, name: str | None = None, host: HostConfig | None = None, **config: object
) -> str:
    """Create an ``alpine`` container running ``cmd``; its ID."""
    container_id, _ = await engine.containers.create(
        name=name,
        config=ContainerConfig(image="alpine", cmd=cmd or None, **config),  # type: ignore[arg-type]
        host_config=host or HostConfig(),
        networking_config=NetworkingConfig(),
        platform=None,
    )
    return container_id


async def output(engine: Engine, container_id: str) -> bytes:
    """Everything the container logged (stdout and stderr), joined."""
    chunks = []
    async for entry in engine.containers.logs(
        container_id,
        stdout=True,
        stderr=True,
        follow=False,
        since=None,
        until=None,
        timestamps=False,
        tail=None,
    ):
        chunks.append(entry.data)
    return b"".join(chunks)
