"""Terminals: a pty made inside the container, its master handed out through the console socket.

runc's protocol (``--console-socket``): the caller listens on a unix socket; the runtime
connects, and once the container's pty exists it sends *one* message whose payload is the pty's
name and whose ``SCM_RIGHTS`` ancillary data is the master fd, then closes the socket. The pty
is allocated from the container's own devpts instance (``/dev/ptmx`` -> ``pts/ptmx``, a
``newinstance`` mount), so its slave is visible inside as ``/dev/pts/N``; the slave is opened
from the master with ``TIOCGPTPEER`` (Linux 4.13), never by a path the container could swap,
and bind-mounted onto ``/dev/console`` from that fd.
"""

from __future__ import annotations

import _socket
import fcntl
import os

from dockyard.errors import InvalidArgument, SystemFailure
from dockyard.util import libc, securejoin

__all__ = ["Pty", "connect_console_socket", "open_pty", "send_master", "set_size"]

_TIOCGPTPEER = 0x5441


class Pty:
    """A master fd and its slave fd, with the slave's name inside the container."""

    __slots__ = ("master", "name", "slave")

    def __init__(self, master: int, slave: int, name: str) -> None:
        self.master = master
        self.slave = slave
        self.name = name


def connect_console_socket(path: str) -> _socket.socket:
    """Connect to the caller's console socket (a host path, before any namespace change).

    Raises:
        InvalidArgument: the socket cannot be reached.
    """
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC, 0)
    try:
        sock.connect(path)
    except OSError as exc:
        sock.close()
        raise InvalidArgument(f"failed to connect to console socket {path}: {exc.strerror}") from None
    return sock


def open_pty(root_fd: int, ptmx: str = "/dev/ptmx") -> Pty:
    """Allocate a pty from the devpts behind ``ptmx`` inside ``root_fd``.

    Raises:
        SystemFailure: no devpts, or the pty cannot be unlocked.
    """
    try:
        master = securejoin.open_in_root(root_fd, ptmx, os.O_RDWR | os.O_NOCTTY)
    except OSError as exc:
        raise SystemFailure(f"open {ptmx} in the container: {exc.strerror}") from None
    try:
        fcntl.ioctl(master, libc.TIOCSPTLCK, (0).to_bytes(4, "little"))  # unlockpt(3)
        number = int.from_bytes(fcntl.ioctl(master, libc.TIOCGPTN, bytes(4)), "little")
        slave = fcntl.ioctl(master, _TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        os.close(master)
        raise SystemFailure(f"allocate a pty: {exc.strerror}") from None
    return Pty(master, slave, f"/dev/pts/{number}")


def set_size(fd: int, height: int, width: int) -> None:
    """TIOCSWINSZ: struct winsize {rows, cols, xpixel, ypixel} (tty_ioctl(4))."""
    if height < 0 or width < 0 or height > 0xFFFF or width > 0xFFFF:
        raise InvalidArgument(f"invalid console size {height}x{width}")
    raw = height.to_bytes(2, "little") + width.to_bytes(2, "little") + bytes(4)
    fcntl.ioctl(fd, libc.TIOCSWINSZ, raw)


def send_master(sock: _socket.socket, pty: Pty) -> None:
    """Send the master fd with the pty's name as payload, as runc does; then close the socket.

    Raises:
        SystemFailure: the receiver went away.
    """
    rights = pty.master.to_bytes(4, "little", signed=True)
    try:
        sock.sendmsg([pty.name.encode()], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)])
    except OSError as exc:
        raise SystemFailure(f"send the pty master to the console socket: {exc.strerror}") from None
    finally:
        sock.close()
