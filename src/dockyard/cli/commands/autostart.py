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

from dockyard.cli.client import DEFAULT_HOST
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
    if client.host != DEFAULT_HOST or cli.environ.get("DOCKYARD_AUTOSTART") == "0":
        return False
    return os.geteuid() == 0


def _daemon_binary() -> str:
    beside = os.path.join(os.path.dirname(sys.executable), "dockyardd")
    if os.access(beside, os.X_OK):
        return beside
    import shutil

    found = shutil.which("dockyardd")
    if found is None:
        raise Unavailable(f"no daemon is listening on {DEFAULT_HOST} and dockyardd was not found in PATH")
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


def _spawn(socket_path: str) -> object:
    import subprocess

    os.makedirs(os.path.dirname(LOG_PATH), mode=0o755, exist_ok=True)
    with open(LOG_PATH, "ab") as log:
        return subprocess.Popen(
            [_daemon_binary(), "-H", f"unix://{socket_path}"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            cwd="/",
            start_new_session=True,
            close_fds=True,
        )


def _wait(client: Client, process: object, socket_path: str) -> None:
    import time

    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            client.negotiate()
            return
        except Unavailable:
            status = process.poll()  # type: ignore[attr-defined]
            if status is not None:
                raise Unavailable(
                    f"dockyardd exited with status {status} before answering on {socket_path}; see {LOG_PATH}"
                ) from None
            if time.monotonic() > deadline:
                raise Unavailable(
                    f"dockyardd did not answer on {socket_path} within {TIMEOUT:g} seconds; see {LOG_PATH}"
                ) from None
            time.sleep(0.05)
