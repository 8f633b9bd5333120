"""A compiled seccomp filter's life after ``seccomp.compile``: its flags, a cache, its installation.

**Why a cache.** Compiling Docker's default profile (``seccomp.py``) costs about 2 ms, plus the
import of the compiler and its syscall tables, at every ``create`` and every ``exec``; the same
few profiles come back for every container. So the compiled program is kept under the runtime's
state root, in ``<root>/@seccomp/`` (``@`` is outside the container id alphabet, so no container
can take the name), one file per profile, named by the SHA-256 of its key. The key is everything
the program depends on: the profile exactly as ``config.json`` has it (re-encoded), the machine,
and the identity (inode, size, mtime) of the three compiler modules, so a changed compiler never
meets an old program. The file holds the key itself, compared byte for byte on every load, so a
hash collision can only miss. Only profiles that compiled are stored: a bad one is compiled,
and refused, every time. The root is a tmpfs (``/run``) owned by root, like the containers' state
next to it; entries are written atomically (temporary file, ``rename``) with mode 0600, so a
concurrent ``create`` reads either nothing or a whole entry.

**Flags.** runc passes the profile's ``flags`` to ``seccomp(2)`` and adds
``SECCOMP_FILTER_FLAG_NEW_LISTENER`` when a rule uses ``SCMP_ACT_NOTIFY`` (``filter_flags``);
they travel with the program, cached or not.

**Installation** happens in init and in ``exec``'s joiner, after ``pivot_root`` or ``setns``
into the container's mount namespace, where nothing can be imported any more: this module is
light and imported by them up front; the compiler is imported only on a cache miss, by the parent.
"""

from __future__ import annotations

import marshal
import os

from dockyard.errors import InvalidArgument
from dockyard.util import atomicfile, jsoncodec, libc

TYPE_CHECKING = False  # mypy treats this name as true; importing typing would cost the runtime
if TYPE_CHECKING:
    from dockyard.oci.runtime_spec import LinuxSeccomp, Spec

__all__ = ["CACHE_DIR", "FLAGS", "Filter", "filter_flags", "for_spec", "install", "load_or_compile"]

CACHE_DIR = "@seccomp"
"""The cache's directory under the runtime's state root."""

FLAGS = {
    "SECCOMP_FILTER_FLAG_TSYNC": 1,
    "SECCOMP_FILTER_FLAG_LOG": 2,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4,
    "SECCOMP_FILTER_FLAG_NEW_LISTENER": 8,
    "SECCOMP_FILTER_FLAG_TSYNC_ESRCH": 16,
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": 32,
}
"""Filter flags a profile may name, with their ``seccomp(2)`` bits."""

_ENOSYS = 38
_COMPILER = ("seccomp.py", "seccomp_asm.py", "seccomp_syscalls.py")

Filter = tuple[bytes, list[str]]
"""A compiled program and the flags to install it with."""


def filter_flags(profile: LinuxSeccomp) -> list[str]:
    """The flags to pass to :func:`install`: the profile's, plus NEW_LISTENER if it notifies.

    runc adds ``SECCOMP_FILTER_FLAG_NEW_LISTENER`` itself whenever a rule uses
    ``SCMP_ACT_NOTIFY``; the caller then sends the returned fd to ``listenerPath``.
    """
    flags = list(profile.flags)
    if any(call.action == "SCMP_ACT_NOTIFY" for call in profile.syscalls):
        flags.append("SECCOMP_FILTER_FLAG_NEW_LISTENER")
    return list(dict.fromkeys(flags))


def install(program: bytes, flags: list[str]) -> int | None:
    """Load ``program`` as the calling thread's seccomp filter; return the notify fd if asked.

    The kernel accepts a filter only from a thread with ``no_new_privs`` set or with
    CAP_SYS_ADMIN (seccomp(2)), so the caller orders it: set ``PR_SET_NO_NEW_PRIVS`` first if the
    spec asks for it, or else install while still privileged, before dropping capabilities;
    either way, as the last step before ``execve``, because the filter applies to the runtime's
    own remaining calls too. ``seccomp(2)`` is used; on kernels without it (before 3.17) the
    filter goes through ``prctl(PR_SET_SECCOMP)``, which takes no flags.

    Raises:
        InvalidArgument: an unknown flag name.
        OSError: the kernel refused the filter (EACCES without NNP or CAP_SYS_ADMIN, EINVAL for a
            flag it does not know).
    """
    bits = 0
    for flag in flags:
        if flag not in FLAGS:
            raise InvalidArgument(f"seccomp: unknown flag {flag!r}")
        bits |= FLAGS[flag]
    try:
        result = libc.seccomp_set_mode_filter(program, bits)
    except OSError as exc:
        if exc.errno != _ENOSYS or bits:
            raise
        libc.prctl_seccomp_filter(program)
        return None
    return result if bits & FLAGS["SECCOMP_FILTER_FLAG_NEW_LISTENER"] else None


def for_spec(root: str, spec: Spec, raw: dict[str, object]) -> Filter | None:
    """The filter of the spec's ``linux.seccomp`` (``raw`` is the whole config.json), or None.

    Raises:
        InvalidArgument: the profile does not compile.
    """
    if spec.linux is None or spec.linux.seccomp is None:
        return None
    linux = raw.get("linux")
    profile = linux.get("seccomp") if isinstance(linux, dict) else None
    return load_or_compile(root, profile, spec.linux.seccomp)


def load_or_compile(root: str, raw: object, profile: LinuxSeccomp) -> Filter:
    """The filter for ``profile`` (``raw`` is its JSON), from the cache under ``root`` or compiled.

    Raises:
        InvalidArgument: the profile does not compile (unknown action, architecture, flag...).
        Unsupported: no syscall table for this machine.
    """
    key = _key(raw)
    path = os.path.join(root, CACHE_DIR, _digest(key))
    cached = _load(path, key)
    if cached is not None:
        return cached
    from dockyard.runtime import seccomp  # the compiler: only on a miss

    found = (seccomp.compile(profile), filter_flags(profile))
    _store(path, key, found)
    return found


def _key(raw: object) -> bytes:
    here = os.path.dirname(os.path.abspath(__file__))
    parts = [jsoncodec.dumps(raw), os.uname().machine]
    for name in _COMPILER:
        try:
            st = os.stat(os.path.join(here, name))
            parts.append(f"{name}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            parts.append(f"{name}:-")  # an installation without sources: the key still differs
    return "\n".join(parts).encode()


def _digest(key: bytes) -> str:
    try:
        import _sha256  # type: ignore[import-not-found]  # builtin on CPython; hashlib costs ~5 ms
    except ImportError:  # pragma: no cover - other builds
        import hashlib as _sha256
    return str(_sha256.sha256(key).hexdigest())


def _load(path: str, key: bytes) -> Filter | None:
    try:
        with open(path, "rb") as f:
            entry = marshal.loads(f.read())
    except (OSError, ValueError, EOFError, TypeError):
        return None
    if not (isinstance(entry, tuple) and len(entry) == 3 and entry[0] == key):
        return None
    _, program, flags = entry
    if not isinstance(program, bytes) or not isinstance(flags, list):
        return None
    return program, [str(flag) for flag in flags]


def _store(path: str, key: bytes, found: Filter) -> None:
    """Best effort: a full tmpfs or a read-only root only costs the next create a compile."""
    try:
        os.makedirs(os.path.dirname(path), 0o700, exist_ok=True)
        atomicfile.write_atomic(path, marshal.dumps((key, found[0], found[1])), mode=0o600, durable=False)
    except OSError:
        pass
