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
import tarfile
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from dockyard.engine import (
    ComponentVersion,
    ContainerStatus,
    EventBus,
    ExecConfig,
    ExecSession,
    HistoryEntry,
    ImageDetails,
    ImageSummary,
    IndexInfo,
    Progress,
    RegistryInfo,
    RuntimeInfo,
    SystemInfo,
    VersionInfo,
)
from dockyard.errors import (
    Conflict,
    ContainerNotRunning,
    ContainerPaused,
    ImageInUse,
    InvalidArgument,
    NoSuchExec,
    NoSuchImage,
    NotFound,
)
from dockyard.util import ids
from dockyard.util.db import Database
from tests.support.fake_containers import (
    DETACH,
    EXIT_RECORD_DELAY,
    FakeContainers,
    FakeProcess,
    FakeSession,
    now_rfc3339,
)

__all__ = ["FakeEngine", "FakeProcess", "fake_image_id"]


def fake_image_id(name: str) -> str:
    """A stable ``sha256:`` ID for a fake image name."""
    import hashlib

    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


# --- execs ----------------------------------------------------------------------------------


class _FakeExecSession(FakeSession):
    """An exec's stream ends only once its exit code is recorded, as the engine's does.

    (The docker CLI inspects the exec the moment the stream closes.) A detach ends it at once.
    """

    def __init__(self, process: FakeProcess, recorded: asyncio.Event, **kwargs: Any) -> None:
        super().__init__(process, **kwargs)
        self._recorded = recorded

    async def read(self) -> bytes:
        chunk = await super().read()
        if not chunk and not self.detached:
            await self._recorded.wait()
        return chunk


class FakeExecs:
    """Exec instances over the fake process model."""

    def __init__(self, engine: FakeEngine) -> None:
        self._engine = engine
        self.sessions: dict[str, ExecSession] = {}
        self.processes: dict[str, FakeProcess] = {}
        self._recorded: dict[str, asyncio.Event] = {}

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
        self._recorded[exec_id] = asyncio.Event()
        session = None
        if not detach:
            config = record.config
            session = _FakeExecSession(
                process,
                self._recorded[exec_id],
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
        self._recorded[exec_id].set()

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

    async def remove_image(
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

    async def prune_images(
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
            system_time=now_rfc3339(),
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
