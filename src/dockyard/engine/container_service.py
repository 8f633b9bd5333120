"""ContainerService: the container operations of the Engine API.

Skeleton: the behaviour lands with the store and tasks modules.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator

from dockyard.engine.attach import AttachSession
from dockyard.engine.container import Container, ContainerConfig, HostConfig, NetworkingConfig
from dockyard.engine.details import ContainerDetails, ContainerListing
from dockyard.engine.logs import LogEntry

__all__ = ["ContainerService"]


class ContainerService:
    """Create, inspect, run and remove containers."""

    async def create(
        self,
        *,
        name: str | None,
        config: ContainerConfig,
        host_config: HostConfig,
        networking_config: NetworkingConfig,
        platform: str | None,
    ) -> tuple[str, list[str]]:
        """Create a container from an image; returns (id, warnings).

        Raises:
            NoSuchImage: the image is not present (the client then pulls and retries).
            NameInUse: ``name`` is taken.
            InvalidArgument: a bad name or a bad setting, in Docker's words.
        """
        raise NotImplementedError

    def list(
        self,
        *,
        all: bool = False,
        limit: int = -1,
        size: bool = False,
        filters: dict[str, builtins.list[str]] | None = None,
    ) -> builtins.list[ContainerListing]:
        """Containers, newest first (running ones only unless ``all``). Raises InvalidArgument."""
        raise NotImplementedError

    def get(self, ref: str) -> Container:
        """The container named by full ID, name (with or without "/") or unique ID prefix.

        Raises:
            NoSuchContainer: nothing matches.
            InvalidArgument: an ambiguous prefix (``multiple IDs found with provided prefix: <p>``).
        """
        raise NotImplementedError

    def inspect(self, ref: str, *, size: bool = False) -> ContainerDetails:
        """The record plus what inspect derives. Raises NoSuchContainer."""
        raise NotImplementedError

    async def start(self, ref: str) -> None:
        """Start a created or exited container. Raises AlreadyStarted (304), ContainerPaused."""
        raise NotImplementedError

    async def stop(self, ref: str, *, timeout: int | None = None, signal: str | None = None) -> None:
        """Stop signal, then SIGKILL after ``timeout`` (-1: wait forever). Raises AlreadyStopped (304)."""
        raise NotImplementedError

    async def restart(self, ref: str, *, timeout: int | None = None, signal: str | None = None) -> None:
        """Stop (if running), then start."""
        raise NotImplementedError

    async def kill(self, ref: str, *, signal: str | None = None) -> None:
        """Send a signal (default SIGKILL). Raises ContainerNotRunning."""
        raise NotImplementedError

    async def wait(self, ref: str, *, condition: str = "not-running") -> tuple[int, str | None]:
        """Block until ``condition`` ("not-running", "next-exit", "removed"); returns (code, error)."""
        raise NotImplementedError

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
    ) -> AttachSession:
        """Attach to the container's stdio (before start too: all output is seen)."""
        raise NotImplementedError

    async def resize(self, ref: str, *, height: int, width: int) -> None:
        """Resize the container's terminal. Raises ContainerNotRunning."""
        raise NotImplementedError

    def logs(
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
        """The json-file log's entries; with ``follow`` until the container stops."""
        raise NotImplementedError

    async def top(
        self, ref: str, *, ps_args: str | None = None
    ) -> tuple[builtins.list[str], builtins.list[builtins.list[str]]]:
        """``ps`` of the container's processes: (titles, rows). Raises ContainerNotRunning."""
        raise NotImplementedError

    async def remove(
        self, ref: str, *, force: bool = False, volumes: bool = False, link: bool = False
    ) -> None:
        """Remove a container (``force`` kills a running one first). Raises ContainerIsRunning."""
        raise NotImplementedError

    async def pause(self, ref: str) -> None:
        """Freeze the container's processes. Raises ContainerNotRunning, ContainerPaused."""
        raise NotImplementedError

    async def unpause(self, ref: str) -> None:
        """Thaw the container's processes. Raises Conflict when not paused."""
        raise NotImplementedError

    async def rename(self, ref: str, new_name: str) -> None:
        """Rename the container. Raises NameInUse, InvalidArgument."""
        raise NotImplementedError

    async def prune(
        self, *, filters: dict[str, builtins.list[str]] | None = None
    ) -> tuple[builtins.list[str], int]:
        """Remove every stopped container; returns (ids, reclaimed bytes)."""
        raise NotImplementedError
