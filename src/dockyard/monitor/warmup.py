"""Run the monitor's code once over in the zygote, so forked monitors find it already warm.

A forked monitor pays, in private memory, for every page it writes. Many of those writes are
first-time work that CPython 3.11 does lazily and then keeps: a function's first calls count
down its warm-up counter and then rewrite its bytecode in place (PEP 659, "quickening"), its
instructions specialise and fill their inline caches, the type attribute cache fills, dicts
grow to their working size, interned strings appear. Done in the zygote before ``fork``, that
work lands in pages every monitor shares; done in each monitor, each gets its own copy.
Measured here: loading a config in a fresh fork dirtied ~500 KiB, after a warm-up ~100 KiB.

``warm_up`` drives the same functions a monitor calls (config parsing, protocol messages, log
encoding and rotation, stdio pipes, socket connections and the attach fan-out, runtime argv
building and error parsing, OOM lookups, the subreaper ``prctl``, ``Supervisor.run`` up to a
setup worker that refuses its config, signal set-up included, then restored) a dozen times
each, against a private scratch directory, /dev/null and pipes. The supervisor it builds
adopts a worker-style answer, serves every kind of request (``start`` succeeds: the runtime
is ``/bin/true``), reaps its "process" (a child that exited at once) and runs its real loop
to the exit record and the runtime's ``delete``: code that runs only in a monitor would
otherwise specialise, and fill the type cache, in each monitor's own pages. Nothing outside
the zygote is touched, and no runtime or container is involved. It is not a test; it only
has to run. It reaps children with ``waitpid(-1)``, as a monitor does, so it runs before the
zygote has any other child.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # no stub; `signal` imports enum
import _socket
import os
import time

from dockyard import errors
from dockyard.monitor import logfile, main, oom, protocol, unixsock, worker
from dockyard.monitor.settings import MonitorConfig
from dockyard.monitor.stdio import Stdio
from dockyard.monitor.supervisor import Supervisor
from dockyard.oci.runtime_cli import OciRuntime, error_from_output
from dockyard.util import atomicfile, jsoncodec

__all__ = ["ROUNDS", "warm_up"]

ROUNDS = 12
"""Calls per path: more than CPython 3.11's quickening delay of 8 calls."""

_RUNTIME_LOG = b'{"level":"error","msg":"container does not exist","time":"2024-01-02T03:04:05Z"}\n'


def _config(scratch: str) -> MonitorConfig:
    sample = MonitorConfig(
        task_id="0123456789abcdef",
        container_id="0123456789abcdef",
        mode="init",
        monitor_dir=scratch,
        runtime="/bin/true",  # a start request succeeds at once, as in a monitor
        runtime_root=scratch,
        bundle=scratch,
        stdin=True,
        stdin_once=True,
        console_size=(24, 80),
        log_path="/dev/null",
        log_max_size=1 << 20,
        log_max_file=3,
    )
    path = sample.path(protocol.CONFIG)
    atomicfile.write_atomic(path, jsoncodec.dumps(sample.to_json()), mode=0o600, durable=False)
    return MonitorConfig.load(path)


def _messages() -> None:
    now = time.time_ns()
    record = protocol.ExitRecord(
        exit_code=137, signal=9, oom_killed=False, started_at=protocol.format_time(now),
        finished_at=protocol.format_time(now + 1), pid=1,
    )  # fmt: skip
    protocol.ExitRecord.from_json(jsoncodec.loads(jsoncodec.dumps(record.to_json())))
    protocol.parse_time(record.started_at)
    protocol.exit_status(9)
    protocol.exit_status(3 << 8)
    protocol.unwrap(protocol.decode(protocol.reply(pid=1, exit=record.to_json())))
    failure = protocol.encode({"error": protocol.error_to_data(errors.RuntimeFailed("x", status=1))})
    protocol.error_from_data(protocol.decode(failure)["error"])
    error_from_output(_RUNTIME_LOG, b"", status=1, what="runc create")
    runtime = OciRuntime("/bin/false", root="/", log="/dev/null")
    runtime.argv(OciRuntime.create_args("x", bundle="/", pid_file="/p", console_socket="/c"), log="/l")
    runtime.argv(OciRuntime.exec_args("x", process="/p", pid_file="/p"), log="/l")
    runtime.argv(OciRuntime.delete_args("x", force=True), log="/l")
    oom.oom_kill_count(oom.find_memory_cgroup(os.getpid()))


def _log(scratch: str) -> None:
    writer = logfile.LogWriter(os.path.join(scratch, "log"), max_size=256, max_file=2)
    splitter = logfile.LineSplitter("stdout", writer.write)
    splitter.feed(b"hello \xff<world>\n\tpartial")
    splitter.feed(b"x" * (logfile.MAX_LINE + 1))
    splitter.finish()
    writer.close()


def _client(path: str, request: dict[str, object]) -> _socket.socket:
    client = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    client.connect(path)
    client.send(protocol.encode(request))
    client.setblocking(False)
    return client


def _turn(supervisor: Supervisor) -> None:
    """One pass of the monitor's loop, without waiting."""
    supervisor._sync_poller()
    for fd, events in supervisor.poller.poll(0):
        supervisor._dispatch(fd, events)
    supervisor._advance()


def _supervise(config: MonitorConfig, scratch: str) -> None:
    """A supervisor adopting pipes, a listener and a log, serving every kind of request while
    this function plays the process (writing output) and the clients."""
    made = Stdio(terminal=False, stdin=True, console_path="")
    child = made.child_stdio()
    assert child is not None
    os.write(child[1], b"early")
    made.take_early()
    listener, dirfd = unixsock.listen_unix(config.path(protocol.SOCKET))
    os.close(dirfd)
    log = logfile.LogWriter(os.path.join(scratch, "log"))
    roles = [*made.outputs.values(), "stdin", "listener", "log"]
    fds = [*made.outputs, made.stdin_fd, listener.detach(), log.fileno()]
    supervisor = Supervisor(config.monitor_dir)
    fields = worker.kept(config)
    fields.update(fds=roles, pid=_exited_child(), memory_cgroup=None, oom_before=0, log_path=log.path,
                  log_max_size=-1, log_max_file=1, log_size=log.size)  # fmt: skip
    supervisor._adopt(protocol.unwrap(protocol.decode(protocol.reply(**fields))), fds)
    supervisor.wakeup_r, wakeup_w = os.pipe()  # not the real signal set-up: this is the zygote
    path = config.path(protocol.SOCKET)
    clients = [
        _client(path, {"op": "start"}),  # the config's runtime is /bin/true: it succeeds
        _client(path, {"op": "state"}),
        _client(path, {"op": "resize", "height": 24, "width": 80}),
        _client(path, {"op": "wait"}),
        _client(path, {"op": "attach", "stdin": True, "stdout": True, "stderr": True}),
        _client(path, {"op": "nonsense"}),
    ]
    for _ in clients:  # one connection accepted per turn, as in a monitor
        _turn(supervisor)
    _turn(supervisor)
    clients[-2].send(protocol.frame_header(protocol.UP_STDIN, 3) + b"in\n")
    clients[-2].send(protocol.frame_header(protocol.UP_RESIZE, 4) + b"\0\x18\0\x50")
    clients[-2].send(protocol.frame_header(protocol.UP_CLOSE_STDIN, 0))
    os.write(child[1], b"out\n")
    os.write(child[2], b"err\n")
    for _ in range(4):
        _turn(supervisor)
        for client in clients:
            try:
                client.recv(65536)
            except OSError:
                pass
    for client in clients:
        client.close()
    _turn(supervisor)
    made.release_child_ends()
    # The end, through the real loop: the process has exited (a signal byte says so), its
    # output reaches EOF, the exit record is written, the runtime (/bin/true) deletes, done.
    os.write(wakeup_w, b"\x11")
    supervisor._loop()
    supervisor._shutdown()
    for fd in (supervisor.wakeup_r, wakeup_w):
        os.close(fd)


def _exited_child() -> int:
    """The pid of a child that has exited but is not reaped yet: the warm-up's "process",
    which the supervisor's loop reaps."""
    pid = os.fork()
    if pid == 0:
        os._exit(3)
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
    return pid


def _worker(scratch: str) -> None:
    """The monitor's side of a worker round trip (the worker's side dies with it)."""
    _, fds = worker.run(lambda: ({"fds": ["log"]}, [0]), scratch)
    for fd in fds:
        os.close(fd)


def _refused_run(scratch: str) -> None:
    """``Supervisor.run`` whose setup worker refuses the config: the signal set-up, a worker
    round trip and the report of the failure, as a monitor runs them before its loop. Then
    this process's dispositions and wakeup fd are put back as they were (the step is skipped
    if a disposition was set outside Python and so cannot be restored)."""
    signals = (_signal.SIGPIPE, _signal.SIGHUP, _signal.SIGTERM, _signal.SIGINT, _signal.SIGCHLD)
    saved = [(sig, _signal.getsignal(sig)) for sig in signals]
    if any(handler is None for _, handler in saved):
        return
    path = os.path.join(scratch, protocol.CONFIG)
    atomicfile.write_atomic(path, "{}", mode=0o600, durable=False)  # no version: refused
    previous = _signal.set_wakeup_fd(-1)
    supervisor = Supervisor(scratch)
    try:
        supervisor.run()
    finally:
        for sig, handler in saved:
            _signal.signal(sig, handler)
        os.close(_signal.set_wakeup_fd(previous))
        os.close(supervisor.wakeup_r)
        os.unlink(path)


def warm_up(scratch: str, rounds: int = ROUNDS) -> None:
    """Exercise the monitor's code ``rounds`` times using the empty directory ``scratch``
    (left empty afterwards). Errors are not expected and not swallowed."""
    for _ in range(rounds):
        main.become_subreaper(False)
        _refused_run(scratch)
        config = _config(scratch)
        _messages()
        _log(scratch)
        _supervise(config, scratch)
        _worker(scratch)
        for name in os.listdir(scratch):
            os.unlink(os.path.join(scratch, name))
