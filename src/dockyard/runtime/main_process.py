"""The parent side of ``create``, ``start`` and ``run``: the fork chain and its synchronisation.

``create`` (process P, this module) validates the bundle, gets the seccomp filter (compiled, or
from the cache under the state root), reserves the state directory under an flock, creates the
cgroup directories and forks the container's first process. Without a user namespace that is
init I itself (init_process.py); with one it is the intermediate process C
(intermediate_process.py), which enters the user namespace and forks I as pid 1 of the new pid
namespace, reports I's pid and exits.

**Into the cgroup without waiting.** The first process is cloned straight into the cgroup2
directory when there is one (clone3 with ``CLONE_INTO_CGROUP``: ``Cgroup.fork_child``) and
moves itself into each v1 hierarchy by writing 0 to ``tasks`` (``Cgroup.enter``). Neither takes
the global rwsem that a ``cgroup.procs`` write takes, whose first writer waits for an RCU grace
period: ~9 ms, once a third of a whole ``run``. It does so first, before it unshares a cgroup
namespace, so that namespace's root is the container's cgroup; init inherits it from C.

**Resources after the rootfs, as runc.** P writes the limits and device rules once I reports
its rootfs made (``mounted``), and I waits for ``resources`` before anything else: runc applies
``Set`` at the same point (procHooks/procReady), so device nodes from ``linux.devices`` are
created before the device rules apply, and no hook or user process runs unlimited.

P and its children talk over one close-on-exec SEQPACKET socketpair (sync.py):

    C -> P  userns          (only with a new user namespace)  P writes uid_map/gid_map
    P -> C  mapped
    C -> P  pid {pid}       init's pid as the host sees it; C exits, P reaps it
    I -> P  mounted         (only with a cgroup)  P sets the resources
    P -> I  resources
    I -> P  hooks           (only with prestart/createRuntime hooks)  P runs them
    P -> I  hooks-done
    I -> P  ready           then I execs the sealed helper; EOF on the socket = exec succeeded
    * -> P  error {message} the real reason, which ``create`` reports

After ``ready`` P records the state (pid, its start time, the spec, the cgroup), writes
``--pid-file`` and exits 0; the helper blocks on ``exec.fifo`` until ``start`` opens it for
reading. Any failure tears everything down (init killed, cgroup removed, state directory
removed) before the error is reported, so nothing is left behind.

``run`` is create + start + wait + delete in one process. P becomes a child subreaper
(PR_SET_CHILD_SUBREAPER) so init is reparented to it when C exits, skips the fifo (init execs
at once), forwards signals to init and exits with its status (128+n when killed by signal n).
"""

from __future__ import annotations

import os

from dockyard.errors import InvalidArgument, SystemFailure
from dockyard.oci import runtime_spec
from dockyard.oci.state import rfc3339_nano
from dockyard.runtime import exec_helper, namespaces
from dockyard.runtime.container import RuntimeContainer, process_start_time
from dockyard.runtime.init_process import InitConfig
from dockyard.util import atomicfile, jsoncodec, libc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.runtime.cgroups import Cgroup
    from dockyard.runtime.seccomp_filter import Filter
    from dockyard.runtime.sync import Channel

__all__ = ["CreateOptions", "create", "load_bundle"]


class CreateOptions:
    """The ``create``/``run`` command line, parsed."""

    def __init__(
        self,
        *,
        root: str,
        container_id: str,
        bundle: str,
        pid_file: str | None = None,
        console_socket: str | None = None,
        use_fifo: bool = True,
    ) -> None:
        self.root = root
        self.container_id = container_id
        self.bundle = os.path.abspath(bundle)
        self.pid_file = pid_file
        self.console_socket = console_socket
        self.use_fifo = use_fifo


def load_bundle(bundle: str) -> tuple[runtime_spec.Spec, dict[str, object], str]:
    """(spec, raw JSON, absolute rootfs path) of a bundle, validated the way runc does.

    Raises:
        InvalidArgument: config.json missing or malformed (naming the field), no process, or
            a missing rootfs.
    """
    try:
        with open(os.path.join(bundle, "config.json"), "rb") as f:
            raw = jsoncodec.loads(f.read())
    except FileNotFoundError:
        raise InvalidArgument(f"JSON specification file config.json not found in {bundle}") from None
    except jsoncodec.JSONDecodeError as exc:
        raise InvalidArgument(f"config.json: {exc}") from None
    spec = runtime_spec.load_spec(raw)
    if spec.process is None:
        raise InvalidArgument("config.json: process: required")
    if spec.root is None:
        raise InvalidArgument("config.json: root: required")
    rootfs = spec.root.path if spec.root.path.startswith("/") else os.path.join(bundle, spec.root.path)
    rootfs = os.path.realpath(rootfs)
    if not os.path.isdir(rootfs):
        raise InvalidArgument(f"invalid rootfs: stat {rootfs}: no such file or directory")
    assert isinstance(raw, dict)
    return spec, raw, rootfs


def _seccomp(root: str, spec: runtime_spec.Spec, raw: dict[str, object]) -> Filter | None:
    """The spec's seccomp filter, or None; ``seccomp_filter`` is imported only for a profile."""
    if spec.linux is None or spec.linux.seccomp is None:
        return None
    from dockyard.runtime import seccomp_filter

    return seccomp_filter.for_spec(root, spec, raw)


class _Creation:
    """What a create made so far, so a failure can undo it (init, cgroup, state directory)."""

    def __init__(self, container: RuntimeContainer) -> None:
        self.container = container
        self.cgroup: Cgroup | None = None
        self.init_pid = 0

    def undo(self, exc: BaseException) -> None:
        try:
            if self.init_pid:
                try:
                    os.kill(self.init_pid, 9)
                    os.waitpid(self.init_pid, 0)
                except ChildProcessError:
                    pass
                except ProcessLookupError:
                    pass
            if self.cgroup is not None:
                self.cgroup.kill_all(9)
                self.cgroup.destroy()
        except Exception as cleanup:  # keep the first error; note the second
            exc.add_note(f"cleanup failed: {cleanup}")
        finally:
            self.container.remove_dir()


def create(options: CreateOptions) -> RuntimeContainer:
    """Create the container and leave it waiting for ``start`` (or running, without the fifo).

    Raises:
        InvalidArgument: bad bundle or id. Conflict: the id exists. SystemFailure: a step of the
            set-up failed (the message is the child's own).
    """
    spec, raw, rootfs = load_bundle(options.bundle)
    seccomp = _seccomp(options.root, spec, raw)  # validated now, not in init
    container = RuntimeContainer.reserve(options.root, options.container_id)
    creation = _Creation(container)
    try:
        with container.lock():
            _create_locked(options, creation, spec, raw, rootfs, seccomp)
    except BaseException as exc:
        creation.undo(exc)
        raise
    return container


def _create_locked(
    options: CreateOptions,
    creation: _Creation,
    spec: runtime_spec.Spec,
    raw: dict[str, object],
    rootfs: str,
    seccomp: Filter | None,
) -> None:
    from dockyard.runtime import sync

    container = creation.container
    linux = spec.linux
    plan = namespaces.plan_namespaces(spec)
    if linux is not None:  # as runc: always a cgroup; no cgroupsPath means <our cgroup>/<id>
        from dockyard.runtime.cgroups import Cgroup

        creation.cgroup = Cgroup.for_container(container.id, linux.cgroups_path)
        creation.cgroup.create()  # the limits come once init's rootfs is made (see the essay)
    fifo_fd = None
    if options.use_fifo:
        fifo_fd = _make_fifo(container.fifo_path, spec)
    console = None
    process = spec.process
    assert process is not None
    if process.terminal:
        if options.console_socket is None:
            raise InvalidArgument("cannot allocate tty if runc will detach without setting console socket")
        from dockyard.runtime import tty

        console = tty.connect_console_socket(options.console_socket)
    elif options.console_socket is not None:
        raise InvalidArgument("cannot use console socket if runc will not detach or allocate tty")
    parent, child = sync.channel_pair()
    hook_set = spec.hooks
    config = InitConfig(
        container_id=container.id,
        spec=spec,
        bundle=options.bundle,
        rootfs=rootfs,
        plan=plan,
        channel=child,
        fifo_fd=fifo_fd,
        helper_fd=exec_helper.helper_fd(),
        console=console,
        seccomp=seccomp,
        runtime_hooks=bool(hook_set and (hook_set.prestart or hook_set.create_runtime)),
    )
    config.wait_resources = creation.cgroup is not None
    intermediate = _fork_init(config, creation, parent)
    for fd in (child.fileno(), fifo_fd, config.helper_fd, console.fileno() if console else None):
        if fd is not None:
            os.close(fd)
    child.sock.detach()
    if console is not None:
        console.detach()
    try:
        _talk_to_children(options, creation, spec, parent, plan, intermediate)
    finally:
        parent.close()
    container.record.update(
        id=container.id,
        pid=creation.init_pid,
        start_time=process_start_time(creation.init_pid),
        bundle=options.bundle,
        rootfs=rootfs,
        created=rfc3339_nano(_now_ns()),
        owner="",
        oci_version=spec.oci_version,
        annotations=spec.annotations,
        config=raw,
        cgroup=creation.cgroup.to_state() if creation.cgroup is not None else None,
    )
    container.save()
    if options.pid_file:
        atomicfile.write_atomic(os.path.abspath(options.pid_file), str(creation.init_pid), durable=False)


def _fork_init(config: InitConfig, creation: _Creation, parent: Channel) -> int | None:
    """Fork the intermediate process (returns its pid), or init itself (returns None).

    Without a user namespace, init is forked directly (intermediate_process.py's essay): we
    unshare or join the pid and time namespaces for our children, fork, and restore our own.
    We are made non-dumpable first, so init is from its first instruction. Either child is
    born in the cgroup2 directory when the kernel can (``Cgroup.fork_child``).
    """
    from dockyard.runtime import intermediate_process

    libc.prctl(libc.PR_SET_DUMPABLE, 0)
    plan = config.plan
    if plan.has("user"):
        pid = _fork_child(config, creation.cgroup)
        if pid == 0:
            parent.close()
            intermediate_process.run_intermediate(config, creation.cgroup)
        return pid
    restore = []
    try:
        for kind, flag in (("pid", libc.CLONE_NEWPID), ("time", libc.CLONE_NEWTIME)):
            if not plan.has(kind):
                continue
            name = "pid_for_children" if kind == "pid" else "time_for_children"
            restore.append((os.open(f"/proc/self/ns/{name}", os.O_RDONLY | os.O_CLOEXEC), flag))
            joined = dict(plan.join).get(kind)
            if joined is not None:
                fd = os.open(joined, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    libc.setns(fd, flag)
                finally:
                    os.close(fd)
            else:
                libc.unshare(flag)
                if kind == "time":
                    intermediate_process.write_time_offsets(config)
        pid = _fork_child(config, creation.cgroup)
        if pid == 0:
            parent.close()
            intermediate_process.run_init_directly(config, creation.cgroup)
    finally:
        for fd, flag in restore:
            libc.setns(fd, flag)
            os.close(fd)
    creation.init_pid = pid
    return None


def _fork_child(config: InitConfig, cgroup: Cgroup | None) -> int:
    """fork(2); the child is born in the cgroup2 directory if it can be, and notes whether."""
    if cgroup is None:
        return os.fork()
    pid, cloned = cgroup.fork_child()
    if pid == 0:
        config.cloned_into_unified = cloned
    return pid


def _make_fifo(path: str, spec: runtime_spec.Spec) -> int:
    """The exec fifo (0622, whatever our umask), owned like runc's by the container's root.

    The helper opens it for writing through ``/proc/self/fd/3`` as the container's root, which
    in a user namespace is an unprivileged host uid.
    """
    os.mkfifo(path, 0o622)
    os.chmod(path, 0o622)
    linux = spec.linux
    if linux is not None and linux.uid_mappings:
        uid = next((m.host_id for m in linux.uid_mappings if m.container_id == 0), 0)
        gid = next((m.host_id for m in linux.gid_mappings if m.container_id == 0), 0)
        os.chown(path, uid, gid)
    return os.open(path, os.O_PATH | os.O_CLOEXEC)


def _now_ns() -> int:
    import time

    return time.time_ns()


def _talk_to_children(
    options: CreateOptions,
    creation: _Creation,
    spec: runtime_spec.Spec,
    channel: Channel,
    plan: namespaces.NamespacePlan,
    intermediate: int | None,
) -> None:
    from dockyard.runtime.sync import ChildFailed

    if intermediate is None:
        pass  # init was forked directly; its pid is known
    else:
        try:
            if plan.creates("user"):
                channel.expect("userns")
                _write_id_maps(intermediate, spec)
                channel.send("mapped")
            creation.init_pid = int(str(channel.expect("pid")["pid"]))
        finally:
            os.waitpid(intermediate, 0)
    if creation.cgroup is not None:
        creation.cgroup.preload()  # while init makes its rootfs, on the other core
        channel.expect("mounted")
        linux = spec.linux
        creation.cgroup.set_resources(linux.resources if linux is not None else None)
        channel.send("resources")
    while True:
        msg = channel.recv()
        if msg is None:
            raise ChildFailed("container init exited before it was ready")
        if msg["type"] == "hooks":
            _run_runtime_hooks(options, creation, spec)
            channel.send("hooks-done")
        elif msg["type"] == "ready":
            break
        else:
            raise ChildFailed(f"sync: unexpected message {msg['type']!r}")
    if msg.get("waiting"):
        return  # init stays in Python to run startContainer hooks; it cannot close the socket
    if channel.recv() is not None:
        raise ChildFailed("sync: unexpected message after ready")


def _write_id_maps(pid: int, spec: runtime_spec.Spec) -> None:
    linux = spec.linux
    assert linux is not None
    for name, mappings in (("uid_map", linux.uid_mappings), ("gid_map", linux.gid_mappings)):
        if not mappings:
            raise InvalidArgument(
                f"config.json: linux.{name.replace('_m', 'M')}pings: required with a user namespace"
            )
        try:
            with open(f"/proc/{pid}/{name}", "wb") as f:
                f.write(namespaces.format_id_map(mappings))
        except OSError as exc:
            raise SystemFailure(f"write /proc/{pid}/{name}: {exc.strerror}") from None


def _run_runtime_hooks(options: CreateOptions, creation: _Creation, spec: runtime_spec.Spec) -> None:
    from dockyard.oci.state import State
    from dockyard.runtime import hooks

    assert spec.hooks is not None
    state = State(
        id=creation.container.id,
        status="creating",
        pid=creation.init_pid,
        bundle=options.bundle,
        oci_version=spec.oci_version,
        annotations=spec.annotations,
    )
    hooks.run_hooks("prestart", spec.hooks.prestart, state)
    hooks.run_hooks("createRuntime", spec.hooks.create_runtime, state)
