"""Resolve ``--user`` against a container's own ``/etc/passwd`` and ``/etc/group``.

This runs in the daemon, as root, on files the image (or a running container) controls, so it
is written against every way that has gone wrong before:

- **No NSS.** ``pwd`` and ``grp`` load ``libnss_*.so`` as ``nsswitch.conf`` says; pointed at a
  container root that runs the container's code as host root (CVE-2019-14271). We parse the two
  files ourselves.
- **Inside the root, by fd.** The files are opened with ``securejoin.open_in_root``: a symlink
  ``/etc/passwd -> /etc/shadow`` resolves to the *container's* ``/etc/shadow``, ``..`` cannot climb
  out, and nothing is resolved as a host path string (CVE-2026-47262, CVE-2024-9676).
- **Regular files only, bounded.** Opened ``O_NONBLOCK`` so a FIFO cannot hang the daemon, then
  refused unless ``fstat`` says regular file; at most 10 MiB is read (containerd's
  ``maxUserFileBytes``).
- **IDs are unsigned 32-bit and range-checked.** A uid that wraps to 0 ran containers as root
  (CVE-2024-40635); like runc's ``libcontainer/user`` we accept 0..2**31-1 and refuse the rest.

The rules of the lookup are runc's ``GetExecUser`` (which Docker uses): ``user``, ``uid``,
``user:group``, ``uid:gid``; a numeric uid absent from ``passwd`` runs with gid 0; supplementary
groups are the groups that list the user as a member (only when no group was given), then
``--group-add``.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass

from dockyard.errors import InvalidArgument
from dockyard.util import securejoin

__all__ = ["MAX_ID", "MAX_USER_FILE", "ResolvedUser", "parse_group", "parse_passwd", "resolve_user"]

MAX_USER_FILE = 10 * 1024 * 1024
"""Largest ``/etc/passwd`` or ``/etc/group`` read (containerd's ``maxUserFileBytes``)."""

MAX_ID = 2**31 - 1
"""Largest uid/gid accepted (runc ``libcontainer/user``: 32-bit compatible)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolvedUser:
    """The identity a container process runs as, in numbers."""

    uid: int = 0
    gid: int = 0
    additional_gids: tuple[int, ...] = ()
    home: str = "/"


@dataclass(frozen=True, slots=True, kw_only=True)
class _PasswdEntry:
    name: str
    uid: int
    gid: int
    home: str


@dataclass(frozen=True, slots=True, kw_only=True)
class _GroupEntry:
    name: str
    gid: int
    members: tuple[str, ...]


def _parse_id(text: str) -> int | None:
    """A decimal id, or None if ``text`` is not one (then it is a name)."""
    if not text.isascii() or not text.isdigit():
        if text.startswith("-") and text[1:].isdigit():
            raise InvalidArgument(f"uids and gids must be in range 0-{MAX_ID}")
        return None
    value = int(text)
    if value > MAX_ID:
        raise InvalidArgument(f"uids and gids must be in range 0-{MAX_ID}")
    return value


def parse_passwd(text: str) -> list[_PasswdEntry]:
    """The entries of a passwd file; malformed lines are skipped, as libc does."""
    entries = []
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) < 4 or not fields[0] or line.startswith("#"):
            continue
        try:
            uid, gid = int(fields[2]), int(fields[3])
        except ValueError:
            continue
        if not (0 <= uid <= MAX_ID and 0 <= gid <= MAX_ID):
            continue
        home = fields[5] if len(fields) > 5 else ""
        entries.append(_PasswdEntry(name=fields[0], uid=uid, gid=gid, home=home))
    return entries


def parse_group(text: str) -> list[_GroupEntry]:
    """The entries of a group file; malformed lines are skipped."""
    entries = []
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) < 3 or not fields[0] or line.startswith("#"):
            continue
        try:
            gid = int(fields[2])
        except ValueError:
            continue
        if not 0 <= gid <= MAX_ID:
            continue
        members = tuple(m for m in fields[3].split(",") if m) if len(fields) > 3 else ()
        entries.append(_GroupEntry(name=fields[0], gid=gid, members=members))
    return entries


def read_user_file(root_fd: int, path: str) -> str | None:
    """The text of ``path`` inside the root ``root_fd``, or None if it does not exist.

    Raises:
        InvalidArgument: it is not a regular file, or larger than ``MAX_USER_FILE``.
    """
    try:
        fd = securejoin.open_in_root(root_fd, path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno in (errno.ENOTDIR, errno.ELOOP):
            return None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InvalidArgument(f"{path} in the container is not a regular file")
        if info.st_size > MAX_USER_FILE:
            raise InvalidArgument(f"{path} in the container is larger than {MAX_USER_FILE} bytes")
        chunks, total = [], 0
        while total <= MAX_USER_FILE:  # the file may grow after fstat: count what is read
            data = os.read(fd, MAX_USER_FILE + 1 - total)
            if not data:
                break
            chunks.append(data)
            total += len(data)
        raw = b"".join(chunks)
        if len(raw) > MAX_USER_FILE:
            raise InvalidArgument(f"{path} in the container is larger than {MAX_USER_FILE} bytes")
        return raw.decode("utf-8", "replace")
    finally:
        os.close(fd)


def resolve_user(
    spec: str, passwd: str | None, group: str | None, *, group_add: tuple[str, ...] = ()
) -> ResolvedUser:
    """Resolve a ``--user`` value against the container's passwd and group file contents.

    ``passwd``/``group`` None means the file does not exist. ``group_add`` are ``--group-add``
    values (names or gids).

    Raises:
        InvalidArgument: an id out of range, or a name no file knows (runc's wording: "unable to
            find user x: no matching entries in passwd file").
    """
    user_part, _, group_part = spec.partition(":")
    users = parse_passwd(passwd) if passwd is not None else []
    groups = parse_group(group) if group is not None else []
    entry = _find_user(user_part or "0", users)
    if group_part:
        gid = _find_group(group_part, groups)
        extra: list[int] = []
    else:
        gid = entry.gid
        extra = [g.gid for g in groups if entry.name and entry.name in g.members]
    for added in group_add:
        extra.append(_find_group(added, groups))
    return ResolvedUser(uid=entry.uid, gid=gid, additional_gids=tuple(extra), home=entry.home or "/")


def _find_user(text: str, users: list[_PasswdEntry]) -> _PasswdEntry:
    uid = _parse_id(text)
    for entry in users:
        if (uid is None and entry.name == text) or (uid is not None and entry.uid == uid):
            return entry
    if uid is not None:
        return _PasswdEntry(name="", uid=uid, gid=0, home="/")
    raise InvalidArgument(f"unable to find user {text}: no matching entries in passwd file")


def _find_group(text: str, groups: list[_GroupEntry]) -> int:
    gid = _parse_id(text)
    if gid is not None:
        return gid
    for entry in groups:
        if entry.name == text:
            return entry.gid
    raise InvalidArgument(f"unable to find group {text}: no matching entries in group file")


def resolve_in_rootfs(root: str, spec: str, *, group_add: tuple[str, ...] = ()) -> ResolvedUser:
    """``resolve_user`` with the files read from the mounted root filesystem at ``root``.

    Blocking (file reads): call it from a worker thread.

    Raises:
        InvalidArgument: as ``resolve_user``, or a hostile passwd/group file.
    """
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        passwd = read_user_file(root_fd, "/etc/passwd")
        group = read_user_file(root_fd, "/etc/group")
    finally:
        os.close(root_fd)
    return resolve_user(spec, passwd, group, group_add=group_add)
