"""Reading and writing cgroupfs files, with errors that say which file and which value.

Every cgroup write in the runtime goes through :func:`write`. The kernel answers a bad limit with a
bare errno (EBUSY for a memory limit below current usage, EINVAL for a cpu quota beyond the
parent's); runc's lesson is that the user must see the file and the value, so the error reads
``write 10 to memory.limit_in_bytes: device or resource busy``.

Files are opened without ``O_CREAT``: cgroupfs never lets anyone create a file, and in the unit
tests' fake cgroupfs (a plain directory) a misspelt name must fail the same way it would on the
kernel, not quietly create a new file.
"""

from __future__ import annotations

import os

from dockyard.errors import SystemFailure

__all__ = [
    "HYBRID",
    "LEGACY",
    "UNIFIED",
    "CgroupError",
    "exists",
    "is_frozen",
    "keyed",
    "open_dir",
    "read",
    "read_int",
    "write",
]

LEGACY = "v1"
HYBRID = "hybrid"
UNIFIED = "v2"
"""The three layouts (cgroups_layout.py's essay), as they are spelled in a cgroup's state record."""


class CgroupError(SystemFailure):
    """A cgroup could not be found, created, written, frozen or removed.

    The message names the file and the value, e.g.
    ``write 10 to memory.limit_in_bytes: device or resource busy``.
    """


def describe(err: OSError) -> str:
    """``os.strerror`` in the lower case of runtime error messages."""
    text = os.strerror(err.errno) if err.errno else str(err)
    return text[:1].lower() + text[1:]


def write(directory: str, name: str, value: str) -> None:
    """Write ``value`` to ``directory/name`` in one ``write(2)``, as cgroupfs expects.

    Raises:
        CgroupError: the file is missing or the kernel refused the value.
    """
    path = os.path.join(directory, name)
    data = value.encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)  # as runc: cgroupfs ignores O_TRUNC
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
    except OSError as exc:
        raise CgroupError(f"write {value} to {name}: {describe(exc)}") from exc


def open_dir(directory: str, flags: int = os.O_RDONLY) -> int:
    """An fd of the cgroup ``directory`` (close-on-exec), for bpf(2) or clone3(2).

    Raises:
        CgroupError: the directory cannot be opened.
    """
    try:
        return os.open(directory, flags | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise CgroupError(f"open {directory}: {describe(exc)}") from exc


def read(directory: str, name: str) -> str:
    """The content of ``directory/name``, stripped.

    Raises:
        CgroupError: the file cannot be read.
    """
    try:
        with open(os.path.join(directory, name), "rb") as f:
            return f.read().decode().strip()
    except OSError as exc:
        raise CgroupError(f"read {name} in {directory}: {describe(exc)}") from exc


def read_int(directory: str, name: str) -> int:
    """A file holding one integer; ``max`` (cgroup v2's "no limit") reads as -1.

    Raises:
        CgroupError: the file cannot be read or does not hold an integer.
    """
    text = read(directory, name)
    if text == "max":
        return -1
    try:
        return int(text)
    except ValueError:
        raise CgroupError(f"read {name} in {directory}: not an integer: {text!r}") from None


def keyed(directory: str, name: str) -> dict[str, int]:
    """A flat-keyed file (``memory.stat``, ``cpu.stat``, ``memory.events``) as ``{key: value}``.

    Lines that are not ``key integer`` are skipped. A missing file reads as ``{}``.
    """
    try:
        text = read(directory, name)
    except CgroupError:
        return {}
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        try:
            out[key] = int(value)
        except ValueError:
            continue
    return out


def is_frozen(mode: str, paths: dict[str, str]) -> bool:
    """Whether the cgroup with these directories is frozen (False without a freezer or a directory).

    Here rather than in ``Cgroup`` so that ``state`` and ``kill``, which only ask this, read one
    file without importing the cgroup machinery: ``cgroup.freeze`` on cgroup v2 (the unified
    layout), the v1 freezer's ``freezer.state`` otherwise.
    """
    try:
        if mode == UNIFIED:
            return read(paths["unified"], "cgroup.freeze") == "1"
        if "freezer" in paths:
            return read(paths["freezer"], "freezer.state") == "FROZEN"
    except (CgroupError, KeyError):
        return False
    return False


def exists(directory: str, name: str) -> bool:
    """Whether ``directory/name`` exists (controllers create their files on mkdir)."""
    return os.path.exists(os.path.join(directory, name))
