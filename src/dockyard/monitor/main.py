"""``dockyard-monitor``: detach from whoever started us, then supervise one process.

**Why detach.** A container must outlive the daemon that started it: a daemon restart, crash
or upgrade must not take its containers' stdio and exit status with it. So the monitor leaves
the daemon's process tree the classic way (APUE 13.3, "Coding Rules" of daemon(3)):

1. ``setsid()`` makes a new session and process group, so no terminal and no signal aimed at
   the daemon's group (Ctrl-C on a foreground daemon, a service manager's group kill) reaches
   the monitor. If we are a process-group leader, setsid fails (EPERM), so we fork first.
2. ``fork()`` again and let the parent exit: the monitor is not a session leader, so opening
   a terminal can never make it our controlling terminal, and its parent is gone, so it is
   reparented to init (or to the nearest subreaper). The spawner reaps the exiting parent at
   once and is not the monitor's parent: its death (SIGKILL included) cannot touch us.
3. ``prctl(PR_SET_CHILD_SUBREAPER)``: the runtime's ``create`` forks the container's init and
   exits; as a subreaper we become that process's parent and can ``waitpid`` it for the exit
   status (prctl(2)). This is conmon's and containerd-shim's arrangement.
4. stdio to /dev/null, cwd ``/`` (so we pin no mount), umask 022, every other fd closed
   except the sync fd.

**Telling the spawner.** The spawner passes a pipe (``--sync-fd``) and waits on it: the
monitor's setup worker writes ``{"event":"alive","pid":...}`` once the socket listens, then
``created`` with the container's pid (or ``ready`` for an exec); an ``error`` (a bad config,
the runtime's message) comes instead, after the worker cleaned up. Then the pipe is closed. A
spawner killed meanwhile changes nothing: writes to the pipe fail and are ignored.

Two ways in: this program (``dockyard-monitor --dir D --sync-fd N``), a fresh interpreter per
monitor; and ``monitor.zygote``, a pre-imported fork server that calls ``run_detached`` in a
forked child. Either way the import closure of this module is what one monitor costs to
start; ``tests/unit/monitor/test_imports.py`` pins it (no asyncio, json, re, dataclasses,
typing, enum, subprocess, socket, logging, and no daemon room).
"""

from __future__ import annotations

import ctypes
import os

from dockyard.monitor import protocol, worker
from dockyard.monitor.supervisor import Supervisor
from dockyard.util import libc

__all__ = ["become_subreaper", "detach", "main", "run_detached", "settle"]

PR_SET_CHILD_SUBREAPER = 36  # include/uapi/linux/prctl.h

_prctl = ctypes.CDLL(None).prctl  # see become_subreaper; ctypes is loaded by util.libc anyway

USAGE = "usage: dockyard-monitor --dir MONITOR_DIR [--sync-fd FD] [--foreground]\n"


def become_subreaper(on: bool = True) -> None:
    """prctl(PR_SET_CHILD_SUBREAPER, on). The zygote's warm-up calls it with False (which
    changes nothing) so that a monitor's call finds ctypes' call path already warm.

    The call goes straight to a libc function pointer without ctypes' errno bookkeeping
    (``use_errno``), which costs every monitor ~40 KiB of private memory; only if it fails is
    it repeated through ``util.libc``, for the errno.

    Raises:
        OSError: prctl failed.
    """
    flag = 1 if on else 0
    if _prctl(PR_SET_CHILD_SUBREAPER, flag, 0, 0, 0) != 0:
        libc.prctl(PR_SET_CHILD_SUBREAPER, flag)


def settle() -> None:
    """Step 4 of the module essay: cwd ``/`` (so we pin no mount), umask 022, stdio on
    /dev/null. The zygote does it once for all its monitors (``detach(prepared=True)``).

    Raises:
        OSError: /dev/null cannot be opened.
    """
    os.chdir("/")
    os.umask(0o022)
    null = os.open("/dev/null", os.O_RDWR)
    for target in (0, 1, 2):
        os.dup2(null, target)
    if null > 2:
        os.close(null)


def detach(keep_fd: int, *, prepared: bool = False) -> None:
    """Become a daemon (see the module essay). Returns in the grandchild only. ``prepared``:
    the cwd is already ``/``, the umask 022 and stdio /dev/null (the zygote settles itself
    so, once, and its monitors skip those calls).

    Raises:
        OSError: fork, setsid or prctl failed.
    """
    try:
        os.setsid()
    except PermissionError:  # a process-group leader: fork, then the child can
        if os.fork():
            os._exit(0)
        os.setsid()
    if os.fork():
        os._exit(0)
    become_subreaper()
    if not prepared:
        settle()
    if keep_fd >= 3:
        os.closerange(3, keep_fd)
        os.closerange(keep_fd + 1, 1 << 20)
    else:
        os.closerange(3, 1 << 20)


def _report_error(sync_fd: int, exc: BaseException) -> None:
    if sync_fd >= 0:
        try:
            os.write(sync_fd, protocol.encode({"error": protocol.error_to_data(exc)}))
        except OSError:
            pass


def run_detached(monitor_dir: str, sync_fd: int, *, foreground: bool = False, prepared: bool = False) -> int:
    """Detach (unless ``foreground``) and supervise the process ``monitor_dir/config.json``
    describes. Returns the monitor's exit status (the detached grandchild's; the parents
    ``_exit(0)`` inside ``detach``). Everything, a bad config included, is reported on
    ``sync_fd``: the config is read by the monitor's first worker, after detaching.
    ``prepared``: see ``detach``.
    """
    if not foreground:
        detach(sync_fd, prepared=prepared)
    try:
        return Supervisor(monitor_dir, sync_fd).run()
    except Exception as exc:  # the process boundary: record, tell the spawner if it still listens
        worker.record_crash(monitor_dir)
        _report_error(sync_fd, exc)
        return 1


def _parse(argv: list[str]) -> tuple[str, int, bool] | None:
    monitor_dir, sync_fd, foreground = "", -1, False
    args = iter(argv)
    for arg in args:
        if arg == "--dir":
            monitor_dir = next(args, "")
        elif arg == "--sync-fd":
            value = next(args, "")
            if not value.isdigit():
                return None
            sync_fd = int(value)
        elif arg == "--foreground":
            foreground = True
        else:
            return None
    return (monitor_dir, sync_fd, foreground) if monitor_dir.startswith("/") else None


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``dockyard-monitor``; returns the process exit status."""
    import sys

    parsed = _parse(sys.argv[1:] if argv is None else argv)
    if parsed is None:
        os.write(2, USAGE.encode())
        return 2
    monitor_dir, sync_fd, foreground = parsed
    return run_detached(monitor_dir, sync_fd, foreground=foreground)
