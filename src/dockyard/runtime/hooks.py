"""OCI hooks: programs run at points of the container's lifecycle (runtime-spec ``config.md``).

Each hook is ``path`` run with ``args`` (``args[0]`` is its argv[0], as in execve(2)) and
``env``, the OCI State as JSON on stdin, and an optional ``timeout`` in seconds after which it
is killed. Where each kind runs, and what its failure means (runtime-spec "Lifecycle"):

- ``prestart`` (deprecated) and ``createRuntime``: by the runtime process, in the runtime's
  namespaces, after the container's namespaces exist and before ``pivot_root``; a failure fails
  ``create`` and the container is torn down;
- ``createContainer``: by init, in the container's namespaces, before ``pivot_root`` (so the
  path is a host path); failure fails ``create``;
- ``startContainer``: by init after ``start`` and before the user process execs; failure makes
  the container exit without running its process;
- ``poststart``: by ``start``/``run`` once the process runs; a failure is logged, the rest go on;
- ``poststop``: by ``delete``; a failure is logged, the rest go on.

Hooks are started with ``os.posix_spawn`` (no ``subprocess``: it costs 20 ms of imports) and
waited on through a pidfd, so the timeout needs no signals or threads.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # signal's C core: no enum import
import os
import select

from dockyard.errors import SystemFailure
from dockyard.util import jsoncodec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.oci.runtime_spec import Hook
    from dockyard.oci.state import State

__all__ = ["HookFailed", "run_hooks"]


_DEFAULT_SIGNALS = frozenset(_signal.valid_signals()) - {9, 19}  # all but SIGKILL, SIGSTOP


class HookFailed(SystemFailure):
    """A hook exited non-zero, was killed, timed out, or could not be started."""


def _wait(pid: int, timeout: int | None) -> int | None:
    """The wait status, or None after killing a hook that outlived ``timeout`` seconds."""
    if timeout is None or timeout <= 0:
        return os.waitpid(pid, 0)[1]
    pidfd = os.pidfd_open(pid)
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        if not poller.poll(timeout * 1000):
            _signal.pidfd_send_signal(pidfd, 9)
            os.waitpid(pid, 0)
            return None
    finally:
        os.close(pidfd)
    return os.waitpid(pid, 0)[1]


def run_hook(hook: Hook, state: State, label: str) -> None:
    """Run one hook to completion.

    Raises:
        HookFailed: it could not start, failed or timed out.
    """
    payload = jsoncodec.dumps(state.hook_json()).encode()
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    try:
        pid = os.posix_spawn(
            hook.path,
            hook.args or [hook.path],
            dict(e.split("=", 1) for e in hook.env if "=" in e),
            file_actions=[(os.POSIX_SPAWN_DUP2, read_end, 0)],
            setsigdef=_DEFAULT_SIGNALS,  # not our SIG_IGN of SIGPIPE and SIGXFSZ, nor our mask
            setsigmask=(),
        )
    except OSError as exc:
        os.close(read_end)
        os.close(write_end)
        raise HookFailed(f"error running {label}: {hook.path}: {exc.strerror}") from None
    os.close(read_end)
    try:
        os.write(write_end, payload)  # a few hundred bytes: fits in the pipe buffer
    except BrokenPipeError:
        pass  # the hook does not read its stdin; that is allowed
    finally:
        os.close(write_end)
    status = _wait(pid, hook.timeout)
    if status is None:
        raise HookFailed(f"error running {label}: timeout after {hook.timeout} seconds")
    if status != 0:
        how = f"exit status {os.waitstatus_to_exitcode(status)}"
        if os.WIFSIGNALED(status):
            how = f"signal {os.WTERMSIG(status)}"
        raise HookFailed(f"error running {label}: {how}")


def run_hooks(kind: str, hooks: list[Hook], state: State, *, fatal: bool = True) -> list[str]:
    """Run every hook of ``kind`` in order.

    With ``fatal`` the first failure raises; without, failures are collected as warnings and
    the remaining hooks still run (poststart, poststop).

    Raises:
        HookFailed: with ``fatal``, a hook failed.
    """
    warnings: list[str] = []
    for index, hook in enumerate(hooks):
        try:
            run_hook(hook, state, f"{kind} hook #{index}")
        except HookFailed as exc:
            if fatal:
                raise
            warnings.append(str(exc))
    return warnings
