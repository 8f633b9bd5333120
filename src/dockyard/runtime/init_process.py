"""Init: the process that becomes the container (pid 1 of its pid namespace).

Forked by the intermediate process inside the new namespaces, it is non-dumpable from its first
instruction (the flag is inherited at fork), so no process in the container can open its
``/proc/<pid>/exe`` (the host's python3) or ptrace it. It:

1. closes every fd it did not ask for (CVE-2024-21626);
2. makes the rootfs (mounts.py): ``/`` rprivate, the rootfs bound onto itself, the spec's mounts,
   ``/dev``; allocates the pty and sends its master through the console socket;
3. asks the parent to run the ``prestart``/``createRuntime`` hooks, runs ``createContainer``;
4. read-only remounts, sysctls, read-only and masked paths (before ``pivot_root``, see
   ``_finalize_rootfs``); ``pivot_root(".", ".")`` and detaches the old root; root propagation,
   hostname and domainname;
5. becomes the process (syscalls.become_process), resolves the command, tells the parent "ready" and
   ``fexecve``s the sealed exec helper (exec_helper.py), which waits on the exec fifo until
   ``start``. Its sync socket is close-on-exec: EOF tells the parent the exec succeeded.

When ``startContainer`` hooks exist, init itself waits on the fifo, runs them and only then
execs the helper in immediate mode, because those hooks run between ``start`` and the exec.
Without helper bytes (a machine other than x86_64) init execs the command itself: weaker, since
between the exec and the command's first instruction the process is the dumpable host python3
only if the command's path were a ``#!/proc/self/exe`` script; the S01 test marks that case.
"""

from __future__ import annotations

import fcntl
import os

from dockyard.oci.state import State
from dockyard.runtime import exec_helper, mounts, process_setup, syscalls
from dockyard.util import libc, securejoin

TYPE_CHECKING = False
if TYPE_CHECKING:
    import _socket
    from collections.abc import Callable

    from dockyard.oci.runtime_spec import Spec
    from dockyard.runtime.namespaces import NamespacePlan
    from dockyard.runtime.seccomp_filter import Filter
    from dockyard.runtime.sync import Channel

__all__ = ["InitConfig", "run_init"]


class InitConfig:
    """Everything the intermediate and init processes need, handed over by fork."""

    def __init__(
        self,
        *,
        container_id: str,
        spec: Spec,
        bundle: str,
        rootfs: str,
        plan: NamespacePlan,
        channel: Channel,
        fifo_fd: int | None,
        helper_fd: int | None,
        console: _socket.socket | None,
        seccomp: Filter | None,
        runtime_hooks: bool,
    ) -> None:
        self.container_id = container_id
        self.spec = spec
        self.bundle = bundle
        self.rootfs = rootfs
        self.plan = plan
        self.channel = channel
        self.fifo_fd = fifo_fd
        self.helper_fd = helper_fd
        self.console = console
        self.seccomp = seccomp  # (program, flags), compiled by the parent
        self.runtime_hooks = runtime_hooks
        self.cgroup_binds: list[tuple[str, str]] = []
        self.cloned_into_unified = False  # born in the cgroup2 directory (Cgroup.fork_child)
        self.wait_resources = False  # the parent sets the cgroup's limits after the rootfs

    def kept_fds(self) -> set[int]:
        fds = {0, 1, 2, self.channel.fileno()}
        for fd in (self.fifo_fd, self.helper_fd, self.console.fileno() if self.console else None):
            if fd is not None:
                fds.add(fd)
        return fds


def run_init(config: InitConfig, prepare: Callable[[], None] | None = None) -> None:
    """Run init to its exec (after ``prepare``); on failure report to the parent and ``_exit(1)``.

    Never returns.
    """
    try:
        if prepare is not None:
            prepare()
        _init(config)
        message = "init: exec returned"
    except BaseException as exc:  # the process boundary: every failure goes to the parent
        message = str(exc) or type(exc).__name__
    try:
        config.channel.send("error", message=message)
    finally:
        os._exit(1)


def _state(config: InitConfig, status: str, pid: int) -> State:
    return State(
        id=config.container_id,
        status=status,
        pid=pid,
        bundle=config.bundle,
        oci_version=config.spec.oci_version,
        annotations=config.spec.annotations,
    )


def _preload_hooks(spec: Spec) -> None:
    """Import ``runtime.hooks`` now if init runs any: after ``pivot_root`` the host's files are
    gone, and a later ``import`` of it only works because it finds the module in sys.modules."""
    if spec.hooks is not None and (spec.hooks.create_container or spec.hooks.start_container):
        from dockyard.runtime import hooks  # noqa: F401


def _init(config: InitConfig) -> None:
    spec = config.spec
    process = spec.process
    assert process is not None
    _preload_hooks(spec)
    process_setup.close_fds_except(config.kept_fds())
    if process.terminal:
        os.setsid()
    host_pid = int(os.readlink("/proc/self"))  # still the host's /proc: our pid as the host sees it
    root_fd = _prepare_rootfs(config)
    if config.wait_resources:
        config.channel.send("mounted")
        config.channel.expect("resources")
    if config.runtime_hooks:
        config.channel.send("hooks")
        config.channel.expect("hooks-done")
    if spec.hooks is not None and spec.hooks.create_container:
        from dockyard.runtime import hooks

        hooks.run_hooks("createContainer", spec.hooks.create_container, _state(config, "creating", host_pid))
    _finalize_rootfs(spec, root_fd)
    os.close(root_fd)
    _pivot_root(config.rootfs)
    if spec.linux is not None and spec.linux.rootfs_propagation:
        # After pivot_root, which refuses a shared new root (pivot_root(2) EINVAL).
        libc.mount(None, "/", None, mounts.PROPAGATION[spec.linux.rootfs_propagation])
    if spec.hostname is not None:
        libc.sethostname(spec.hostname)
    if spec.domainname is not None:
        libc.setdomainname(spec.domainname)
    _setup_process(config)


def _prepare_rootfs(config: InitConfig) -> int:
    spec = config.spec
    process = spec.process
    assert process is not None
    os.umask(0)  # device nodes and mount targets get exactly the modes asked for
    libc.mount(None, "/", None, libc.MS_REC | libc.MS_PRIVATE)  # nothing we mount reaches the host
    libc.mount(config.rootfs, config.rootfs, None, libc.MS_BIND | libc.MS_REC)  # pivot_root needs a mount
    root_fd = os.open(config.rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    null_fd = mounts.open_null()
    try:
        rootfs = mounts.Rootfs(
            root_fd, null_fd=null_fd, cgroup_binds=config.cgroup_binds, userns=config.plan.has("user")
        )
        mounts.apply(mounts.plan_mounts(spec, userns=rootfs.userns), rootfs)
        # runc creates a missing cwd (as root, before pivot_root).
        os.close(securejoin.mkdir_all_in_root(root_fd, process.cwd))
        if process.terminal:
            _setup_terminal(config, root_fd)
    finally:
        os.close(null_fd)
    return root_fd


def _setup_terminal(config: InitConfig, root_fd: int) -> None:
    process = config.spec.process
    assert process is not None
    if config.console is None:
        raise mounts.MountError("cannot allocate tty if runc will detach without setting console socket")
    from dockyard.runtime import tty  # before pivot_root: only a terminal needs it

    pty = tty.open_pty(root_fd)
    if process.console_size is not None:
        tty.set_size(pty.master, process.console_size.height, process.console_size.width)
    console = mounts.open_target(root_fd, "/dev/console", directory=False)
    try:
        libc.mount(f"/proc/self/fd/{pty.slave}", f"/proc/self/fd/{console}", None, libc.MS_BIND)
    finally:
        os.close(console)
    tty.send_master(config.console, pty)
    config.console = None
    os.close(pty.master)
    for fd in (0, 1, 2):
        os.dup2(pty.slave, fd)
    os.close(pty.slave)
    fcntl.ioctl(0, libc.TIOCSCTTY, 0)


def _pivot_root(rootfs: str) -> None:
    """pivot_root(".", ".") stacks the old root on the new one; detach it (pivot_root(2) NOTES).

    As runc does, we fchdir to the *old* root before acting on "." so the rslave and the detach
    apply to it and not to the new root's mounts (whose propagation the spec chose).
    """
    old_root = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.chdir(rootfs)
        libc.pivot_root(".", ".")
        os.fchdir(old_root)
    finally:
        os.close(old_root)
    # Make the old root a slave first so the detach does not propagate to the host's mounts.
    libc.mount(None, ".", None, libc.MS_SLAVE | libc.MS_REC)
    libc.umount2(".", libc.MNT_DETACH)
    os.chdir("/")


def _finalize_rootfs(spec: Spec, root_fd: int) -> None:
    """Read-only remounts, sysctls, read-only and masked paths, all through ``root_fd``.

    Done before ``pivot_root`` (runc does it after): the host's /dev/null is then still in our
    mount namespace, so masks bind *that* node, opened and checked here, and never a node the
    container's rootfs provides (CVE-2025-31133). Sysctls are per-namespace files of the
    container's own procfs instance either way.
    """
    null_fd = mounts.open_null()
    try:
        rootfs = mounts.Rootfs(root_fd, null_fd=null_fd, cgroup_binds=[], userns=False)
        ops = mounts.plan_finalize(spec)
        mounts.apply([op for op in ops if op.kind == "remount-ro"], rootfs)
        linux = spec.linux
        for key, value in (linux.sysctl if linux else {}).items():
            mounts.write_sysctl(root_fd, key, value)
        mounts.apply([op for op in ops if op.kind != "remount-ro"], rootfs)
    finally:
        os.close(null_fd)


def _setup_process(config: InitConfig) -> None:
    process = config.spec.process
    assert process is not None
    path, env = syscalls.become_process(process, syscalls.Syscalls(), config.seccomp)
    _exec(config, path, env)


def _exec(config: InitConfig, path: str, env: dict[str, str]) -> None:
    process = config.spec.process
    assert process is not None
    fifo = _move_fifo_to_3(config)
    process_setup.close_fds_except(
        {
            0,
            1,
            2,
            config.channel.fileno(),
            *([3] if fifo else []),
            *([config.helper_fd] if config.helper_fd is not None else []),
        }
    )
    start_hooks = config.spec.hooks.start_container if config.spec.hooks else []
    waits_itself = fifo and (bool(start_hooks) or config.helper_fd is None)
    config.channel.send("ready", waiting=waits_itself)
    if waits_itself:
        _wait_fifo()
    if waits_itself and start_hooks:
        from dockyard.runtime import hooks  # preloaded (_preload_hooks): no file is read now

        hooks.run_hooks("startContainer", start_hooks, _state(config, "created", os.getpid()))
    if config.helper_fd is None:
        # No helper for this machine: exec from Python (see the module essay).
        process_setup.reset_signals()
        os.execve(path, process.args, env)
    mode = exec_helper.MODE_FIFO if fifo and not waits_itself else exec_helper.MODE_EXEC
    os.execve(config.helper_fd, exec_helper.helper_argv(mode, path, process.args), env)


def _move_fifo_to_3(config: InitConfig) -> bool:
    """Put the fifo's O_PATH fd at 3 (the helper's contract), moving whatever sits there."""
    if config.fifo_fd is None:
        return False
    if config.helper_fd == 3:
        config.helper_fd = os.dup(3)
    if config.channel.fileno() == 3:
        import _socket

        moved = os.dup(3)
        config.channel.sock.detach()
        config.channel.sock = _socket.socket(fileno=moved)
    if config.fifo_fd != 3:
        os.dup2(config.fifo_fd, 3)
    else:
        os.set_inheritable(3, True)
    return True


def _wait_fifo() -> None:
    """What the helper's F mode does, in Python: block until ``start`` opens the fifo."""
    fd = os.open("/proc/self/fd/3", os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, b"0")
    finally:
        os.close(fd)
    os.close(3)
