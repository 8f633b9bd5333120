"""Mounts described as data, and the short loop that makes them.

The snapshotter answers "what should be mounted" with a list of :class:`Mount` values
(containerd's lingua franca); this module alone turns them into ``mount(2)`` calls. The split
keeps the planning pure and testable and the privileged part small.

**Overlay and the one-page limit.** ``mount(2)`` passes its options as one page (4096 bytes), so
an overlay of 120 layers named ``/var/lib/dockyard/snapshots/123/fs`` does not fit. Three ways
around it, tried in this order:

1. the options fit: plain ``mount(2)``;
2. the new mount API (``fsopen``/``fsconfig``/``fsmount``/``move_mount``, kernel 6.8+ for
   ``lowerdir+``): each lower layer is its own ``fsconfig`` call, so there is no total limit;
3. every layer opened as an ``O_PATH`` fd and named ``/proc/self/fd/N`` in the options (about 18
   bytes a layer, so about 200 layers fit).

Rule 7 of the design forbids the daemon to ``chdir``, which rules out moby's relative-path trick.

The mount point itself is opened with ``O_PATH|O_NOFOLLOW`` and the mount made onto
``/proc/self/fd/N`` (or ``move_mount`` onto the fd), so a mount point that is a symlink is refused
rather than followed.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from dockyard.errors import SystemFailure
from dockyard.util import libc

__all__ = ["Mount", "mount_all", "unmount"]

log = logging.getLogger(__name__)

PAGE_LIMIT = 4095
"""Longest option string mount(2) accepts (one page, NUL included)."""

_new_api_works: bool | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Mount:
    """One mount, described before it is made (containerd's ``mount.Mount``).

    ``type`` is ``overlay`` or ``bind``; ``options`` are ``mount -o`` words, e.g.
    ``lowerdir=a:b``, ``upperdir=u``, ``workdir=w``, ``ro``, ``rbind``.
    """

    type: str
    source: str
    options: tuple[str, ...] = ()

    def lowerdirs(self) -> list[str]:
        """The overlay's lower directories, top first (empty for other types)."""
        for option in self.options:
            if option.startswith("lowerdir="):
                return option[len("lowerdir=") :].split(":")
        return []


def mount_all(mounts: Sequence[Mount], target: Path) -> None:
    """Make ``mounts`` on ``target``, in order.

    Raises:
        SystemFailure: a mount failed (the message names the target and the kernel's reason);
            mounts already made by this call are undone first.
    """
    done = 0
    try:
        for mount in mounts:
            _mount_one(mount, target)
            done += 1
    except OSError as exc:
        for _ in range(done):
            _try_unmount(target)
        raise SystemFailure(f"mount {mounts[done].type} on {target}: {exc.strerror or exc}") from exc


def unmount(target: Path, *, detach: bool = False) -> None:
    """Unmount ``target``; a target that is not mounted is not an error.

    Raises:
        SystemFailure: the mount is busy (and ``detach`` was not given) or cannot be removed.
    """
    try:
        libc.umount2(str(target), libc.MNT_DETACH if detach else 0)
    except OSError as exc:
        if exc.errno in (errno.EINVAL, errno.ENOENT):
            return  # not a mount point (any more)
        raise SystemFailure(f"unmount {target}: {exc.strerror}") from exc


def _try_unmount(target: Path) -> None:
    try:
        libc.umount2(str(target), libc.MNT_DETACH)
    except OSError as exc:
        log.warning("undo mount failed target=%s err=%s", target, exc.strerror)


def _mount_one(mount: Mount, target: Path) -> None:
    with ExitStack() as stack:
        target_fd = os.open(target, os.O_PATH | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC)
        stack.callback(os.close, target_fd)
        if mount.type == "overlay":
            _mount_overlay(mount, target_fd, stack)
            return
        flags, data = _flags_and_data(mount.options)
        if mount.type == "bind":
            flags |= libc.MS_BIND
        libc.mount(mount.source, f"/proc/self/fd/{target_fd}", mount.type, flags, data or None)


def _flags_and_data(options: Sequence[str]) -> tuple[int, str]:
    flags = 0
    data: list[str] = []
    for option in options:
        if option == "ro":
            flags |= libc.MS_RDONLY
        elif option == "rbind":
            flags |= libc.MS_BIND | libc.MS_REC
        elif option == "bind":
            flags |= libc.MS_BIND
        elif option == "rw":
            continue
        else:
            data.append(option)
    return flags, ",".join(data)


def _mount_overlay(mount: Mount, target_fd: int, stack: ExitStack) -> None:
    flags, data = _flags_and_data(mount.options)
    if len(data) <= PAGE_LIMIT:
        libc.mount("overlay", f"/proc/self/fd/{target_fd}", "overlay", flags, data)
        return
    if _new_api_mount(mount, target_fd, flags):
        return
    # Fallback: name every directory by a /proc/self/fd magic link (resolved by the kernel in
    # this process while the fds are open).
    rewritten = []
    for option in mount.options:
        key, sep, value = option.partition("=")
        if key in ("lowerdir", "upperdir", "workdir") and sep:
            value = ":".join(_fd_path(part, stack) for part in value.split(":"))
            option = f"{key}={value}"
        rewritten.append(option)
    flags, data = _flags_and_data(rewritten)
    if len(data) > PAGE_LIMIT:
        raise OSError(errno.E2BIG, f"too many lower layers ({len(mount.lowerdirs())}) for mount(2)")
    libc.mount("overlay", f"/proc/self/fd/{target_fd}", "overlay", flags, data)


def _fd_path(path: str, stack: ExitStack) -> str:
    fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    stack.callback(os.close, fd)
    return f"/proc/self/fd/{fd}"


def _new_api_mount(mount: Mount, target_fd: int, flags: int) -> bool:
    """Mount the overlay with fsopen/fsconfig (one ``lowerdir+`` per layer); False if unsupported."""
    global _new_api_works
    if _new_api_works is False:
        return False
    try:
        fs_fd = libc.fsopen("overlay")
    except OSError as exc:
        if exc.errno in (errno.ENOSYS, errno.EPERM):
            _new_api_works = False
            return False
        raise
    try:
        for key, value in _overlay_config(mount):
            try:
                if value is None:
                    libc.fsconfig_set_flag(fs_fd, key)
                else:
                    libc.fsconfig_set_string(fs_fd, key, value)
            except OSError as exc:
                if key == "lowerdir+" and exc.errno == errno.EINVAL and _new_api_works is None:
                    _new_api_works = False  # kernel older than 6.8: no lowerdir+
                    return False
                raise OSError(exc.errno, f"fsconfig {key}={value}: {exc.strerror}") from None
        libc.fsconfig_create(fs_fd)
        attrs = libc.MOUNT_ATTR_RDONLY if flags & libc.MS_RDONLY else 0
        mnt_fd = libc.fsmount(fs_fd, libc.FSMOUNT_CLOEXEC, attrs)
    finally:
        os.close(fs_fd)
    try:
        libc.move_mount(mnt_fd, target_fd, "", libc.MOVE_MOUNT_F_EMPTY_PATH | libc.MOVE_MOUNT_T_EMPTY_PATH)
    finally:
        os.close(mnt_fd)
    _new_api_works = True
    return True


def _overlay_config(mount: Mount) -> list[tuple[str, str | None]]:
    """fsconfig steps for an overlay: (key, string value) or (flag, None)."""
    config: list[tuple[str, str | None]] = []
    for option in mount.options:
        key, sep, value = option.partition("=")
        if key == "lowerdir":
            config.extend(("lowerdir+", layer) for layer in value.split(":"))
        elif key in ("ro", "rw", "rbind", "bind"):
            continue  # mount attributes, applied by fsmount
        else:
            config.append((key, value if sep else None))
    return config
