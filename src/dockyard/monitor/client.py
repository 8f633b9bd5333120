"""MonitorClient: the engine's handle on one monitor, in asyncio.

The engine keeps no connection open to a monitor: each call opens the monitor's socket, sends
one request line and reads one answer (``monitor.protocol``), so a daemon restart loses nothing
and ``connect`` after a restart is the same as the handle ``spawn`` returned. Only ``attach``
and ``wait`` hold their connection, for the length of the stream or of the process.

**When the monitor is gone.** A monitor removes its socket after writing the exit record, so a
refused or missing socket means "ask the file": ``wait`` and ``connect`` return the record if
there is one. No socket and no record means the monitor died before the process was recorded
(it was SIGKILLed, or the machine rebooted): ``MonitorLost``, and the engine falls back to
``runtime state``.

Typical use, for ``docker run`` (attach before start, so no output is lost)::

    client = await MonitorClient.spawn(config, launcher=zygote)   # runtime create done
    stream = await client.attach(stdin=False, stdout=True, stderr=True)
    pid = await client.start()
    while chunk := await stream.read():
        forward(chunk)                                              # stdcopy frames, or raw tty
    record = await client.wait()
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

from dockyard import errors
from dockyard.monitor import protocol
from dockyard.monitor.protocol import ExitRecord
from dockyard.monitor.settings import MonitorConfig
from dockyard.monitor.spawner import ExecLauncher, Launcher
from dockyard.util import atomicfile, jsoncodec

__all__ = ["AttachStream", "MonitorClient", "MonitorState"]

_STALE = (
    protocol.EXIT_RECORD,
    protocol.SOCKET,
    protocol.CONSOLE_SOCKET,
    protocol.MONITOR_PID,
    protocol.CONTAINER_PID,
)
_STDIN_CHUNK = 32 * 1024


class _Gone(Exception):
    """The monitor's socket is missing, refuses, or closed without an answer."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MonitorState:
    """What a monitor says about its process.

    ``status`` is "created" (init: created, not started; exec: not started), "running" or
    "exited"; ``pid`` is the process's pid (0 before an exec starts); ``exit`` is set once
    exited.
    """

    status: str
    pid: int
    exit: ExitRecord | None


async def _open(monitor_dir: Path) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to the monitor's socket, through a directory fd if its path is too long."""
    path = str(monitor_dir / protocol.SOCKET)
    dirfd = -1
    try:
        if len(os.fsencode(path)) > 107:
            dirfd = os.open(monitor_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            path = f"/proc/self/fd/{dirfd}/{protocol.SOCKET}"
        return await asyncio.open_unix_connection(path, limit=2 * protocol.MAX_MESSAGE)
    except OSError as exc:  # ENOENT, ECONNREFUSED, ENOTDIR: nobody listens
        raise _Gone(str(exc)) from exc
    finally:
        if dirfd >= 0:
            os.close(dirfd)


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass


async def _exchange(
    monitor_dir: Path, op: str, fields: dict[str, object]
) -> tuple[dict[str, object], asyncio.StreamReader, asyncio.StreamWriter]:
    """Send one request; return the successful answer and the still-open connection.

    Raises:
        _Gone: nobody answered. DockyardError: the monitor answered with an error.
    """
    reader, writer = await _open(monitor_dir)
    try:
        writer.write(protocol.encode({"op": op, **fields}))
        await writer.drain()
        line = await reader.readline()
        if not line.endswith(b"\n"):
            raise _Gone("connection closed before an answer")
        try:
            message = protocol.decode(line)
        except errors.InvalidArgument as exc:
            raise errors.SystemFailure(f"bad answer from monitor in {monitor_dir}: {exc}") from None
        return protocol.unwrap(message), reader, writer
    except OSError as exc:  # reset mid-exchange: the monitor went away
        await _close(writer)
        raise _Gone(str(exc)) from exc
    except BaseException:
        await _close(writer)
        raise


class AttachStream:
    """One attach session: the process's output in, stdin and resizes out.

    ``read`` returns Docker stdcopy frames (no terminal) or raw terminal bytes, exactly as the
    Engine API sends them, and b"" once the output has ended (the process exited, or this
    client was too slow and was dropped; ``wait`` or ``state`` tells which). Writes after the
    monitor has closed the stream are dropped, as bytes written to a closed pipe.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, tty: bool) -> None:
        self.tty = tty
        self._reader = reader
        self._writer = writer

    async def read(self, size: int = 65536) -> bytes:
        """The next bytes of output (b"" at the end, and the connection is closed then)."""
        try:
            data = await self._reader.read(size)
        except OSError:
            data = b""
        if not data:
            self._writer.close()
        return data

    async def _send(self, data: bytes) -> None:
        if self._writer.is_closing():
            return
        try:
            self._writer.write(data)
            await self._writer.drain()
        except OSError:
            pass

    async def write(self, data: bytes) -> None:
        """Send ``data`` to the process's stdin (if this session asked for stdin)."""
        for start in range(0, len(data), _STDIN_CHUNK):
            chunk = data[start : start + _STDIN_CHUNK]
            await self._send(protocol.frame_header(protocol.UP_STDIN, len(chunk)) + chunk)

    async def close_stdin(self) -> None:
        """This client's stdin has ended. With ``stdin_once`` the process's stdin closes (once
        what was written reached it); otherwise the process's stdin stays open for others."""
        await self._send(protocol.frame_header(protocol.UP_CLOSE_STDIN, 0))

    async def resize(self, height: int, width: int) -> None:
        """Resize the process's terminal.

        Raises:
            InvalidArgument: a size outside 0..65535.
        """
        if not (0 <= height <= 65535 and 0 <= width <= 65535):
            raise errors.InvalidArgument(f"terminal size {height}x{width} out of range")
        payload = height.to_bytes(2, "big") + width.to_bytes(2, "big")
        await self._send(protocol.frame_header(protocol.UP_RESIZE, 4) + payload)

    async def close(self) -> None:
        """End the session (the process is not affected, except through ``stdin_once``)."""
        await _close(self._writer)


class MonitorClient:
    """The engine's handle on one monitor (one container task or one exec).

    Attributes:
        monitor_dir: the monitor's directory.
        pid: the supervised process's pid (0 for an exec not yet started).
        monitor_pid: the monitor's own pid, if known.
    """

    def __init__(
        self, monitor_dir: Path, *, pid: int, monitor_pid: int | None, record: ExitRecord | None = None
    ) -> None:
        self.monitor_dir = monitor_dir
        self.pid = pid
        self.monitor_pid = monitor_pid
        self._record = record

    # --- making one ---------------------------------------------------------------------------
    @classmethod
    async def spawn(
        cls, config: MonitorConfig, *, launcher: Launcher | None = None, timeout: float = 120.0
    ) -> MonitorClient:
        """Start a monitor; return once the runtime's ``create`` succeeded (init) or the monitor
        listens (exec). Files of a previous run in the directory (exit record, sockets, pid
        files) are removed first.

        Raises:
            RuntimeFailed: ``create`` failed; the message is the runtime's own.
            NotFound: the runtime says the container (for exec) does not exist.
            InvalidArgument: the monitor refused the config.
            Unavailable: the monitor program could not be started.
            MonitorLost: the monitor died or said nothing within ``timeout`` seconds.
        """
        monitor_dir = Path(config.monitor_dir)
        cls._prepare(monitor_dir, config)
        read_fd, write_fd = os.pipe()
        try:
            try:
                await (launcher or ExecLauncher()).launch(str(monitor_dir), write_fd)
            finally:
                os.close(write_fd)
            events = await asyncio.wait_for(cls._read_sync(read_fd, config.mode), timeout)
        except TimeoutError:
            raise errors.MonitorLost(
                f"monitor for {config.task_id} did not report within {timeout:g}s"
            ) from None
        finally:
            os.close(read_fd)
        return cls(monitor_dir, pid=events.get("created", 0), monitor_pid=events.get("alive"))

    @staticmethod
    def _prepare(monitor_dir: Path, config: MonitorConfig) -> None:
        monitor_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(monitor_dir, 0o700)  # mkdir's mode yields to the umask, and the dir may exist
        for name in _STALE:
            try:
                (monitor_dir / name).unlink()
            except FileNotFoundError:
                pass
        data = jsoncodec.dumps(config.to_json())
        atomicfile.write_atomic(monitor_dir / protocol.CONFIG, data, mode=0o600, durable=False)

    @staticmethod
    async def _read_sync(fd: int, mode: str) -> dict[str, int]:
        """Read the monitor's reports until the last one; {"alive": pid, "created": pid}."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=2 * protocol.MAX_MESSAGE)
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(os.dup(fd), "rb", buffering=0)
        )
        events: dict[str, int] = {}
        try:
            while True:
                line = await reader.readline()
                if not line:
                    raise errors.MonitorLost("monitor exited before reporting")
                message = protocol.decode(line)
                if "error" in message:
                    raise protocol.error_from_data(message["error"])
                event, pid = message.get("event"), message.get("pid", 0)
                events[str(event)] = pid if isinstance(pid, int) else 0
                if event in ("created", "ready"):
                    return events
        finally:
            transport.close()

    @classmethod
    async def connect(cls, monitor_dir: str | os.PathLike[str]) -> MonitorClient:
        """A handle on an existing monitor (after a daemon restart), or on its exit record.

        Raises:
            MonitorLost: no monitor answers and it left no exit record.
            CorruptRecord: the exit record is unreadable.
        """
        monitor_dir = Path(monitor_dir)
        monitor_pid = cls._monitor_pid(monitor_dir)
        try:
            answer, _, writer = await _exchange(monitor_dir, "state", {})
            await _close(writer)
        except _Gone:
            record = protocol.read_exit_record(monitor_dir)
            if record is None:
                raise errors.MonitorLost(
                    f"monitor in {monitor_dir} is gone and left no exit record"
                ) from None
            return cls(monitor_dir, pid=record.pid, monitor_pid=None, record=record)
        state = cls._state(answer)
        return cls(monitor_dir, pid=state.pid, monitor_pid=monitor_pid, record=state.exit)

    @staticmethod
    def _monitor_pid(monitor_dir: Path) -> int | None:
        try:
            return int((monitor_dir / protocol.MONITOR_PID).read_text().strip())
        except (OSError, ValueError):
            return None

    @staticmethod
    def read_exit_record(monitor_dir: str | os.PathLike[str]) -> ExitRecord | None:
        """The exit record in ``monitor_dir`` (None if the process has not ended).

        Raises:
            CorruptRecord: the file exists but cannot be parsed.
        """
        return protocol.read_exit_record(monitor_dir)

    # --- requests ---------------------------------------------------------------------------
    def _gone(self) -> errors.DockyardError:
        """The error for a request nobody answered: Conflict if the process has exited."""
        self._record = self._record or protocol.read_exit_record(self.monitor_dir)
        if self._record is not None:
            return errors.Conflict(f"{self.monitor_dir.name}: the process has exited")
        return errors.MonitorLost(f"monitor in {self.monitor_dir} is gone and left no exit record")

    async def _request(self, op: str, **fields: object) -> dict[str, object]:
        try:
            answer, _, writer = await _exchange(self.monitor_dir, op, fields)
        except _Gone:
            raise self._gone() from None
        await _close(writer)
        return answer

    @staticmethod
    def _state(answer: dict[str, object]) -> MonitorState:
        status, pid, record = answer.get("status"), answer.get("pid"), answer.get("exit")
        if not isinstance(status, str) or not isinstance(pid, int):
            raise errors.SystemFailure("bad state answer from monitor")
        return MonitorState(status=status, pid=pid, exit=ExitRecord.from_json(record) if record else None)

    async def start(self) -> int:
        """Start the process (init: ``runtime start``; exec: ``runtime exec``); its pid.

        Raises:
            NotModified: it was started already. Conflict: it has exited.
            RuntimeFailed, NotFound: the runtime's error. MonitorLost: the monitor is gone.
        """
        answer = await self._request("start")
        pid = answer.get("pid")
        if not isinstance(pid, int):
            raise errors.SystemFailure("bad start answer from monitor")
        self.pid = pid
        return pid

    async def state(self) -> MonitorState:
        """The process's status, pid and exit record, from the monitor or its record.

        Raises:
            MonitorLost: no monitor and no record.
        """
        if self._record is not None:
            return MonitorState(status="exited", pid=self._record.pid, exit=self._record)
        try:
            return self._state(await self._request("state"))
        except errors.Conflict:
            assert self._record is not None
            return MonitorState(status="exited", pid=self._record.pid, exit=self._record)

    async def resize(self, height: int, width: int) -> None:
        """Resize the process's terminal (nothing happens without one).

        Raises:
            InvalidArgument: a size outside 0..65535. Conflict: it has exited.
            MonitorLost: the monitor is gone.
        """
        await self._request("resize", height=height, width=width)

    async def attach(self, *, stdin: bool, stdout: bool, stderr: bool) -> AttachStream:
        """Open an attach session on the streams asked for (stdin only if the process keeps
        one open). Output from now on reaches it; earlier output is in the log.

        Raises:
            Conflict: the process has exited. MonitorLost: the monitor is gone.
        """
        try:
            answer, reader, writer = await _exchange(
                self.monitor_dir, "attach", {"stdin": stdin, "stdout": stdout, "stderr": stderr}
            )
        except _Gone:
            raise self._gone() from None
        return AttachStream(reader, writer, tty=answer.get("tty") is True)

    async def wait(self) -> ExitRecord:
        """Wait for the process to end; its exit record. Survives the monitor closing the
        connection (it retries while the monitor lives) and reads the file once it is gone.

        Raises:
            MonitorLost: the monitor died without leaving a record.
            CorruptRecord: the record is unreadable.
        """
        while self._record is None:
            try:
                answer, _, writer = await _exchange(self.monitor_dir, "wait", {})
                await _close(writer)
                self._record = ExitRecord.from_json(answer.get("exit"))
            except _Gone:
                self._record = protocol.read_exit_record(self.monitor_dir)
                if self._record is not None:
                    break
                if not self._monitor_alive():
                    raise errors.MonitorLost(
                        f"monitor in {self.monitor_dir} is gone and left no exit record"
                    ) from None
                await asyncio.sleep(0.05)  # the monitor is between answering and its record
        return self._record

    def _monitor_alive(self) -> bool:
        pid = self._monitor_pid(self.monitor_dir)
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
