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
building and error parsing, OOM lookups, the supervisor's poll bookkeeping) a dozen times
each, against a private scratch directory, /dev/null and pipes: nothing outside the zygote is
touched, and no runtime or container is involved. It is not a test; it only has to run.
"""

from __future__ import annotations

import _socket
import os
import time

from dockyard import errors
from dockyard.monitor import attach, logfile, oom, protocol
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
        runtime="/usr/bin/runc",
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
    runtime = OciRuntime("/usr/bin/runc", root="/", log="/dev/null")
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


def _stdio_and_sockets(config: MonitorConfig) -> None:
    stdio = Stdio(terminal=False, stdin=True, console_path="")
    child = stdio.child_stdio()
    assert child is not None
    os.write(child[1], b"early")
    stdio.take_early()
    stdio.queue_stdin(b"input")
    stdio.flush_stdin()
    stdio.release_child_ends()
    for fd in list(stdio.outputs):
        Stdio.read(fd)
    stdio.close_stdin()
    ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
    ours.setblocking(False)
    conn = attach.Connection(ours)
    theirs.send(protocol.encode({"op": "attach", "stdout": True}) + protocol.frame_header(0, 2) + b"hi")
    conn.receive()
    conn.take_request()
    conn.take_frame()
    conn.attached = conn.stdout = True
    supervisor = Supervisor(config)
    supervisor.server = attach.AttachServer(config.path(protocol.SOCKET))
    supervisor.server.connections[conn.fd] = conn
    supervisor.stdio = stdio
    supervisor.status = "running"
    supervisor.wakeup_r, wakeup_w = os.pipe()
    supervisor._sync_poller()
    supervisor._timeout_ms()
    for fd in (supervisor.wakeup_r, wakeup_w):
        os.close(fd)
    supervisor.server.broadcast(protocol.STDOUT, b"out", raw=False)
    conn.flush()
    theirs.recv(65536)
    supervisor.server.close()
    stdio.close()
    theirs.close()


def warm_up(scratch: str, rounds: int = ROUNDS) -> None:
    """Exercise the monitor's code ``rounds`` times using the empty directory ``scratch``
    (left empty afterwards). Errors are not expected and not swallowed."""
    for _ in range(rounds):
        config = _config(scratch)
        _messages()
        _log(scratch)
        _stdio_and_sockets(config)
        for name in os.listdir(scratch):
            os.unlink(os.path.join(scratch, name))
