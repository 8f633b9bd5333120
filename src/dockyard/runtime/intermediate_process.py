"""The intermediate process: enters and creates the namespaces, forks init, and exits.

runc does this in C (``nsexec``) before the Go runtime starts; here it is a forked Python child
of the parent (``main_process``), non-dumpable and never visible inside the container's pid
namespace (it stays in the host's; only its child is pid 1 of the new one). In order:

1. enter the container's cgroup (``Cgroup.enter``: v1 hierarchies through ``tasks``, the
   cgroup2 directory at birth, neither waiting for the RCU grace period a ``cgroup.procs``
   write waits for), first, so a new cgroup namespace has the container's cgroup as its root;
   then note each hierarchy's host directory for the ``/sys/fs/cgroup`` binds;
2. with a new user namespace: ``unshare(CLONE_NEWUSER)``, ask the parent to write ``uid_map`` and
   ``gid_map`` (only a process outside can map host ids; user_namespaces(7)), then become root
   inside it;
3. ``setns`` into the namespaces given by path (user first, mount last: namespaces.py);
4. ``unshare`` the others in one call (pid and time apply to children only), write the time
   namespace's offsets;
5. fork init, send its pid (as the host sees it) to the parent, ``_exit(0)``. The parent is a
   child subreaper during ``run``, so init is reparented to it.

Without a user namespace the intermediate process is not needed: pid and time namespaces only
affect children, so the parent unshares (or joins) them, forks init directly and restores its
own with setns(2); init then does steps 1, 3 and 4 itself (``run_init_directly``). That saves a
fork, an exit and a wait on every container start. A new user namespace keeps the chain: the
pid namespace must be created *inside* it, by a process that is already in it.
"""

from __future__ import annotations

import os

from dockyard.runtime import init_process
from dockyard.util import libc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.runtime.cgroups import Cgroup
    from dockyard.runtime.init_process import InitConfig

__all__ = ["CHILDREN_ONLY", "cgroup_binds", "enter_namespaces", "run_init_directly", "run_intermediate",
           "write_time_offsets"]  # fmt: skip

CHILDREN_ONLY = ("pid", "time")
"""Namespaces that unshare/setns apply to the caller's future children, not to the caller."""

_NOT_CONTROLLERS = frozenset({"rw", "ro", "xattr", "noprefix", "clone_children", "cpuset_v2_mode"})


def run_intermediate(config: InitConfig, cgroup: Cgroup | None) -> None:
    """The intermediate process's whole life; never returns."""
    try:
        pid = _intermediate(config, cgroup)
        config.channel.send("pid", pid=pid)
        os._exit(0)
    except BaseException as exc:  # the process boundary: every failure goes to the parent
        try:
            config.channel.send("error", message=str(exc) or type(exc).__name__)
        finally:
            os._exit(1)


def _intermediate(config: InitConfig, cgroup: Cgroup | None) -> int:
    libc.prctl(libc.PR_SET_DUMPABLE, 0)  # inherited by init at fork
    enter_namespaces(config, cgroup, children_only_done=False)
    pid = os.fork()
    if pid == 0:
        init_process.run_init(config)
    return pid


def run_init_directly(config: InitConfig, cgroup: Cgroup | None) -> None:
    """Init forked straight from the parent (no user namespace): enter the rest, then init."""
    init_process.run_init(config, prepare=lambda: enter_namespaces(config, cgroup, children_only_done=True))


def enter_namespaces(config: InitConfig, cgroup: Cgroup | None, *, children_only_done: bool) -> None:
    """Cgroup, user namespace, joins and unshares, in that order (see the module essay).

    With ``children_only_done`` the parent already made (or joined) the pid and time
    namespaces, which only its children enter, and forked us into them.
    """
    if cgroup is not None:
        cgroup.enter(cloned_into_unified=config.cloned_into_unified)
    if any(m.type in ("cgroup", "cgroup2") for m in config.spec.mounts):
        config.cgroup_binds = cgroup_binds()
    plan = config.plan
    if plan.creates("user"):
        libc.unshare(libc.CLONE_NEWUSER)
        config.channel.send("userns")
        config.channel.expect("mapped")
        try:
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
        except OSError:
            pass  # root of the namespace is not mapped; the process keeps the overflow ids
    for kind, path in plan.join:
        if children_only_done and kind in CHILDREN_ONLY:
            continue
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            libc.setns(fd, 0)
        except OSError as exc:
            raise OSError(exc.errno, f"failed to join {kind} namespace {path}: {exc.strerror}") from None
        finally:
            os.close(fd)
    flags = plan.unshare_flags(exclude=("user", *(CHILDREN_ONLY if children_only_done else ())))
    if flags:
        libc.unshare(flags)
    if plan.creates("time") and not children_only_done:
        write_time_offsets(config)


def write_time_offsets(config: InitConfig) -> None:
    """time_namespaces(7): ``<clock> <secs> <nanosecs>`` lines, before any process enters it."""
    offsets = config.spec.linux.time_offsets if config.spec.linux else {}
    lines = []
    for clock, value in offsets.items():
        if isinstance(value, dict):
            lines.append(f"{clock} {int(value.get('secs', 0))} {int(value.get('nanosecs', 0))}\n")
    if lines:
        with open("/proc/self/timens_offsets", "w") as f:
            f.write("".join(lines))


def cgroup_binds(
    mountinfo: str = "/proc/self/mountinfo", cgroup_file: str = "/proc/self/cgroup"
) -> list[tuple[str, str]]:
    """(name under /sys/fs/cgroup, host directory of our cgroup) for every mounted hierarchy.

    A hierarchy's line in ``/proc/self/cgroup`` (``id:controllers:path``) is matched with its
    mount in ``mountinfo`` (super options list the controllers; cgroup2 has an empty list). The
    host directory is the mount point plus our path below the mount's root. An empty name means
    the whole tree is one cgroup2 mount (a unified host): bind that directory itself.
    """
    ours: dict[str, str] = {}
    with open(cgroup_file) as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            ours[controllers] = path
    binds: list[tuple[str, str]] = []
    with open(mountinfo) as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            fstype, options = fields[sep + 1], fields[sep + 3]
            root, point = fields[3], fields[4].replace("\\040", " ")
            if fstype == "cgroup":
                wanted = sorted(
                    o
                    for o in options.split(",")
                    if o not in _NOT_CONTROLLERS and (o.startswith("name=") or "=" not in o)
                )
                key = next((k for k in ours if sorted(k.split(",")) == wanted), None)
            elif fstype == "cgroup2":
                key = "" if "" in ours else None
            else:
                continue
            if key is None or not point.startswith("/sys/fs/cgroup"):
                continue
            path = ours[key]
            rel = path[len(root) :] if root != "/" and path.startswith(root) else path
            source = point.rstrip("/") + (rel if rel != "/" else "")
            name = "" if point.rstrip("/") == "/sys/fs/cgroup" else point.rsplit("/", 1)[1]
            binds.append((name, source))
    return binds
