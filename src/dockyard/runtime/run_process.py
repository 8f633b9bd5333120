"""``run``: create, start, wait and delete in one process.

The foreground form makes this process a child subreaper before it forks (prctl(2),
``PR_SET_CHILD_SUBREAPER``): when the intermediate process exits, init is reparented here and
can be waited for. Init execs at once (no exec fifo: the start is now), the state is recorded so
``state``, ``kill`` and ``exec`` from other processes work meanwhile, signals sent to us are
forwarded to init, and the exit status is init's (128+n when a signal n killed it), as runc's.
``run -d`` is create with the fifo plus start, then this process exits.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # signal's C core: no enum import
import os

from dockyard.runtime import lifecycle, main_process
from dockyard.runtime.main_process import CreateOptions
from dockyard.util import libc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.runtime.cli import _Log

__all__ = ["FORWARDED", "run"]

FORWARDED = (1, 2, 3, 10, 12, 15, 28)
"""HUP, INT, QUIT, USR1, USR2, TERM, WINCH: what runc's signal handler forwards to init."""


def run(options: CreateOptions, *, detach: bool, log: _Log) -> int:
    """Run the container; returns the exit status for the command.

    Raises:
        DockyardError: create failed (nothing is left behind).
    """
    if detach:
        container = main_process.create(options)
        with container.lock():
            for warning in lifecycle.start(container):
                log.write("warning", warning)
        return 0
    libc.prctl(libc.PR_SET_CHILD_SUBREAPER, 1)
    container = main_process.create(options)
    pid = container.pid
    previous = {sig: _signal.signal(sig, lambda s, _f: _forward(pid, s)) for sig in FORWARDED}
    try:
        for warning in lifecycle.run_poststart(container):
            log.write("warning", warning)
        status = _wait(pid)
    finally:
        for sig, handler in previous.items():
            _signal.signal(sig, handler)
    with container.lock():
        for warning in lifecycle.delete_stopped(container):
            log.write("warning", warning)
    return status


def _forward(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _wait(pid: int) -> int:
    """Reap init (and any orphan reparented to us meanwhile); init's status as a shell reports it."""
    while True:
        try:
            reaped, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 255
        if reaped == pid:
            if os.WIFSIGNALED(status):
                return 128 + os.WTERMSIG(status)
            return os.waitstatus_to_exitcode(status)


def wait_forwarding(pid: int) -> int:
    """Wait for ``pid`` (a child of ours, or reparented to us) forwarding signals to it."""
    previous = {sig: _signal.signal(sig, lambda s, _f: _forward(pid, s)) for sig in FORWARDED}
    try:
        return _wait(pid)
    finally:
        for sig, handler in previous.items():
            _signal.signal(sig, handler)
