"""The FakeEngine's containers: records with a tiny process model (execs, in ``fakes``, reuse it).

A ``FakeProcess`` behaves by its command (``echo``, ``true``/``false``, ``exit N``, ``warn``,
``cat``; anything else runs until stopped or killed), writes a json-file-like log and fans its
output out to attached ``FakeSession``s, framed with stdcopy headers unless it has a tty. Like a
real process it takes a moment to start (clients that read a hijacked status line through a
buffered reader rely on that gap) and, for execs, its exit code is recorded a moment after its
output ended, as a monitor's exit record is.
"""

from __future__ import annotations

import asyncio
import builtins
import struct
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from dockyard.engine import (
    Container,
    ContainerConfig,
    ContainerDetails,
    ContainerListing,
    ContainerState,
    ContainerStatus,
    EndpointInfo,
    Event,
    HostConfig,
    LogEntry,
    NetworkingConfig,
    NetworkSettings,
)
from dockyard.engine.details import status_text
from dockyard.errors import (
    AlreadyStarted,
    AlreadyStopped,
    Conflict,
    ContainerIsRunning,
    ContainerNotRunning,
    ContainerPaused,
    InvalidArgument,
    NameInUse,
    NoSuchContainer,
)
from dockyard.util import ids

if TYPE_CHECKING:
    from tests.support.fakes import FakeEngine

__all__ = ["DETACH", "FakeContainers", "FakeProcess", "FakeSession", "now_rfc3339"]

DETACH = b"\x10\x11"  # ctrl-p ctrl-q
START_DELAY = 0.02
EXIT_RECORD_DELAY = 0.05
_SIGNALS = {
    "SIGKILL": 9,
    "KILL": 9,
    "9": 9,
    "SIGTERM": 15,
    "TERM": 15,
    "15": 15,
    "SIGINT": 2,
    "INT": 2,
    "2": 2,
}


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp() if not text.startswith("0001") else 0.0


def _frame(stream: int, data: bytes) -> bytes:
    return struct.pack(">BxxxI", stream, len(data)) + data


# --- processes and sessions -----------------------------------------------------------------


_Sized = TypeVar("_Sized", ContainerListing, ContainerDetails)


class FakeSession:
    """An ``AttachSession``: output chunks from a process, stdin to it."""

    def __init__(
        self, process: FakeProcess, *, stdin: bool, stdout: bool, stderr: bool, detach_keys: bytes
    ) -> None:
        self.process = process
        self.tty = process.tty
        self._want = {"stdout": stdout, "stderr": stderr}
        self._stdin = stdin
        self._detach = detach_keys
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.closed = False
        self.detached = False

    def deliver(self, stream: str, data: bytes) -> None:
        if self._want.get(stream):
            self._queue.put_nowait(data if self.tty else _frame(2 if stream == "stderr" else 1, data))

    def end(self) -> None:
        self._queue.put_nowait(b"")

    async def read(self) -> bytes:
        return await self._queue.get()

    async def write(self, data: bytes) -> None:
        if self._detach and self._detach in data:
            self.detached = True
            self.process.sessions.discard(self)
            self.end()
            return
        if self._stdin:
            self.process.feed(data)

    async def close_stdin(self) -> None:
        if self._stdin:
            self.process.close_stdin()

    async def close(self) -> None:
        self.closed = True
        self.process.sessions.discard(self)


class FakeProcess:
    """A pretend process: behaviour chosen by argv (see the module docstring)."""

    def __init__(self, argv: tuple[str, ...], *, tty: bool, log: list[LogEntry] | None = None) -> None:
        self.argv = argv
        self.tty = tty
        self.log = log if log is not None else []
        self.sessions: set[FakeSession] = set()
        self.stdin: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.output_changed = asyncio.Event()
        self.pid = 4242
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    def emit(self, stream: str, data: bytes) -> None:
        self.log.append(LogEntry(stream=stream, time=now_rfc3339(), data=data))
        for session in list(self.sessions):
            session.deliver(stream, data)
        self.output_changed.set()
        self.output_changed = asyncio.Event()

    def feed(self, data: bytes) -> None:
        self.stdin.put_nowait(data)

    def close_stdin(self) -> None:
        self.stdin.put_nowait(None)

    def finish(self, code: int) -> None:
        if not self.exited.done():
            self.exited.set_result(code)
            for session in list(self.sessions):
                session.end()
            self.output_changed.set()
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def _run(self) -> None:
        head, args = (self.argv[0], self.argv[1:]) if self.argv else ("", ())
        # A real process takes milliseconds to start; clients that read the hijack status line
        # through a buffered reader (docker-py) rely on that gap, so the fake keeps one.
        await asyncio.sleep(START_DELAY)
        if head == "echo":
            self.emit("stdout", (" ".join(args) + "\n").encode())
            self.finish(0)
        elif head in ("true", "false"):
            self.finish(0 if head == "true" else 1)
        elif head == "exit":
            self.finish(int(args[0]) if args else 0)
        elif head == "warn":
            self.emit("stderr", (" ".join(args) + "\n").encode())
            self.finish(0)
        elif head == "cat":
            while (data := await self.stdin.get()) is not None:
                self.emit("stdout", data)
            self.finish(0)
        else:
            await asyncio.Event().wait()  # runs until stopped or killed


# --- containers -----------------------------------------------------------------------------


class FakeContainers:
    """The container service over in-memory records."""

    def __init__(self, engine: FakeEngine) -> None:
        self._engine = engine
        self.records: dict[str, Container] = {}
        self.processes: dict[str, FakeProcess] = {}
        self.logs_by_id: dict[str, builtins.list[LogEntry]] = {}
        self._waiters: dict[str, builtins.list[asyncio.Future[int]]] = {}
        self._removed: dict[str, asyncio.Event] = {}
        self._attach_before_start: dict[str, set[FakeSession]] = {}
        self._counter = 0

    # lookups
    def get(self, ref: str) -> Container:
        ref = ref.lstrip("/")
        if ref in self.records:
            return self.records[ref]
        for container in self.records.values():
            if container.name == ref:
                return container
        try:
            found = ids.match_prefix(ref, self.records)
        except ids.AmbiguousPrefix:
            raise InvalidArgument(f"multiple IDs found with provided prefix: {ref}") from None
        if found is None:
            raise NoSuchContainer(ref)
        return self.records[found]

    def _put(self, container: Container) -> Container:
        self.records[container.id] = container
        return container

    def _set_state(self, container: Container, **changes: Any) -> Container:
        return self._put(replace(container, state=replace(container.state, **changes)))

    def _event(self, action: str, container: Container, **extra: str) -> None:
        attributes = {
            "image": container.config.image,
            "name": container.name,
            **container.config.labels,
            **extra,
        }
        self._engine.events.publish(
            Event(type="container", action=action, actor_id=container.id, attributes=attributes)
        )

    async def create(
        self,
        *,
        name: str | None,
        config: ContainerConfig,
        host_config: HostConfig,
        networking_config: NetworkingConfig,
        platform: str | None,
    ) -> tuple[str, builtins.list[str]]:
        image = self._engine.images.find(config.image)
        if name is not None:
            if not name.lstrip("/").replace("_", "a").replace("-", "a").replace(".", "a").isalnum():
                raise InvalidArgument(
                    f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                )
            for other in self.records.values():
                if other.name == name.lstrip("/"):
                    raise NameInUse(name, other.id)
        self._counter += 1
        if not host_config.cgroupns_mode:  # dockerd fills in its default at create
            host_config = replace(host_config, cgroupns_mode="private")
        cmd = config.cmd if config.cmd is not None else ("sleep",)
        argv = tuple(config.entrypoint or ()) + tuple(cmd)
        container = Container(
            id=ids.new_id(),
            name=(name or f"fake_{self._counter}").lstrip("/"),
            created=now_rfc3339(),
            path=argv[0] if argv else "",
            args=argv[1:],
            config=config,
            host_config=host_config,
            networking_config=networking_config,
            image_id=image.id,
            state=ContainerState(),
            runtime="fake",
        )
        self._put(container)
        self.logs_by_id[container.id] = []
        self._removed[container.id] = asyncio.Event()
        self._event("create", container)
        return container.id, []

    def list(
        self,
        *,
        all: bool = False,
        limit: int = -1,
        filters: dict[str, builtins.list[str]] | None = None,
    ) -> builtins.list[ContainerListing]:
        filters = filters or {}
        unknown = set(filters) - {"status", "name", "id", "label", "ancestor", "since", "before", "exited"}
        if unknown:
            raise InvalidArgument(f"invalid filter '{sorted(unknown)[0]}'")
        rows = sorted(self.records.values(), key=lambda c: c.created, reverse=True)
        if not all and not filters.get("status"):
            rows = [c for c in rows if c.state.status is ContainerStatus.RUNNING]
        rows = [c for c in rows if _passes(c, filters)]
        if limit > 0:
            rows = rows[:limit]
        now = time.time()
        return [
            ContainerListing(
                container=c,
                status=status_text(
                    c.state, now, started=_epoch(c.state.started_at), finished=_epoch(c.state.finished_at)
                ),
                image=c.config.image,
                command=" ".join((c.path, *c.args)).strip(),
                network_settings=_network(c),
            )
            for c in rows
        ]

    async def with_sizes(self, views: builtins.list[_Sized]) -> builtins.list[_Sized]:
        """As the engine's: the views with SizeRw and SizeRootFs filled in (fixed fake sizes)."""
        return [replace(view, size_rw=0, size_root_fs=1234) for view in views]

    def inspect(self, ref: str) -> ContainerDetails:
        container = self.get(ref)
        base = f"/var/lib/dockyard/containers/{container.id}"
        return ContainerDetails(
            container=container,
            resolv_conf_path=f"{base}/resolv.conf",
            hostname_path=f"{base}/hostname",
            hosts_path=f"{base}/hosts",
            log_path=f"{base}/{container.id}-json.log",
            mounts=(),
            network_settings=_network(container),
            graph_driver={"Name": "overlay2", "Data": {"MergedDir": f"{base}/merged"}},
        )

    async def start(self, ref: str) -> None:
        container = self.get(ref)
        if container.state.status is ContainerStatus.RUNNING:
            raise AlreadyStarted(ref)
        if container.state.status is ContainerStatus.PAUSED:
            raise ContainerPaused("cannot start a paused container, try unpause instead")
        argv = (container.path, *container.args)
        process = FakeProcess(argv, tty=container.config.tty, log=self.logs_by_id[container.id])
        for session in self._attach_before_start.pop(container.id, set()):
            session.process = process
            process.sessions.add(session)
        self.processes[container.id] = process
        self._set_state(
            container, status=ContainerStatus.RUNNING, pid=process.pid, started_at=now_rfc3339(), exit_code=0
        )
        process.exited.add_done_callback(lambda f: self._exited(container.id, f.result()))
        process.start()
        self._event("start", container)

    def _exited(self, container_id: str, code: int) -> None:
        container = self.records.get(container_id)
        if container is None:
            return
        self._set_state(
            container, status=ContainerStatus.EXITED, pid=0, exit_code=code, finished_at=now_rfc3339()
        )
        self._event("die", container, exitCode=str(code))
        for waiter in self._waiters.pop(container_id, []):
            if not waiter.done():
                waiter.set_result(code)
        if container.host_config.auto_remove:
            self._delete(container)

    async def stop(self, ref: str, *, timeout: int | None = None, signal: str | None = None) -> None:
        container = self.get(ref)
        if container.state.status is not ContainerStatus.RUNNING:
            raise AlreadyStopped(ref)
        number = _SIGNALS.get((signal or container.config.stop_signal or "SIGTERM").upper(), 15)
        self._finish(container, 128 + number)
        self._event("stop", container)

    def _finish(self, container: Container, code: int) -> None:
        process = self.processes.pop(container.id, None)
        if process is not None:
            process.finish(code)

    async def restart(self, ref: str, *, timeout: int | None = None, signal: str | None = None) -> None:
        container = self.get(ref)
        if container.state.status is ContainerStatus.RUNNING:
            await self.stop(ref, timeout=timeout, signal=signal)
            await asyncio.sleep(0)
        await self.start(container.id)

    async def kill(self, ref: str, *, signal: str | None = None) -> None:
        container = self.get(ref)
        if container.state.status is not ContainerStatus.RUNNING:
            raise ContainerNotRunning(f"Container {container.id} is not running")
        number = _SIGNALS.get((signal or "SIGKILL").upper())
        if number is None:
            raise InvalidArgument(f"Invalid signal: {signal}")
        self._event("kill", container, signal=str(number))
        self._finish(container, 128 + number)

    async def wait(self, ref: str, *, condition: str = "not-running") -> tuple[int, str | None]:
        return await self.waiter(ref, condition=condition)

    def waiter(self, ref: str, *, condition: str = "not-running") -> asyncio.Future[tuple[int, str | None]]:
        """Like the engine's: look up and register now (raising at once), resolve later."""
        container = self.get(ref)
        loop = asyncio.get_running_loop()
        if condition == "removed":
            removed = self._removed[container.id]

            async def gone() -> tuple[int, str | None]:
                await removed.wait()
                return self.records.get(container.id, container).state.exit_code, None

            return asyncio.ensure_future(gone())
        result: asyncio.Future[tuple[int, str | None]] = loop.create_future()
        if condition == "not-running" and container.state.status is not ContainerStatus.RUNNING:
            result.set_result((container.state.exit_code, None))
            return result
        code: asyncio.Future[int] = loop.create_future()
        code.add_done_callback(lambda done: result.set_result((done.result(), None)))
        self._waiters.setdefault(container.id, []).append(code)
        return result

    async def attach(
        self,
        ref: str,
        *,
        stdin: bool,
        stdout: bool,
        stderr: bool,
        logs: bool,
        stream: bool,
        detach_keys: str | None,
    ) -> FakeSession:
        container = self.get(ref)
        process = self.processes.get(container.id)
        keys = DETACH if detach_keys is None else _detach_bytes(detach_keys)
        holder = process or FakeProcess((), tty=container.config.tty)
        session = FakeSession(holder, stdin=stdin, stdout=stdout, stderr=stderr, detach_keys=keys)
        if logs:
            for entry in self.logs_by_id.get(container.id, []):
                session.deliver(entry.stream, entry.data)
        if not stream:
            session.end()
        elif process is not None:
            process.sessions.add(session)
        elif container.state.status is ContainerStatus.CREATED:
            self._attach_before_start.setdefault(container.id, set()).add(session)
        else:
            session.end()
        return session

    async def resize(self, ref: str, *, height: int, width: int) -> None:
        container = self.get(ref)
        if container.state.status is not ContainerStatus.RUNNING:
            raise ContainerNotRunning(f"Container {container.id} is not running")

    async def logs(
        self,
        ref: str,
        *,
        stdout: bool,
        stderr: bool,
        follow: bool,
        since: float | None,
        until: float | None,
        timestamps: bool,
        tail: int | None,
    ) -> AsyncIterator[LogEntry]:
        container = self.get(ref)
        entries = self.logs_by_id[container.id]
        wanted = {"stdout"} if stdout else set()
        wanted |= {"stderr"} if stderr else set()
        start = 0 if tail is None else max(len(entries) - tail, 0)
        index = start
        while True:
            while index < len(entries):
                entry = entries[index]
                index += 1
                if entry.stream in wanted:
                    yield entry
            process = self.processes.get(container.id)
            if not follow or process is None or process.exited.done():
                return
            await process.output_changed.wait()

    async def top(
        self, ref: str, *, ps_args: str | None = None
    ) -> tuple[builtins.list[str], builtins.list[builtins.list[str]]]:
        container = self.get(ref)
        if container.state.status is not ContainerStatus.RUNNING:
            raise ContainerNotRunning(f"Container {container.id} is not running")
        titles = ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
        return titles, [
            [
                "root",
                "4242",
                "4241",
                "0",
                "12:00",
                "?",
                "00:00:00",
                " ".join((container.path, *container.args)),
            ]
        ]

    async def remove(
        self, ref: str, *, force: bool = False, volumes: bool = False, link: bool = False
    ) -> None:
        container = self.get(ref)
        if container.state.status is ContainerStatus.RUNNING:
            if not force:
                raise ContainerIsRunning(
                    f'cannot remove container "/{container.name}": container is running: '
                    "stop the container before removing or force remove"
                )
            self._finish(container, 137)
        self._delete(container)

    def _delete(self, container: Container) -> None:
        if self.records.pop(container.id, None) is not None:
            self._event("destroy", container)
            self._removed[container.id].set()

    async def pause(self, ref: str) -> None:
        container = self.get(ref)
        if container.state.status is not ContainerStatus.RUNNING:
            raise ContainerNotRunning(f"Container {container.id} is not running")
        self._set_state(container, status=ContainerStatus.PAUSED)

    async def unpause(self, ref: str) -> None:
        container = self.get(ref)
        if container.state.status is not ContainerStatus.PAUSED:
            raise Conflict(f"Container {container.id} is not paused")
        self._set_state(container, status=ContainerStatus.RUNNING)

    async def rename(self, ref: str, new_name: str) -> None:
        container = self.get(ref)
        if not new_name:
            raise InvalidArgument("Neither old nor new names may be empty")
        for other in self.records.values():
            if other.name == new_name.lstrip("/"):
                raise NameInUse(new_name, other.id)
        self._put(replace(container, name=new_name.lstrip("/")))

    async def prune(
        self, *, filters: dict[str, builtins.list[str]] | None = None
    ) -> tuple[builtins.list[str], int]:
        gone = [c for c in self.records.values() if c.state.status is ContainerStatus.EXITED]
        for container in gone:
            self._delete(container)
        return [c.id for c in gone], 0


def _detach_bytes(keys: str) -> bytes:
    out = bytearray()
    for key in keys.split(","):
        key = key.strip()
        if key.startswith("ctrl-") and len(key) == 6:
            out.append(ord(key[5].upper()) - 64)
        elif len(key) == 1:
            out += key.encode()
        else:
            raise InvalidArgument(f"Invalid detach keys ({keys}) provided")
    return bytes(out)


def _passes(container: Container, filters: dict[str, list[str]]) -> bool:
    checks: dict[str, Callable[[str], bool]] = {
        "status": lambda v: container.state.status.value == v,
        "name": lambda v: v.lstrip("/") in container.name,
        "id": lambda v: container.id.startswith(v),
        "label": lambda v: (
            container.config.labels.get(v.partition("=")[0]) == v.partition("=")[2]
            if "=" in v
            else v in container.config.labels
        ),
        "ancestor": lambda v: container.config.image == v,
        "exited": lambda v: (
            container.state.status is ContainerStatus.EXITED and str(container.state.exit_code) == v
        ),
    }
    for key, values in filters.items():
        check = checks.get(key)
        if check is not None and values and not any(check(v) for v in values):
            return False
    return True


def _network(container: Container) -> NetworkSettings:
    mode = container.host_config.network_mode or "default"
    name = "none" if mode == "none" else ("host" if mode == "host" else "bridge")
    return NetworkSettings(networks={name: EndpointInfo(network_id="0" * 64)})
