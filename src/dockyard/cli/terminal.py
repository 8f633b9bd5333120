"""The user's terminal during ``run -it``, ``attach`` and ``exec -it``, and the stream pump.

Once attach or exec start has been hijacked, the CLI is a relay between the user's terminal and
a raw socket, and it must behave as docker's ``hijackedIOStreamer`` does:

- **Raw mode.** With a TTY, stdin is put in raw mode (termios, as ``cfmakeraw``), so keys
  reach the container unprocessed: Ctrl-C is byte 0x03 for the container's shell, not SIGINT
  for us. The saved settings are restored on every way out, including exceptions.
- **Detach keys.** Ctrl-P Ctrl-Q by default, or ``--detach-keys`` (``ctrl-a,x``...). Input is
  scanned across reads; bytes that could begin the sequence are held back until it either
  completes (we detach and leave the container running) or fails (they are sent on). Only
  done with a TTY, as docker does; the daemon is told the keys too.
- **Half-close.** When our stdin ends, the socket's write side is shut down, which tells the
  daemon to close the container's stdin (``echo hi | dockyard run -i alpine cat``); output is
  still read until the daemon closes.
- **Output.** A TTY stream is raw bytes; otherwise it is stdcopy frames, split to our stdout
  and stderr.
- **Signals.** SIGWINCH resizes the container's TTY; with ``--sig-proxy`` other signals are
  forwarded to the container. Handlers only write to a wake-up pipe that the select loop
  watches, so no HTTP request ever runs inside a signal handler.
"""

from __future__ import annotations

import os
import select

from dockyard.errors import InvalidArgument

__all__ = ["DEFAULT_DETACH_KEYS", "Catcher", "Pump", "RawTerminal", "parse_detach_keys", "window_size"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, BinaryIO

    from dockyard.cli.wire import Connection

DEFAULT_DETACH_KEYS = b"\x10\x11"  # ctrl-p, ctrl-q
_CTRL = {c: i + 1 for i, c in enumerate("abcdefghijklmnopqrstuvwxyz")}
_CTRL.update({"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31})


def parse_detach_keys(spec: str) -> bytes:
    """``term.ToBytes``: ``ctrl-p,ctrl-q`` -> b"\\x10\\x11"; single characters stand for themselves.

    Raises:
        InvalidArgument: an unknown key name.
    """
    out = bytearray()
    for key in spec.split(","):
        name = key.strip().lower()
        if len(key) == 1:
            out.append(ord(key))
        elif name.startswith("ctrl-") and name[5:] in _CTRL:
            out.append(_CTRL[name[5:]])
        else:
            raise InvalidArgument(f"Unknown character: '{key}'")
    return bytes(out)


def window_size(fd: int) -> tuple[int, int] | None:
    """(rows, columns) of the terminal on ``fd``, or None if it is not a terminal."""
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return None
    return size.lines, size.columns


class RawTerminal:
    """Put ``fd`` in raw mode while the context lasts (a no-op if it is not a terminal)."""

    def __init__(self, fd: int | None) -> None:
        self.fd = fd
        self._saved: list[Any] | None = None

    def __enter__(self) -> RawTerminal:
        if self.fd is None or not os.isatty(self.fd):
            return self
        import termios
        import tty

        if os.environ.get("NORAW"):
            return self  # moby/term's escape hatch, honoured as docker does
        self._saved = termios.tcgetattr(self.fd)
        # cfmakeraw, as moby/term's MakeRaw: no echo, no line editing, no signals from keys,
        # no output processing (the container's pty already turns "\n" into "\r\n").
        tty.setraw(self.fd, termios.TCSANOW)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._saved is not None and self.fd is not None:
            import termios

            try:
                termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
            except termios.error:
                pass
            self._saved = None


_PROXIED = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")
# Without proxying these still end the relay, but through the pump, so the terminal is restored.
_ENDING = ("SIGINT", "SIGTERM", "SIGHUP")


_WINCH = 28  # SIGWINCH on Linux, without importing ``signal`` (a unit test checks the number)


class Catcher:
    """Catch SIGWINCH (and, with ``proxy``, the signals docker forwards) into a wake-up pipe.

    Python's ``set_wakeup_fd`` writes each caught signal's number to the pipe, which the pump's
    select watches; the handlers themselves do nothing. Outside the main thread (where signal
    handlers cannot be installed) it only provides a pipe that never becomes readable.
    """

    def __init__(self, *, proxy: bool) -> None:
        self.proxy = proxy
        self.read_fd = -1
        self._write_fd = -1
        self._previous: dict[int, object] = {}
        self._previous_wakeup = -1
        self._installed = False

    def __enter__(self) -> Catcher:
        import signal

        self.read_fd, self._write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            self._previous_wakeup = signal.set_wakeup_fd(self._write_fd, warn_on_full_buffer=False)
        except ValueError:
            return self  # not the main thread
        self._installed = True
        names = ("SIGWINCH", *(_PROXIED if self.proxy else _ENDING))
        for name in names:
            number = getattr(signal, name)
            self._previous[number] = signal.signal(number, _note)
        return self

    def drain(self) -> list[int]:
        try:
            return list(os.read(self.read_fd, 4096))
        except BlockingIOError:
            return []

    def __exit__(self, *exc: object) -> None:
        import signal

        if self._installed:
            for number, handler in self._previous.items():
                signal.signal(number, handler)  # type: ignore[arg-type]
            signal.set_wakeup_fd(self._previous_wakeup)
        for fd in (self.read_fd, self._write_fd):
            if fd >= 0:
                os.close(fd)


def _note(signum: int, frame: object) -> None:
    """The handler: the wake-up fd has already recorded ``signum``."""


class _DetachScanner:
    """Find the detach sequence in input that arrives in arbitrary pieces."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """Return (bytes to send now, detached?)."""
        out = bytearray()
        for byte in data:
            candidate = self.held + bytes([byte])
            if self.keys.startswith(candidate):
                self.held = candidate
                if candidate == self.keys:
                    return bytes(out), True
                continue
            out += self.held
            self.held = b""
            if self.keys[:1] == bytes([byte]):
                self.held = bytes([byte])
            else:
                out.append(byte)
        return bytes(out), False


class Pump:
    """Relay between our stdio and a hijacked connection until the stream ends or we detach.

    ``run()`` returns "ended", "detached", or "signalled" (SIGINT, SIGTERM or SIGHUP arrived
    without ``proxy``; ``ended_by`` says which). ``on_signal`` is called (outside any handler)
    with each signal caught while pumping: SIGWINCH always, the others with ``proxy``.
    """

    def __init__(
        self,
        conn: Connection,
        *,
        stdin_fd: int | None,
        stdout: BinaryIO,
        stderr: BinaryIO,
        tty: bool,
        detach_keys: bytes | None,
        on_signal: Callable[[int], None] | None = None,
        proxy: bool = False,
    ) -> None:
        self.conn = conn
        self.stdin_fd = stdin_fd
        self.stdout = stdout
        self.stderr = stderr
        self.tty = tty
        self.scanner = _DetachScanner(detach_keys) if detach_keys and tty else None
        self.on_signal = on_signal
        self.proxy = proxy
        self.ended_by = 0  # the signal that ended the relay ("signalled")
        self._frames = bytearray()

    def run(self) -> str:
        with Catcher(proxy=self.proxy) as catcher:
            if self.conn.buffer:
                self._output(self.conn.read_some())
            return self._loop(catcher)

    def _loop(self, catcher: Catcher) -> str:
        sock = self.conn.sock
        stdin_fd = self.stdin_fd if self.stdin_fd is not None else -1
        watch_in = stdin_fd >= 0
        wake_fd = catcher.read_fd
        while True:
            readable = [sock.fileno(), wake_fd] + ([stdin_fd] if watch_in else [])
            ready, _, _ = select.select(readable, [], [])
            if wake_fd in ready:
                for signum in catcher.drain():
                    if not self.proxy and signum != _WINCH:
                        self.ended_by = signum
                        return "signalled"
                    if self.on_signal is not None:
                        self.on_signal(signum)
            if watch_in and stdin_fd in ready:
                state = self._input()
                if state == "detached":
                    return "detached"
                if state == "eof":
                    watch_in = False
            if sock.fileno() in ready:
                try:
                    data = self.conn.read_some()
                except OSError:
                    data = b""  # a reset ends the stream as an EOF does
                if not data:
                    self._flush_frames()
                    return "ended"
                self._output(data)

    def _input(self) -> str:
        assert self.stdin_fd is not None
        try:
            data = os.read(self.stdin_fd, 65536)
        except OSError:
            data = b""
        if not data:
            self._close_write()
            return "eof"
        detached = False
        if self.scanner is not None:
            data, detached = self.scanner.feed(data)
        if data:
            try:
                self.conn.send(data)  # what was typed before the detach keys still counts
            except OSError:
                return "eof"
        return "detached" if detached else "ok"

    def _close_write(self) -> None:
        import _socket

        try:
            self.conn.sock.shutdown(_socket.SHUT_WR)
        except (OSError, AttributeError, ValueError):
            pass

    def _output(self, data: bytes) -> None:
        if self.tty:
            self.stdout.write(data)
            self.stdout.flush()
            return
        self._frames += data
        while len(self._frames) >= 8:
            size = int.from_bytes(self._frames[4:8], "big")
            if len(self._frames) < 8 + size:
                break
            stream, payload = self._frames[0], bytes(self._frames[8 : 8 + size])
            del self._frames[: 8 + size]
            target = self.stderr if stream == 2 else self.stdout
            target.write(payload)
            target.flush()

    def _flush_frames(self) -> None:
        if self._frames and not self.tty:
            # Not stdcopy after all (an old daemon's raw stream): pass it through.
            self.stdout.write(bytes(self._frames))
            self.stdout.flush()
            self._frames.clear()
