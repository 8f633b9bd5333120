"""Start the RCU grace period a cgroup migration waits for, while Python is still busy importing.

Moving a process into a cgroup (a write to ``cgroup.procs``, v1 or v2) takes the kernel's global
``cgroup_threadgroup_rwsem`` for writing. That percpu rwsem's writer first waits for an RCU grace
period (``rcu_sync_enter``), about 9 ms on the project machines, unless a writer passed within
the last grace period or so. ``create`` must move init into the container's cgroup, and that wait
was a third of the whole ``run``.

So the command starts, in a thread, a no-op migration of itself into its *own* cgroup, as soon as
it knows it will create a container. The grace period then runs while the main thread imports the
create path, loads the bundle and makes the cgroup; when init is moved, the rwsem is (still)
in its writer-ready state and the write costs microseconds. The thread is waited for before any
fork, so no child is forked from a process with a second thread running. Any failure is ignored:
this is only an optimisation, the real migration reports its own errors.
"""

from __future__ import annotations

import _thread
import os

__all__ = ["Warmup"]


class Warmup:
    """A background self-migration; ``wait()`` before forking."""

    def __init__(self) -> None:
        self._done = _thread.allocate_lock()
        self._done.acquire()
        try:
            _thread.start_new_thread(self._run, ())
        except RuntimeError:
            self._done.release()

    def _run(self) -> None:
        try:
            migrate_self()
        except (OSError, ValueError):
            pass
        finally:
            self._done.release()

    def wait(self) -> None:
        """Block until the migration finished (it is a no-op for our cgroup membership)."""
        self._done.acquire()
        self._done.release()


def migrate_self(proc_cgroup: str = "/proc/self/cgroup", root: str = "/sys/fs/cgroup") -> None:
    """Write our pid into our own cgroup's ``cgroup.procs`` in one hierarchy (pids, else any)."""
    with open(proc_cgroup) as f:
        lines = [line.rstrip("\n").split(":", 2) for line in f if line.count(":") >= 2]
    chosen = next((x for x in lines if x[1] == "pids"), None) or next((x for x in lines if x[1]), None)
    if chosen is None:
        chosen = next(line for line in lines if line[1] == "")  # cgroup v2 only
        directory = root + chosen[2]
    else:
        directory = f"{root}/{chosen[1].removeprefix('name=')}{chosen[2]}"
    fd = os.open(f"{directory.rstrip('/')}/cgroup.procs", os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, str(os.getpid()).encode())
    finally:
        os.close(fd)
