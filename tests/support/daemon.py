"""DaemonHarness: a real ``dockyardd`` on throwaway roots, for end-to-end tests (root only).

Usage, in a root test (``tests/e2e/...``, run with ``--run-root``)::

    from tests.support.daemon import DaemonHarness

    with DaemonHarness() as daemon:                 # started, /_ping answered
        client = daemon.client()                    # docker-py, negotiated API version
        subprocess.run(["docker", "ps"], env=daemon.env, check=True)   # the docker CLI
        daemon.kill(signal.SIGKILL)                 # crash it: containers keep running
        daemon.start()                              # a new daemon finds them again
    # teardown: every container removed, daemon stopped, nothing left on the host

or as a pytest fixture (``tests/e2e/api/conftest.py`` has ``daemon``)::

    @pytest.fixture
    def daemon() -> Iterator[DaemonHarness]:
        with DaemonHarness() as harness:
            yield harness

What it sets up, all named ``dyt-<hex>`` so the session's leak check can see a leftover:

- a temporary directory ``/tmp/dyt-<hex>`` holding ``data/`` (``--data-root``), ``exec/``
  (``--exec-root``), ``d.sock`` (``-H unix://...``), ``dockyardd.pid`` and ``dockyardd.log`` (the
  daemon's stderr; :meth:`DaemonHarness.log` reads it, and a failed start quotes its tail);
- ``--cgroup-parent /dyt-<hex>``, so every container cgroup sits under one parent;
- the default runtime ``dockyard-runtime`` unless ``runtime=`` says otherwise, and any
  ``extra_args`` (``--insecure-registry 127.0.0.1:5000``, ``--registry-mirror``...).

Teardown (:meth:`DaemonHarness.close`, also on failure) is thorough because a root test must
leave nothing behind: remove every container through the API (force), stop the daemon (SIGTERM,
then SIGKILL), kill any process still in our cgroups or running from our roots (monitors and
containers of a daemon the test killed), unmount everything under the roots (deepest first),
remove the cgroups under the parent, and delete the directory.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["DaemonError", "DaemonHarness", "HttpReply"]

CGROUP_ROOT = Path("/sys/fs/cgroup")
MNT_DETACH = 2


class DaemonError(RuntimeError):
    """The daemon did not start, or died; the message ends with its log's last lines."""


class HttpReply:
    """A raw API reply: status, lower-case headers, body (``.json()`` to decode)."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self._path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def _program() -> list[str]:
    """The installed ``dockyardd`` entry point beside this Python, else ``-m dockyard.daemon``."""
    entry = Path(sys.executable).parent / "dockyardd"
    if entry.is_file() and os.access(entry, os.X_OK):
        return [str(entry)]
    return [sys.executable, "-m", "dockyard.daemon"]


class DaemonHarness:
    """One ``dockyardd`` subprocess on its own temporary roots; see the module docstring.

    Args:
        runtime: ``--default-runtime`` (``dockyard-runtime``, ``runc`` or ``crun``).
        extra_args: more ``dockyardd`` flags.
        start: start at once (the default); otherwise call :meth:`start`.
        timeout: seconds to wait for ``/_ping`` at each start.
    """

    def __init__(
        self,
        *,
        runtime: str = "dockyard-runtime",
        extra_args: Sequence[str] = (),
        start: bool = True,
        timeout: float = 30.0,
    ) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="dyt-", dir="/tmp"))
        self.tag = self.root.name
        self.data_root = self.root / "data"
        self.exec_root = self.root / "exec"
        self.socket = str(self.root / "d.sock")
        self.pidfile = self.root / "dockyardd.pid"
        self.log_path = self.root / "dockyardd.log"
        self.cgroup_parent = f"/{self.tag}"
        self.runtime = runtime
        self.extra_args = list(extra_args)
        self.timeout = timeout
        self.process: subprocess.Popen[bytes] | None = None
        self._clients: list[Any] = []
        if start:
            try:
                self.start()
            except BaseException:
                self.close()
                raise

    # --- what tests use -------------------------------------------------------------------

    @property
    def host(self) -> str:
        """``unix:///tmp/dyt-<hex>/d.sock``, for ``-H`` or ``DOCKER_HOST``."""
        return f"unix://{self.socket}"

    @property
    def env(self) -> dict[str, str]:
        """The environment for a ``docker`` or ``dockyard`` CLI talking to this daemon."""
        env = dict(os.environ)
        env.update({"DOCKER_HOST": self.host, "DOCKYARD_HOST": self.host})
        env.pop("DOCKER_CONTEXT", None)
        env.pop("DOCKER_TLS_VERIFY", None)
        return env

    @property
    def args(self) -> list[str]:
        """The command line the daemon is started with."""
        return [
            *_program(),
            "-H",
            self.host,
            "--data-root",
            str(self.data_root),
            "--exec-root",
            str(self.exec_root),
            "--pidfile",
            str(self.pidfile),
            "--cgroup-parent",
            self.cgroup_parent,
            "--default-runtime",
            self.runtime,
            "--log-level",
            "debug",
            *self.extra_args,
        ]

    def client(self, **kwargs: Any) -> Any:
        """A docker-py ``DockerClient`` for this daemon (closed at teardown)."""
        import docker

        kwargs.setdefault("timeout", 60)
        client = docker.DockerClient(base_url=self.host, **kwargs)
        self._clients.append(client)
        return client

    def request(
        self, method: str, path: str, body: object = None, *, headers: dict[str, str] | None = None
    ) -> HttpReply:
        """One raw HTTP request on the socket (``body`` is sent as JSON)."""
        connection = _UnixConnection(self.socket, timeout=60)
        try:
            sent = dict(headers or {})
            data = None if body is None else json.dumps(body).encode()
            if data is not None:
                sent.setdefault("Content-Type", "application/json")
            connection.request(method, path, body=data, headers=sent)
            response = connection.getresponse()
            return HttpReply(
                response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
            )
        finally:
            connection.close()

    def log(self) -> str:
        """Everything the daemon wrote to stderr so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise DaemonError("the daemon is not started")
        return self.process.pid

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the daemon and wait until ``/_ping`` answers.

        Raises:
            DaemonError: it exited or did not answer within ``timeout``; the log's tail says why.
        """
        if self.running:
            raise DaemonError("the daemon is already running")
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.args, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        # "daemon ready" in *our* log, not just a /_ping answer: another daemon may hold the socket.
        ready_mark = self.log().count("daemon ready") + 1
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise DaemonError(f"dockyardd exited with {self.process.returncode}\n{self._tail()}")
            if self.log().count("daemon ready") >= ready_mark:
                with contextlib.suppress(OSError, http.client.HTTPException):
                    if self.request("GET", "/_ping").status == 200:
                        return
            time.sleep(0.05)
        raise DaemonError(f"dockyardd did not answer /_ping within {self.timeout}s\n{self._tail()}")

    def kill(self, sig: int = signal.SIGKILL, *, timeout: float = 30.0) -> int:
        """Send ``sig`` to the daemon and wait for it to exit; returns its exit status.

        ``SIGKILL`` is the crash test: the daemon gets no chance to clean up, and containers
        must keep running under their monitors.
        """
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process is not None else 0
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise DaemonError(f"dockyardd ignored signal {sig} for {timeout}s\n{self._tail()}") from None

    def stop(self, *, timeout: float = 30.0) -> int:
        """Graceful shutdown (SIGTERM); returns the exit status."""
        return self.kill(signal.SIGTERM, timeout=timeout)

    def restart(self, sig: int = signal.SIGTERM) -> None:
        """Stop the daemon with ``sig`` (SIGKILL for a crash) and start a new one on the same roots."""
        self.kill(sig)
        self.start()

    def _tail(self, lines: int = 30) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    # --- teardown ---------------------------------------------------------------------------

    def __enter__(self) -> DaemonHarness:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Remove everything this daemon and its containers made; never raises for cleanup."""
        for client in self._clients:
            with contextlib.suppress(Exception):
                client.close()
        self._clients.clear()
        if self.running:
            with contextlib.suppress(Exception):
                self._remove_containers()
            with contextlib.suppress(Exception):
                self.stop(timeout=30)
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            with contextlib.suppress(Exception):
                self.process.wait(10)
        for _ in range(5):
            if not self._kill_leftovers():
                break
            time.sleep(0.2)
        self._unmount_all()
        self._remove_cgroups()
        shutil.rmtree(self.root, ignore_errors=True)

    def _remove_containers(self) -> None:
        reply = self.request("GET", "/containers/json?all=1")
        for row in reply.json():
            self.request("DELETE", f"/containers/{row['Id']}?force=1&v=1")

    def _ours(self, pid: str) -> bool:
        proc = Path("/proc") / pid
        root = str(self.root)
        try:
            if f"/{self.tag}/" in (proc / "cgroup").read_text() or (
                proc / "cgroup"
            ).read_text().rstrip().endswith(f"/{self.tag}"):
                return True
            if root in (proc / "cmdline").read_bytes().decode(errors="replace"):
                return True
            return os.readlink(proc / "root").startswith(root)
        except OSError:
            return False

    def _kill_leftovers(self) -> bool:
        """SIGKILL every process of ours (monitors, containers); True if any was found."""
        me = str(os.getpid())
        found = False
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and entry.name != me and self._ours(entry.name):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(int(entry.name), signal.SIGKILL)
                found = True
        return found

    def _unmount_all(self) -> None:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        root = str(self.root)
        for _ in range(10):
            points = []
            for line in Path("/proc/self/mountinfo").read_text().splitlines():
                point = line.split()[4].replace("\\040", " ")
                if point == root or point.startswith(root + "/"):
                    points.append(point)
            if not points:
                return
            for point in sorted(points, key=len, reverse=True):
                libc.umount2(point.encode(), MNT_DETACH)

    def _remove_cgroups(self) -> None:
        """rmdir every cgroup under our parent, deepest first (retried while processes exit)."""
        if not CGROUP_ROOT.is_dir():
            return
        for _ in range(50):
            parents = [c / self.tag for c in CGROUP_ROOT.iterdir() if (c / self.tag).is_dir()]
            if not parents:
                return
            for parent in parents:
                nested = sorted((p for p in parent.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts))
                for directory in [*nested, parent]:
                    with contextlib.suppress(OSError):
                        directory.rmdir()
            time.sleep(0.1)
