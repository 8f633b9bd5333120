"""A real dockyardd (DaemonHarness), the session registry, and ``dockyard`` run as users run it.

``cli`` runs the installed ``dockyard`` program against the daemon with pipes; ``terminal``
runs it on a pseudo-terminal (for ``-it``), so raw mode, the prompt and the detach keys are the
real thing. Image names are the test registry's (``127.0.0.1:<port>/library/alpine``).
"""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.daemon import DaemonHarness
from tests.support.registry import FixtureRegistry, registry_with_fixtures

__all__ = ["Run", "Terminal", "registry_with_fixtures"]

DOCKYARD = str(Path(sys.executable).parent / "dockyard")


class Run:
    """One finished ``dockyard`` invocation."""

    def __init__(self, argv: list[str], completed: subprocess.CompletedProcess[bytes]) -> None:
        self.argv = argv
        self.status = completed.returncode
        self.out = completed.stdout.decode(errors="replace")
        self.err = completed.stderr.decode(errors="replace")

    def __repr__(self) -> str:
        return f"Run({self.argv!r}, status={self.status}, out={self.out!r}, err={self.err!r})"


class Terminal:
    """``dockyard`` on a pty: type into it, wait for text, and collect its exit status."""

    def __init__(self, argv: list[str], env: dict[str, str], *, rows: int = 24, cols: int = 80) -> None:
        import fcntl
        import struct
        import termios

        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.master = master
        self.process = subprocess.Popen(
            [DOCKYARD, *argv], stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )  # fmt: skip
        os.close(slave)
        self.output = b""

    def resize(self, rows: int, cols: int) -> None:
        """Change the terminal's size; the kernel sends SIGWINCH to its foreground group."""
        import fcntl
        import struct
        import termios

        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def type(self, text: str | bytes, pause: float = 0.05) -> None:
        os.write(self.master, text.encode() if isinstance(text, str) else text)
        time.sleep(pause)

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return False
        try:
            data = os.read(self.master, 65536)
        except OSError:
            return False
        self.output += data
        return bool(data)

    def expect(self, text: str, timeout: float = 20) -> None:
        """Wait until ``text`` has appeared in the output."""
        deadline = time.monotonic() + timeout
        while text.encode() not in self.output:
            if time.monotonic() > deadline or (not self._read(0.2) and self.process.poll() is not None):
                raise AssertionError(f"{text!r} never appeared; output so far: {self.output!r}")

    def wait(self, timeout: float = 30) -> int:
        """Read until the program exits; its status."""
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            self._read(0.1)
        while self._read(0.05):
            pass
        if self.process.poll() is None:
            self.process.kill()
            raise AssertionError(f"dockyard did not exit; output: {self.output!r}")
        return self.process.returncode

    def close(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        os.close(self.master)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def daemon(request: pytest.FixtureRequest) -> Iterator[DaemonHarness]:
    with DaemonHarness() as harness:
        yield harness
        if request.node.stash.get(_FAILED, False):
            # The daemon's side of a failure, next to the CLI's (pytest shows captured output).
            lines = [line for line in harness.log().splitlines() if "httpcore" not in line]
            print("--- dockyardd log (last 60 lines) ---\n" + "\n".join(lines[-60:]))


@pytest.fixture
def registry(registry_with_fixtures: FixtureRegistry) -> str:
    """The session registry's address, ``127.0.0.1:<port>``."""
    return registry_with_fixtures.host


@pytest.fixture
def env(daemon: DaemonHarness, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("dyt-home")
    environ = daemon.env
    environ.update({"HOME": str(home), "DOCKYARD_AUTOSTART": "0"})
    environ.pop("DOCKER_API_VERSION", None)
    return environ


@pytest.fixture
def dockyard(env: dict[str, str]):
    def run(*argv: str, stdin: bytes | None = None, timeout: float = 60) -> Run:
        completed = subprocess.run(
            [DOCKYARD, *argv], env=env, input=stdin, capture_output=True, timeout=timeout, check=False
        )
        return Run(list(argv), completed)

    return run


@pytest.fixture
def terminal(env: dict[str, str]):
    opened: list[Terminal] = []

    def open_terminal(*argv: str) -> Terminal:
        term = Terminal(list(argv), env)
        opened.append(term)
        return term

    yield open_terminal
    for term in opened:
        term.close()
