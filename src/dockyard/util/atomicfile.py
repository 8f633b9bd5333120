"""Replace a file so that readers see either the old content or the new, never a mix.

The sequence is moby's atomicwriter and containerd's content commit: write a temporary file in
the same directory, ``fsync`` it, ``rename`` it over the destination, then ``fsync`` the
directory so the rename itself survives a power loss. State records live in SQLite; this is for
files handed to other programs (``config.json``, hosts files, exit records) and for blobs.

Stdlib only and cheap to import: the monitor writes its exit record with it.
"""

from __future__ import annotations

import os

__all__ = ["fsync_dir", "write_atomic"]


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Make a rename or unlink inside directory ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(
    path: str | os.PathLike[str], data: bytes | str, *, mode: int = 0o644, durable: bool = True
) -> None:
    """Write ``data`` to ``path`` atomically.

    With ``durable`` (the default) the data and the rename are fsynced; pass ``durable=False``
    for files that live on tmpfs or are rebuilt on restart, where fsync buys nothing.

    Raises:
        OSError: the directory does not exist or is not writable, or the destination is a
            directory. A destination that is a symlink is replaced, never followed.
    """
    target = os.fspath(path)
    directory = os.path.dirname(target) or "."
    tmp = os.path.join(directory, f".tmp-{os.path.basename(target)}-{os.urandom(6).hex()}")
    raw = data.encode() if isinstance(data, str) else data
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        try:
            view = memoryview(raw)
            while view:
                view = view[os.write(fd, view) :]
            os.fchmod(fd, mode)  # the umask must not decide a file's mode
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if durable:
        fsync_dir(directory)
