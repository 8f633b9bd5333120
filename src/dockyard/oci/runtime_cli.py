"""OciRuntime: drives runc, crun or dockyard-runtime through runc's command line.

The three runtimes are interchangeable because they share runc's grammar: global ``--root R
--log L --log-format json``, then ``create --bundle B --pid-file F [--console-socket S] ID``,
``start ID``, ``state ID``, ``kill [--all] ID SIG``, ``delete [--force] ID``, ``exec --process F
--detach --pid-file F [--tty --console-socket S] ID``, ``pause``, ``resume``, ``ps --format json``
and ``update --resources F``. This module speaks only that grammar (runc's man pages,
runc(8) and runc-*(8)); anything runtime-specific stays out.

**Errors.** A runtime that fails exits non-zero and writes JSON lines to its ``--log`` file
(``{"level":"error","msg":"container does not exist","time":...}``) and plain text to stderr.
The last ``error``/``fatal`` line of the log is the message users see (Docker prints it after
"OCI runtime create failed:"); stderr's last line is the fallback. A message saying the
container "does not exist" becomes ``NotFound``; anything else ``RuntimeFailed`` with the exit
status. Each call gets a log file of its own (or reads only what it appended to a shared one),
so concurrent calls never steal each other's messages.

**Two faces.** The argv builders and the error parser are pure and shared. The engine calls the
``async`` methods (asyncio subprocesses, through ``util.proc``). The monitor, a synchronous
stdlib-only program, uses ``spawn``/``RuntimeCall``: ``os.posix_spawn`` with the stdio it
chooses, then a wait with a timeout on a pidfd. This module is imported by the monitor at
every container start, so ``asyncio``, ``subprocess`` and ``json`` are imported only inside the
async methods (``util.proc``); the rest uses ``util.jsoncodec``.
"""

from __future__ import annotations

import os
import select

from dockyard import errors
from dockyard.util import jsoncodec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ["DEFAULT_ENV", "OciRuntime", "RuntimeCall", "RuntimeState", "error_from_output"]

DEFAULT_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
"""The environment runtimes run with: they need PATH (hooks, helpers) and nothing of ours."""

_SIGNAL_DEFAULTS = (1, 2, 3, 13, 15, 17)  # HUP INT QUIT PIPE TERM CHLD: what a caller may ignore


def _last_error(log_text: str) -> str | None:
    """The ``msg`` of the last error-level JSON line, or None."""
    found = None
    for line in log_text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            entry = jsoncodec.loads(line)
        except (jsoncodec.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(entry, dict) and entry.get("level") in ("error", "fatal"):
            msg = entry.get("msg")
            if isinstance(msg, str) and msg:
                found = msg
    return found


def _last_plain_line(text: str) -> str | None:
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line and not line.startswith("{"):
            return line
    return None


def error_from_output(
    log_text: str | bytes, stderr: str | bytes, *, status: int | None, what: str
) -> errors.DockyardError:
    """The error a failed runtime call stands for.

    ``log_text`` is what the call wrote to its ``--log`` file, ``stderr`` its standard error,
    ``status`` its exit status and ``what`` the command (for a message when the runtime said
    nothing). "does not exist" becomes ``NotFound``; everything else ``RuntimeFailed``.
    """
    log_str = log_text.decode("utf-8", "replace") if isinstance(log_text, bytes) else log_text
    err_str = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr
    message = _last_error(log_str) or _last_plain_line(err_str) or _last_plain_line(log_str)
    if message is None:
        message = f"{what}: exit status {status}" if status is not None else f"{what} failed"
    if "does not exist" in message:
        return errors.NotFound(message)
    return errors.RuntimeFailed(message, status=status)


class RuntimeState:
    """What ``<runtime> state ID`` prints (runtime-spec "State", plus runc's ``paused``).

    ``status`` is one of creating, created, running, stopped, paused. Treat as immutable.
    """

    __slots__ = ("annotations", "bundle", "created", "id", "pid", "status")

    def __init__(
        self, *, id: str, pid: int, status: str, bundle: str, created: str, annotations: dict[str, str]
    ) -> None:
        self.id = id
        self.pid = pid
        self.status = status
        self.bundle = bundle
        self.created = created
        self.annotations = annotations

    @classmethod
    def from_json(cls, data: object) -> RuntimeState:
        """Parse the state document.

        Raises:
            RuntimeFailed: the document is not a runtime state.
        """
        if not isinstance(data, dict):
            raise errors.RuntimeFailed("runtime state: not a JSON object")
        ident, pid, status = data.get("id"), data.get("pid", 0), data.get("status")
        annotations = data.get("annotations") or {}
        if not isinstance(ident, str) or not isinstance(status, str) or not isinstance(pid, int):
            raise errors.RuntimeFailed("runtime state: id, pid or status missing")
        if not isinstance(annotations, dict):
            raise errors.RuntimeFailed("runtime state: annotations is not an object")
        return cls(
            id=ident,
            pid=pid,
            status=status,
            bundle=str(data.get("bundle", "")),
            created=str(data.get("created", "")),
            annotations={str(k): str(v) for k, v in annotations.items()},
        )

    def __repr__(self) -> str:
        return f"RuntimeState(id={self.id!r}, pid={self.pid}, status={self.status!r})"


class _CallLog:
    """The ``--log`` file of one call: where its lines start, and whether to remove it after."""

    __slots__ = ("offset", "owned", "path")

    def __init__(self, path: str, offset: int, owned: bool) -> None:
        self.path = path
        self.offset = offset
        self.owned = owned

    def finish(self, status: int, stderr: bytes, what: str) -> None:
        """Forget the log; raise the runtime's error if ``status`` is not 0."""
        text = b""
        if status != 0:
            try:
                with open(self.path, "rb") as file:
                    file.seek(self.offset)
                    text = file.read(1 << 20)
            except FileNotFoundError:
                pass
        self.discard()
        if status != 0:
            raise error_from_output(text, stderr, status=status, what=what)

    def discard(self) -> None:
        if self.owned:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass


class RuntimeCall:
    """A runtime command started by ``OciRuntime.spawn``: ``wait`` for it, then ``check`` it."""

    __slots__ = ("_log", "pid", "what")

    def __init__(self, pid: int, what: str, log: _CallLog) -> None:
        self.pid = pid
        self.what = what
        self._log = log

    def wait(self, timeout: float | None) -> int:
        """Wait for the command (killing it after ``timeout`` seconds); its exit status
        (negative: killed by that signal, as ``subprocess`` reports it).

        Raises:
            RuntimeFailed: it did not finish in time (it is killed and reaped).
        """
        if timeout is not None:
            pidfd = os.pidfd_open(self.pid)
            try:
                poller = select.poll()
                poller.register(pidfd, select.POLLIN)
                if not poller.poll(int(timeout * 1000)):
                    os.kill(self.pid, 9)
                    os.waitpid(self.pid, 0)
                    self._log.discard()
                    raise errors.RuntimeFailed(f"{self.what}: timed out after {timeout:g}s")
            finally:
                os.close(pidfd)
        return os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])

    def check(self, status: int, stderr: bytes = b"") -> None:
        """Raise the runtime's error if the command failed (``status`` from ``wait``).

        Raises:
            NotFound: the container does not exist.
            RuntimeFailed: any other failure, with the runtime's last error message.
        """
        self._log.finish(status, stderr, self.what)


class OciRuntime:
    """A runc-grammar runtime binary, its state root and its logging.

    ``log`` names one ``--log`` file for every call (the monitor's ``runtime.log``; only what
    a call appends is read back). Without it each call logs to a fresh file in ``log_dir``
    (default: ``<root>.logs``, beside the state root so it never looks like a container), read
    and removed when the call ends. ``args`` are extra global arguments (``--systemd-cgroup``).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        root: str | os.PathLike[str],
        log: str | os.PathLike[str] | None = None,
        log_dir: str | os.PathLike[str] | None = None,
        args: Sequence[str] = (),
        timeout: float = 60.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self.root = os.fspath(root)
        self.log = os.fspath(log) if log is not None else None
        self.log_dir = os.fspath(log_dir) if log_dir is not None else self.root.rstrip("/") + ".logs"
        self.args = tuple(args)
        self.timeout = timeout
        self.env = dict(DEFAULT_ENV if env is None else env)

    # --- argv: pure --------------------------------------------------------------------------
    def argv(self, command: Sequence[str], *, log: str) -> list[str]:
        """The full argv of one call: binary, global options, then ``command``."""
        return [self.path, "--root", self.root, "--log", log, "--log-format", "json", *self.args, *command]

    @staticmethod
    def create_args(
        container_id: str, *, bundle: str, pid_file: str, console_socket: str | None = None
    ) -> list[str]:
        """``create``: set the container up; its init waits for ``start``."""
        args = ["create", "--bundle", bundle, "--pid-file", pid_file]
        if console_socket is not None:
            args += ["--console-socket", console_socket]
        return [*args, container_id]

    @staticmethod
    def exec_args(
        container_id: str, *, process: str, pid_file: str, console_socket: str | None = None
    ) -> list[str]:
        """``exec --detach``: start one more process in the container and return."""
        args = ["exec", "--process", process, "--detach", "--pid-file", pid_file]
        if console_socket is not None:
            args += ["--tty", "--console-socket", console_socket]
        return [*args, container_id]

    @staticmethod
    def kill_args(container_id: str, signal: int | str, *, all: bool = False) -> list[str]:
        """``kill``: a signal by number or name (``KILL``, ``SIGTERM``)."""
        return ["kill", *(["--all"] if all else []), container_id, str(signal)]

    @staticmethod
    def delete_args(container_id: str, *, force: bool = False) -> list[str]:
        """``delete``: remove a stopped container (``force``: kill it first)."""
        return ["delete", *(["--force"] if force else []), container_id]

    # --- the monitor's synchronous face ------------------------------------------------------
    def _log_for_call(self) -> _CallLog:
        if self.log is not None:
            try:
                return _CallLog(self.log, os.stat(self.log).st_size, False)
            except FileNotFoundError:
                return _CallLog(self.log, 0, False)
        os.makedirs(self.log_dir, mode=0o700, exist_ok=True)
        return _CallLog(os.path.join(self.log_dir, f"{os.getpid()}-{os.urandom(6).hex()}.json"), 0, True)

    def _what(self, command: Sequence[str]) -> str:
        return f"{os.path.basename(self.path)} {command[0]}"

    def spawn(self, command: Sequence[str], *, stdio: tuple[int, int, int] | None = None) -> RuntimeCall:
        """Start one call with ``stdio`` as its fds 0, 1, 2 (default: /dev/null and the log file).

        Every other fd of ours stays behind (they are close-on-exec); signals the caller ignores
        are reset to their defaults, so the container does not inherit them.

        Raises:
            RuntimeFailed: the binary cannot be started.
        """
        log = self._log_for_call()
        argv = self.argv(command, log=log.path)
        close_after: list[int] = []
        if stdio is None:
            null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
            sink = os.open(log.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            close_after = [null, sink]
            stdio = (null, null, sink)  # plain-text errors land after the JSON lines
        actions = [(os.POSIX_SPAWN_DUP2, fd, target) for target, fd in enumerate(stdio)]
        try:
            pid = os.posix_spawn(
                self.path, argv, self.env, file_actions=actions, setsigdef=_SIGNAL_DEFAULTS, setsigmask=()
            )
        except OSError as exc:
            log.discard()
            raise errors.RuntimeFailed(f"{self.path}: {exc.strerror}") from None
        finally:
            for fd in close_after:
                os.close(fd)
        return RuntimeCall(pid, self._what(command), log)

    def run(self, command: Sequence[str], *, timeout: float | None = None) -> None:
        """Run one call to completion (stdio: /dev/null, stderr to the log).

        Raises:
            NotFound: the container does not exist.
            RuntimeFailed: the call failed or timed out.
        """
        call = self.spawn(command)
        call.check(call.wait(self.timeout if timeout is None else timeout))

    # --- the engine's asynchronous face ------------------------------------------------------
    async def _call(self, command: Sequence[str], *, input: bytes | None = None) -> bytes:
        from dockyard.util import proc  # asyncio and subprocess: engine-side only

        log = self._log_for_call()
        try:
            status, out, err = await proc.run_async(
                self.argv(command, log=log.path), timeout=self.timeout, input=input, env=self.env, check=False
            )
        except BaseException:
            log.discard()
            raise
        log.finish(status, err, self._what(command))
        return out

    async def start(self, container_id: str) -> None:
        """``start``: let a created container's process run.

        Raises:
            NotFound: no such container. RuntimeFailed: the runtime refused.
        """
        await self._call(["start", container_id])

    async def state(self, container_id: str) -> RuntimeState:
        """``state``: the runtime's view of one container.

        Raises:
            NotFound: no such container. RuntimeFailed: the runtime failed or printed garbage.
        """
        out = await self._call(["state", container_id])
        try:
            return RuntimeState.from_json(jsoncodec.loads(out))
        except (jsoncodec.JSONDecodeError, UnicodeDecodeError) as exc:
            raise errors.RuntimeFailed(f"runtime state {container_id}: {exc}") from None

    async def kill(self, container_id: str, signal: int | str, *, all: bool = False) -> None:
        """``kill``: send ``signal`` to the init process (``all``: to every process).

        Raises:
            NotFound: no such container. RuntimeFailed: e.g. the container is not running.
        """
        await self._call(self.kill_args(container_id, signal, all=all))

    async def delete(self, container_id: str, *, force: bool = False) -> None:
        """``delete``: remove the container's runtime state and cgroup.

        Raises:
            NotFound: no such container. RuntimeFailed: e.g. still running without ``force``.
        """
        await self._call(self.delete_args(container_id, force=force))

    async def pause(self, container_id: str) -> None:
        """``pause``: freeze every process of the container (``resume`` thaws them).

        Raises:
            NotFound: no such container. RuntimeFailed: the runtime refused.
        """
        await self._call(["pause", container_id])

    async def resume(self, container_id: str) -> None:
        """``resume``: thaw a paused container; raises as ``pause``."""
        await self._call(["resume", container_id])

    async def ps(self, container_id: str) -> list[int]:
        """``ps --format json``: the host pids of the container's processes.

        Raises:
            NotFound: no such container. RuntimeFailed: the runtime failed or printed garbage.
        """
        out = await self._call(["ps", "--format", "json", container_id])
        try:
            pids = jsoncodec.loads(out or b"[]")
        except (jsoncodec.JSONDecodeError, UnicodeDecodeError) as exc:
            raise errors.RuntimeFailed(f"runtime ps {container_id}: {exc}") from None
        if not isinstance(pids, list) or not all(isinstance(p, int) for p in pids):
            raise errors.RuntimeFailed(f"runtime ps {container_id}: not a list of pids")
        return pids

    async def update(self, container_id: str, resources: Mapping[str, object]) -> None:
        """``update --resources``: change cgroup limits (runtime-spec ``linux.resources``).

        Raises:
            NotFound: no such container. RuntimeFailed: the runtime refused the resources.
        """
        os.makedirs(self.log_dir, mode=0o700, exist_ok=True)
        path = os.path.join(self.log_dir, f"resources-{os.urandom(6).hex()}.json")
        with open(path, "w") as file:
            file.write(jsoncodec.dumps(dict(resources)))
        try:
            await self._call(["update", "--resources", path, container_id])
        finally:
            os.unlink(path)
