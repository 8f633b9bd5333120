"""The engine's seams: what it needs from the rooms it composes, as Protocols.

The engine drives real monitors (``dockyard.monitor.MonitorClient``), a real OCI runtime client
(``oci.runtime_cli.OciRuntime``) and the image room's container filesystems; unit tests drive
fakes with behaviour (``tests/support/engine_fakes.py``). These Protocols are the narrow part of
each interface the engine uses, so both fit, and so the engine's dependencies are listed in one
place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from dockyard.monitor import ExitRecord, MonitorConfig, MonitorState
from dockyard.oci.runtime_cli import RuntimeState

__all__ = [
    "AttachChannel",
    "ImageDefaults",
    "ImageSource",
    "MonitorFactory",
    "MonitorHandle",
    "ResolvedImage",
    "RuntimeControl",
]


class AttachChannel(Protocol):
    """One attach connection to a monitor: output in (stdcopy frames or raw tty bytes)."""

    async def read(self, size: int = 65536) -> bytes: ...
    async def write(self, data: bytes) -> None: ...
    async def close_stdin(self) -> None: ...
    async def close(self) -> None: ...


class MonitorHandle(Protocol):
    """The engine's handle on one monitor (``MonitorClient``)."""

    pid: int

    async def start(self) -> int: ...
    async def state(self) -> MonitorState: ...
    async def resize(self, height: int, width: int) -> None: ...
    async def attach(self, *, stdin: bool, stdout: bool, stderr: bool) -> AttachChannel: ...
    async def wait(self) -> ExitRecord: ...


class MonitorFactory(Protocol):
    """Spawns monitors and finds them again after a daemon restart."""

    async def spawn(self, config: MonitorConfig) -> MonitorHandle:
        """Start a monitor; returns once ``runtime create`` succeeded (init) or it listens (exec)."""
        ...

    async def connect(self, monitor_dir: Path) -> MonitorHandle:
        """A handle on an existing monitor or its exit record. Raises MonitorLost."""
        ...

    def read_exit_record(self, monitor_dir: Path) -> ExitRecord | None: ...


class RuntimeControl(Protocol):
    """The control calls the engine makes straight to the OCI runtime (``OciRuntime``)."""

    async def state(self, container_id: str) -> RuntimeState: ...
    async def kill(self, container_id: str, signal: int | str, *, all: bool = False) -> None: ...
    async def delete(self, container_id: str, *, force: bool = False) -> None: ...
    async def pause(self, container_id: str) -> None: ...
    async def resume(self, container_id: str) -> None: ...
    async def ps(self, container_id: str) -> list[int]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageDefaults:
    """The parts of an image's config a container inherits (Docker's ``Config`` of the image)."""

    env: tuple[str, ...] = ()
    cmd: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    working_dir: str = ""
    user: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    exposed_ports: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    stop_signal: str = ""
    shell: tuple[str, ...] = ()
    on_build: tuple[str, ...] = ()
    args_escaped: bool = False
    healthcheck_test: tuple[str, ...] = ()
    os: str = "linux"
    architecture: str = ""
    variant: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolvedImage:
    """An image found for a create request: its ID, the name to show, and its defaults."""

    id: str  # sha256:...
    defaults: ImageDefaults


class ImageSource(Protocol):
    """What the engine uses of the image room: lookups and container root filesystems.

    The filesystem calls are blocking (mounts, directory trees): call them from worker threads.
    """

    def resolve(self, name: str) -> ResolvedImage:
        """The image ``name`` (reference, ID or ID prefix) names. Raises NoSuchImage."""
        ...

    def image_id_for(self, name: str) -> str | None:
        """The ID ``name`` names now, or None (for the IMAGE column of ``ps``)."""
        ...

    def create_rootfs(self, container_id: str, image_id: str) -> None: ...
    def mount_rootfs(self, container_id: str, target: Path) -> None: ...
    def unmount_rootfs(self, container_id: str, target: Path) -> None: ...
    def remove_rootfs(self, container_id: str) -> None: ...
    def rootfs_usage(self, container_id: str) -> tuple[int, int]: ...
    def graph_driver(self, container_id: str) -> dict[str, object]: ...
