"""The supervised process's stdio: pipes, or a pseudo-terminal whose master the runtime sends us.

**Pipes** (no terminal). Output gets two pipes, stdout and stderr, so the log and attach keep
the streams apart. Stdin gets a pipe only when asked (``docker run -i``); otherwise the
process reads /dev/null, as with dockerd. The process's ends are handed to ``runtime create``
(or ``exec``) as its fds 0-2: runc passes its own stdio on to the container process (runc(8),
"Terminals and standard IO", pass-through mode). Our ends are non-blocking: the monitor never
waits on the process.

Whatever is in the output pipes before the process starts came from the runtime itself (runc
prints its errors to stderr, which is the container's stderr during create). ``take_early``
collects it; the supervisor uses it as an error message and never logs it.

**Terminal.** The runtime opens the pty inside the container and sends the master over the
console socket (runc's ``--console-socket`` protocol, SCM_RIGHTS). Reads from the master after
the last slave fd closes fail with EIO: that is the end of output. Stdin and output share the
master; resizing is TIOCSWINSZ on it (tty_ioctl(4)), which also sends SIGWINCH to the
foreground process group.

**Ending stdin.** With ``StdinOnce`` the write end is closed once the first attach session
with stdin ends and its bytes are written; the process then reads EOF. A terminal's stdin
cannot be closed apart from its output, so ``StdinOnce`` does nothing there (moby does the same,
container/stream/attach.go).
"""

from __future__ import annotations

import _socket
import fcntl
import os
import sys
import termios

from dockyard.monitor import unixsock

__all__ = ["STDIN_LIMIT", "Stdio"]

STDIN_LIMIT = 1 << 20
"""Bytes of stdin held for a process that does not read; clients are not read beyond it."""


def _nonblocking(fd: int) -> None:
    os.set_blocking(fd, False)


class Stdio:
    """One process's stdio as the monitor holds it.

    ``outputs`` maps our readable fds to stream names ("stdout", "stderr"). ``stdin_fd`` is where
    clients' stdin goes (-1 when closed or not kept). With a terminal both are the master.
    """

    __slots__ = (
        "_child",
        "_console",
        "_console_dirfd",
        "_stdin_closing",
        "console_path",
        "master",
        "outputs",
        "stdin_buffer",
        "stdin_fd",
        "terminal",
    )

    def __init__(self, *, terminal: bool, stdin: bool, console_path: str, adopting: bool = False) -> None:
        self.terminal = terminal
        self.outputs: dict[int, str] = {}
        self.stdin_fd = -1
        self.stdin_buffer = bytearray()
        self._stdin_closing = False
        self.master = -1
        self._child: list[int] = []  # the process's ends, closed once the runtime has them
        self._console: _socket.socket | None = None
        self._console_dirfd = -1
        self.console_path = ""
        if adopting:
            return
        if terminal:
            self._console, self._console_dirfd = unixsock.listen_unix(console_path, backlog=1)
            self.console_path = unixsock.reachable_path(console_path, self._console_dirfd, pid=os.getpid())
        else:
            self._open_pipes(stdin)

    @classmethod
    def adopt(cls, *, terminal: bool, fds: dict[str, int]) -> Stdio:
        """Our ends of a process's stdio, opened elsewhere (by a monitor worker): ``fds`` maps
        "stdout", "stderr", "stdin" or (with a terminal) "master" to fds. Plain stores only:
        the long-lived monitor calls this (see ``monitor.zygote`` on what objects cost)."""
        stdio = cls(terminal=terminal, stdin=False, console_path="", adopting=True)
        outputs = stdio.outputs
        master = fds.get("master", -1)
        if master >= 0:
            stdio.master = stdio.stdin_fd = master
            outputs[master] = "stdout"
            return stdio
        for name in ("stdout", "stderr"):
            fd = fds.get(name, -1)
            if fd >= 0:
                outputs[fd] = name
        stdio.stdin_fd = fds.get("stdin", -1)
        return stdio

    def _open_pipes(self, stdin: bool) -> None:
        if stdin:
            child_in, self.stdin_fd = os.pipe()
            _nonblocking(self.stdin_fd)
        else:
            child_in = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        for fd in (out_r, err_r):
            _nonblocking(fd)
        self.outputs = {out_r: "stdout", err_r: "stderr"}
        self._child = [child_in, out_w, err_w]

    def child_stdio(self) -> tuple[int, int, int] | None:
        """The fds the runtime gets as 0, 1, 2 (None with a terminal: the runtime's default)."""
        if self.terminal:
            return None
        return (self._child[0], self._child[1], self._child[2])

    def release_child_ends(self) -> None:
        """Close our copies of the process's ends (after the runtime inherited them), so its
        exit shows as EOF on our side."""
        for fd in self._child:
            os.close(fd)
        self._child = []

    # --- the console socket ---------------------------------------------------------------
    @property
    def console_fd(self) -> int:
        """The console listener's fd (-1 when there is none)."""
        return self._console.fileno() if self._console is not None else -1

    def accept_master(self) -> None:
        """Accept the runtime's connection and take the pty master from it.

        Raises:
            OSError: no connection is pending, or it carried no fd.
        """
        assert self._console is not None
        conn_fd, _ = self._console._accept()  # type: ignore[attr-defined]  # _socket's own accept
        conn = _socket.socket(fileno=conn_fd)
        try:
            conn.setblocking(True)
            conn.settimeout(5.0)
            self.master = unixsock.recv_fd(conn)
        finally:
            conn.close()
        _nonblocking(self.master)
        self.outputs = {self.master: "stdout"}
        self.stdin_fd = self.master
        self.close_console()

    def close_console(self) -> None:
        """Remove the console listener (once the master arrived, or the runtime gave up)."""
        if self._console is not None:
            try:
                os.unlink(os.path.basename(self.console_path), dir_fd=self._console_dirfd)
            except FileNotFoundError:
                pass
            self._console.close()
            self._console = None
        if self._console_dirfd >= 0:
            os.close(self._console_dirfd)
            self._console_dirfd = -1

    # --- output ------------------------------------------------------------------------------
    @staticmethod
    def read(fd: int) -> bytes | None:
        """What ``fd`` has now: None if nothing yet, b"" at the end of output (EOF, or EIO from
        a pty master once every slave fd is closed)."""
        try:
            return os.read(fd, 65536)
        except BlockingIOError:
            return None
        except OSError:
            return b""

    @staticmethod
    def drain(fd: int) -> None:
        """Empty a self-pipe that ``poll`` reported readable: one read, no EAGAIN loop (a
        signal byte left over makes ``poll`` report it again)."""
        try:
            os.read(fd, 4096)
        except OSError:
            pass

    def take_early(self) -> bytes:
        """Read and return what is already in the output pipes (the runtime's own words)."""
        taken = []
        for fd in self.outputs:
            while True:
                chunk = self.read(fd)
                if not chunk:
                    break
                taken.append(chunk)
        return b"".join(taken)

    def close_output(self, fd: int) -> None:
        """Forget one output (it reached its end)."""
        del self.outputs[fd]
        if fd != self.master:
            os.close(fd)

    # --- stdin -------------------------------------------------------------------------------
    def queue_stdin(self, data: bytes) -> None:
        """Hold ``data`` for the process's stdin (dropped if stdin is closed)."""
        if self.stdin_fd >= 0 and not self._stdin_closing:
            self.stdin_buffer += data

    def flush_stdin(self) -> None:
        """Write what the pipe takes now; close stdin if it was asked to and all is written."""
        while self.stdin_buffer and self.stdin_fd >= 0:
            try:
                written = os.write(self.stdin_fd, self.stdin_buffer)
            except BlockingIOError:
                return
            except OSError:  # EPIPE: the process closed its stdin or exited
                self.stdin_buffer.clear()
                self._close_stdin_now()
                return
            del self.stdin_buffer[:written]
        if self._stdin_closing:
            self._close_stdin_now()

    def close_stdin(self) -> None:
        """End the process's stdin once the bytes held for it are written (not with a pty)."""
        if self.terminal or self.stdin_fd < 0:
            return
        self._stdin_closing = True
        self.flush_stdin()

    def _close_stdin_now(self) -> None:
        if self.stdin_fd >= 0 and self.stdin_fd != self.master:
            os.close(self.stdin_fd)
        if self.stdin_fd != self.master:
            self.stdin_fd = -1

    @property
    def stdin_full(self) -> bool:
        """True while the process is behind on stdin: read no more from clients."""
        return len(self.stdin_buffer) >= STDIN_LIMIT

    # --- terminal ----------------------------------------------------------------------------
    def resize(self, height: int, width: int) -> None:
        """Set the terminal's size (nothing to do without one).

        Raises:
            OSError: the ioctl failed.
        """
        if self.master < 0:
            return
        # struct winsize: unsigned short ws_row, ws_col, ws_xpixel, ws_ypixel (native order).
        size = b"".join(v.to_bytes(2, sys.byteorder) for v in (height, width, 0, 0))
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, size)

    def close(self) -> None:
        """Close everything still open."""
        self.close_console()
        self.release_child_ends()
        for fd in list(self.outputs):
            self.close_output(fd)
        self._close_stdin_now()
        if self.master >= 0:
            os.close(self.master)
            self.master = -1
            self.stdin_fd = -1
