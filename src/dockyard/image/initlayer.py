"""Docker's init layer: the placeholders every container's root filesystem needs.

Between the image's layers and a container's writable layer, Docker puts a small per-container
layer (``<id>-init``, moby ``daemon/initlayer``) so that the mount points the runtime will bind
over exist even when the image lacks them, and so that writes to them never land in the
container's diff (``docker diff`` does not show them):

- directories ``/dev/pts``, ``/dev/shm``, ``/proc``, ``/sys`` (mode 0755);
- empty files ``/.dockerenv``, ``/etc/resolv.conf``, ``/etc/hosts``, ``/etc/hostname``,
  ``/dev/console`` (mode 0755, as moby creates them);
- the symlink ``/etc/mtab -> /proc/mounts``.

As in moby, the parent directories this creates (``/dev``, ``/etc``) are part of the layer, so
overlayfs takes their owner and mode from here (root, 0755) rather than from the image.

The layer directory is new and private, but it is still filled fd-relative (``mkdirat``,
``openat`` with ``O_NOFOLLOW``), as everything under a root filesystem is.
"""

from __future__ import annotations

import os

from dockyard.util import securejoin

__all__ = ["INIT_ENTRIES", "populate_init_layer"]

INIT_ENTRIES: tuple[tuple[str, str], ...] = (
    ("dev/pts", "dir"),
    ("dev/shm", "dir"),
    ("proc", "dir"),
    ("sys", "dir"),
    (".dockerenv", "file"),
    ("etc/resolv.conf", "file"),
    ("etc/hosts", "file"),
    ("etc/hostname", "file"),
    ("dev/console", "file"),
    ("etc/mtab", "/proc/mounts"),
)
"""(path inside the root, "dir" | "file" | symlink target), in moby's order."""


def populate_init_layer(root_fd: int) -> None:
    """Create the init layer's entries in the empty directory ``root_fd``.

    Entries that already exist are left alone (moby's behaviour), so it is safe to run twice.

    Raises:
        OSError: a directory or file cannot be created.
    """
    for path, kind in INIT_ENTRIES:
        parent_path, _, name = path.rpartition("/")
        parent = securejoin.mkdir_all_in_root(root_fd, parent_path or "/", 0o755)
        try:
            _create(parent, name, kind)
        finally:
            os.close(parent)
    for directory in ("dev", "etc"):
        # mkdirat applied the daemon's umask to these parents; the layer wants exactly 0755.
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=root_fd)
        try:
            os.fchmod(fd, 0o755)
        finally:
            os.close(fd)


def _create(parent: int, name: str, kind: str) -> None:
    try:
        os.stat(name, dir_fd=parent, follow_symlinks=False)
        return
    except FileNotFoundError:
        pass
    if kind == "dir":
        os.mkdir(name, 0o755, dir_fd=parent)
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
    elif kind == "file":
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(name, flags, 0o755, dir_fd=parent)
    else:
        os.symlink(kind, name, dir_fd=parent)
        return
    try:
        os.fchmod(fd, 0o755)  # the daemon's umask must not decide
    finally:
        os.close(fd)
