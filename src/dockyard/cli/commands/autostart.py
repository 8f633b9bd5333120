"""Starting ``dockyardd`` when nothing answers on the default socket.

docker expects a service manager to run dockerd; dockyard's first-hour user has none, so the
CLI starts the daemon itself, under narrow conditions: the address is the default one (no
``-H``, ``DOCKYARD_HOST`` or ``DOCKER_HOST`` pointing elsewhere), nothing accepts connections
there, we are root (the daemon needs it), and ``DOCKYARD_AUTOSTART`` is not ``0``.

The daemon is started detached: its own session (no terminal signals reach it), stdin from
/dev/null, output appended to ``/var/log/dockyard/dockyardd.log``. One line on stderr says
so, then the CLI polls ``/_ping`` until the daemon answers, the daemon exits, or the timeout
passes, and goes on with the command. An exclusive lock serialises CLIs that start at the same
moment: the second finds the first one's daemon answering and starts none.
"""

from __future__ import annotations

import os
import sys

from dockyard.cli import client as api
from dockyard.errors import Unavailable

__all__ = ["LOG_PATH", "TIMEOUT", "ensure_daemon"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.cli.client import Client
    from dockyard.cli.commands.base import Cli

LOG_PATH = "/var/log/dockyard/dockyardd.log"
LOCK_PATH = "/run/dockyard-autostart.lock"
TIMEOUT = 60.0
"""Seconds to wait for a started daemon's first answer (recovery of many containers is slow)."""


def ensure_daemon(cli: Cli, client: Client) -> None:
    """Negotiate with the daemon, starting it first if the conditions above hold.

    Raises:
        Unavailable: no daemon answers and none could be started, or it did not answer in time.
    """
    try:
        client.negotiate()
        return
    except Unavailable:
        if not _may_start(cli, client):
            raise
    _start(cli, client)


def _may_start(cli: Cli, client: Client) -> bool:
    if client.host != api.DEFAULT_HOST or cli.environ.get("DOCKYARD_AUTOSTART") == "0":
        return False
    return os.geteuid() == 0


def _daemon_binary() -> str:
    beside = os.path.join(os.path.dirname(sys.executable), "dockyardd")
    if os.access(beside, os.X_OK):
        return beside
    import shutil

    found = shutil.which("dockyardd")
    if found is None:
        raise Unavailable(f"no daemon is listening on {api.DEFAULT_HOST} and dockyardd was not found in PATH")
    return found


def _start(cli: Cli, client: Client) -> None:
    import fcntl

    with open(LOCK_PATH, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            client.negotiate()  # another CLI started it while we waited for the lock
            return
        except Unavailable:
            pass
        socket_path = str(client.address)
        cli.err.write(f"Starting dockyardd (no daemon was listening on {socket_path})\n")
        cli.err.flush()
        _wait(client, _spawn(socket_path), socket_path)


def _spawn(socket_path: str) -> int:
    """Start the daemon in its own session; its stdin is /dev/null, its output the log.

    ``posix_spawn`` rather than ``subprocess``: there is no Popen object to complain when the
    CLI (``run -it``, say) outlives its start, and no 11 ms ``subprocess`` import.
    """
    os.makedirs(os.path.dirname(LOG_PATH), mode=0o755, exist_ok=True)
    log = os.open(LOG_PATH, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
    try:
        program = _daemon_binary()
        return os.posix_spawn(
            program,
            [program, "-H", f"unix://{socket_path}"],
            os.environ,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, log, 1),
                (os.POSIX_SPAWN_DUP2, log, 2),
            ],
            setsid=True,
        )
    finally:
        os.close(log)


def _exit_status(pid: int) -> int | None:
    """The daemon's exit status if it has already exited, else None."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None
    return os.waitstatus_to_exitcode(status) if done else None


def _wait(client: Client, pid: int, socket_path: str) -> None:
    import time

    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            client.negotiate()
            return
        except Unavailable:
            status = _exit_status(pid)
            if status is not None:
                raise Unavailable(
                    f"dockyardd exited with status {status} before answering on {socket_path}; see {LOG_PATH}"
                ) from None
            if time.monotonic() > deadline:
                raise Unavailable(
                    f"dockyardd did not answer on {socket_path} within {TIMEOUT:g} seconds; see {LOG_PATH}"
                ) from None
            time.sleep(0.05)
