"""One attach (or exec start) stream, shaped the way the client receives it.

Skeleton: the behaviour lands with the tasks module.
"""

from __future__ import annotations

__all__ = ["AttachSession"]


class AttachSession:
    """A client's attachment to a container's (or an exec's) stdio.

    ``tty`` True: ``read`` gives raw terminal bytes. False: Docker stdcopy frames (an 8-byte
    header ``[stream, 0, 0, 0, size(uint32 BE)]`` then the payload). ``write`` carries the
    client's stdin, scanned for the detach keys; after a detach ``read`` returns ``b""`` and the
    container keeps running.
    """

    tty: bool

    async def read(self) -> bytes:
        """The next chunk for the client; ``b""`` at the end of the stream."""
        raise NotImplementedError

    async def write(self, data: bytes) -> None:
        """Stdin from the client (dropped when the container has no open stdin)."""
        raise NotImplementedError

    async def close_stdin(self) -> None:
        """The client half-closed its side: close the container's stdin if ``StdinOnce``."""
        raise NotImplementedError

    async def close(self) -> None:
        """Detach this client; the container is not affected."""
        raise NotImplementedError
