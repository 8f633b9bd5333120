"""The light lifecycle commands: ``start``, poststart hooks, and the clean-up of ``delete``.

Kept apart from main_process.py so that ``start``, ``delete`` and ``kill`` import none of the
create path (init, mounts, namespaces): each of them is a process start of its own, and Python's
imports are most of its cost.
"""

from __future__ import annotations

import os

from dockyard.errors import Conflict, SystemFailure
from dockyard.oci import runtime_spec
from dockyard.runtime import hooks
from dockyard.runtime.container import RuntimeContainer

__all__ = ["delete_stopped", "run_poststart", "start"]


def start(container: RuntimeContainer) -> list[str]:
    """Let a created container's helper exec the process; returns poststart warnings.

    Opens the exec fifo for reading, which unblocks the helper's open for writing; the byte it
    writes says it passed the fifo. A pidfd of init in the same poll set ends the wait if init
    dies first.

    Raises:
        Conflict: the container is not in the created state. SystemFailure: init died.
    """
    import select

    status = container.status()
    if status != "created":
        if status == "stopped":
            raise Conflict("cannot start a container that has stopped")
        raise Conflict("cannot start an already running container")
    fifo = os.open(container.fifo_path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    pidfd = os.pidfd_open(container.pid)
    try:
        poller = select.poll()
        poller.register(fifo, select.POLLIN)
        poller.register(pidfd, select.POLLIN)
        while True:
            ready = dict(poller.poll())
            if ready.get(fifo, 0) & select.POLLIN and os.read(fifo, 1):
                break
            if pidfd in ready:
                raise SystemFailure("cannot start container: container init exited")
    finally:
        os.close(pidfd)
        os.close(fifo)
    os.unlink(container.fifo_path)
    return run_poststart(container)


def run_poststart(container: RuntimeContainer) -> list[str]:
    spec = runtime_spec.load_spec(container.spec_json())
    if spec.hooks is None or not spec.hooks.poststart:
        return []
    return hooks.run_hooks("poststart", spec.hooks.poststart, container.state("running"), fatal=False)


def delete_stopped(container: RuntimeContainer) -> list[str]:
    """Run poststop hooks, destroy the cgroup, remove the state; returns hook warnings."""
    warnings: list[str] = []
    spec_json = container.spec_json()
    if spec_json:
        spec = runtime_spec.load_spec(spec_json)
        if spec.hooks is not None and spec.hooks.poststop:
            warnings = hooks.run_hooks(
                "poststop", spec.hooks.poststop, container.state("stopped"), fatal=False
            )
    cgroup = container.cgroup()
    if cgroup is not None:
        if cgroup.is_frozen():
            cgroup.thaw()
        if cgroup.pids():
            cgroup.kill_all(9)
        cgroup.destroy()
    container.remove_dir()
    return warnings
