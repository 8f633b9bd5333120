"""The container process's identity and limits, shared by init (``create``) and ``exec``.

Order, as runc's ``finalizeNamespace`` and ``standard_init`` (and capabilities.py's essay):

1. ``oom_score_adj`` and rlimits while still privileged (raising a hard limit, lowering the OOM
   score both need privileges the container may not keep);
2. ``no_new_privs``; seccomp now if there is no ``no_new_privs`` (installing a filter without it
   needs CAP_SYS_ADMIN, which the process is about to lose), else last of all;
3. the bounding set dropped, ``PR_SET_KEEPCAPS``, ``setgroups``/``setresgid``/``setresuid`` from
   the spec's numbers (never NSS: no ``pwd``/``grp`` against a container's ``/etc``), keepcaps
   off, the other four capability sets;
4. ``chdir`` to ``cwd`` as the container user, then ``getcwd`` must not report an unreachable
   directory (a leaked host fd used as cwd, CVE-2024-21626);
5. the command resolved in the container's ``$PATH`` with runc's error words, so that a typo
   fails ``create`` rather than the container.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # signal's C core: no enum import
import os
import resource  # imported here: init cannot import anything after pivot_root
import stat

from dockyard.errors import InvalidArgument, SystemFailure
from dockyard.runtime import capabilities
from dockyard.util import libc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.oci.runtime_spec import Process

__all__ = [
    "apply_identity",
    "apply_rlimits",
    "close_fds_except",
    "default_signals",
    "env_dict",
    "lookup_command",
    "reset_signals",
    "set_no_new_privs",
    "set_oom_score_adj",
    "verify_cwd",
]

_RLIMITS = {
    "RLIMIT_CPU": 0,
    "RLIMIT_FSIZE": 1,
    "RLIMIT_DATA": 2,
    "RLIMIT_STACK": 3,
    "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5,
    "RLIMIT_NPROC": 6,
    "RLIMIT_NOFILE": 7,
    "RLIMIT_MEMLOCK": 8,
    "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10,
    "RLIMIT_SIGPENDING": 11,
    "RLIMIT_MSGQUEUE": 12,
    "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14,
    "RLIMIT_RTTIME": 15,
}
_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def env_dict(env: list[str]) -> dict[str, str]:
    """``KEY=value`` strings as a dict (a later key wins, as in execve's usual readers)."""
    out: dict[str, str] = {}
    for item in env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidArgument(f"invalid environment variable {item!r}")
        out[key] = value
    return out


def rlimit_number(name: str) -> int:
    """Raises: InvalidArgument for an unknown ``RLIMIT_*`` name (runc's wording)."""
    try:
        return _RLIMITS[name]
    except KeyError:
        raise InvalidArgument(f"wrong rlimit value: {name}") from None


def apply_rlimits(process: Process) -> None:
    """setrlimit(2) for each entry, in order.

    A hard limit above the current one needs CAP_SYS_RESOURCE; like runc, the error is fatal
    (runc: ``error setting rlimit type N: operation not permitted``).

    Raises:
        InvalidArgument: unknown name. SystemFailure: the kernel refused.
    """
    for limit in process.rlimits:
        number = rlimit_number(limit.type)
        try:
            resource.setrlimit(number, (_unlimited(limit.soft), _unlimited(limit.hard)))
        except (OSError, ValueError) as exc:
            # Python reports EPERM on a raised hard limit as ValueError; say it as the kernel does.
            reason = exc.strerror if isinstance(exc, OSError) else str(exc)
            if "raise maximum limit" in str(reason):
                reason = "operation not permitted"
            raise SystemFailure(f"error setting rlimit type {number}: {reason}") from None


def _unlimited(value: int) -> int:
    # The spec uses uint64; 2**64-1 is RLIM_INFINITY, which Python spells -1.
    return -1 if value >= (1 << 64) - 1 or value < 0 else value


def set_oom_score_adj(value: int | None, path: str = "/proc/self/oom_score_adj") -> None:
    """Write oom_score_adj (before privileges are dropped: lowering it needs CAP_SYS_RESOURCE).

    Raises:
        SystemFailure: the kernel refused the value.
    """
    if value is None:
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, str(value).encode())
        finally:
            os.close(fd)
    except OSError as exc:
        raise SystemFailure(f"set oom_score_adj to {value}: {exc.strerror}") from None


def set_no_new_privs() -> None:
    libc.prctl(libc.PR_SET_NO_NEW_PRIVS, 1)


def apply_identity(process: Process) -> None:
    """Bounding set, user and groups, then the other capability sets (see the essay).

    Raises:
        InvalidArgument: an unknown capability. SystemFailure: a credential call failed.
    """
    caps = process.capabilities
    user = process.user
    try:
        if caps is not None:
            capabilities.drop_bounding(capabilities.to_mask(caps.bounding))
            capabilities.keep_caps(True)
        os.setgroups(user.additional_gids)
        os.setresgid(user.gid, user.gid, user.gid)
        os.setresuid(user.uid, user.uid, user.uid)
        if caps is not None:
            capabilities.keep_caps(False)
            capabilities.apply(caps)
    except OSError as exc:
        raise SystemFailure(f"set up user {user.uid}:{user.gid} and capabilities: {exc.strerror}") from None


def verify_cwd(cwd: str) -> None:
    """chdir to ``cwd`` and check the result is inside our root.

    Raises:
        SystemFailure: chdir failed, or getcwd(3) says the directory is unreachable from our
            root (a leaked host fd or a path outside the container, CVE-2024-21626).
    """
    try:
        os.chdir(cwd)
    except OSError as exc:
        raise SystemFailure(f'chdir to cwd ("{cwd}") set in config.json failed: {exc.strerror}') from None
    try:
        here = os.getcwd()
    except FileNotFoundError:
        here = "(unreachable)"
    if not here.startswith("/"):
        raise SystemFailure(
            f"current working directory is outside of container mount namespace root -- "
            f"possible container breakout detected: {here}"
        )


def _is_executable(path: str) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and bool(st.st_mode & 0o111)


def lookup_command(name: str, env: dict[str, str]) -> str:
    """The path the command resolves to in the container, with runc's (Go's LookPath) errors.

    Raises:
        InvalidArgument: no args. SystemFailure: not found or not executable.
    """
    if not name:
        raise InvalidArgument("args must not be empty")
    if "/" in name:
        try:
            st = os.stat(name)
        except OSError as exc:
            raise SystemFailure(f'exec: "{name}": stat {name}: {(exc.strerror or "error").lower()}') from None
        if stat.S_ISDIR(st.st_mode) or not st.st_mode & 0o111:
            raise SystemFailure(f'exec: "{name}": permission denied')
        return name
    for directory in env.get("PATH", _DEFAULT_PATH).split(":"):
        candidate = f"{directory or '.'}/{name}"
        if _is_executable(candidate):
            return candidate
    raise SystemFailure(f'exec: "{name}": executable file not found in $PATH')


def close_fds_except(keep: set[int]) -> None:
    """Close every fd not in ``keep`` (CVE-2024-21626: nothing of the host may leak in).

    Uses close_range(2) over the gaps between kept fds, so it needs no ``/proc`` (``exec``
    calls it where ``/proc/self`` names nothing).
    """
    first = 0
    for fd in sorted(keep):
        if fd > first:
            libc.close_range(first, fd - 1)
        first = fd + 1
    libc.close_range(first)


def default_signals() -> frozenset[int]:
    """The signals a process can set to ``SIG_DFL``: every valid one but SIGKILL and SIGSTOP.

    For ``posix_spawn(setsigdef=...)``; glibc keeps its internal 32 and 33 out of any sigset,
    and its spawn child leaves them ignored, which only the sealed helper can undo.
    """
    return frozenset(_signal.valid_signals()) - {_signal.SIGKILL, _signal.SIGSTOP}


def reset_signals() -> None:
    """Every signal back to ``SIG_DFL`` and an empty mask, before an ``execve`` from Python.

    Ignored dispositions and the mask survive execve(2) (signal(7)), and CPython ignores SIGPIPE
    and SIGXFSZ at start-up: a container started from here would ignore them. The sealed exec
    helper does the same in assembly; this is for the machines without it.
    """
    for sig in default_signals():
        try:
            _signal.signal(sig, _signal.SIG_DFL)
        except (OSError, ValueError):
            pass  # a real-time signal the C library reserves
    _signal.pthread_sigmask(_signal.SIG_SETMASK, ())
