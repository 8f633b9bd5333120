"""A pseudo-terminal for the interactive steps: ``run -it``, ``attach``, ``exec -it``, Ctrl-P Ctrl-Q.

A client only goes interactive when its stdin and stdout are terminals, so the test gives it one:
``os.openpty()``, the slave as the child's stdin, stdout and stderr *and* its controlling
terminal (``setsid`` then ``TIOCSCTTY``, see tty_ioctl(4)). The controlling terminal matters:
setting a new window size on the master (``TIOCSWINSZ``) makes the kernel send ``SIGWINCH`` to
the terminal's foreground process group, which is how a client learns that it must forward a
resize; without it the client would never hear of one.

The test plays the user on the master side: ``send`` types bytes (``\\r`` is the Enter key, as a
terminal in raw mode sends it; ``\\x10\\x11`` is Ctrl-P Ctrl-Q), ``expect`` reads until a regular
expression matches the output seen since the last match, and ``transcript`` keeps everything for
failure messages. ``close`` kills the client's whole session if it is still there.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Sequence

__all__ = ["CTRL_P_CTRL_Q", "Terminal", "TerminalTimeout"]

CTRL_P_CTRL_Q = b"\x10\x11"


class TerminalTimeout(AssertionError):
    """``expect`` did not see its pattern in time; the message holds what was seen."""


def _set_size(fd: int, rows: int, columns: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


def _take_terminal() -> None:
    """In the child, after setsid: make stdin (the pty slave) the controlling terminal."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """``argv`` running on a new pty of ``rows`` x ``columns``; see the module docstring."""

    def __init__(
        self, argv: Sequence[str], env: dict[str, str], *, rows: int = 24, columns: int = 80
    ) -> None:
        self.argv = list(argv)
        self.master, slave = os.openpty()
        _set_size(slave, rows, columns)
        try:
            self.process = subprocess.Popen(
                self.argv,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=env,
                start_new_session=True,
                preexec_fn=_take_terminal,
            )
        except BaseException:
            os.close(self.master)
            raise
        finally:
            os.close(slave)
        self.transcript = b""
        self._unread = b""

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def type_line(self, line: str) -> None:
        """Type ``line`` and press Enter."""
        self.send(line.encode() + b"\r")

    def resize(self, rows: int, columns: int) -> None:
        """Change the window size (the kernel signals SIGWINCH to the client)."""
        _set_size(self.master, rows, columns)

    def _read(self, timeout: float) -> bool:
        """Read what is there within ``timeout``; False once the other side is gone."""
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: every slave fd is closed
            return False
        if not chunk:
            return False
        self.transcript += chunk
        self._unread += chunk
        return True

    def expect(self, pattern: str, timeout: float = 15) -> re.Match[str]:
        """Wait until ``pattern`` matches the output not yet consumed; consume up to the match.

        Raises:
            TerminalTimeout: no match within ``timeout`` seconds, or the client closed the pty.
        """
        compiled = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            text = self._unread.decode(errors="replace")
            match = compiled.search(text)
            if match is not None:
                self._unread = text[match.end() :].encode()
                return match
            left = deadline - time.monotonic()
            if (left <= 0 or not self._read(min(left, 0.2))) and not self._read(0):
                raise TerminalTimeout(
                    f"{pattern!r} not seen from {' '.join(self.argv)}; output was:\n"
                    f"{self.transcript.decode(errors='replace')}"
                )

    def drain(self, seconds: float) -> str:
        """Read for ``seconds`` and return what came (consumed)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self._read(max(0.0, deadline - time.monotonic())):
            pass
        text = self._unread.decode(errors="replace")
        self._unread = b""
        return text

    def wait(self, timeout: float = 15) -> int:
        """Wait for the client to exit, reading its output meanwhile; its exit status."""
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                raise TerminalTimeout(
                    f"{' '.join(self.argv)} still running after {timeout}s; output was:\n"
                    f"{self.transcript.decode(errors='replace')}"
                )
            self._read(0.05)
        self._read(0)
        return self.process.returncode

    def close(self) -> None:
        """Kill the client's session if it still runs, and close the master."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(10)
        try:
            os.close(self.master)
        except OSError:
            pass

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
