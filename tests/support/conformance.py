"""Drive runc-grammar runtimes (dockyard-runtime, runc, crun) through their command line.

The conformance suite runs every case once per runtime over fresh busybox bundles
(``tests.support.bundles``). This adapter knows only the shared grammar: global ``--root``,
``--log``, ``--log-format json``, and the commands. It does not use ``oci.runtime_cli``: the
suite checks the runtimes, so it must not share code with the engine's client of them.

Each ``Lab`` is one test's world: a ``dyt-<hex>`` temporary directory holding the state root,
the log and the bundles, and a unique cgroup parent ``/dyt-<hex>``. ``Lab.cleanup`` deletes
every container it made (``delete --force``) and removes the cgroup parent in every hierarchy,
so a failing test leaves nothing for the session's leak check.

crun 1.8.1 refuses this machine's hybrid cgroup layout ("cgroups in hybrid mode not
supported"); where it does, its leg is marked ``pytest.xfail`` with exactly that reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.oci import runtime_spec as rs
from dockyard.util import jsoncodec
from tests.support.bundles import make_bundle

__all__ = ["CRUN_HYBRID", "Lab", "Result", "runtime_argv"]

CRUN_HYBRID = "cgroups in hybrid mode not supported"
_VENV_BIN = Path(sys.executable).parent


def runtime_argv(name: str) -> list[str]:
    """The command that starts runtime ``name``."""
    if name == "dockyard-runtime":
        return [str(_VENV_BIN / "dockyard-runtime")]
    return [shutil.which(name) or name]


class Result:
    """A finished runtime command: exit status and decoded output."""

    def __init__(self, argv: list[str], returncode: int, stdout: str, stderr: str) -> None:
        self.argv = argv
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr

    def __repr__(self) -> str:
        return f"Result({self.argv!r}, rc={self.returncode}, stdout={self.stdout!r}, stderr={self.stderr!r})"

    def ok(self) -> Result:
        assert self.returncode == 0, self
        return self


class Lab:
    """One test's runtime, state root, log, bundles and cgroup parent."""

    def __init__(self, runtime: str) -> None:
        self.runtime = runtime
        self.tag = f"dyt-{os.urandom(4).hex()}"
        self.dir = Path(tempfile.mkdtemp(prefix=f"{self.tag}-"))
        os.chmod(self.dir, 0o755)
        self.root = self.dir / "state"
        self.log = self.dir / "runtime.log"
        self.ids: list[str] = []
        self._count = 0
        self._pass_fds: tuple[int, ...] = ()

    # --- naming ---------------------------------------------------------------------------

    def new_id(self) -> str:
        self._count += 1
        ident = f"{self.tag}-{self._count}"
        self.ids.append(ident)
        return ident

    def cgroups_path(self, ident: str) -> str:
        return f"/{self.tag}/{ident}"

    def cgroup_dir(self, controller: str, ident: str) -> Path:
        return Path("/sys/fs/cgroup") / controller / self.tag / ident

    # --- bundles ----------------------------------------------------------------------------

    def bundle(
        self,
        args: list[str],
        *,
        mutate: Callable[[rs.Spec], None] | None = None,
        ident: str | None = None,
        cgroup: bool = True,
    ) -> tuple[str, Path]:
        """A fresh bundle for a new container id; returns (id, bundle directory)."""
        ident = ident or self.new_id()
        path = self.dir / ident
        make_bundle(path, args, cgroups_path=self.cgroups_path(ident) if cgroup else None, mutate=mutate)
        return ident, path

    # --- commands ---------------------------------------------------------------------------

    def cmd(
        self,
        *args: str,
        timeout: float = 30,
        input: str | None = None,
        cwd: Path | None = None,
        preexec: Callable[[], None] | None = None,
    ) -> Result:
        """Run the runtime with ``args``; ``preexec`` runs in its process before the exec (its
        signal dispositions are then left as ``preexec`` made them, not reset by subprocess)."""
        argv = [*runtime_argv(self.runtime), "--root", str(self.root), "--log", str(self.log),
                "--log-format", "json", *args]  # fmt: skip
        # Output goes to files, not pipes: a created container inherits our stdio and would
        # hold a pipe open long after the command returned.
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            proc = subprocess.run(
                argv,
                stdout=out,
                stderr=err,
                text=True,
                timeout=timeout,
                input=input,
                stdin=None if input is not None else subprocess.DEVNULL,
                cwd=cwd,
                check=False,
                pass_fds=self._pass_fds,
                preexec_fn=preexec,
                restore_signals=preexec is None,
            )
            out.seek(0)
            err.seek(0)
            proc.stdout, proc.stderr = out.read(), err.read()
        result = Result(argv, proc.returncode, proc.stdout, proc.stderr)
        if self.runtime == "crun" and CRUN_HYBRID in proc.stderr + self._log_text():
            pytest.xfail(f"crun: {CRUN_HYBRID}")
        return result

    def cmd_fds(self, fds: tuple[int, ...], *args: str) -> Result:
        """``cmd`` with extra inheritable fds passed to the runtime, as a leaky caller would."""
        self._pass_fds = fds
        try:
            return self.cmd(*args)
        finally:
            self._pass_fds = ()

    def _log_text(self) -> str:
        try:
            return self.log.read_text()
        except OSError:
            return ""

    def log_messages(self, level: str = "error") -> list[str]:
        """The ``msg`` of every json log line at ``level``."""
        out = []
        for line in self._log_text().splitlines():
            try:
                entry = jsoncodec.loads(line)
            except jsoncodec.JSONDecodeError:
                continue
            if isinstance(entry, dict) and entry.get("level") == level:
                out.append(str(entry.get("msg")))
        return out

    def run(self, args: list[str], *, mutate: Callable[[rs.Spec], None] | None = None,
            timeout: float = 30) -> Result:  # fmt: skip
        """Run a container in the foreground to completion (``run``), capturing its output."""
        ident, bundle = self.bundle(args, mutate=mutate)
        return self.cmd("run", "--bundle", str(bundle), ident, timeout=timeout)

    def spawn_run(self, args: list[str], *, mutate: Callable[[rs.Spec], None] | None = None
                  ) -> tuple[str, subprocess.Popen[str]]:  # fmt: skip
        """Start a foreground ``run`` without waiting for it; returns (id, process)."""
        ident, bundle = self.bundle(args, mutate=mutate)
        argv = [*runtime_argv(self.runtime), "--root", str(self.root), "--log", str(self.log),
                "--log-format", "json", "run", "--bundle", str(bundle), ident]  # fmt: skip
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip
        return ident, proc

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10) -> None:
        """Poll ``predicate`` until it holds (AssertionError after ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, f"still false after {timeout} s: {predicate}"
            time.sleep(0.02)

    def wait_running(self, ident: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while True:
            result = self.cmd("state", ident)
            if result.returncode == 0 and '"running"' in result.stdout:
                return
            assert time.monotonic() < deadline, f"{ident} never ran: {result}"
            time.sleep(0.02)

    def create(self, args: list[str], *, mutate: Callable[[rs.Spec], None] | None = None,
               extra: tuple[str, ...] = ()) -> str:  # fmt: skip
        ident, bundle = self.bundle(args, mutate=mutate)
        self.cmd("create", "--bundle", str(bundle), *extra, ident).ok()
        return ident

    def start_sleeper(self, *, mutate: Callable[[rs.Spec], None] | None = None, seconds: int = 60) -> str:
        """A running container whose process is ``sleep``; returns its id."""
        ident = self.create(["sleep", str(seconds)], mutate=mutate)
        self.cmd("start", ident).ok()
        return ident

    def state(self, ident: str) -> dict[str, object]:
        data = jsoncodec.loads(self.cmd("state", ident).ok().stdout)
        assert isinstance(data, dict)
        return data

    def pid(self, ident: str) -> int:
        pid = self.state(ident)["pid"]
        assert isinstance(pid, int)
        return pid

    def wait_stopped(self, ident: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while self.state(ident)["status"] != "stopped":
            assert time.monotonic() < deadline, f"{ident} did not stop"
            time.sleep(0.02)

    # --- cleanup ----------------------------------------------------------------------------

    def cleanup(self) -> None:
        """Delete every container, remove the cgroup parent everywhere, remove the directory."""
        for ident in self.ids:
            try:
                subprocess.run(
                    [*runtime_argv(self.runtime), "--root", str(self.root), "delete", "--force", ident],
                    capture_output=True, timeout=30, check=False,
                )  # fmt: skip
            except subprocess.TimeoutExpired:
                pass
        try:
            _remove_cgroups(self.tag)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def _remove_cgroups(tag: str) -> None:
    for top in Path("/sys/fs/cgroup").iterdir():
        parent = top / tag
        if not parent.is_dir():
            continue
        for child in sorted(parent.rglob("*"), key=lambda p: -len(p.parts)):
            if child.is_dir():
                _rmdir_retry(child)
        _rmdir_retry(parent)


def _rmdir_retry(path: Path) -> None:
    deadline = time.monotonic() + 5
    while True:
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            procs = path / "cgroup.procs"
            for pid in procs.read_text().split() if procs.exists() else []:
                try:
                    os.kill(int(pid), 9)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)
