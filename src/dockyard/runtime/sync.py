"""The socketpair between the runtime's parent and the processes it forks.

One ``AF_UNIX``/``SOCK_SEQPACKET`` pair, close-on-exec on both ends, one JSON object per
packet: ``{"type": ..., ...}``. Message boundaries come from SEQPACKET, so there is no framing
code. The child's end closes when the exec into the container succeeds (close-on-exec), which
the parent reads as EOF: the readiness signal of runc's design, with no race between "about to
exec" and "exec failed". An ``error`` message carries the child's failure text back, so
``create`` fails with the real reason.
"""

from __future__ import annotations

import _socket

from dockyard.errors import SystemFailure
from dockyard.util import jsoncodec

__all__ = ["Channel", "ChildFailed", "channel_pair"]

_MAX = 1 << 16


class ChildFailed(SystemFailure):
    """A forked process reported an error, or died without a word."""


class Channel:
    """One end of the sync socketpair."""

    def __init__(self, sock: _socket.socket) -> None:
        self.sock = sock

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, kind: str, **fields: object) -> None:
        fields["type"] = kind
        self.sock.send(jsoncodec.dumps(fields).encode())

    def send_fd(self, kind: str, fd: int, **fields: object) -> None:
        """Send a message with ``fd`` as SCM_RIGHTS ancillary data."""
        fields["type"] = kind
        rights = fd.to_bytes(4, "little", signed=True)
        self.sock.sendmsg(
            [jsoncodec.dumps(fields).encode()], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)]
        )

    def recv(self) -> dict[str, object] | None:
        """The next message, or None at EOF (the peer exec'd or exited).

        Raises:
            ChildFailed: the peer sent ``error`` (its message is ours), or garbage.
        """
        raw = self.sock.recv(_MAX)
        if not raw:
            return None
        try:
            msg = jsoncodec.loads(raw)
        except jsoncodec.JSONDecodeError:
            raise ChildFailed("sync: malformed message from child") from None
        if not isinstance(msg, dict):
            raise ChildFailed("sync: malformed message from child")
        if msg.get("type") == "error":
            raise ChildFailed(str(msg.get("message", "unknown error")))
        return msg

    def expect(self, kind: str) -> dict[str, object]:
        """Receive a message that must be ``kind``.

        Raises:
            ChildFailed: EOF, an error, or another message.
        """
        msg = self.recv()
        if msg is None:
            raise ChildFailed(f"sync: child exited before sending {kind!r}")
        if msg.get("type") != kind:
            raise ChildFailed(f"sync: expected {kind!r}, got {msg.get('type')!r}")
        return msg

    def close(self) -> None:
        self.sock.close()


def channel_pair() -> tuple[Channel, Channel]:
    """(parent end, child end), both close-on-exec."""
    a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC, 0)
    return Channel(a), Channel(b)
