"""``exec``: a new process in a running container, with no Python process in its pid namespace.

The command process (P) opens everything it needs from the host first: the container's
namespace files (``/proc/<init>/ns/*``, init checked by start time), the console socket, the
sealed exec helper, its own ``oom_score_adj``. It makes itself a child subreaper and forks a
joiner J, which:

1. is non-dumpable, joins the container's cgroup (every hierarchy) while still in the host's
   cgroup namespace: born in the cgroup2 directory (clone3), entering the v1 hierarchies through
   ``tasks`` (``Cgroup.enter``), so an exec never waits for the RCU grace period that a
   ``cgroup.procs`` write waits for (~9 ms);
2. ``setns`` into each of the container's namespaces that differs from ours, user first, mount
   last. Joining the pid namespace changes only where J's *children* go: J itself stays in the
   host's pid namespace, invisible to the container (pid_namespaces(7));
3. with ``--tty``, opens the container's ``/dev/ptmx`` and sends the master to the console
   socket;
4. applies rlimits, no_new_privs, user, groups and capabilities, cwd (checked reachable),
   resolves the command, installs seccomp last (or first, while privileged, without NNP), closes
   every fd but 0-2;
5. ``os.posix_spawn``s the sealed helper through ``/proc/self/fd/N``: the spawned child runs
   only libc code between clone and execve, and ``/proc/self`` there is the container's procfs
   naming the child itself. The helper makes itself non-dumpable and execs the command.

J sends the new pid to P and exits; the process is reparented to P, which writes ``--pid-file``
and, in the foreground, forwards signals and exits with the process's status; with ``-d`` P
exits at once.
"""

from __future__ import annotations

import os

from dockyard.errors import Conflict, InvalidArgument
from dockyard.oci import runtime_spec
from dockyard.runtime import exec_helper, namespaces, process_setup, syscalls
from dockyard.runtime.container import RuntimeContainer
from dockyard.util import atomicfile, jsoncodec, libc

TYPE_CHECKING = False
if TYPE_CHECKING:
    import _socket

    from dockyard.runtime.cgroups import Cgroup
    from dockyard.runtime.cli import Parsed
    from dockyard.runtime.seccomp_filter import Filter
    from dockyard.runtime.sync import Channel

__all__ = ["build_process", "exec_command"]

_ORDER = ("user", "ipc", "uts", "network", "pid", "cgroup", "time", "mount")


def build_process(parsed: Parsed, base: runtime_spec.Process) -> runtime_spec.Process:
    """The process to run: ``--process FILE``, or the container's process with the flags applied.

    Raises:
        InvalidArgument: unreadable or malformed process file, bad ``--user``, no command.
    """
    path = parsed.flag("process")
    if path is not None:
        try:
            with open(path, "rb") as f:
                data = jsoncodec.loads(f.read())
        except (OSError, jsoncodec.JSONDecodeError) as exc:
            raise InvalidArgument(f"exec --process {path}: {exc}") from None
        process = runtime_spec.Process.from_json(data, "process")
        assert isinstance(process, runtime_spec.Process)
        return process
    args = parsed.args[1:]
    if not args:
        raise InvalidArgument("exec: process args cannot be empty")
    process = runtime_spec.Process.from_json(base.to_json(), "process")
    assert isinstance(process, runtime_spec.Process)
    process.args = args
    process.terminal = parsed.has("tty")
    process.console_size = None
    process.env = [*process.env, *parsed.many("env")]
    if parsed.flag("cwd"):
        process.cwd = str(parsed.flag("cwd"))
    if parsed.flag("user"):
        uid, _, gid = str(parsed.flag("user")).partition(":")
        try:
            process.user = runtime_spec.User(uid=_u32(uid), gid=_u32(gid) if gid else 0)
        except ValueError:
            raise InvalidArgument(f"invalid user {parsed.flag('user')!r}: numbers only") from None
    if parsed.many("additional-gids"):
        process.user.additional_gids = [_u32(g) for g in parsed.many("additional-gids")]
    if parsed.has("no-new-privs"):
        process.no_new_privileges = True
    if parsed.many("cap") and process.capabilities is not None:
        for cap in parsed.many("cap"):
            for caps in (process.capabilities.bounding, process.capabilities.effective,
                         process.capabilities.permitted):  # fmt: skip
                if cap not in caps:
                    caps.append(cap)
    return process


def _u32(text: str) -> int:
    value = int(text, 10)
    if not 0 <= value <= 0xFFFFFFFF:
        raise ValueError(text)
    return value


class _Joiner:
    """What the joiner process needs, opened by P before the fork."""

    def __init__(self, process: runtime_spec.Process, spec: runtime_spec.Spec, cgroup: Cgroup | None) -> None:
        self.process = process
        self.spec = spec
        self.cgroup = cgroup
        self.ns_fds: list[tuple[str, int]] = []
        self.helper_fd: int | None = None
        self.console: _socket.socket | None = None
        self.oom_fd = -1
        self.seccomp: Filter | None = None
        self.cloned_into_unified = False


def exec_command(root: str, parsed: Parsed) -> int:
    """``exec``: run a process in the container; returns the command's exit status.

    Raises:
        NoSuchRuntimeContainer: unknown id. Conflict: not running. InvalidArgument: bad flags.
        ChildFailed: the process could not be set up (the joiner's own message).
    """
    container = RuntimeContainer.load(root, parsed.args[0])
    with container.lock():
        pid = _start(container, parsed)
    if parsed.flag("pid-file"):
        atomicfile.write_atomic(os.path.abspath(str(parsed.flag("pid-file"))), str(pid), durable=False)
    if parsed.has("detach"):
        return 0
    from dockyard.runtime import run_process

    return run_process.wait_forwarding(pid)


def _start(container: RuntimeContainer, parsed: Parsed) -> int:
    status = container.status()
    if status == "stopped":
        raise Conflict("cannot exec in a stopped container")
    if status == "paused" and not parsed.has("ignore-paused"):
        raise Conflict("cannot exec in a paused container")
    spec = runtime_spec.load_spec(container.spec_json())
    assert spec.process is not None
    process = build_process(parsed, spec.process)
    joiner = _Joiner(process, spec, container.cgroup())
    if spec.linux is not None and spec.linux.seccomp is not None:
        from dockyard.runtime import seccomp_filter  # before the fork: the joiner installs it

        joiner.seccomp = seccomp_filter.for_spec(container.root, spec, container.spec_json())
    joiner.ns_fds = _open_namespaces(container)
    try:
        return _fork_joiner(joiner, parsed)
    finally:
        for _, fd in joiner.ns_fds:
            os.close(fd)


def _open_namespaces(container: RuntimeContainer) -> list[tuple[str, int]]:
    """The container's namespaces that differ from ours, opened now (init checked alive after)."""
    opened: list[tuple[str, int]] = []
    for kind in _ORDER:
        name = namespaces.PROC_NAMES[kind]
        try:
            fd = os.open(f"/proc/{container.pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue  # the kernel lacks this kind (time before 5.6)
        theirs, ours = os.fstat(fd), os.stat(f"/proc/self/ns/{name}")
        if (theirs.st_dev, theirs.st_ino) == (ours.st_dev, ours.st_ino):
            os.close(fd)
            continue
        opened.append((kind, fd))
    if not container.is_alive():  # the pid could have been recycled while we opened its files
        for _, fd in opened:
            os.close(fd)
        raise Conflict("cannot exec in a stopped container")
    return opened


def _fork_joiner(joiner: _Joiner, parsed: Parsed) -> int:
    from dockyard.runtime import sync

    if joiner.process.terminal:
        if not parsed.flag("console-socket"):
            raise InvalidArgument("cannot allocate tty if runc will detach without setting console socket")
        from dockyard.runtime import tty

        joiner.console = tty.connect_console_socket(str(parsed.flag("console-socket")))
    joiner.helper_fd = exec_helper.helper_fd()
    joiner.oom_fd = os.open("/proc/self/oom_score_adj", os.O_WRONLY | os.O_CLOEXEC)
    parent, child = sync.channel_pair()
    libc.prctl(libc.PR_SET_CHILD_SUBREAPER, 1)
    pid, cloned = joiner.cgroup.fork_child() if joiner.cgroup is not None else (os.fork(), False)
    if pid == 0:
        parent.close()
        joiner.cloned_into_unified = cloned
        _run_joiner(joiner, child)
    child.close()
    for fd in (joiner.helper_fd, joiner.oom_fd):
        if fd is not None and fd >= 0:
            os.close(fd)
    if joiner.console is not None:
        joiner.console.close()
    try:
        msg = parent.expect("pid")
    finally:
        os.waitpid(pid, 0)
        parent.close()
    return int(str(msg["pid"]))


def _run_joiner(joiner: _Joiner, channel: Channel) -> None:
    try:
        pid = _join(joiner, channel)
        channel.send("pid", pid=pid)
        os._exit(0)
    except BaseException as exc:  # the process boundary: every failure goes to the parent
        try:
            channel.send("error", message=str(exc) or type(exc).__name__)
        finally:
            os._exit(1)


def _join(joiner: _Joiner, channel: Channel) -> int:
    process = joiner.process
    libc.prctl(libc.PR_SET_DUMPABLE, 0)
    if joiner.cgroup is not None:
        joiner.cgroup.enter(cloned_into_unified=joiner.cloned_into_unified)
    for kind, fd in joiner.ns_fds:
        libc.setns(fd, namespaces.FLAGS[kind])
    slave = _open_tty(joiner) if process.terminal else None
    # oom_score_adj through the fd opened on the host: our /proc/self no longer names us.
    path, env = syscalls.become_process(process, syscalls.Syscalls(oom_fd=joiner.oom_fd), joiner.seccomp)
    keep = {0, 1, 2, channel.fileno(), *([joiner.helper_fd] if joiner.helper_fd is not None else [])}
    process_setup.close_fds_except(keep | ({slave} if slave is not None else set()))
    return _spawn(joiner, path, env, slave)


def _open_tty(joiner: _Joiner) -> int:
    from dockyard.runtime import tty

    root = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        pty = tty.open_pty(root)
    finally:
        os.close(root)
    size = joiner.process.console_size
    if size is not None:
        tty.set_size(pty.master, size.height, size.width)
    assert joiner.console is not None
    tty.send_master(joiner.console, pty)
    joiner.console = None
    os.close(pty.master)
    return pty.slave


def _spawn(joiner: _Joiner, path: str, env: dict[str, str], slave: int | None) -> int:
    args = joiner.process.args
    actions: list[tuple[int, int, int]] = []
    if slave is not None:
        actions = [(os.POSIX_SPAWN_DUP2, slave, fd) for fd in (0, 1, 2)]
    # Default signals and an empty mask from the spawn on (setsigdef, setsigmask); glibc still
    # leaves its internal 32 and 33 ignored in the child, which the sealed helper resets too.
    default = process_setup.default_signals()
    if joiner.helper_fd is None:
        # No helper for this machine: spawn the command itself (still only libc before execve).
        return os.posix_spawn(path, args, env, file_actions=actions, setsid=slave is not None,
                              setsigdef=default, setsigmask=())  # fmt: skip
    mode = exec_helper.MODE_TTY if slave is not None else exec_helper.MODE_EXEC
    return os.posix_spawn(
        f"/proc/self/fd/{joiner.helper_fd}",
        exec_helper.helper_argv(mode, path, args),
        env,
        file_actions=actions,
        setsid=slave is not None,
        setsigdef=default,
        setsigmask=(),
    )
