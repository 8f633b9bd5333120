"""The light lifecycle commands: ``start``, poststart hooks, and the clean-up of ``delete``.

Kept apart from main_process.py so that ``start``, ``delete`` and ``kill`` import none of the
create path (init, mounts, namespaces): each of them is a process start of its own, and Python's
imports are most of its cost. For the same reason the spec is parsed (``oci.runtime_spec``,
``hooks``) only when the recorded config has hooks of the kind at hand, and ``delete`` of a
stopped container first just removes its cgroup directories, which succeeds whenever no task is
left in them; only a cgroup that refuses (tasks left behind, sub-cgroups, a frozen leftover) goes
through ``Cgroup``'s thaw, kill and patient removal.
"""

from __future__ import annotations

import posix

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
        from dockyard.errors import Conflict

        if status == "stopped":
            raise Conflict("cannot start a container that has stopped")
        raise Conflict("cannot start an already running container")
    fifo = posix.open(container.fifo_path, posix.O_RDONLY | posix.O_NONBLOCK | posix.O_CLOEXEC)
    pidfd = posix.pidfd_open(container.pid)
    try:
        poller = select.poll()
        poller.register(fifo, select.POLLIN)
        poller.register(pidfd, select.POLLIN)
        while True:
            ready = dict(poller.poll())
            if ready.get(fifo, 0) & select.POLLIN and posix.read(fifo, 1):
                break
            if pidfd in ready:
                from dockyard.errors import SystemFailure

                raise SystemFailure("cannot start container: container init exited")
    finally:
        posix.close(pidfd)
        posix.close(fifo)
    posix.unlink(container.fifo_path)
    return run_poststart(container)


def run_poststart(container: RuntimeContainer) -> list[str]:
    """Run the poststart hooks, if any; returns their failures as warnings."""
    return _run_hooks(container, "poststart", "running")


def _run_hooks(container: RuntimeContainer, kind: str, status: str) -> list[str]:
    recorded = container.spec_json().get("hooks")
    if not isinstance(recorded, dict) or not recorded.get(kind):
        return []  # the common case: no spec parsing, no hooks module
    from dockyard.oci import runtime_spec
    from dockyard.runtime import hooks

    spec = runtime_spec.load_spec(container.spec_json())
    chosen = getattr(spec.hooks, kind, None) or []
    return hooks.run_hooks(kind, chosen, container.state(status), fatal=False)


def delete_stopped(container: RuntimeContainer) -> list[str]:
    """Run poststop hooks, destroy the cgroup, remove the state; returns hook warnings."""
    warnings = _run_hooks(container, "poststop", "stopped")
    data = container.record.get("cgroup")
    paths = data.get("paths") if isinstance(data, dict) else None
    if isinstance(paths, dict) and not _remove_empty(paths):
        cgroup = container.cgroup()
        if cgroup is not None:
            if cgroup.is_frozen():
                cgroup.thaw()
            if cgroup.pids():
                cgroup.kill_all(9)
            cgroup.destroy()
    container.remove_dir()
    return warnings


def _remove_empty(paths: dict[str, str]) -> bool:
    """rmdir each directory; False at the first that refuses (the caller then does it properly)."""
    for directory in dict.fromkeys(paths.values()):
        try:
            posix.rmdir(directory)
        except FileNotFoundError:
            continue
        except OSError:
            return False
    return True
