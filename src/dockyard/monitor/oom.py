"""Did the OOM killer fire in a container's memory cgroup? Read before the runtime deletes it.

Docker reports ``State.OOMKilled``. The kernel counts OOM kills per memory cgroup: the
``oom_kill`` line of ``memory.oom_control`` on cgroup v1 (Linux 4.13+) and of
``memory.events`` on cgroup v2 (Documentation/admin-guide/cgroup-v2.rst). The count dies with
the cgroup, and ``runtime delete`` removes the cgroup, so the monitor finds the directory while
the process runs (``find_memory_cgroup``, right after create) and reads the count when the
process has exited, before it runs ``delete``.

Finding the directory: ``/proc/<pid>/cgroup`` gives the process's path in each hierarchy (as
seen from our cgroup namespace); ``/proc/self/mountinfo`` gives where each hierarchy is
mounted and which part of it the mount shows (its root, field 4). The directory is the mount
point joined with the path relative to that root (proc(5): /proc/pid/mountinfo). A v1
``memory`` controller wins over the unified hierarchy, since on a hybrid host (this one) the
v2 mount carries no memory controller.

Roots are parameters so the unit tests run against fake files.
"""

from __future__ import annotations

import os

__all__ = ["find_memory_cgroup", "oom_kill_count"]


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \\ooo octal (fs/proc_namespace.c).
    if "\\" not in field:
        return field
    out, index = [], 0
    while index < len(field):
        if field[index] == "\\" and field[index + 1 : index + 4].isdigit():
            out.append(chr(int(field[index + 1 : index + 4], 8)))
            index += 4
        else:
            out.append(field[index])
            index += 1
    return "".join(out)


def _mounts(mountinfo: str) -> list[tuple[str, str, str, set[str]]]:
    """(root, mount point, fstype, super options) of every cgroup mount."""
    found = []
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or len(tail) < 3:
            continue
        if tail[0] in ("cgroup", "cgroup2"):
            found.append((_unescape(fields[3]), _unescape(fields[4]), tail[0], set(tail[2].split(","))))
    return found


def _join(mount_root: str, mount_point: str, path: str) -> str | None:
    root = mount_root.rstrip("/")
    if path != root and not path.startswith(root + "/"):
        return None  # the process lives outside what this mount shows
    return mount_point.rstrip("/") + path[len(root) :] or "/"


def find_memory_cgroup(pid: int, *, proc: str = "/proc") -> str | None:
    """The directory of ``pid``'s memory cgroup, or None if it has none we can see."""
    try:
        with open(f"{proc}/{pid}/cgroup") as file:
            membership = file.read()
        with open(f"{proc}/self/mountinfo") as file:
            mounts = _mounts(file.read())
    except OSError:
        return None
    v1_path = v2_path = None
    for line in membership.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and parts[1] == "":
            v2_path = parts[2]
        elif "memory" in parts[1].split(","):
            v1_path = parts[2]
    for root, point, fstype, options in mounts:
        if v1_path is not None and fstype == "cgroup" and "memory" in options:
            found = _join(root, point, v1_path)
            if found:
                return found
    for root, point, fstype, _ in mounts:
        if v1_path is None and v2_path is not None and fstype == "cgroup2":
            found = _join(root, point, v2_path)
            if found and os.path.exists(os.path.join(found, "memory.events")):
                return found
    return None


def oom_kill_count(cgroup_dir: str | None) -> int | None:
    """The cgroup's OOM kill count, or None if the directory or the counter is gone."""
    if cgroup_dir is None:
        return None
    for name in ("memory.oom_control", "memory.events"):
        try:
            with open(os.path.join(cgroup_dir, name)) as file:
                text = file.read()
        except OSError:
            continue
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value)
    return None
