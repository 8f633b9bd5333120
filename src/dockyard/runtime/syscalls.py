"""The seam between the container process's set-up order and the kernel calls that make it.

``become_process`` is the one place that decides the *order* in which init (``create``) and the
joiner (``exec``) turn themselves into the container's process (process_setup.py's essay has the
reasons): umask, rlimits, oom_score_adj, no_new_privs (or seccomp while still privileged when
there is none), user, groups and capabilities, cwd, the command's path, and seccomp last when
no_new_privs is set. The calls go through a ``Syscalls`` object: ``Syscalls`` itself makes them,
and tests pass a recorder to check the order without privileges (DESIGN section 7, "FakeSyscalls
records calls").
"""

from __future__ import annotations

import os

from dockyard.runtime import process_setup

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.oci.runtime_spec import Process

__all__ = ["Syscalls", "become_process"]


class Syscalls:
    """The real calls. ``oom_fd``: an already open ``oom_score_adj`` (exec opens it on the host)."""

    def __init__(self, oom_fd: int | None = None) -> None:
        self.oom_fd = oom_fd

    def umask(self, mask: int) -> None:
        os.umask(mask)

    def set_rlimits(self, process: Process) -> None:
        process_setup.apply_rlimits(process)

    def set_oom_score_adj(self, value: int) -> None:
        if self.oom_fd is not None:
            os.write(self.oom_fd, str(value).encode())
        else:
            process_setup.set_oom_score_adj(value)

    def set_no_new_privs(self) -> None:
        process_setup.set_no_new_privs()

    def install_seccomp(self, program: bytes, flags: list[str]) -> None:
        # Found in sys.modules, not read from disk (the filesystem is the container's by now): the
        # parent imported seccomp_filter to get the program, before it forked us.
        from dockyard.runtime import seccomp_filter

        seccomp_filter.install(program, flags)

    def set_identity(self, process: Process) -> None:
        process_setup.apply_identity(process)

    def enter_cwd(self, cwd: str) -> None:
        process_setup.verify_cwd(cwd)

    def lookup(self, name: str, env: dict[str, str]) -> str:
        return process_setup.lookup_command(name, env)


def become_process(
    process: Process, sys: Syscalls, seccomp: tuple[bytes, list[str]] | None
) -> tuple[str, dict[str, str]]:
    """Apply the process's limits, privileges and cwd in order; returns (path, environment).

    Raises:
        InvalidArgument: a malformed env entry, rlimit or capability name.
        SystemFailure: a kernel call failed, or the command is not found (runc's words).
    """
    sys.umask(process.user.umask if process.user.umask is not None else 0o022)
    sys.set_rlimits(process)
    if process.oom_score_adj is not None:
        sys.set_oom_score_adj(process.oom_score_adj)  # before privileges go: lowering needs them
    if process.no_new_privileges:
        sys.set_no_new_privs()
    elif seccomp is not None:
        sys.install_seccomp(*seccomp)  # without NNP, a filter needs CAP_SYS_ADMIN: install it now
    sys.set_identity(process)
    sys.enter_cwd(process.cwd)
    env = process_setup.env_dict(process.env)
    path = sys.lookup(process.args[0] if process.args else "", env)
    if process.no_new_privileges and seccomp is not None:
        sys.install_seccomp(*seccomp)  # last: as few syscalls as possible run under the filter
    return path, env
