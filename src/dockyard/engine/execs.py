"""Exec instances: extra processes run inside a running container (``docker exec``).

Skeleton: the behaviour lands with the tasks module.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.engine.attach import AttachSession

__all__ = ["ExecConfig", "ExecService", "ExecSession"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecConfig:
    """The exec create request (``POST /containers/{id}/exec``), snake_cased."""

    attach_stdin: bool = False
    attach_stdout: bool = False
    attach_stderr: bool = False
    detach_keys: str = ""
    tty: bool = False
    env: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    privileged: bool = False
    user: str = ""
    working_dir: str = ""
    console_size: tuple[int, int] | None = None  # (height, width)


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecSession:
    """Docker's "exec instance": its config and, once finished, its exit code."""

    id: str
    container_id: str
    config: ExecConfig
    running: bool
    exit_code: int | None
    pid: int


class ExecService:
    """Creates, starts and reports exec instances."""

    async def create(self, container_ref: str, config: ExecConfig) -> str:
        """Register an exec instance on a running container; returns its ID.

        Raises:
            NoSuchContainer: nothing matches ``container_ref``.
            ContainerNotRunning: the container is not running (``Container <id> is not running``).
            ContainerPaused: the container is paused (Docker's paused message).
            InvalidArgument: an empty command, or bad detach keys.
        """
        raise NotImplementedError

    async def start(
        self,
        exec_id: str,
        *,
        detach: bool,
        tty: bool | None = None,
        console_size: tuple[int, int] | None = None,
    ) -> AttachSession | None:
        """Run the exec's process; returns its stream, or None when ``detach``.

        Raises:
            NoSuchExec: no exec has this ID.
            Conflict: the exec was already started, or its container stopped meanwhile.
        """
        raise NotImplementedError

    def inspect(self, exec_id: str) -> ExecSession:
        """The exec instance's current record.

        Raises:
            NoSuchExec: no exec has this ID.
        """
        raise NotImplementedError

    async def resize(self, exec_id: str, *, height: int, width: int) -> None:
        """Resize the exec's terminal.

        Raises:
            NoSuchExec: no exec has this ID.
            Conflict: the exec is not running.
        """
        raise NotImplementedError
