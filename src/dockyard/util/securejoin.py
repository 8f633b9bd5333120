"""Resolve paths inside a root directory as if it were ``/``, without ever leaving it.

Every container escape through mounts or archives in the runc/moby/containerd history
(CVE-2021-30465, CVE-2018-15664, CVE-2024-45310, ...) came from privileged host code resolving
a path inside a container root as a *string*, then acting on it after the container had swapped
a component for a symlink. The defence is to walk with directory fds:

- each component is opened relative to the fd of its parent with ``O_NOFOLLOW``, so the kernel
  never follows a symlink on our behalf;
- a symlink is read and its target re-interpreted inside the root (an absolute target restarts
  at the root, ``..`` never climbs above it), with Linux's limit of 40 links;
- the caller gets an fd, and acts on the fd (``/proc/self/fd/N`` as a mount target, ``dir_fd=``
  for file operations), never on a path string that could change underneath it.

On kernels with ``openat2(2)`` (5.6+), ``open_in_root`` lets the kernel do the same walk in one
call with ``RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS``; the manual walk is the fallback and also
serves ``mkdir_all_in_root``, which must create missing components one by one (mkdirat, then
openat with ``O_NOFOLLOW``, so a symlink raced into place is refused rather than followed).

Stdlib only: the runtime uses this at every container start.
"""

from __future__ import annotations

import errno
import os
import stat

__all__ = ["PathEscape", "mkdir_all_in_root", "open_in_root", "resolve_in_root", "secure_join"]

MAX_SYMLINKS = 40

_O_PATH_DIR = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
_openat2_works: bool | None = None


class PathEscape(OSError):
    """A path could not be resolved inside its root (a loop, or a component that is not a dir)."""


def _components(path: str) -> list[str]:
    return [c for c in path.split("/") if c not in ("", ".")]


def _walk(root_fd: int, path: str, *, stop_at_missing: bool) -> tuple[list[int], list[str], list[str]]:
    """The manual resolver.

    Returns (fds, names, remaining): ``fds[0]`` is a dup of ``root_fd`` and ``fds[i]`` the
    O_PATH fd of ``names[i-1]``, the resolved chain so far; ``remaining`` are the components not
    found (only with ``stop_at_missing``). The caller owns and must close every fd in ``fds``.
    """
    fds = [os.dup(root_fd)]
    names: list[str] = []
    pending = _components(path)
    links = 0
    try:
        while pending:
            part = pending.pop(0)
            if part == "..":
                if len(fds) > 1:
                    os.close(fds.pop())
                    names.pop()
                continue
            try:
                fd = os.open(part, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fds[-1])
            except FileNotFoundError:
                if not stop_at_missing:
                    raise
                return fds, names, [part, *pending]
            st = os.fstat(fd)
            if stat.S_ISLNK(st.st_mode):
                links += 1
                if links > MAX_SYMLINKS:
                    os.close(fd)
                    raise PathEscape(errno.ELOOP, f"too many levels of symbolic links in {path}", path)
                target = os.readlink("", dir_fd=fd)
                os.close(fd)
                if target.startswith("/"):
                    while len(fds) > 1:
                        os.close(fds.pop())
                    names.clear()
                pending[:0] = _components(target)
                continue
            if pending and not stat.S_ISDIR(st.st_mode):
                os.close(fd)
                raise PathEscape(errno.ENOTDIR, f"{'/'.join([*names, part])} is not a directory", path)
            fds.append(fd)
            names.append(part)
        return fds, names, []
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise


def _close_all(fds: list[int], keep: int | None = None) -> None:
    for fd in fds:
        if fd != keep:
            os.close(fd)


def _openat2_in_root(root_fd: int, path: str, flags: int) -> int | None:
    """openat2 with RESOLVE_IN_ROOT; None when the kernel lacks it."""
    global _openat2_works
    if _openat2_works is False:
        return None
    from dockyard.util import libc

    try:
        fd = libc.openat2(
            root_fd,
            path.lstrip("/") or ".",
            flags | os.O_CLOEXEC,
            0,
            libc.RESOLVE_IN_ROOT | libc.RESOLVE_NO_MAGICLINKS,
        )
    except OSError as exc:
        if exc.errno in (errno.ENOSYS, errno.EPERM) and _openat2_works is None:
            _openat2_works = False  # ENOSYS: old kernel; EPERM: a seccomp filter forbids it
            return None
        raise
    _openat2_works = True
    return fd


def open_in_root(root_fd: int, path: str, flags: int = os.O_PATH) -> int:
    """Open ``path`` resolved inside the directory ``root_fd``; returns a new fd.

    ``flags`` apply to the final component (``O_PATH`` by default; ``O_NOFOLLOW`` makes a final
    symlink itself the result). Never creates anything.

    Raises:
        FileNotFoundError: a component does not exist.
        PathEscape: a symlink loop, or a non-directory in the middle of the path.
        OSError: any other failure to open.
    """
    fd = _openat2_in_root(root_fd, path, flags)
    if fd is not None:
        return fd
    if flags & os.O_NOFOLLOW:
        parent_path, _, last = path.rstrip("/").rpartition("/")
        parent = open_in_root(root_fd, parent_path or "/", _O_PATH_DIR)
        try:
            if last in ("", ".", ".."):
                return open_in_root(root_fd, path, flags & ~os.O_NOFOLLOW)
            return os.open(last, flags | os.O_CLOEXEC, dir_fd=parent)
        finally:
            os.close(parent)
    fds, _, _ = _walk(root_fd, path, stop_at_missing=False)
    try:
        if flags & ~os.O_CLOEXEC == os.O_PATH:
            _close_all(fds, keep=fds[-1])
            return fds[-1]
        # Reopen through the verified O_PATH fd to get the access mode the caller asked for.
        return os.open(f"/proc/self/fd/{fds[-1]}", flags | os.O_CLOEXEC)
    finally:
        if flags & ~os.O_CLOEXEC != os.O_PATH:
            _close_all(fds)


def mkdir_all_in_root(root_fd: int, path: str, mode: int = 0o755) -> int:
    """Create the missing directories of ``path`` inside ``root_fd``; returns an O_PATH fd to it.

    Existing components are resolved as ``open_in_root`` would (symlinks inside the root are
    followed); new ones are made with ``mkdirat`` and opened with ``O_NOFOLLOW``, so a symlink
    raced into a component's place is refused, never followed.

    Raises:
        PathEscape: a component exists but is not a directory, or a symlink loop.
        OSError: a directory cannot be created.
    """
    fds, _, remaining = _walk(root_fd, path, stop_at_missing=True)
    try:
        if not stat.S_ISDIR(os.fstat(fds[-1]).st_mode):
            raise PathEscape(errno.ENOTDIR, f"{path} is not a directory", path)
        for part in remaining:
            if part == "..":
                if len(fds) > 1:
                    os.close(fds.pop())
                continue
            try:
                os.mkdir(part, mode, dir_fd=fds[-1])
            except FileExistsError:
                pass  # created concurrently; the O_NOFOLLOW open below decides if it is usable
            try:
                fd = os.open(part, _O_PATH_DIR | os.O_NOFOLLOW, dir_fd=fds[-1])
            except OSError as exc:
                code = exc.errno or errno.ENOTDIR
                raise PathEscape(code, f"{path}: {part} is not a directory", path) from exc
            fds.append(fd)
        result = fds.pop()
        return result
    finally:
        _close_all(fds)


def resolve_in_root(root_fd: int, path: str) -> tuple[str, list[str]]:
    """The resolved form of ``path`` inside ``root_fd``: (existing part, missing components).

    The existing part is absolute as seen from the root (``/etc/passwd``). A string is only a
    snapshot; act on fds from ``open_in_root`` when a container may be changing the tree.
    """
    fds, names, remaining = _walk(root_fd, path, stop_at_missing=True)
    _close_all(fds)
    return "/" + "/".join(names), remaining


def secure_join(root: str, path: str) -> str:
    """``root`` joined with ``path`` after resolving ``path``'s symlinks inside ``root``.

    The analogue of filepath-securejoin's ``SecureJoin``: the result is always under ``root``.
    Components that do not exist are appended lexically (``..`` cannot climb out).
    """
    root_fd = os.open(root, _O_PATH_DIR)
    try:
        existing, remaining = resolve_in_root(root_fd, path)
    finally:
        os.close(root_fd)
    parts = _components(existing)
    for part in remaining:
        if part == "..":
            if parts:
                parts.pop()
        else:
            parts.append(part)
    return os.path.join(root, *parts) if parts else root
