"""Network namespaces that outlive their processes, made the way libnetwork makes them.

A container's network namespace is created before the runtime runs and handed to it by path
(``linux.namespaces[].path``), so it survives a daemon restart. It lives as long as one run of
the container: the engine releases it when the run's exit is recorded (as dockerd releases a
container's sandbox when it stops) and makes a fresh one at the next start. The namespace is
pinned by bind-mounting its nsfs file (``/proc/<pid>/ns/net``) onto a plain file at
``config.Paths.netns``; that mount is the namespace's only reference once the helper exits.

The daemon never enters another namespace itself (docs/architecture.md rule 7: ``setns`` is
per-thread, and worker threads are reused). One helper process does the work:
``unshare --net=<file> ip link set lo up`` (util-linux unshare(1) creates the namespace, pins it
with the bind mount, then runs ``ip`` inside it to bring loopback up). That is two small execs,
about 4 ms here, once per container start.

Removal is ``umount2(MNT_DETACH)`` of the file and an unlink, which the daemon may do from its
own mount namespace.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from dockyard.errors import SystemFailure
from dockyard.util import libc, proc

__all__ = ["create_netns", "is_netns_mounted", "remove_netns"]

_TIMEOUT = 10.0


def _tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin")
    if path is None:
        raise SystemFailure(f"{name} not found: install util-linux and iproute2")
    return path


_NSFS_MAGIC = 0x6E736673  # linux/magic.h


def is_netns_mounted(path: Path) -> bool:
    """True when ``path`` is a pinned namespace (an nsfs bind mount, statfs(2) says NSFS_MAGIC)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        return libc.fstatfs_type(fd) == _NSFS_MAGIC
    except OSError:
        return False
    finally:
        os.close(fd)


async def create_netns(path: Path) -> None:
    """Create a network namespace pinned at ``path``, loopback up. Idempotent.

    Raises:
        SystemFailure: the helper failed (its last words are in the message).
    """
    if is_netns_mounted(path):
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o711)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o444)
    os.close(fd)
    try:
        argv = [_tool("unshare"), f"--net={path}", _tool("ip"), "link", "set", "lo", "up"]
        await proc.run_async(argv, timeout=_TIMEOUT)
    except BaseException:
        remove_netns(path)
        raise


def remove_netns(path: Path) -> None:
    """Unpin and delete a network namespace file; absent or unmounted files are fine."""
    if is_netns_mounted(path):
        try:
            libc.umount2(str(path), libc.MNT_DETACH)
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.ENOENT):
                raise
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
