"""Layer tars from directories: a container's changes (``commit``) or a whole tree (``export``).

The reverse of ``archive.apply_layer``. For a container's writable layer (an overlayfs upper
directory) the overlay vocabulary is translated back into the layer-tar one: a 0:0 character
device is a deletion and becomes ``.wh.<name>``; a directory with ``trusted.overlay.opaque=y``
gets a ``.wh..wh..opq`` entry after it. The output is deterministic (entries sorted by name) so
the same changes give the same diff ID.

The directory belongs to a container, so it is untrusted and may change while it is read: it is
walked with ``os.fwalk`` (directory fds, symlinks never followed), files are opened relative to
their directory's fd with ``O_NOFOLLOW``, and a file that changes type under us is skipped
rather than followed. Only the bytes a file had when opened are written, padded or cut to the
size its header announced.
"""

from __future__ import annotations

import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path

from dockyard.image.archive import OPAQUE_XATTR, WHITEOUT_OPAQUE, WHITEOUT_PREFIX

__all__ = ["layer_tar_chunks"]

_CHUNK = 1 << 20
_XATTR_PREFIXES = ("user.", "security.", "trusted.")


def layer_tar_chunks(root: Path, *, overlay_upper: bool) -> Iterator[bytes]:
    """The tar of ``root`` as chunks (PAX format). Blocking: iterate it in a worker thread.

    Entries come in Go's ``filepath.Walk`` order (each directory's names sorted, a directory's
    subtree right after its entry), as Docker's archives do. With ``overlay_upper`` the overlay
    whiteouts and opaque markers become layer-tar whiteouts.
    """
    inodes: dict[tuple[int, int], str] = {}
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    stack: list[tuple[int, str, Iterator[str]]] = [(root_fd, "", iter(sorted(os.listdir(root_fd))))]
    try:
        while stack:
            dir_fd, prefix, names = stack[-1]
            name = next(names, None)
            if name is None:
                os.close(dir_fd)
                stack.pop()
                continue
            child = _open_directory(dir_fd, name)
            if child is None:
                yield from _file(dir_fd, name, prefix, inodes, overlay_upper=overlay_upper)
                continue
            stack.append((child, f"{prefix}{name}/", iter(sorted(os.listdir(child)))))
            yield from _entry(os.dup(child), f"{prefix}{name}/", None)
            if overlay_upper and _is_opaque(child):
                yield _header(_info(f"{prefix}{name}/{WHITEOUT_OPAQUE}", tarfile.REGTYPE))
    finally:
        for dir_fd, _, _ in stack:
            os.close(dir_fd)
    yield b"\0" * (2 * tarfile.BLOCKSIZE)


def _open_directory(dir_fd: int, name: str) -> int | None:
    """An fd of ``name`` if it is a real directory (never through a symlink), else None."""
    try:
        return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError:
        return None


def _is_opaque(dir_fd: int) -> bool:
    try:
        return os.getxattr(dir_fd, OPAQUE_XATTR) == b"y"
    except OSError:
        return False


def _file(
    dir_fd: int, name: str, prefix: str, inodes: dict[tuple[int, int], str], *, overlay_upper: bool
) -> Iterator[bytes]:
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return  # removed while we walked
    path = prefix + name
    if overlay_upper and stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
        yield _header(_info(prefix + WHITEOUT_PREFIX + name, tarfile.REGTYPE))
        return
    if stat.S_ISLNK(st.st_mode):
        info = _stat_info(path, tarfile.SYMTYPE, st)
        info.linkname = os.readlink(name, dir_fd=dir_fd)
        yield _header(info)
        return
    if stat.S_ISREG(st.st_mode):
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in inodes:
            info = _stat_info(path, tarfile.LNKTYPE, st)
            info.linkname = inodes[key]
            yield _header(info)
            return
        inodes[key] = path
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dir_fd)
        except OSError:
            return  # replaced by something we must not open
        yield from _entry(fd, path, st)
        return
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) or stat.S_ISFIFO(st.st_mode):
        kind = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
        info = _stat_info(path, tarfile.FIFOTYPE if stat.S_ISFIFO(st.st_mode) else kind, st)
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        yield _header(info)


def _entry(fd: int, path: str, st: os.stat_result | None) -> Iterator[bytes]:
    """A directory or regular file entry from an open fd (which this closes)."""
    try:
        current = os.fstat(fd)
        if st is not None and (current.st_ino != st.st_ino or not stat.S_ISREG(current.st_mode)):
            return  # swapped between stat and open
        kind = tarfile.DIRTYPE if stat.S_ISDIR(current.st_mode) else tarfile.REGTYPE
        info = _stat_info(path, kind, current)
        info.pax_headers = _xattrs(fd)
        if kind == tarfile.DIRTYPE:
            yield _header(info)
            return
        info.size = current.st_size
        yield _header(info)
        left = info.size
        while left > 0:
            chunk = os.read(fd, min(_CHUNK, left))
            if not chunk:
                chunk = b"\0" * min(_CHUNK, left)  # the file shrank: keep the header honest
            left -= len(chunk)
            yield chunk
        yield b"\0" * (-info.size % tarfile.BLOCKSIZE)
    finally:
        os.close(fd)


def _xattrs(fd: int) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        names = os.listxattr(fd)
    except OSError:
        return out
    for attr in names:
        if not attr.startswith(_XATTR_PREFIXES) or attr.startswith("trusted.overlay."):
            continue
        try:
            out[f"SCHILY.xattr.{attr}"] = os.getxattr(fd, attr).decode("utf-8", "surrogateescape")
        except OSError:
            continue
    return out


def _info(name: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = 0o644
    info.uname = info.gname = ""
    return info


def _stat_info(name: str, kind: bytes, st: os.stat_result) -> tarfile.TarInfo:
    info = _info(name, kind)
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.mtime = st.st_mtime
    return info


def _header(info: tarfile.TarInfo) -> bytes:
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
