"""A console-socket server for tests: receives the pty master a runtime sends (runc's protocol)."""

from __future__ import annotations

import array
import os
import select
import socket
from pathlib import Path

__all__ = ["ConsoleSocket"]


class ConsoleSocket:
    """Listens on ``path``; ``receive()`` returns (payload, master fd) of the one message."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(1)

    def receive(self, timeout: float = 10) -> tuple[str, int]:
        self.sock.settimeout(timeout)
        conn, _ = self.sock.accept()
        with conn:
            fds = array.array("i")
            data, ancdata, _, _ = conn.recvmsg(4096, socket.CMSG_SPACE(fds.itemsize))
            for level, kind, payload in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(payload[: len(payload) - (len(payload) % fds.itemsize)])
        assert len(fds) == 1, "expected exactly one fd"
        return data.decode(), fds[0]

    @staticmethod
    def read_all(master: int, timeout: float = 10) -> str:
        """Read the pty until the other side closes (EIO) or ``timeout`` passes."""
        chunks = []
        while True:
            ready, _, _ = select.select([master], [], [], timeout)
            if not ready:
                break
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace")

    def close(self) -> None:
        self.sock.close()
