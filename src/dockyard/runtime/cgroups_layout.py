"""Where the cgroup hierarchies are mounted, and where a container's cgroup goes in each.

Three layouts exist in the wild, and the runtime has to tell them apart from
``/proc/self/mountinfo`` (proc(5)) rather than from a guess about the distribution:

- **legacy** (cgroup v1): one ``cgroup`` mount per hierarchy under ``/sys/fs/cgroup``, each
  carrying one or more controllers in its super options (``rw,cpu,cpuacct``) or a name
  (``name=systemd``);
- **hybrid**: the v1 hierarchies plus a ``cgroup2`` mount (usually ``/sys/fs/cgroup/unified``),
  which may hold controllers no v1 hierarchy has (on the project machine: hugetlb);
- **unified** (cgroup v2): one ``cgroup2`` mount at ``/sys/fs/cgroup``.

Path rules are those of runc's cgroupfs driver (libcontainer/cgroups/fs/paths.go): an absolute
``cgroupsPath`` lands under each hierarchy's mount point; a relative one under the calling
process's own cgroup in that hierarchy (``/proc/self/cgroup``, taken relative to the mount's root
so it also works inside a cgroup namespace); an empty one is the container ID, relative. That
last rule was checked on the project machine: ``runc run`` without ``cgroupsPath`` put the
container at ``memory:/process_api/<hex>/<id>`` where the caller sat in ``/process_api/<hex>``,
and at ``/<id>`` in every hierarchy where the caller sat at the root. Paths are cleaned as runc's
``CleanPath`` does, so ``..`` can never climb above a mount point.
"""

from __future__ import annotations

import os

from dockyard.runtime.cgroups_fs import HYBRID, LEGACY, UNIFIED, CgroupError

__all__ = ["HYBRID", "LEGACY", "UNIFIED", "Hierarchy", "Layout", "container_paths"]

# Controllers a v1 mount can carry (kernel/cgroup/cgroup.c, cgroup_subsys names). Anything else
# in the super options is a mount option (rw, noprefix, clone_children, release_agent=...).
_V1_CONTROLLERS = frozenset(
    (
        "blkio",
        "cpu",
        "cpuacct",
        "cpuset",
        "debug",
        "devices",
        "freezer",
        "hugetlb",
        "memory",
        "misc",
        "net_cls",
        "net_prio",
        "perf_event",
        "pids",
        "rdma",
    )
)


class Hierarchy:
    """One mounted hierarchy: its mount point, the cgroup at the mount's root, its controllers.

    ``controllers`` is empty for the cgroup2 mount; a named v1 hierarchy has ``name=systemd``.
    """

    __slots__ = ("controllers", "mount_point", "root", "version")

    def __init__(self, mount_point: str, root: str, controllers: tuple[str, ...], version: int) -> None:
        self.mount_point = mount_point
        self.root = root
        self.controllers = controllers
        self.version = version

    def __repr__(self) -> str:
        return f"Hierarchy({self.mount_point!r}, v{self.version}, {','.join(self.controllers)})"


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo octal (proc(5)).
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def _under(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


class Layout:
    """The cgroup hierarchies mounted under ``root``, and the caller's own cgroups.

    Build it with :meth:`detect` (``hierarchies`` must not be empty). ``mode`` is ``LEGACY``,
    ``HYBRID`` or ``UNIFIED``.
    """

    __slots__ = ("hierarchies", "mode", "own", "unified")

    def __init__(self, hierarchies: list[Hierarchy], own: dict[str, str]) -> None:
        self.hierarchies = [h for h in hierarchies if h.version == 1]
        v2 = [h for h in hierarchies if h.version == 2]
        self.unified = v2[0] if v2 else None
        self.own = own
        if self.hierarchies:
            self.mode = HYBRID if self.unified else LEGACY
        else:
            self.mode = UNIFIED

    @classmethod
    def detect(
        cls, root: str = "/sys/fs/cgroup", *, mountinfo: str | None = None, self_cgroup: str | None = None
    ) -> Layout:
        """Read the hierarchies mounted under ``root`` and the caller's cgroups.

        ``mountinfo`` and ``self_cgroup`` default to ``/proc/self/mountinfo`` and
        ``/proc/self/cgroup``; tests pass their own text.

        Raises:
            CgroupError: nothing cgroup-like is mounted under ``root``, or /proc is unreadable.
        """
        try:
            if mountinfo is None:
                with open("/proc/self/mountinfo", "rb") as f:
                    mountinfo = f.read().decode()
            if self_cgroup is None:
                with open("/proc/self/cgroup", "rb") as f:
                    self_cgroup = f.read().decode()
        except OSError as exc:
            raise CgroupError(f"read {exc.filename}: {exc.strerror}") from exc
        hierarchies = parse_mountinfo(mountinfo, root)
        if not hierarchies:
            raise CgroupError(f"no cgroup filesystem is mounted under {root}")
        return cls(hierarchies, parse_self_cgroup(self_cgroup))


def parse_mountinfo(text: str, root: str) -> list[Hierarchy]:
    """The cgroup and cgroup2 mounts under ``root``, first mount of each hierarchy only."""
    found: list[Hierarchy] = []
    seen: set[tuple[str, ...]] = set()
    for line in text.splitlines():
        fields = line.split()
        try:
            sep = fields.index("-")
        except ValueError:
            continue
        if len(fields) < sep + 4 or len(fields) < 5:
            continue
        fstype, super_options = fields[sep + 1], fields[sep + 3]
        mount_point, mount_root = _unescape(fields[4]), _unescape(fields[3])
        if fstype not in ("cgroup", "cgroup2") or not _under(mount_point, root):
            continue
        if fstype == "cgroup2":
            key: tuple[str, ...] = ("",)
            controllers: tuple[str, ...] = ()
        else:
            opts = super_options.split(",")
            controllers = tuple(o for o in opts if o in _V1_CONTROLLERS or o.startswith("name="))
            key = controllers
        if not key or key in seen:
            continue
        seen.add(key)
        found.append(Hierarchy(mount_point, mount_root, controllers, 2 if fstype == "cgroup2" else 1))
    return found


def parse_self_cgroup(text: str) -> dict[str, str]:
    """``/proc/self/cgroup`` as ``{controller: path}``; the cgroup2 entry is keyed ``""``."""
    own: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _hid, controllers, path = parts
        if not controllers:
            own[""] = path
            continue
        for controller in controllers.split(","):
            own[controller] = path
    return own


def clean(path: str) -> str:
    """``path`` made relative and free of ``..`` (runc's ``CleanPath`` on a joined path)."""
    return os.path.normpath("/" + path).lstrip("/")


def _dir(hierarchy: Hierarchy, own: str | None, cgroups_path: str) -> str:
    if cgroups_path.startswith("/"):
        return os.path.join(hierarchy.mount_point, clean(cgroups_path))
    # Relative: under the caller's cgroup, which /proc/self/cgroup gives from the hierarchy's
    # real root; a mount whose root is not "/" (a cgroup namespace, a bind) shows less of it.
    base = own or "/"
    if _under(base, hierarchy.root) and hierarchy.root != "/":
        base = base[len(hierarchy.root.rstrip("/")) :] or "/"
    return os.path.join(hierarchy.mount_point, clean(base), clean(cgroups_path))


def container_paths(layout: Layout, container_id: str, cgroups_path: str | None) -> dict[str, str]:
    """Each controller's directory for the container (``"unified"`` for the cgroup2 one).

    Co-mounted controllers (``cpu,cpuacct``) share a directory; a named hierarchy is keyed by its
    name (``name=systemd``).
    """
    inner = cgroups_path or container_id
    paths: dict[str, str] = {}
    for hierarchy in layout.hierarchies:
        own = layout.own.get(hierarchy.controllers[0])
        directory = _dir(hierarchy, own, inner)
        for controller in hierarchy.controllers:
            paths[controller] = directory
    if layout.unified is not None:
        paths["unified"] = _dir(layout.unified, layout.own.get(""), inner)
    return paths
