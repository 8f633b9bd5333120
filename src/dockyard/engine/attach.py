"""One attach (or exec start) stream, shaped the way the client receives it.

An ``AttachSession`` is what the API copies to a hijacked connection. Its output has up to two
parts: the log replay (``attach?logs=1``: the json-file history, framed here) and the live
stream from the monitor, which arrives already framed (Docker's stdcopy frames without a tty,
raw bytes with one), so it is forwarded unchanged.

**Attach before start.** ``docker run`` attaches to a created container and only then starts it;
no output may be lost. A session on a container without a task is *pending*: the engine connects
it to the monitor after ``runtime create`` and before ``start`` (``connect``), so the first byte
the process writes already has a reader.

**Detach keys** (moby ``term.NewEscapeProxy``): stdin is scanned for the sequence (default
Ctrl-P Ctrl-Q). Bytes that could begin it are held back until it is either complete (the session
detaches: the output ends, the container keeps running) or broken (the held bytes go through).
The format is Docker's: comma-separated keys, each a single character or ``ctrl-<x>`` with x in
a-z, @, [, \\, ], ^, _.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from dockyard.engine.seams import AttachChannel
from dockyard.errors import InvalidArgument

__all__ = ["DEFAULT_DETACH_KEYS", "AttachSession", "frame", "parse_detach_keys"]

DEFAULT_DETACH_KEYS = b"\x10\x11"  # ctrl-p, ctrl-q
_STREAMS = {"stdin": 0, "stdout": 1, "stderr": 2}
_END_GATE_TIMEOUT = 10.0

log = logging.getLogger(__name__)


def parse_detach_keys(text: str | None) -> bytes:
    """The byte sequence a detach-keys string names ("" or None: the default).

    Raises:
        InvalidArgument: Docker's "Invalid detach keys (<text>) provided".
    """
    if not text:
        return DEFAULT_DETACH_KEYS
    out = bytearray()
    for key in text.split(","):
        if len(key) == 1 and key.isascii():
            out.append(ord(key))
            continue
        lowered = key.lower()
        if lowered.startswith("ctrl-") and len(key) == 6:
            char = lowered[5]
            if "a" <= char <= "z":
                out.append(ord(char) - ord("a") + 1)
                continue
            if char in "@[\\]^_":
                out.append(ord(char) - 64 if char != "@" else 0)
                continue
        raise InvalidArgument(f"Invalid detach keys ({text}) provided")
    return bytes(out)


def frame(stream: str, data: bytes) -> bytes:
    """One stdcopy frame: ``[stream, 0, 0, 0, size(uint32 BE)]`` then the payload."""
    return bytes((_STREAMS[stream], 0, 0, 0)) + len(data).to_bytes(4, "big") + data


class _EscapeScanner:
    """Finds the detach sequence in stdin, holding back a partial match."""

    def __init__(self, keys: bytes) -> None:
        self._keys = keys
        self._held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """(bytes to pass on, whether the sequence completed)."""
        out = bytearray()
        for byte in data:
            candidate = self._held + bytes((byte,))
            if self._keys.startswith(candidate):
                self._held = candidate
                if candidate == self._keys:
                    self._held = b""
                    return bytes(out), True
                continue
            out += self._held
            self._held = b""
            if self._keys[:1] == bytes((byte,)):
                self._held = bytes((byte,))
            else:
                out.append(byte)
        return bytes(out), False


class AttachSession:
    """A client's attachment to a container's (or an exec's) stdio.

    ``tty`` True: ``read`` gives raw terminal bytes. False: Docker stdcopy frames. ``write``
    carries the client's stdin, scanned for the detach keys; after a detach ``read`` returns
    ``b""`` and the container keeps running. A session created before its container started is
    pending until the engine ``connect``s it.
    """

    def __init__(
        self,
        *,
        tty: bool,
        stdin: bool,
        stdout: bool,
        stderr: bool,
        detach_keys: bytes = DEFAULT_DETACH_KEYS,
        replay: list[bytes] | None = None,
        stream: bool = True,
        on_detach: Callable[[], Awaitable[None]] | None = None,
        end_gate: asyncio.Event | None = None,
    ) -> None:
        self.tty = tty
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self._replay = list(replay or [])
        self._streaming = stream
        self._channel: asyncio.Future[AttachChannel | None] = asyncio.get_running_loop().create_future()
        self._scanner = _EscapeScanner(detach_keys) if stdin and detach_keys else None
        self._ended = False
        self._detached = False
        self._on_detach = on_detach
        self._end_gate = end_gate
        if not stream:
            self._channel.set_result(None)

    @property
    def detached(self) -> bool:
        """The client sent the detach keys."""
        return self._detached

    @property
    def pending(self) -> bool:
        """Waiting for its container to start."""
        return not self._channel.done()

    def connect(self, channel: AttachChannel | None) -> None:
        """Hand over the monitor's stream (None: the process will never come; end the session)."""
        if not self._channel.done():
            self._channel.set_result(channel)

    async def read(self) -> bytes:
        """The next chunk for the client; ``b""`` at the end of the stream."""
        if self._replay:
            return self._replay.pop(0)
        if self._ended:
            return b""
        channel = await self._channel
        if channel is None or self._ended:
            self._ended = True
            return b""
        data = await channel.read()
        if not data:
            self._ended = True
            if self._end_gate is not None and not self._detached:
                # An exec's stream ends only once its exit code is recorded: the client asks
                # for it (GET /exec/{id}/json) as soon as the stream ends. The exec service
                # opens the gate however its watch ends; the timeout is only a safety net.
                try:
                    await asyncio.wait_for(self._end_gate.wait(), _END_GATE_TIMEOUT)
                except TimeoutError:
                    log.warning("exec stream ended before its exit code was recorded")
        return data

    async def write(self, data: bytes) -> None:
        """Stdin from the client (dropped when stdin was not asked for)."""
        if not self.stdin or self._ended:
            return
        if self._scanner is not None:
            data, detach = self._scanner.feed(data)
            if detach:
                if data:
                    await self._send(data)
                await self.detach()
                return
        if data:
            await self._send(data)

    async def _send(self, data: bytes) -> None:
        channel = await self._channel
        if channel is not None:
            await channel.write(data)

    async def detach(self) -> None:
        """End this client's session as Docker does on the detach keys; the container runs on."""
        self._detached = True
        await self.close()
        if self._on_detach is not None:
            await self._on_detach()

    async def close_stdin(self) -> None:
        """The client half-closed its side (the monitor closes the process's stdin if StdinOnce)."""
        if not self.stdin or not self._channel.done():
            return
        channel = self._channel.result()
        if channel is not None:
            await channel.close_stdin()

    async def close(self) -> None:
        """Detach this client; the container is not affected."""
        self._ended = True
        self._replay.clear()
        if not self._channel.done():
            self._channel.set_result(None)
            return
        channel = self._channel.result()
        if channel is not None:
            await channel.close()
