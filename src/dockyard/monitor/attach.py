"""The attach socket: control requests, and output fanned out to every attached client.

Every connection starts with one request line (``monitor.protocol``). ``start``, ``state`` and
``resize`` are answered and the connection closes; ``wait`` is answered when the process has
exited; ``attach`` is answered at once and the connection then carries the process's output to
the client and the client's stdin and resizes to us, until the process's output ends.

**Fan-out and slow clients.** Output is read as soon as it arrives and written to the log
first, so the process never waits on a client. Each client has its own queue; a client whose
queue passes ``CLIENT_LIMIT`` (1 MiB) is disconnected and the others go on. That is the choice
conmon makes (it drops what a slow client cannot take), made visible: a dropped client sees
its stream end early, and ``wait`` or ``state`` tells it the process is still running. Blocking
the process on its slowest reader, as dockerd's broadcaster does, lets one stuck ``docker
attach`` freeze a service.

**Clients that die.** A client killed with SIGKILL leaves a socket that reads EOF or fails with
ECONNRESET/EPIPE (SIGPIPE is ignored and MSG_NOSIGNAL set): it is dropped like any other. If
it had asked for stdin, its session has ended, which matters for ``StdinOnce`` (see
``monitor.stdio``).
"""

from __future__ import annotations

import _socket
import os

from dockyard import errors
from dockyard.monitor import protocol, unixsock

__all__ = ["CLIENT_LIMIT", "AttachServer", "Connection"]

CLIENT_LIMIT = 1 << 20
"""Bytes queued for one client before it is dropped."""

_SEND_FLAGS = _socket.MSG_NOSIGNAL | _socket.MSG_DONTWAIT


class Connection:
    """One client connection: its input so far, its output queue, what it attached to."""

    __slots__ = (
        "attached",
        "closing",
        "dead",
        "fd",
        "inbuf",
        "outbuf",
        "sock",
        "stderr",
        "stdin",
        "stdout",
        "waiting",
    )

    def __init__(self, sock: _socket.socket) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.attached = False  # past the attach answer: frames both ways
        self.stdin = self.stdout = self.stderr = False
        self.waiting = False  # a wait request: answered at exit
        self.closing = False  # close once the queue is written
        self.dead = False

    def send(self, data: bytes) -> bool:
        """Queue ``data`` and write what the socket takes; False if this client must go."""
        if self.dead:
            return False
        self.outbuf += data
        if len(self.outbuf) > CLIENT_LIMIT:
            return False
        return self.flush()

    def flush(self) -> bool:
        """Write queued bytes; False if the peer is gone."""
        while self.outbuf:
            try:
                sent = self.sock.send(self.outbuf, _SEND_FLAGS)
            except BlockingIOError:
                return True
            except OSError:
                self.dead = True
                return False
            del self.outbuf[:sent]
        return True

    def receive(self) -> bool:
        """Read what arrived into ``inbuf``; False at EOF or on error."""
        try:
            data = self.sock.recv(65536, _socket.MSG_DONTWAIT)
        except BlockingIOError:
            return True
        except OSError:
            return False
        if not data:
            return False
        self.inbuf += data
        return True

    def take_request(self) -> dict[str, object] | None:
        """The request line, once complete (None until then).

        Raises:
            InvalidArgument: the line is malformed or too long.
        """
        end = self.inbuf.find(b"\n")
        if end < 0:
            if len(self.inbuf) > protocol.MAX_MESSAGE:
                raise errors.InvalidArgument("monitor request too long")
            return None
        line = bytes(self.inbuf[:end])
        del self.inbuf[: end + 1]
        return protocol.decode(line)

    def take_frame(self) -> tuple[int, bytes] | None:
        """The next complete client frame (kind, payload), or None.

        Raises:
            InvalidArgument: a malformed header.
        """
        if len(self.inbuf) < protocol.FRAME_HEADER:
            return None
        kind, size = protocol.parse_frame_header(bytes(self.inbuf[: protocol.FRAME_HEADER]))
        if size > CLIENT_LIMIT:
            raise errors.InvalidArgument("client frame too large")
        end = protocol.FRAME_HEADER + size
        if len(self.inbuf) < end:
            return None
        payload = bytes(self.inbuf[protocol.FRAME_HEADER : end])
        del self.inbuf[:end]
        return kind, payload

    def close(self) -> None:
        """Close the socket (idempotent)."""
        self.dead = True
        self.sock.close()


class AttachServer:
    """The listening socket and every connection on it."""

    __slots__ = ("connections", "path", "sock")

    def __init__(self, path: str, *, listener: int = -1) -> None:
        """Listen at ``path``, or adopt ``listener``, a socket already listening there."""
        self.path = path
        self.sock: _socket.socket | None
        if listener >= 0:
            self.sock = _socket.socket(fileno=listener)
            self.sock.setblocking(False)
        else:
            self.sock, dirfd = unixsock.listen_unix(path)
            os.close(dirfd)  # clients reach a long path through their own directory fd
        self.connections: dict[int, Connection] = {}

    @property
    def fd(self) -> int:
        """The listener's fd (-1 once closed)."""
        return self.sock.fileno() if self.sock is not None else -1

    def accept(self) -> None:
        """Take one pending connection; ``poll`` reports the listener again while more wait.

        One per call, not a loop until EAGAIN: the exception that ends such a loop is the
        costliest thing an idle monitor would do (see monitor.zygote on shared pages).
        """
        if self.sock is None:
            return
        try:
            fd, _ = self.sock._accept()  # type: ignore[attr-defined]  # _socket's own accept
        except OSError:  # EAGAIN (another wakeup took it), ECONNABORTED: nothing to take
            return
        conn = Connection(_socket.socket(fileno=fd))
        conn.sock.setblocking(False)
        self.connections[conn.fd] = conn

    def broadcast(self, stream: int, data: bytes, *, raw: bool) -> list[Connection]:
        """Send output of ``stream`` (protocol.STDOUT/STDERR) to every client attached to it:
        raw bytes for a terminal, else a stdcopy frame. Returns the clients that must go."""
        frame = data if raw else protocol.frame_header(stream, len(data)) + data
        dropped = []
        for conn in self.connections.values():
            if not conn.attached or conn.closing:
                continue
            wanted = conn.stdout if stream == protocol.STDOUT else conn.stderr
            if wanted and not conn.send(frame):
                dropped.append(conn)
        return dropped

    def drop(self, conn: Connection) -> None:
        """Close and forget one connection."""
        self.connections.pop(conn.fd, None)
        conn.close()

    def stop_listening(self) -> None:
        """Close the listener and remove its file; clients then read the exit record."""
        if self.sock is None:
            return
        try:
            os.unlink(self.path)
        except OSError:
            pass  # a long path we can no longer name directly: the directory goes with the task
        self.sock.close()
        self.sock = None

    def close(self) -> None:
        """Close everything."""
        self.stop_listening()
        for conn in list(self.connections.values()):
            self.drop(conn)
