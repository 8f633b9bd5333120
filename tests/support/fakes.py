"""Fakes with behaviour for unit tests (DESIGN §7: fakes, not mocks with expectations).

``FakeEngine`` implements the engine's door (``Engine.containers/execs/images/events/system``)
in memory, so the API server can be driven in-process, through a real socket, without root:

- containers are records with a tiny process model chosen by their command: ``echo ARGS``
  prints and exits 0, ``true``/``false`` exit 0/1, ``cat`` copies stdin to stdout until stdin
  closes, ``exit N`` exits N, anything else runs until stopped (exit 143) or killed (128+signal);
- output goes to a json-file-like log (``logs``) and to every attached session, framed with
  stdcopy headers unless the container has a tty; stdin reaches ``cat``; Ctrl-P Ctrl-Q (or the
  session's detach keys) detaches;
- execs run the same process model inside a running container;
- images live in a dict; ``pull`` yields Docker-like progress and stores the image, ``pull`` of
  a name containing ``missing`` fails before any progress (``manifest unknown``), one containing
  ``broken`` fails after some; ``save`` yields a small tar, ``load`` reads one back;
- events are the real ``EventBus`` over an in-memory state database.

Errors are the real ``dockyard.errors`` classes with Docker's wording, so the API's status codes
and messages are tested against the same exceptions the real engine raises.
"""

from __future__ import annotations

import asyncio
import builtins
import io
import struct
import tarfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dockyard.engine import (
    ComponentVersion,
    Container,
    ContainerConfig,
    ContainerDetails,
    ContainerListing,
    ContainerState,
    ContainerStatus,
    EndpointInfo,
    Event,
    EventBus,
    ExecConfig,
    ExecSession,
    HistoryEntry,
    HostConfig,
    ImageDetails,
    ImageSummary,
    IndexInfo,
    LogEntry,
    NetworkingConfig,
    NetworkSettings,
    Progress,
    RegistryInfo,
    RuntimeInfo,
    SystemInfo,
    VersionInfo,
)
from dockyard.engine.details import status_text
from dockyard.errors import (
    AlreadyStarted,
    AlreadyStopped,
    Conflict,
    ContainerIsRunning,
    ContainerNotRunning,
    ContainerPaused,
    ImageInUse,
    InvalidArgument,
    NameInUse,
    NoSuchContainer,
    NoSuchExec,
    NoSuchImage,
    NotFound,
)
from dockyard.util import ids
from dockyard.util.db import Database

__all__ = ["FakeEngine", "FakeProcess", "fake_image_id"]

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


def _now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp() if not text.startswith("0001") else 0.0


def fake_image_id(name: str) -> str:
    """A stable ``sha256:`` ID for a fake image name."""
    import hashlib

    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


def _frame(stream: int, data: bytes) -> bytes:
    return struct.pack(">BxxxI", stream, len(data)) + data


# --- processes and sessions -----------------------------------------------------------------


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

    def deliver(self, stream: str, data: bytes) -> None:
        if self._want.get(stream):
            self._queue.put_nowait(data if self.tty else _frame(2 if stream == "stderr" else 1, data))

    def end(self) -> None:
        self._queue.put_nowait(b"")

    async def read(self) -> bytes:
        return await self._queue.get()

    async def write(self, data: bytes) -> None:
        if self._detach and self._detach in data:
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
        self.log.append(LogEntry(stream=stream, time=_now_rfc3339(), data=data))
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
            created=_now_rfc3339(),
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
        size: bool = False,
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
                size_rw=0 if size else None,
                size_root_fs=1234 if size else None,
            )
            for c in rows
        ]

    def inspect(self, ref: str, *, size: bool = False) -> ContainerDetails:
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
            size_rw=0 if size else None,
            size_root_fs=1234 if size else None,
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
            container, status=ContainerStatus.RUNNING, pid=process.pid, started_at=_now_rfc3339(), exit_code=0
        )
        process.exited.add_done_callback(lambda f: self._exited(container.id, f.result()))
        process.start()
        self._event("start", container)

    def _exited(self, container_id: str, code: int) -> None:
        container = self.records.get(container_id)
        if container is None:
            return
        self._set_state(
            container, status=ContainerStatus.EXITED, pid=0, exit_code=code, finished_at=_now_rfc3339()
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
        container = self.get(ref)
        if condition == "removed":
            await self._removed[container.id].wait()
            return self.records.get(container.id, container).state.exit_code, None
        if condition == "not-running" and container.state.status is not ContainerStatus.RUNNING:
            return container.state.exit_code, None
        waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(container.id, []).append(waiter)
        return await waiter, None

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


# --- execs ----------------------------------------------------------------------------------


class FakeExecs:
    """Exec instances over the fake process model."""

    def __init__(self, engine: FakeEngine) -> None:
        self._engine = engine
        self.sessions: dict[str, ExecSession] = {}
        self.processes: dict[str, FakeProcess] = {}

    async def create(self, container_ref: str, config: ExecConfig) -> str:
        container = self._engine.containers.get(container_ref)
        if container.state.status is ContainerStatus.PAUSED:
            raise ContainerPaused(f"Container {container.id} is paused, unpause the container before exec")
        if container.state.status is not ContainerStatus.RUNNING:
            raise ContainerNotRunning(f"Container {container.id} is not running")
        exec_id = ids.new_id()
        self.sessions[exec_id] = ExecSession(
            id=exec_id, container_id=container.id, config=config, running=False, exit_code=None, pid=0
        )
        return exec_id

    async def start(
        self,
        exec_id: str,
        *,
        detach: bool,
        tty: bool | None = None,
        console_size: tuple[int, int] | None = None,
    ) -> FakeSession | None:
        record = self.inspect(exec_id)
        if record.running or record.exit_code is not None:
            raise Conflict(f"Error: Exec command {exec_id} is already running")
        use_tty = record.config.tty if tty is None else tty
        process = FakeProcess(record.config.cmd, tty=use_tty)
        self.processes[exec_id] = process
        self.sessions[exec_id] = replace(record, running=True, pid=process.pid)
        # As with a real monitor, the exit code is recorded a moment after the output ended.
        process.exited.add_done_callback(
            lambda f: asyncio.get_running_loop().call_later(
                EXIT_RECORD_DELAY, self._record, exec_id, f.result()
            )
        )
        session = None
        if not detach:
            config = record.config
            session = FakeSession(
                process,
                stdin=config.attach_stdin,
                stdout=config.attach_stdout,
                stderr=config.attach_stderr,
                detach_keys=DETACH,
            )
            process.sessions.add(session)
        process.start()
        return session

    def _record(self, exec_id: str, code: int) -> None:
        self.sessions[exec_id] = replace(self.sessions[exec_id], running=False, exit_code=code)

    def inspect(self, exec_id: str) -> ExecSession:
        try:
            return self.sessions[exec_id]
        except KeyError:
            raise NoSuchExec(exec_id) from None

    async def resize(self, exec_id: str, *, height: int, width: int) -> None:
        if not self.inspect(exec_id).running:
            raise Conflict(f"Exec {exec_id} is not running")


# --- images ---------------------------------------------------------------------------------


class FakeImages:
    """A dict of images with Docker-like pull/load progress."""

    def __init__(self, engine: FakeEngine) -> None:
        self._engine = engine
        self.images: dict[str, ImageDetails] = {}

    def add(self, reference: str, *, config: dict[str, object] | None = None) -> ImageDetails:
        name = reference if ":" in reference.rsplit("/", 1)[-1] else f"{reference}:latest"
        image_id = fake_image_id(name)
        existing = self.images.get(image_id)
        tags = tuple(sorted({*(existing.repo_tags if existing else ()), name}))
        image = ImageDetails(
            id=image_id,
            repo_tags=tags,
            repo_digests=(f"{name.rsplit(':', 1)[0]}@sha256:{'ab' * 32}",),
            created="2024-01-01T00:00:00Z",
            config=config or {"Cmd": ["sh"], "Env": ["PATH=/usr/bin:/bin"]},
            architecture="amd64",
            os="linux",
            size=4096,
            graph_driver={"Name": "overlay2", "Data": {}},
            root_fs={"Type": "layers", "Layers": ["sha256:" + "cd" * 32]},
        )
        self.images[image_id] = image
        return image

    def find(self, name: str) -> ImageDetails:
        normal = name if ":" in name.rsplit("/", 1)[-1] or "@" in name else f"{name}:latest"
        for image in self.images.values():
            if (
                normal in image.repo_tags
                or image.id == name
                or image.id.removeprefix("sha256:").startswith(name)
            ):
                return image
        raise NoSuchImage(name)

    async def pull(
        self, *, from_image: str, tag: str, platform: str | None, registry_auth: str | None
    ) -> AsyncIterator[Progress]:
        reference = f"{from_image}:{tag}" if tag else from_image
        if "missing" in from_image:
            raise NotFound(f"manifest for {reference} not found: manifest unknown: manifest unknown")
        await asyncio.sleep(0)
        yield Progress(status=f"Pulling from library/{from_image}", id=tag or "latest")
        yield Progress(status="Pulling fs layer", id="abcdef012345")
        yield Progress(status="Downloading", id="abcdef012345", current=1000, total=4000)
        if "broken" in from_image:
            raise InvalidArgument("unexpected EOF")
        yield Progress(status="Pull complete", id="abcdef012345")
        self.add(reference)
        yield Progress(status=f"Digest: sha256:{'ab' * 32}")
        yield Progress(status=f"Status: Downloaded newer image for {reference}")

    async def import_image(
        self,
        chunks: AsyncIterator[bytes],
        *,
        repo: str,
        tag: str,
        message: str,
        changes: builtins.list[str],
        platform: str | None,
    ) -> AsyncIterator[Progress]:
        total = 0
        async for chunk in chunks:
            total += len(chunk)
        if total == 0:
            raise InvalidArgument("EOF")
        image = self.add(f"{repo}:{tag or 'latest'}" if repo else f"imported{total}")
        yield Progress(status=image.id)

    def list(
        self,
        *,
        all: bool = False,
        filters: dict[str, builtins.list[str]] | None = None,
        digests: bool = False,
        shared_size: bool = False,
    ) -> builtins.list[ImageSummary]:
        for key in filters or {}:
            if key not in ("dangling", "label", "before", "since", "reference"):
                raise InvalidArgument(f"invalid filter '{key}'")
        return [
            ImageSummary(
                id=image.id,
                repo_tags=image.repo_tags,
                repo_digests=image.repo_digests,
                created=1704067200,
                size=image.size,
                shared_size=0 if shared_size else -1,
            )
            for image in self.images.values()
        ]

    def inspect(self, name: str) -> ImageDetails:
        return self.find(name)

    def history(self, name: str) -> builtins.list[HistoryEntry]:
        image = self.find(name)
        return [
            HistoryEntry(
                id=image.id,
                created=1704067200,
                created_by='/bin/sh -c #(nop) CMD ["sh"]',
                tags=image.repo_tags,
            ),
            HistoryEntry(
                id="<missing>",
                created=1704067100,
                created_by="/bin/sh -c #(nop) ADD file:abc in / ",
                size=4096,
            ),
        ]

    def tag(self, name: str, *, repo: str, tag: str) -> None:
        image = self.find(name)
        if not repo:
            raise InvalidArgument("repository name must have at least one component")
        self.images[image.id] = replace(
            image, repo_tags=tuple(sorted({*image.repo_tags, f"{repo}:{tag or 'latest'}"}))
        )

    def remove(
        self, name: str, *, force: bool = False, noprune: bool = False
    ) -> builtins.list[tuple[str, str]]:
        image = self.find(name)
        users = [c for c in self._engine.containers.records.values() if c.image_id == image.id]
        if users and not force:
            raise ImageInUse(
                f'conflict: unable to remove repository reference "{name}" (must force) - container '
                f"{users[0].id[:12]} is using its referenced image {image.id.removeprefix('sha256:')[:12]}"
            )
        del self.images[image.id]
        return [*(("Untagged", t) for t in image.repo_tags), ("Deleted", image.id)]

    async def save(self, names: builtins.list[str]) -> AsyncIterator[bytes]:
        found = [self.find(n) for n in names]
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            data = ("\n".join(t for image in found for t in image.repo_tags) + "\n").encode()
            info = tarfile.TarInfo("repositories")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        payload = buffer.getvalue()
        for start in range(0, len(payload), 4096):
            yield payload[start : start + 4096]

    async def load(self, chunks: AsyncIterator[bytes], *, quiet: bool = False) -> AsyncIterator[Progress]:
        data = b"".join([chunk async for chunk in chunks])
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r") as archive:
                member = archive.extractfile("repositories")
                names = member.read().decode().split() if member is not None else []
        except (tarfile.TarError, KeyError):
            raise InvalidArgument("invalid archive: no repositories file") from None
        if not quiet:
            yield Progress(status="Loading layer", id="abcdef012345", current=len(data), total=len(data))
        for name in names:
            self.add(name)
            yield Progress(status=f"Loaded image: {name}")

    def prune(
        self, *, filters: dict[str, builtins.list[str]] | None = None
    ) -> tuple[builtins.list[tuple[str, str]], int]:
        return [], 0


# --- system and the engine ------------------------------------------------------------------


class FakeSystem:
    def __init__(self, engine: FakeEngine) -> None:
        self._engine = engine

    def info(self) -> SystemInfo:
        records = self._engine.containers.records.values()
        running = sum(c.state.status is ContainerStatus.RUNNING for c in records)
        paused = sum(c.state.status is ContainerStatus.PAUSED for c in records)
        return SystemInfo(
            id="FAKE:ENGINE",
            containers=len(records),
            containers_running=running,
            containers_paused=paused,
            containers_stopped=len(records) - running - paused,
            images=len(self._engine.images.images),
            driver="overlay2",
            driver_status=(("Backing Filesystem", "extfs"),),
            docker_root_dir="/var/lib/dockyard",
            memory_limit=True,
            swap_limit=True,
            cpu_cfs_period=True,
            cpu_cfs_quota=True,
            cpu_shares=True,
            cpu_set=True,
            pids_limit=True,
            oom_kill_disable=True,
            ipv4_forwarding=True,
            debug=False,
            n_fd=10,
            n_goroutines=1,
            system_time=_now_rfc3339(),
            logging_driver="json-file",
            cgroup_driver="cgroupfs",
            cgroup_version="1",
            n_events_listener=self._engine.events.listener_count,
            kernel_version="6.18.0",
            operating_system="Debian GNU/Linux 12 (bookworm)",
            os_version="12",
            os_type="linux",
            architecture="x86_64",
            ncpu=2,
            mem_total=24 * 2**30,
            index_server_address="https://index.docker.io/v1/",
            registry_config=RegistryInfo(
                insecure_registry_cidrs=("127.0.0.0/8",),
                index_configs={"docker.io": IndexInfo(name="docker.io", official=True)},
            ),
            http_proxy="",
            https_proxy="",
            no_proxy="",
            name="fakehost",
            labels=(),
            experimental_build=False,
            server_version="0.1.0",
            runtimes={
                "dockyard-runtime": RuntimeInfo(path="dockyard-runtime"),
                "runc": RuntimeInfo(path="runc"),
            },
            default_runtime="dockyard-runtime",
            live_restore_enabled=True,
            isolation="",
            init_binary="",
            security_options=("name=seccomp,profile=builtin",),
            warnings=(),
            plugins={"Volume": ("local",), "Network": ("host", "null"), "Log": ("json-file",)},
        )

    def version(self) -> VersionInfo:
        return VersionInfo(
            platform_name="dockyard",
            components=(ComponentVersion(name="Engine", version="0.1.0", details={"ApiVersion": "1.45"}),),
            version="0.1.0",
            api_version="1.45",
            min_api_version="1.24",
            git_commit="fake",
            go_version="python3.11",
            os="linux",
            arch="amd64",
            kernel_version="6.18.0",
            experimental=False,
            build_time="2024-01-01T00:00:00.000000000+00:00",
        )


class FakeEngine:
    """The engine door's shape, in memory. ``images.add("alpine")`` makes an image available."""

    def __init__(self) -> None:
        self.events = EventBus(Database(Path(":memory:")))
        self.containers = FakeContainers(self)
        self.execs = FakeExecs(self)
        self.images = FakeImages(self)
        self.system = FakeSystem(self)

    async def close(self) -> None:
        for process in list(self.containers.processes.values()):
            process.finish(137)
        for process in list(self.execs.processes.values()):
            process.finish(137)
        self.events.close()
