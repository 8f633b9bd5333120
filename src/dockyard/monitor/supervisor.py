"""The monitor's life: create (or exec), start on request, hold stdio, reap, record, clean up.

One thread, one ``poll(2)`` loop, no allocations while idle (it sleeps in ``poll`` with no
timeout). Its inputs are the attach listener and connections, the process's output fds, the
stdin fd when bytes wait for it, and a self-pipe that ``signal.set_wakeup_fd`` writes on
SIGCHLD. The one-off heavy steps (setup and ``runtime create``, ``start``, ``exec``) run in
short-lived forked workers (``monitor.worker``, which says why), synchronously: they take
milliseconds, and the process cannot produce output until ``start`` anyway. The supervisor
adopts the fds a worker opened, and keeps of the config only the few fields its loop reads
(``worker.kept``); workers load the config themselves.

**Memory.** This object lives as long as the container, in a process forked from the zygote,
and every object its code touches costs that process a page (``monitor.zygote``). So the
code that runs before the loop goes idle is plain: loads, stores and loops rather than
comprehensions, zips or keyword-heavy calls; one ``accept`` per wakeup and one read of the
self-pipe, so no EAGAIN exception is raised; and the zygote's warm-up drives this very code,
request handling and reaping included, to its exit record.

**Reaping.** The monitor is a child subreaper (prctl(2) PR_SET_CHILD_SUBREAPER), so when
``runtime create`` (or ``exec --detach``) exits, the process it left behind becomes our child.
Every child is reaped; only the status of the supervised pid counts. Workers are reaped by
``worker.run`` and the runtime's ``delete`` by ``RuntimeCall.wait``, never by the loop: the
loop runs only between them.

**Ending**, in this order:
1. the process is reaped: note the time, keep reading output until every output fd reaches EOF,
   or for ``DRAIN_GRACE`` at most (a background child may hold the pipe forever);
2. read the OOM kill count while the cgroup still exists;
3. write the exit record atomically, so any later client can read it;
4. ``runtime delete --force`` (init mode), before anyone is told: an engine that starts the
   container again right after ``wait`` must find the ID free;
5. answer ``wait`` requests, end attach streams (queued output is still written, for
   ``CLOSE_GRACE`` at most), stop listening, and exit.

**Signals.** SIGPIPE and SIGHUP are ignored (a dead client or a closed terminal is a normal
event). SIGTERM and SIGINT are ignored too, as conmon does: the monitor's life is the
process's life, and a stray ``kill`` or a daemon's process-group signal must not orphan a
container's output and exit status. To stop a container, signal the container (runtime
``kill``); the monitor exits after it. SIGKILL of the monitor is the one way to stop it early,
and then the engine falls back to ``runtime state``.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # no stub; `signal` imports enum (6 ms)
import os
import select
import time

from dockyard import errors
from dockyard.monitor import attach, logfile, oom, protocol, worker
from dockyard.monitor.settings import MonitorConfig
from dockyard.monitor.stdio import STDIN_LIMIT, Stdio
from dockyard.oci.runtime_cli import OciRuntime
from dockyard.util import atomicfile, jsoncodec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any  # the answers are JSON: the worker checked their types

__all__ = ["CLOSE_GRACE", "DRAIN_GRACE", "Supervisor"]

DRAIN_GRACE = 0.5
"""Seconds to keep reading output after the process exited, if something still holds it."""

CLOSE_GRACE = 2.0
"""Seconds to finish writing queued output to clients before the monitor exits."""

ZERO_TIME = "0001-01-01T00:00:00Z"
"""Go's zero time: Docker's StartedAt of a process that never started."""

_IN = select.POLLIN
_OUT = select.POLLOUT
_GONE = select.POLLHUP | select.POLLERR | select.POLLNVAL
_APPEND = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC


def _noop(signum: int, frame: object) -> None:
    """A Python-level handler, so the C handler writes SIGCHLD to the wakeup fd."""


class Supervisor:
    """Supervises one process from ``runtime create`` (or ``exec``) to its exit record.

    ``run`` returns the monitor's exit status: 0 once the process ended and was recorded, 1 if
    it could not be created or started. The heavy one-off steps run in workers
    (``monitor.worker``); this object keeps what the loop needs.
    """

    def __init__(self, monitor_dir: str, sync_fd: int = -1) -> None:
        self.monitor_dir = monitor_dir
        self.sync_fd = sync_fd
        # What the loop needs of the config (worker.kept), set by _adopt before any use; workers
        # load the whole config themselves.
        self.task_id = ""
        self.container_id = ""
        self.mode = "init"
        self.terminal = False
        self.keep_stdin = False
        self.stdin_once = False
        self.status = "created"  # created -> running -> exited
        self.pid = 0
        self.started_ns = 0
        self.finished_ns = 0
        self.wait_status = 0
        self.record: protocol.ExitRecord | None = None
        self.stdio: Stdio | None = None
        self.server: attach.AttachServer | None = None
        self.log: logfile.LogWriter | None = None
        self.splitters: dict[str, logfile.LineSplitter] = {}
        self.memory_cgroup: str | None = None
        self.oom_before = 0
        self.drain_deadline = 0.0
        self.close_deadline = 0.0
        self.failed: errors.DockyardError | None = None  # exec start failed: tell waiters, exit
        self.poller = select.poll()
        self.registered: dict[int, int] = {}
        self.wakeup_r = -1

    # --- life ---------------------------------------------------------------------------------
    def run(self) -> int:
        """Set up (in a worker), supervise, record, clean up."""
        self._install_signals()
        monitor_pid = os.getpid()
        try:
            answer, fds = worker.run(
                lambda: worker.setup(self.monitor_dir, self.sync_fd, monitor_pid), self.monitor_dir
            )
        except errors.DockyardError as exc:  # the worker cleaned up; the spawner must hear why
            self._report(error=protocol.error_to_data(exc))
            self._close_sync()
            return 1
        self._close_sync()  # the worker said "created" (or "ready")
        self._adopt(answer, fds)
        self._loop()
        self._shutdown()
        return 0 if self.failed is None else 1

    def _adopt(self, answer: dict[str, Any], fds: list[int]) -> None:
        """Take over what a worker opened (fds by role) and what it says (``worker.kept``
        fields, the pid, the OOM baseline). Plain loads and stores only: every object this
        touches costs a page of the zygote's memory (see ``monitor.zygote``)."""
        roles = answer["fds"]
        by_role: dict[str, int] = {}
        for index, role in enumerate(roles):
            by_role[role] = fds[index]
        if "task_id" in answer:
            self._keep(answer)
        listener = by_role.get("listener", -1)
        if listener >= 0:
            self.server = attach.AttachServer(answer["socket"], listener=listener)
        if "stdout" in by_role or "master" in by_role:
            self.stdio = Stdio.adopt(terminal=self.terminal, fds=by_role)
        log = by_role.get("log", -1)
        if log >= 0:
            self.log = logfile.LogWriter(
                answer["log_path"],
                max_size=answer["log_max_size"],
                max_file=answer["log_max_file"],
                fd=log,
                size=answer["log_size"],
            )
        pid = answer.get("pid")
        if pid is not None:
            self.pid = pid
        cgroup = answer.get("memory_cgroup")
        if cgroup is not None:
            self.memory_cgroup = cgroup
        oom_before = answer.get("oom_before")
        if oom_before is not None:
            self.oom_before = oom_before

    def _keep(self, fields: dict[str, Any]) -> None:
        """The config fields the loop uses (``worker.kept``), already checked by the worker."""
        self.task_id = fields["task_id"]
        self.container_id = fields["container_id"]
        self.mode = fields["mode"]
        self.terminal = fields["terminal"]
        self.keep_stdin = fields["stdin"]
        self.stdin_once = fields["stdin_once"]

    def _install_signals(self) -> None:
        for sig in (_signal.SIGPIPE, _signal.SIGHUP, _signal.SIGTERM, _signal.SIGINT):
            _signal.signal(sig, _signal.SIG_IGN)
        self.wakeup_r, wakeup_w = os.pipe()
        os.set_blocking(self.wakeup_r, False)
        os.set_blocking(wakeup_w, False)
        _signal.set_wakeup_fd(wakeup_w, warn_on_full_buffer=False)
        _signal.signal(_signal.SIGCHLD, _noop)

    def _report(self, **message: object) -> None:
        """Tell the spawner how it went; a spawner that died meanwhile changes nothing."""
        if self.sync_fd < 0:
            return
        try:
            os.write(self.sync_fd, protocol.encode(message))
        except OSError:
            self._close_sync()

    def _close_sync(self) -> None:
        if self.sync_fd >= 0:
            os.close(self.sync_fd)
            self.sync_fd = -1

    def _shutdown(self) -> None:
        if self.stdio is not None:
            self.stdio.close()
        if self.server is not None:
            self.server.close()
        if self.log is not None:
            self.log.close()
        for name in (protocol.MONITOR_PID, protocol.CONTAINER_PID):
            try:
                os.unlink(os.path.join(self.monitor_dir, name))
            except FileNotFoundError:
                pass

    # --- start --------------------------------------------------------------------------------
    def _start(self) -> int:
        """Handle ``start``: let the process run (in a worker); its pid.

        Raises:
            NotModified: it was started already. Conflict: it has exited.
            NotFound, RuntimeFailed: the runtime's error.
        """
        if self.status == "running":
            raise errors.NotModified(f"{self.task_id} is already started")
        if self.status == "exited" or self.failed is not None:
            raise errors.Conflict(f"{self.task_id} has exited")
        monitor_dir = self.monitor_dir
        if self.mode == "init":
            assert self.stdio is not None
            self.stdio.take_early()  # whatever is there came from the runtime, not the process
            worker.run(lambda: worker.start_init(monitor_dir), monitor_dir)
        else:
            try:
                self._adopt(*worker.run(lambda: worker.exec_process(monitor_dir), monitor_dir))
            except errors.DockyardError as exc:
                self._give_up(exc)
                raise
        self.started_ns = time.time_ns()
        self.status = "running"
        return self.pid

    def _give_up(self, exc: errors.DockyardError) -> None:
        """The exec never ran: tell waiters why, end attach streams, leave no exit record."""
        assert self.server is not None
        self.failed = exc
        self.close_deadline = time.monotonic() + CLOSE_GRACE
        self._end_sessions(protocol.encode({"error": protocol.error_to_data(exc)}))

    def _end_sessions(self, answer: bytes) -> None:
        """Answer every ``wait`` with ``answer``, end attach streams, stop listening."""
        assert self.server is not None
        for conn in list(self.server.connections.values()):
            if conn.waiting:
                conn.waiting = False
                self._answer(conn, answer)
            elif conn.attached:
                conn.closing = True
        self.server.stop_listening()

    # --- the loop ---------------------------------------------------------------------------
    def _wanted(self) -> dict[int, int]:
        """The fds to poll and for what, as things stand."""
        assert self.server is not None
        wanted = {self.wakeup_r: _IN}
        if self.server.fd >= 0:
            wanted[self.server.fd] = _IN
        stdio = self.stdio
        if stdio is not None and self.status != "created":
            for fd in stdio.outputs:
                wanted[fd] = _IN
            if stdio.stdin_buffer and stdio.stdin_fd >= 0:
                wanted[stdio.stdin_fd] = wanted.get(stdio.stdin_fd, 0) | _OUT
        full = stdio is not None and len(stdio.stdin_buffer) >= STDIN_LIMIT
        for fd, conn in self.server.connections.items():
            events = 0 if conn.closing or (conn.attached and full) else _IN
            wanted[fd] = events | (_OUT if conn.outbuf else 0)
        return wanted

    def _sync_poller(self) -> None:
        wanted = self._wanted()
        registered = self.registered
        if wanted == registered:
            return
        poller = self.poller
        for fd in registered:
            if fd not in wanted:
                poller.unregister(fd)
        for fd, events in wanted.items():
            if registered.get(fd) != events:
                poller.register(fd, events)  # register() also modifies
        self.registered = wanted

    def _timeout_ms(self) -> int:
        deadline = self.close_deadline or self.drain_deadline
        if not deadline:
            return -1
        return max(0, int((deadline - time.monotonic()) * 1000) + 1)

    def _loop(self) -> None:
        assert self.server is not None
        while True:
            self._sync_poller()
            for fd, events in self.poller.poll(self._timeout_ms()):
                self._dispatch(fd, events)
            if self._advance():
                return

    def _dispatch(self, fd: int, events: int) -> None:
        assert self.server is not None
        stdio = self.stdio
        if fd == self.wakeup_r:
            Stdio.drain(fd)
            self._reap()
        elif fd == self.server.fd:
            self.server.accept()
        elif fd in self.server.connections:
            self._serve(self.server.connections[fd], events)
        elif stdio is not None:
            if events & (_OUT | _GONE) and fd == stdio.stdin_fd:
                stdio.flush_stdin()  # POLLERR: the reader is gone; the write fails and closes
            if events & (_IN | _GONE) and fd in stdio.outputs:
                self._pump(fd)

    def _advance(self) -> bool:
        """Move through the ending steps as their conditions are met; True when all is done."""
        assert self.server is not None
        if self.drain_deadline and (not self._outputs_open() or time.monotonic() >= self.drain_deadline):
            self._finish()
        connections = self.server.connections
        if connections:
            for conn in list(connections.values()):  # loops, not comprehensions (monitor.zygote)
                if conn.closing and not conn.outbuf:
                    self.server.drop(conn)
        if self.failed is not None or self.status == "exited":
            return not self.server.connections or time.monotonic() >= self.close_deadline
        return False

    def _outputs_open(self) -> bool:
        return self.stdio is not None and bool(self.stdio.outputs)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.pid and self.pid and not self.finished_ns:
                self.finished_ns = time.time_ns()
                self.wait_status = status
                self.drain_deadline = time.monotonic() + DRAIN_GRACE

    # --- output -----------------------------------------------------------------------------
    def _pump(self, fd: int) -> None:
        """Move what ``fd`` has to the log and the attached clients."""
        assert self.stdio is not None
        assert self.server is not None
        stream = self.stdio.outputs[fd]
        data = Stdio.read(fd)
        if data is None:
            return
        if not data:
            self.stdio.close_output(fd)
            splitter = self.splitters.get(stream)
            if splitter is not None and stream not in self.stdio.outputs.values():
                splitter.finish()
                self._flush_log()
            return
        if self.log is not None:
            splitter = self.splitters.get(stream)
            if splitter is None:
                splitter = self.splitters[stream] = logfile.LineSplitter(stream, self._write_log)
            splitter.feed(data)
            self._flush_log()
        number = protocol.STDOUT if stream == "stdout" else protocol.STDERR
        for conn in self.server.broadcast(number, data, raw=self.stdio.terminal):
            self._drop(conn)

    def _write_log(self, text: bytes, stream: str, ns: int) -> None:
        if self.log is None:
            return
        try:
            self.log.write(text, stream, ns)
        except OSError as exc:
            self._log_failed(exc)

    def _flush_log(self) -> None:
        if self.log is None:
            return
        try:
            self.log.flush()
        except OSError as exc:
            self._log_failed(exc)

    def _log_failed(self, exc: OSError) -> None:
        """Disk full or the log removed: keep supervising without a log, and say so once."""
        assert self.log is not None
        self.note(f"log write failed, logging stopped: {exc}")
        try:
            self.log.close()
        except OSError:
            pass
        self.log = None

    def note(self, message: str) -> None:
        """Append one line to ``monitor.log`` (the monitor's stderr is /dev/null)."""
        line = f"{protocol.format_time(time.time_ns())} {self.task_id[:12]} {message}\n"
        try:
            fd = os.open(os.path.join(self.monitor_dir, protocol.MONITOR_LOG), _APPEND, 0o600)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)
        except OSError:
            pass

    # --- connections ------------------------------------------------------------------------
    def _serve(self, conn: attach.Connection, events: int) -> None:
        alive = True
        if events & (_IN | _GONE):
            alive = conn.receive()
        if events & _OUT and not conn.flush():
            alive = False
        try:
            if conn.attached:
                self._frames(conn)
            elif not conn.waiting and not conn.closing:
                request = conn.take_request()
                if request is not None:
                    self._handle(conn, request)
        except errors.DockyardError as exc:
            if conn.attached:  # a broken frame: the stream cannot carry an answer
                alive = False
            else:
                self._answer(conn, protocol.encode({"error": protocol.error_to_data(exc)}))
        if not alive:
            self._drop(conn)

    def _drop(self, conn: attach.Connection) -> None:
        """A client left (or was dropped): end its stdin session too."""
        assert self.server is not None
        if conn.attached and conn.stdin:
            self._stdin_session_ended(conn)
        self.server.drop(conn)

    def _stdin_session_ended(self, conn: attach.Connection) -> None:
        conn.stdin = False
        if self.stdin_once and self.stdio is not None:
            self.stdio.close_stdin()

    def _answer(self, conn: attach.Connection, line: bytes) -> None:
        conn.closing = True
        conn.send(line)

    def _frames(self, conn: attach.Connection) -> None:
        while (frame := conn.take_frame()) is not None:
            kind, payload = frame
            if kind == protocol.UP_STDIN and conn.stdin and self.stdio is not None:
                self.stdio.queue_stdin(payload)
                self.stdio.flush_stdin()
            elif kind == protocol.UP_CLOSE_STDIN and conn.stdin:
                self._stdin_session_ended(conn)
            elif kind == protocol.UP_RESIZE and len(payload) == 4 and self.stdio is not None:
                self.stdio.resize(int.from_bytes(payload[:2], "big"), int.from_bytes(payload[2:], "big"))

    def _handle(self, conn: attach.Connection, request: dict[str, object]) -> None:
        op = request.get("op")
        if op == "start":
            self._answer(conn, protocol.started(self._start()))
        elif op == "state":
            record = self.record.to_json() if self.record is not None else None
            self._answer(conn, protocol.reply(status=self.status, pid=self.pid, exit=record))
        elif op == "wait":
            if self.record is not None:
                self._answer(conn, protocol.reply(exit=self.record.to_json()))
            else:
                conn.waiting = True
        elif op == "resize":
            height, width = request.get("height"), request.get("width")
            if not isinstance(height, int) or not isinstance(width, int):
                raise errors.InvalidArgument("resize needs integer height and width")
            if not (0 <= height <= 65535 and 0 <= width <= 65535):
                raise errors.InvalidArgument(f"terminal size {height}x{width} out of range")
            if self.stdio is not None:
                self.stdio.resize(height, width)
            self._answer(conn, protocol.reply())
        elif op == "attach":
            self._attach(conn, request)
        else:
            raise errors.InvalidArgument(f"unknown monitor request {op!r}")

    def _attach(self, conn: attach.Connection, request: dict[str, object]) -> None:
        streams = [request.get(name, False) for name in ("stdin", "stdout", "stderr")]
        if not all(isinstance(flag, bool) for flag in streams):
            raise errors.InvalidArgument("attach: stdin, stdout and stderr must be true or false")
        conn.send(protocol.reply(tty=self.terminal))
        conn.attached = True
        conn.stdin = bool(streams[0]) and self.keep_stdin
        conn.stdout, conn.stderr = bool(streams[1]), bool(streams[2])
        if self.status == "exited":
            conn.closing = True  # nothing more will come

    # --- the end ----------------------------------------------------------------------------
    def _finish(self) -> None:
        """Steps 2-5 of the module essay."""
        assert self.server is not None
        assert self.stdio is not None
        for fd in list(self.stdio.outputs):
            self.stdio.close_output(fd)
        for splitter in self.splitters.values():
            splitter.finish()
        if self.log is not None:
            self._flush_log()
        oom_now = oom.oom_kill_count(self.memory_cgroup)
        code, sig = protocol.exit_status(self.wait_status)
        self.record = protocol.ExitRecord(
            exit_code=code,
            signal=sig,
            oom_killed=oom_now is not None and oom_now > self.oom_before,
            started_at=protocol.format_time(self.started_ns) if self.started_ns else ZERO_TIME,
            finished_at=protocol.format_time(self.finished_ns),
            pid=self.pid,
        )
        record = jsoncodec.dumps(self.record.to_json()) + "\n"
        path = os.path.join(self.monitor_dir, protocol.EXIT_RECORD)
        atomicfile.write_atomic(path, record, mode=0o600, durable=False)
        if self.mode == "init":
            self._delete()
        self.status = "exited"
        self.drain_deadline = 0.0
        self.close_deadline = time.monotonic() + CLOSE_GRACE
        self._end_sessions(protocol.reply(exit=self.record.to_json()))

    def _delete(self) -> None:
        """``runtime delete --force``; a failure is noted, never raised (the process is gone)."""
        try:
            config = MonitorConfig.load(os.path.join(self.monitor_dir, protocol.CONFIG))
            worker.runtime_for(config).run(OciRuntime.delete_args(self.container_id, force=True))
        except (errors.DockyardError, OSError) as exc:
            self.note(f"runtime delete failed: {exc}")
