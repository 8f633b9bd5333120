"""Linux capabilities: names to bits, and the five sets applied in the order the kernel needs.

A process carries five capability sets (capabilities(7)): *bounding* (the ceiling for anything
gained at ``execve``), *permitted*, *effective*, *inheritable* and *ambient*. An OCI spec names
each set as a list of ``CAP_*`` strings; this module turns them into 64-bit masks and applies them.

The order matters, because changing uid clears capabilities and each set constrains the next:

1. ``drop_bounding(keep)`` while still fully privileged: ``PR_CAPBSET_DROP`` needs CAP_SETPCAP in
   the effective set, which a non-root uid no longer has.
2. ``keep_caps(True)``: without ``PR_SET_KEEPCAPS``, ``setuid`` from 0 to non-zero empties the
   permitted set (capabilities(7), "Effect of user ID changes on capabilities").
3. ``setgroups``, ``setgid``, ``setuid`` (the caller's job).
4. ``keep_caps(False)``, so the flag does not leak to the container's own ``setuid`` calls.
5. ``apply(caps)``: ``capset`` of effective/permitted/inheritable, then ambient raises. The
   effective set was cleared by ``setuid`` and is restored here from permitted.

runc's rules are kept: a name this module knows but the running kernel does not (above
``/proc/sys/kernel/cap_last_cap``) is ignored, because a newer spec must still run on an older
kernel; a name nobody knows is an error. Ambient capabilities can only be raised when they are in
both the permitted and the inheritable set (prctl(2), ``PR_CAP_AMBIENT_RAISE``); runc warns and
carries on in that case, so this module skips them silently rather than failing the container.
"""

from __future__ import annotations

from dockyard.errors import InvalidArgument
from dockyard.util import libc

TYPE_CHECKING = False  # mypy treats this name as true; importing typing would cost the runtime
if TYPE_CHECKING:
    from dockyard.oci.runtime_spec import LinuxCapabilities

__all__ = ["NAMES", "apply", "drop_bounding", "from_mask", "keep_caps", "last_cap", "to_mask"]

# include/uapi/linux/capability.h, in bit order: NAMES[n] is capability number n.
NAMES: tuple[str, ...] = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)
_BIT = {name: bit for bit, name in enumerate(NAMES)}

# include/uapi/linux/prctl.h
PR_SET_KEEPCAPS = 8
PR_CAPBSET_DROP = 24
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4

_last_cap: int | None = None


def last_cap(path: str = "/proc/sys/kernel/cap_last_cap") -> int:
    """The highest capability number the running kernel knows (cached after the first read).

    Read it before ``pivot_root`` if the container's ``/proc`` may be unusable later. When the
    file cannot be read (no ``/proc``), every capability this module knows is assumed.
    """
    global _last_cap
    if _last_cap is None:
        try:
            with open(path, "rb") as f:
                _last_cap = int(f.read().strip())
        except (OSError, ValueError):
            _last_cap = len(NAMES) - 1
    return _last_cap


def to_mask(names: list[str]) -> int:
    """The bit mask of ``names`` (``CAP_*`` spellings), leaving out caps the kernel lacks.

    Raises:
        InvalidArgument: a name is not a Linux capability, e.g. ``unknown capability "CAP_FOO"``.
    """
    top = last_cap()
    mask = 0
    for name in names:
        bit = _BIT.get(name)
        if bit is None:
            raise InvalidArgument(f'unknown capability "{name}"')
        if bit <= top:
            mask |= 1 << bit
    return mask


def from_mask(mask: int) -> list[str]:
    """The ``CAP_*`` names of the bits set in ``mask`` (bits beyond the known names are dropped)."""
    return [name for bit, name in enumerate(NAMES) if mask >> bit & 1]


def drop_bounding(keep: int) -> None:
    """Drop from the bounding set every capability up to ``last_cap()`` that is not in ``keep``.

    Needs CAP_SETPCAP, so call it before changing uid. Dropping is per thread and irreversible.

    Raises:
        OSError: ``PR_CAPBSET_DROP`` failed (EPERM without CAP_SETPCAP).
    """
    for bit in range(last_cap() + 1):
        if not keep >> bit & 1:
            libc.prctl(PR_CAPBSET_DROP, bit)


def keep_caps(on: bool) -> None:
    """Set or clear ``PR_SET_KEEPCAPS``: keep the permitted set across a setuid from root.

    Raises:
        OSError: prctl failed.
    """
    libc.prctl(PR_SET_KEEPCAPS, 1 if on else 0)


def apply(caps: LinuxCapabilities) -> None:
    """Set the effective, permitted and inheritable sets, then raise the ambient set.

    Call after ``setuid`` (see the module docstring for the whole order). The bounding set is
    not touched here: ``drop_bounding`` did that while the process could still do it.

    Raises:
        InvalidArgument: a set names an unknown capability.
        OSError: capset(2) refused, e.g. an effective capability that is not permitted, or a
            permitted one the process does not hold.
    """
    effective = to_mask(caps.effective)
    permitted = to_mask(caps.permitted)
    inheritable = to_mask(caps.inheritable)
    ambient = to_mask(caps.ambient)
    libc.capset(effective, permitted, inheritable)
    try:
        libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    except OSError as exc:
        # Kernels before 4.3 have no ambient set (EINVAL): nothing to clear, nothing to raise.
        if exc.errno != 22 or ambient:
            raise
        return
    # PR_CAP_AMBIENT_RAISE fails with EPERM unless the cap is permitted and inheritable; runc only
    # warns then, so such caps are skipped rather than failing the container.
    raisable = ambient & permitted & inheritable
    for bit in range(last_cap() + 1):
        if raisable >> bit & 1:
            libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, bit)
