"""Unix sockets for the monitor: path-based listeners of any path length, and fd passing.

``sun_path`` holds 108 bytes (unix(7)), and data roots can be deep. A longer path is reached
through a directory fd: ``/proc/self/fd/<dirfd>/<name>`` resolves to the directory the fd
holds, so the kernel creates or finds ``<name>`` there. Another process (the runtime connecting
to our console socket) uses ``/proc/<our pid>/fd/<dirfd>/<name>`` while we keep the fd open.
Abstract sockets are never used: any process in the network namespace could connect to them.

Listeners are created mode 0600 inside the monitor's 0700 directory. This module uses
``_socket``, not ``socket`` (3.5 ms of imports the monitor does not need).
"""

from __future__ import annotations

import _socket
import os
import sys

__all__ = ["MAX_PATH", "listen_unix", "reachable_path", "recv_fd"]

MAX_PATH = 107
"""Longest path ``sun_path`` takes with its terminating NUL."""


def reachable_path(path: str, dirfd: int, *, pid: int | None = None) -> str:
    """``path`` itself if it fits ``sun_path``, else the same file through ``dirfd``.

    ``pid`` None means "for this process" (``/proc/self``); pass our pid when another process
    will use the path.
    """
    if len(os.fsencode(path)) <= MAX_PATH:
        return path
    owner = "self" if pid is None else str(pid)
    return f"/proc/{owner}/fd/{dirfd}/{os.path.basename(path)}"


def listen_unix(path: str, *, backlog: int = 64) -> tuple[_socket.socket, int]:
    """A non-blocking listener bound at ``path`` (an old socket file there is replaced).

    Returns the socket and an ``O_PATH`` fd of its directory (keep it open for as long as
    ``reachable_path`` must work; close it otherwise).

    Raises:
        OSError: the directory is missing or the bind fails.
    """
    directory, name = os.path.split(path)
    dirfd = os.open(directory or ".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            os.unlink(name, dir_fd=dirfd)
        except FileNotFoundError:
            pass
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
        try:
            old_umask = os.umask(0o177)  # the socket file is created 0600, never briefly wider
            try:
                sock.bind(reachable_path(path, dirfd))
            finally:
                os.umask(old_umask)
            sock.listen(backlog)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
    except BaseException:
        os.close(dirfd)
        raise
    return sock, dirfd


def recv_fd(conn: _socket.socket) -> int:
    """Receive one fd sent with SCM_RIGHTS (the runtime's console-socket protocol, runc's
    ``utils.SendFd``: the pty's name as data, the master as the right). Extra fds are closed.

    Raises:
        OSError: the peer closed the connection or sent no fd.
    """
    space = _socket.CMSG_SPACE(4 * 4)
    data, ancillary, _, _ = conn.recvmsg(4096, space, _socket.MSG_CMSG_CLOEXEC)
    fds: list[int] = []
    for level, kind, payload in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            usable = len(payload) - len(payload) % 4
            fds.extend(int.from_bytes(payload[i : i + 4], sys.byteorder) for i in range(0, usable, 4))
    if not fds:
        raise OSError(0, f"console socket: no file descriptor received (got {len(data)} bytes)")
    for extra in fds[1:]:
        os.close(extra)
    return fds[0]
