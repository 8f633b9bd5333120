"""Fakes with behaviour for the engine's unit tests: record builders, a fake OCI runtime, a fake
monitor, a fake clock.

Kept apart from ``tests/support/fakes.py`` (the API's FakeEngine lives there) so that two
engineers never edit one file.
"""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
import itertools
from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.config import DaemonConfig, Paths, RuntimeEntry
from dockyard.engine.container import (
    Container,
    ContainerConfig,
    ContainerState,
    HostConfig,
    NetworkingConfig,
)
from dockyard.engine.container_service import ContainerService
from dockyard.engine.events import EventBus
from dockyard.engine.execs import ExecService, exec_process
from dockyard.engine.host import HostInfo
from dockyard.engine.runtimes import Runtimes
from dockyard.engine.seams import ImageDefaults, ResolvedImage
from dockyard.engine.specgen import HostFacts
from dockyard.engine.store import ContainerStore
from dockyard.engine.tasks import TaskRunner
from dockyard.engine.users import ResolvedUser
from dockyard.errors import Conflict, DockyardError, MonitorLost, NoSuchImage, NotFound, NotModified
from dockyard.monitor import ExitRecord, MonitorConfig, MonitorState
from dockyard.oci import runtime_spec as oci
from dockyard.oci.runtime_cli import RuntimeState
from dockyard.util import ids
from dockyard.util.db import Database

__all__ = [
    "FakeChannel",
    "FakeClock",
    "FakeImages",
    "FakeMonitor",
    "FakeMonitors",
    "FakeProcess",
    "FakeRuntime",
    "Harness",
    "make_container",
    "make_harness",
    "run_async_test",
]


def make_container(
    *,
    name: str = "web",
    container_id: str | None = None,
    config: ContainerConfig | None = None,
    host_config: HostConfig | None = None,
    state: ContainerState | None = None,
) -> Container:
    """A plausible container record, for stores and state machines."""
    config = config or ContainerConfig(image="busybox", cmd=("sh",))
    return Container(
        id=container_id or ids.new_id(),
        name=name,
        created="2024-01-02T03:04:05.000000001Z",
        path=(config.cmd or ("sh",))[0],
        args=tuple((config.cmd or ())[1:]),
        config=config,
        host_config=host_config or HostConfig(),
        networking_config=NetworkingConfig(),
        image_id="sha256:" + "e" * 64,
        state=state or ContainerState(),
    )


class FakeClock:
    """A Clock whose time moves only when the test says so (trio's MockClock).

    ``sleep`` parks the caller until ``advance`` moves time past its deadline; ``advance`` then
    lets the woken tasks run before it returns.
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._wall = start
        self._mono = 1000.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._counter = itertools.count()

    def now(self) -> float:
        return self._wall

    def monotonic(self) -> float:
        return self._mono

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._mono + seconds, next(self._counter), future))
        await future

    @property
    def sleepers(self) -> int:
        """How many tasks are parked in ``sleep`` (cancelled ones excluded)."""
        return sum(1 for *_, f in self._sleepers if not f.done())

    async def advance(self, seconds: float) -> None:
        """Move both clocks forward, waking sleepers in deadline order."""
        target = self._mono + seconds
        await _settle()
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, future = heapq.heappop(self._sleepers)
            self._wall += deadline - self._mono
            self._mono = deadline
            if not future.done():
                future.set_result(None)
            await _settle()
        self._wall += target - self._mono
        self._mono = target
        await _settle()


async def _settle() -> None:
    """Let every ready task run until nothing is left to do right now."""
    for _ in range(20):
        await asyncio.sleep(0)


def run_async_test(pyfuncitem: pytest.Function) -> bool | None:
    """A ``pytest_pyfunc_call`` body: run ``async def`` tests in a fresh asyncio loop.

    The engine is asyncio; this keeps its tests free of a plugin dependency. Fixture values with
    an ``async_teardown`` coroutine method are torn down in the test's own loop, after the test,
    pass or fail (asyncio objects such as subprocess transports belong to the loop that made them).
    """
    import inspect

    function = pyfuncitem.obj
    if not inspect.iscoroutinefunction(function):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}

    async def run() -> None:
        try:
            await function(**kwargs)
        finally:
            for value in pyfuncitem.funcargs.values():
                teardown = getattr(value, "async_teardown", None)
                if teardown is not None:
                    await teardown()

    asyncio.run(run())
    return True


async def eventually(check: Callable[[], bool]) -> None:
    """Wait (real time, bounded) for work that crosses worker threads, such as a start or an exit."""
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached within 5 s")


# --- the engine's dependencies, with behaviour -------------------------------------------------


class FakeProcess:
    """A container (or exec) process as a fake monitor runs it: output, stdin, an exit."""

    def __init__(self, pid: int, *, tty: bool) -> None:
        self.pid = pid
        self.tty = tty
        self.started = False
        self.stdin = bytearray()
        self.channels: list[FakeChannel] = []
        self.exit_future: asyncio.Future[ExitRecord] = asyncio.get_running_loop().create_future()
        self.ignores: set[int] = set()  # signals the process survives (a shell trapping TERM)
        self.pending_output: list[tuple[str, bytes]] = []

    def write(self, stream: str, data: bytes) -> None:
        """The process writes ``data`` on ``stream`` (delivered to every attached client)."""
        if not self.channels:
            self.pending_output.append((stream, data))
        for channel in self.channels:
            channel.deliver(stream, data)

    def exit(self, code: int, *, oom: bool = False, signal: int | None = None) -> None:
        """End the process; its monitor reports the exit record."""
        if self.exit_future.done():
            return
        now = "2024-01-02T03:04:05.5Z"
        record = ExitRecord(
            exit_code=code, signal=signal, oom_killed=oom, started_at=now, finished_at=now, pid=self.pid
        )
        for channel in self.channels:
            channel.end()
        self.exit_future.set_result(record)

    @property
    def exited(self) -> bool:
        return self.exit_future.done()


class FakeChannel:
    """An attach connection: frames (or raw tty bytes) in, stdin out."""

    def __init__(self, process: FakeProcess, *, stdout: bool, stderr: bool) -> None:
        self._process = process
        self._stdout = stdout
        self._stderr = stderr
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.closed = False
        self.stdin_closed = False

    def deliver(self, stream: str, data: bytes) -> None:
        if (stream == "stdout" and not self._stdout) or (stream == "stderr" and not self._stderr):
            return
        if self._process.tty:
            self._queue.put_nowait(data)
        else:
            number = 1 if stream == "stdout" else 2
            self._queue.put_nowait(bytes((number, 0, 0, 0)) + len(data).to_bytes(4, "big") + data)

    def end(self) -> None:
        self._queue.put_nowait(b"")

    async def read(self, size: int = 65536) -> bytes:
        if self.closed:
            return b""
        return await self._queue.get()

    async def write(self, data: bytes) -> None:
        self._process.stdin += data

    async def close_stdin(self) -> None:
        self.stdin_closed = True

    async def close(self) -> None:
        self.closed = True
        self._queue.put_nowait(b"")


class FakeMonitor:
    """A monitor: ``start`` runs the process, ``wait`` reports its exit; ``lose`` kills it."""

    def __init__(self, config: MonitorConfig, process: FakeProcess) -> None:
        self.config = config
        self.process = process
        self.pid = 0
        self.sizes: list[tuple[int, int]] = []
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def lose(self) -> None:
        """The monitor is SIGKILLed: its process runs on, unsupervised, and no record comes."""
        if not self.lost.done():
            self.lost.set_result(None)

    async def start(self) -> int:
        if self.process.started:
            raise NotModified("already started")
        self.process.started = True
        self.pid = self.process.pid
        return self.pid

    async def state(self) -> MonitorState:
        if self.process.exited:
            return MonitorState(status="exited", pid=self.pid, exit=self.process.exit_future.result())
        return MonitorState(status="running" if self.process.started else "created", pid=self.pid, exit=None)

    async def resize(self, height: int, width: int) -> None:
        if self.process.exited:
            raise Conflict("the process has exited")
        self.sizes.append((height, width))

    async def attach(self, *, stdin: bool, stdout: bool, stderr: bool) -> FakeChannel:
        if self.process.exited:
            raise Conflict("the process has exited")
        channel = FakeChannel(self.process, stdout=stdout, stderr=stderr)
        self.process.channels.append(channel)
        for stream, data in self.process.pending_output:
            channel.deliver(stream, data)
        self.process.pending_output.clear()
        return channel

    async def wait(self) -> ExitRecord:
        ended = asyncio.ensure_future(asyncio.shield(self.process.exit_future))
        gone = asyncio.ensure_future(asyncio.shield(self.lost))
        try:
            await asyncio.wait((ended, gone), return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended.cancel()
            gone.cancel()
        if self.process.exited:  # a record written before the monitor died is still read
            return self.process.exit_future.result()
        raise MonitorLost(f"monitor in {self.config.monitor_dir} is gone and left no exit record")


class FakeMonitors:
    """The monitor factory: every spawn makes a FakeProcess the test can drive."""

    def __init__(self) -> None:
        self.spawned: list[FakeMonitor] = []
        self.by_dir: dict[str, FakeMonitor] = {}
        self.fail_next: DockyardError | None = None
        self._pids = itertools.count(1000)

    async def spawn(self, config: MonitorConfig) -> FakeMonitor:
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        monitor = FakeMonitor(config, FakeProcess(next(self._pids), tty=config.terminal))
        self.spawned.append(monitor)
        self.by_dir[config.monitor_dir] = monitor
        return monitor

    async def connect(self, monitor_dir: Path) -> FakeMonitor:
        monitor = self.by_dir.get(str(monitor_dir))
        if monitor is None or monitor.lost.done():
            raise MonitorLost(f"monitor in {monitor_dir} is gone and left no exit record")
        return monitor

    def read_exit_record(self, monitor_dir: Path) -> ExitRecord | None:
        monitor = self.by_dir.get(str(monitor_dir))
        return monitor.process.exit_future.result() if monitor and monitor.process.exited else None

    def last(self, task_id: str) -> FakeMonitor:
        """The latest monitor spawned for a container or exec."""
        return [m for m in self.spawned if m.config.task_id == task_id][-1]


class FakeRuntime:
    """The OCI runtime's control calls: a small state machine over the fake monitors' processes.

    A signal kills the process (exit 128+N) unless the process ignores it; SIGKILL always kills.
    """

    def __init__(self, monitors: FakeMonitors) -> None:
        self._monitors = monitors
        self.calls: list[tuple[str, str, object]] = []
        self.paused: set[str] = set()

    def _process(self, container_id: str) -> FakeProcess:
        for monitor in reversed(self._monitors.spawned):
            if monitor.config.container_id == container_id and monitor.config.mode == "init":
                if monitor.process.exited or not monitor.process.started:
                    break
                return monitor.process
        raise NotFound(f"container {container_id} does not exist")

    async def state(self, container_id: str) -> RuntimeState:
        process = self._process(container_id)
        status = "paused" if container_id in self.paused else "running"
        return RuntimeState(
            id=container_id, pid=process.pid, status=status, bundle="", created="", annotations={}
        )

    async def kill(self, container_id: str, signal: int | str, *, all: bool = False) -> None:
        self.calls.append(("kill", container_id, signal))
        process = self._process(container_id)
        number = int(signal) if str(signal).isdigit() else 9
        if number == 9 or number not in process.ignores:
            if container_id in self.paused and number != 9:
                return  # frozen: delivered on resume
            process.exit(128 + number, signal=number)

    async def delete(self, container_id: str, *, force: bool = False) -> None:
        self.calls.append(("delete", container_id, force))

    async def pause(self, container_id: str) -> None:
        self.calls.append(("pause", container_id, None))
        self._process(container_id)
        self.paused.add(container_id)

    async def resume(self, container_id: str) -> None:
        self.calls.append(("resume", container_id, None))
        self.paused.discard(container_id)

    async def ps(self, container_id: str) -> list[int]:
        return [self._process(container_id).pid]


class FakeImages:
    """The image room's part the engine uses: one image ``busybox`` (Cmd ["sh"]), fake rootfs dirs."""

    IMAGE_ID = "sha256:" + "b" * 64

    def __init__(self, root: Path, defaults: ImageDefaults | None = None) -> None:
        self._root = root
        self.defaults = defaults or ImageDefaults(cmd=("sh",), env=("PATH=/usr/bin:/bin",))
        self.rootfs: set[str] = set()

    def resolve(self, name: str) -> ResolvedImage:
        if name.split(":")[0] not in ("busybox", self.IMAGE_ID):
            raise NoSuchImage(name, f"No such image: {name if ':' in name else name + ':latest'}")
        return ResolvedImage(id=self.IMAGE_ID, defaults=self.defaults)

    def image_id_for(self, name: str) -> str | None:
        return self.IMAGE_ID if name.split(":")[0] == "busybox" else None

    def create_rootfs(self, container_id: str, image_id: str) -> None:
        self.rootfs.add(container_id)

    def mount_rootfs(self, container_id: str, target: Path) -> None:
        if container_id not in self.rootfs:
            raise NotFound(f"no rootfs for {container_id}")

    def unmount_rootfs(self, container_id: str, target: Path) -> None:
        pass

    def remove_rootfs(self, container_id: str) -> None:
        self.rootfs.discard(container_id)

    def rootfs_usage(self, container_id: str) -> tuple[int, int]:
        return (2, 1000) if container_id in self.rootfs else (0, 0)

    def graph_driver(self, container_id: str) -> dict[str, object]:
        return {"Name": "overlay2", "Data": None}


@dataclasses.dataclass
class Harness:
    """A ContainerService and ExecService over fakes, in a temporary directory."""

    containers: ContainerService
    execs: ExecService
    store: ContainerStore
    events: EventBus
    monitors: FakeMonitors
    runtime: FakeRuntime
    images: FakeImages
    clock: FakeClock
    paths: Paths

    def process(self, task_id: str) -> FakeProcess:
        """The latest fake process of a container or exec."""
        return self.monitors.last(task_id).process

    def actions(self, actor_id: str | None = None) -> list[str]:
        """The journal's actions so far (optionally for one actor)."""
        return [e.action for e in self.events.replay(since=0, until=None) if actor_id in (None, e.actor_id)]

    async def run(self, *, host: HostConfig | None = None, **config: object) -> str:
        """Create and start a busybox container (``--network none`` unless ``host`` says); its ID."""
        container_id, _ = await self.containers.create(
            name=str(config.pop("name", "")) or None,
            config=ContainerConfig(image="busybox", **config),  # type: ignore[arg-type]
            host_config=host or HostConfig(network_mode="none"),
            networking_config=NetworkingConfig(),
            platform=None,
        )
        await self.containers.start(container_id)
        return container_id


async def _fake_netns(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


def make_harness(tmp_path: Path, *, previous: Harness | None = None) -> Harness:
    """Build the services over fakes under ``tmp_path`` (no root, no processes).

    With ``previous``, build a "restarted daemon": new services over the same database file,
    monitors, runtime and images (the caller closes the previous services first).
    """
    config = DaemonConfig(data_root=tmp_path / "data", exec_root=tmp_path / "exec", default_runtime="fake")
    paths = config.paths
    db = Database(tmp_path / "state.db")
    clock = previous.clock if previous else FakeClock()
    events = EventBus(db, clock=clock.now)
    store = ContainerStore(db)
    monitors = previous.monitors if previous else FakeMonitors()
    runtime = previous.runtime if previous else FakeRuntime(monitors)
    images = previous.images if previous else FakeImages(tmp_path)
    runtimes = Runtimes(
        config, entries=[RuntimeEntry(name="fake", path="/bin/false")], controls={"fake": runtime}
    )
    host = HostInfo(cgroup_version=1, thermal_throttle_paths=(), ncpu=2, hostname="testhost")
    runner = TaskRunner(
        paths=paths,
        images=images,
        monitors=monitors,
        runtimes=runtimes,
        facts=HostFacts(),
        seccomp=lambda caps, custom: oci.LinuxSeccomp(default_action="SCMP_ACT_ERRNO"),
        monotonic=clock.monotonic,
        create_netns=_fake_netns,
    )
    containers = ContainerService(
        store=store,
        events=events,
        runner=runner,
        runtimes=runtimes,
        images=images,
        paths=paths,
        host=host,
        clock=clock,
        monitors=monitors,
    )
    execs = ExecService(
        containers=containers,
        store=store,
        monitors=monitors,
        runtimes=runtimes,
        paths=paths,
        build_process=lambda c, e: exec_process(c, e, user=ResolvedUser(), last_cap=40),
    )
    return Harness(containers, execs, store, events, monitors, runtime, images, clock, paths)
