"""How the engine starts monitor processes: a fresh interpreter each, or forks of a zygote.

Both launchers take a monitor directory (its ``config.json`` already written) and the write
end of the spawner's sync pipe, and return once the monitor is on its way; the monitor itself
reports on the pipe (``monitor.main``). ``MonitorClient.spawn`` does the rest.

- ``ExecLauncher`` runs ``python -I -S -c <boot> ...`` (or a given program such as the
  ``dockyard-monitor`` entry point) and waits for that first process to exit, which it does as
  soon as the monitor has detached. ``-I -S`` skips ``site`` and the environment: the monitor
  needs only the standard library and our package, whose directory is put on ``sys.path``
  explicitly (this also works from an editable install).
- ``Zygote`` starts ``monitor.zygote`` once and hands it requests over a SOCK_SEQPACKET
  socketpair, passing the sync pipe with SCM_RIGHTS. It restarts the zygote if it has died.
  Closing it (or the daemon dying) ends the zygote, never its monitors.

The command lines name ``dockyard.monitor`` within their first three words so that the test
suite's leak check (tests/support/leaks.py) recognises monitors by their command line.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import dockyard
from dockyard import errors

__all__ = ["ExecLauncher", "Launcher", "Zygote"]

_BOOT_MAIN = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from dockyard.monitor.main import main; sys.exit(main(sys.argv[2:]))"
)
_BOOT_ZYGOTE = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from dockyard.monitor.zygote import serve; serve(int(sys.argv[2]))"
)


MALLOC_TUNABLES = "glibc.malloc.tcache_count=0:glibc.malloc.mxfast=0"
"""glibc malloc settings for the zygote and its monitors (malloc(3) "Tunables"): no per-size
caches of freed chunks (tcache, fastbins). Freed chunks then coalesce at once, so the zygote's
heap has fewer, larger holes and a monitor's mallocs land on fewer of its pages: ~30 KiB less
private memory per monitor here (bench/README.md). Python's own allocator serves every object
up to 512 bytes, so what these caches would speed up is rare in a monitor. The runtimes that
monitors start get their own environment (``oci.runtime_cli``), not this."""


def zygote_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: ours) with ``MALLOC_TUNABLES`` appended to ``GLIBC_TUNABLES``."""
    env = dict(os.environ if base is None else base)
    current = env.get("GLIBC_TUNABLES")
    env["GLIBC_TUNABLES"] = f"{current}:{MALLOC_TUNABLES}" if current else MALLOC_TUNABLES
    return env


def package_root() -> str:
    """The directory holding the ``dockyard`` package (src/ or site-packages)."""
    return str(Path(dockyard.__file__).resolve().parent.parent)


class Launcher(Protocol):
    """Something that starts a monitor for a prepared monitor directory."""

    async def launch(self, monitor_dir: str, sync_fd: int) -> None:
        """Start the monitor of ``monitor_dir``, handing it ``sync_fd``; return once it runs.

        Raises:
            Unavailable: the monitor program cannot be started.
        """
        ...


class ExecLauncher:
    """Each monitor a new interpreter: the plain path, no state shared between monitors.

    ``program`` replaces the default command (``python -ISc <boot> <package root>``); it gets
    ``--dir D --sync-fd N`` appended, as the ``dockyard-monitor`` program expects.
    """

    def __init__(self, program: Sequence[str] | None = None, *, python: str = sys.executable) -> None:
        self.argv = list(program) if program else [python, "-ISc", _BOOT_MAIN, package_root()]

    async def launch(self, monitor_dir: str, sync_fd: int) -> None:
        argv = [*self.argv, "--dir", monitor_dir, "--sync-fd", str(sync_fd)]
        try:
            child = await asyncio.create_subprocess_exec(
                *argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=(sync_fd,),
            )
        except OSError as exc:
            raise errors.Unavailable(f"cannot start the monitor program {argv[0]}: {exc}") from exc
        await child.wait()  # it exits once the monitor has detached (or reported an error)


class Zygote:
    """A pre-imported fork server for monitors (see ``monitor.zygote``).

    Use ``await Zygote.start()`` once (the engine does it at start-up), ``launch`` per monitor,
    and ``close`` at shutdown. ``pid`` is the zygote's pid (for measurements).
    """

    def __init__(self, *, python: str = sys.executable) -> None:
        self._python = python
        self._sock: socket.socket | None = None
        self._child: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    @classmethod
    async def start(cls, *, python: str = sys.executable) -> Zygote:
        """Start a zygote and return its handle.

        Raises:
            Unavailable: the interpreter cannot be started.
        """
        zygote = cls(python=python)
        await zygote._ensure()
        return zygote

    @property
    def pid(self) -> int | None:
        """The zygote's pid while it runs."""
        return self._child.pid if self._child is not None and self._child.returncode is None else None

    async def _ensure(self) -> socket.socket:
        async with self._lock:
            if self._sock is not None and self._child is not None and self._child.returncode is None:
                return self._sock
            await self._stop()
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            try:
                self._child = await asyncio.create_subprocess_exec(
                    self._python,
                    "-ISc",
                    _BOOT_ZYGOTE,
                    package_root(),
                    str(theirs.fileno()),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    pass_fds=(theirs.fileno(),),
                    env=zygote_environment(),
                )
            except OSError as exc:
                ours.close()
                raise errors.Unavailable(f"cannot start the monitor zygote: {exc}") from exc
            finally:
                theirs.close()
            ours.setblocking(False)
            self._sock = ours
            return ours

    async def launch(self, monitor_dir: str, sync_fd: int) -> None:
        for attempt in (1, 2):
            sock = await self._ensure()
            try:
                await self._send(sock, os.fsencode(monitor_dir), sync_fd)
                return
            except OSError as exc:  # the zygote died: start another, once
                if attempt == 2:
                    raise errors.Unavailable(f"monitor zygote unreachable: {exc}") from exc
                await self._stop()

    @staticmethod
    async def _send(sock: socket.socket, data: bytes, fd: int) -> None:
        rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fd.to_bytes(4, sys.byteorder))]
        loop = asyncio.get_running_loop()
        while True:
            try:
                sock.sendmsg([data], rights)
                return
            except BlockingIOError:
                ready = loop.create_future()
                loop.add_writer(sock.fileno(), ready.set_result, None)
                try:
                    await ready
                finally:
                    loop.remove_writer(sock.fileno())

    async def _stop(self) -> None:
        if self._sock is not None:
            self._sock.close()  # EOF: the zygote returns from serve()
            self._sock = None
        child, self._child = self._child, None
        if child is not None and child.returncode is None:
            try:
                await asyncio.wait_for(child.wait(), 5)
            except TimeoutError:
                child.kill()
                await child.wait()

    async def close(self) -> None:
        """Stop the zygote (its monitors keep running)."""
        async with self._lock:
            await self._stop()
