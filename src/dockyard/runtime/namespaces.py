"""Namespace kinds, their clone flags, and the plan of which to join and which to create.

The spec lists namespaces by type; an entry with a ``path`` is joined with setns(2), one without
is created with unshare(2) (runtime-spec ``config-linux.md`` "Namespaces"). Order matters:

- the user namespace comes first, alone: every namespace created after it is owned by it, so
  its capabilities govern mounts, hostname and sysctls inside (user_namespaces(7));
- joined namespaces are entered before the rest are created (runc's nsexec does the same), the
  user namespace first so that the others can be entered with its privileges, mnt last because
  entering it changes our root and cwd;
- pid and time namespaces apply only to children (pid_namespaces(7), time_namespaces(7)), so
  they are unshared last and the init process is forked after.
"""

from __future__ import annotations

from dockyard.errors import InvalidArgument
from dockyard.util import libc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.oci.runtime_spec import IDMapping, Spec

__all__ = ["FLAGS", "PROC_NAMES", "NamespacePlan", "format_id_map", "plan_namespaces"]

FLAGS = {
    "user": libc.CLONE_NEWUSER,
    "mount": libc.CLONE_NEWNS,
    "uts": libc.CLONE_NEWUTS,
    "ipc": libc.CLONE_NEWIPC,
    "network": libc.CLONE_NEWNET,
    "cgroup": libc.CLONE_NEWCGROUP,
    "time": libc.CLONE_NEWTIME,
    "pid": libc.CLONE_NEWPID,
}
"""Spec namespace type -> CLONE_NEW* flag."""

PROC_NAMES = {
    "user": "user",
    "mount": "mnt",
    "uts": "uts",
    "ipc": "ipc",
    "network": "net",
    "cgroup": "cgroup",
    "time": "time",
    "pid": "pid",
}
"""Spec namespace type -> name under ``/proc/<pid>/ns/``."""

# setns order for joined namespaces: user first, mount last (see the essay).
_JOIN_ORDER = ("user", "ipc", "uts", "network", "pid", "cgroup", "time", "mount")


class NamespacePlan:
    """What the intermediate process does: join ``join`` (type, path), then create ``create``."""

    __slots__ = ("create", "join")

    def __init__(self, join: list[tuple[str, str]], create: list[str]) -> None:
        self.join = join
        self.create = create

    def creates(self, kind: str) -> bool:
        return kind in self.create

    def has(self, kind: str) -> bool:
        """The container gets its own namespace of this kind (joined or created)."""
        return kind in self.create or any(k == kind for k, _ in self.join)

    def unshare_flags(self, *, exclude: tuple[str, ...] = ()) -> int:
        flags = 0
        for kind in self.create:
            if kind not in exclude:
                flags |= FLAGS[kind]
        return flags


def plan_namespaces(spec: Spec) -> NamespacePlan:
    """Split the spec's namespaces into joins and creations.

    Raises:
        InvalidArgument: an unknown type, or a type listed twice (runc refuses both).
    """
    join: dict[str, str] = {}
    create: list[str] = []
    seen: set[str] = set()
    for ns in spec.linux.namespaces if spec.linux else []:
        if ns.type not in FLAGS:
            raise InvalidArgument(f"namespace {ns.type!r} does not exist")
        if ns.type in seen:
            raise InvalidArgument(f"malformed spec file: duplicated ns {ns.type!r}")
        seen.add(ns.type)
        if ns.path:
            join[ns.type] = ns.path
        else:
            create.append(ns.type)
    ordered_join = [(kind, join[kind]) for kind in _JOIN_ORDER if kind in join]
    return NamespacePlan(ordered_join, create)


def format_id_map(mappings: list[IDMapping]) -> bytes:
    """The text written to ``/proc/<pid>/uid_map`` or ``gid_map``: one ``inside outside count`` per line.

    The kernel wants the whole map in one write(2) (user_namespaces(7)).
    """
    return "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in mappings).encode()
