"""ctypes bindings for the Linux calls that ``os`` lacks on Python 3.11.

Mechanism only: each function makes one call and turns a failure into ``OSError`` with the
errno and, where there is one, the path. Policy (which flags, in which order, what to verify)
belongs to the callers, mostly ``runtime/syscalls.py``.

Calls glibc wraps (mount, umount2, unshare, setns, prctl, capget/capset, sethostname) go through
libc; the rest (pivot_root, seccomp, pidfd_*, close_range, openat2, mount API) through
``syscall(2)`` with the numbers of the running architecture.

The runtime imports this module at every container start (and for every exec), so it is built
on ``_ctypes``, the C half of ctypes, rather than the ``ctypes`` package: the package adds about
1.5 ms of imports (``types``, ``struct``, ``ctypes._endian`` and its own definitions) for the
dozen names used here. The few definitions below mirror ``ctypes/__init__.py`` (simple C types,
a library handle whose functions set ``errno``, and a GIL-holding variant for ``pythonapi``).
"""

from __future__ import annotations

import _ctypes
import os

__all__ = [
    "AT_EMPTY_PATH",
    "AT_RECURSIVE",
    "CLONE_NEWCGROUP",
    "CLONE_NEWIPC",
    "CLONE_NEWNET",
    "CLONE_NEWNS",
    "CLONE_NEWPID",
    "CLONE_NEWTIME",
    "CLONE_NEWUSER",
    "CLONE_NEWUTS",
    "CLOSE_RANGE_CLOEXEC",
    "FSMOUNT_CLOEXEC",
    "FSOPEN_CLOEXEC",
    "MNT_DETACH",
    "MOUNT_ATTR_RDONLY",
    "MOVE_MOUNT_F_EMPTY_PATH",
    "MOVE_MOUNT_T_EMPTY_PATH",
    "MS_BIND",
    "MS_DIRSYNC",
    "MS_LAZYTIME",
    "MS_MANDLOCK",
    "MS_MOVE",
    "MS_NOATIME",
    "MS_NODEV",
    "MS_NODIRATIME",
    "MS_NOEXEC",
    "MS_NOSUID",
    "MS_PRIVATE",
    "MS_RDONLY",
    "MS_REC",
    "MS_RELATIME",
    "MS_REMOUNT",
    "MS_SHARED",
    "MS_SILENT",
    "MS_SLAVE",
    "MS_STRICTATIME",
    "MS_SYNCHRONOUS",
    "MS_UNBINDABLE",
    "OPEN_TREE_CLOEXEC",
    "OPEN_TREE_CLONE",
    "PROC_SUPER_MAGIC",
    "PR_SET_CHILD_SUBREAPER",
    "PR_SET_DUMPABLE",
    "PR_SET_NO_NEW_PRIVS",
    "PR_SET_PDEATHSIG",
    "PR_SET_SECCOMP",
    "RESOLVE_BENEATH",
    "RESOLVE_IN_ROOT",
    "RESOLVE_NO_MAGICLINKS",
    "RESOLVE_NO_SYMLINKS",
    "RESOLVE_NO_XDEV",
    "SECCOMP_MODE_FILTER",
    "SECCOMP_SET_MODE_FILTER",
    "TIOCGPTN",
    "TIOCSCTTY",
    "TIOCSPTLCK",
    "TIOCSWINSZ",
    "capget",
    "capset",
    "close_range",
    "fsconfig_create",
    "fsconfig_set_flag",
    "fsconfig_set_string",
    "fsmount",
    "fsopen",
    "fstatfs_type",
    "machine",
    "mount",
    "move_mount",
    "open_tree",
    "openat2",
    "pidfd_open",
    "pidfd_send_signal",
    "pivot_root",
    "prctl",
    "prctl_seccomp_filter",
    "seccomp_set_mode_filter",
    "setdomainname",
    "sethostname",
    "setns",
    "syncfs",
    "umount2",
    "unshare",
]

# --- constants (include/uapi/linux/sched.h, mount.h, fcntl.h, openat2.h) --------------------
CLONE_NEWTIME = 0x00000080
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25

MNT_DETACH = 2
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = os.O_CLOEXEC
MOVE_MOUNT_F_EMPTY_PATH = 0x00000004

# include/uapi/linux/mount.h: the new mount API
FSOPEN_CLOEXEC = 0x1
FSMOUNT_CLOEXEC = 0x1
MOUNT_ATTR_RDONLY = 0x1
MOVE_MOUNT_T_EMPTY_PATH = 0x40
_FSCONFIG_SET_FLAG = 0
_FSCONFIG_SET_STRING = 1
_FSCONFIG_CMD_CREATE = 6

RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10

# Syscall numbers that glibc does not wrap, per machine (arch/*/entry/syscalls, asm-generic).
_SYSCALLS: dict[str, dict[str, int]] = {
    "x86_64": {
        "pivot_root": 155,
        "seccomp": 317,
        "pidfd_send_signal": 424,
        "open_tree": 428,
        "move_mount": 429,
        "pidfd_open": 434,
        "close_range": 436,
        "openat2": 437,
        "fsopen": 430,
        "fsconfig": 431,
        "fsmount": 432,
    },
    "aarch64": {
        "pivot_root": 41,
        "seccomp": 277,
        "pidfd_send_signal": 424,
        "open_tree": 428,
        "move_mount": 429,
        "pidfd_open": 434,
        "close_range": 436,
        "openat2": 437,
        "fsopen": 430,
        "fsconfig": 431,
        "fsmount": 432,
    },
}

machine: str = os.uname().machine
"""The kernel's name for this machine (``x86_64``, ``aarch64``)."""


# typeshed makes _SimpleCData generic; at run time it is not subscriptable.
TYPE_CHECKING = False  # mypy treats this name as true; importing typing would cost every start
if TYPE_CHECKING:
    _SimpleInt = _ctypes._SimpleCData[int]
    _SimpleOptionalInt = _ctypes._SimpleCData[int | None]
    _SimpleBytes = _ctypes._SimpleCData[bytes]
else:
    _SimpleInt = _SimpleOptionalInt = _SimpleBytes = _ctypes._SimpleCData


class _c_int(_SimpleInt):
    _type_ = "i"


class _c_uint(_SimpleInt):
    _type_ = "I"


class _c_ushort(_SimpleInt):
    _type_ = "H"


class _c_long(_SimpleInt):
    _type_ = "l"


class _c_ulong(_SimpleInt):
    _type_ = "L"


class _c_uint64(_SimpleInt):
    _type_ = "Q"


class _c_void_p(_SimpleOptionalInt):
    _type_ = "P"


class _c_char(_SimpleBytes):
    _type_ = "c"


_c_uint32 = _c_uint  # unsigned int is 32 bits on every Linux ABI


class _Library:
    """``ctypes.CDLL(None, use_errno=True)``: symbols of the running program, resolved on use."""

    def __init__(self, flags: int) -> None:
        base = _ctypes.CFuncPtr

        class _Function(base):  # type: ignore[valid-type,misc]
            _flags_ = flags
            _restype_ = _c_int

        self._function = _Function
        self._handle = _ctypes.dlopen(None, _ctypes.RTLD_LOCAL)  # type: ignore[arg-type]  # NULL: this program

    def __getattr__(self, name: str) -> _ctypes.CFuncPtr:
        function = self._function((name, self))  # CFuncPtr reads the handle from ._handle
        setattr(self, name, function)
        return function


def _buffer(data: bytes) -> _ctypes.Array[_c_char]:
    """``ctypes.create_string_buffer(data, len(data))``: ``data`` in C memory, no NUL added."""
    buffer = (_c_char * len(data))()
    buffer.raw = data  # type: ignore[misc,assignment]  # typeshed knows .raw only for ctypes.c_char arrays
    return buffer


_libc = _Library(_ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO)
_syscall = _libc.syscall
_syscall.restype = _c_long


def _fail(what: str, path: str | None = None) -> OSError:
    err = _ctypes.get_errno()
    return OSError(err, f"{what}: {os.strerror(err)}", path)


def _nr(name: str) -> int:
    try:
        return _SYSCALLS[machine][name]
    except KeyError:
        raise OSError(38, f"{name}: no syscall number known for {machine}") from None


def _b(value: str | bytes | None) -> bytes | None:
    if value is None:
        return None
    return value if isinstance(value, bytes) else os.fsencode(value)


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    """mount(2). ``target`` may be ``/proc/self/fd/N`` to mount onto a verified fd."""
    if _libc.mount(_b(source), _b(target), _b(fstype), _c_ulong(flags), _b(data)) != 0:
        raise _fail(f"mount {source or 'none'} on {target}", target)


def umount2(target: str, flags: int = 0) -> None:
    """umount2(2)."""
    if _libc.umount2(_b(target), flags) != 0:
        raise _fail(f"umount {target}", target)


def pivot_root(new_root: str, put_old: str) -> None:
    """pivot_root(2); ``pivot_root(".", ".")`` stacks the old root under the new one."""
    if _syscall(_nr("pivot_root"), _b(new_root), _b(put_old)) != 0:
        raise _fail(f"pivot_root {new_root}", new_root)


def unshare(flags: int) -> None:
    """unshare(2) with ``CLONE_NEW*`` flags."""
    if _libc.unshare(flags) != 0:
        raise _fail(f"unshare {flags:#x}")


def setns(fd: int, nstype: int = 0) -> None:
    """setns(2): join the namespace ``fd`` refers to."""
    if _libc.setns(fd, nstype) != 0:
        raise _fail(f"setns {nstype:#x}")


M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8


def mallopt(param: int, value: int) -> bool:
    """mallopt(3); False when the C library refused the setting or has no such call."""
    try:
        function = _libc.mallopt
    except AttributeError:
        return False
    return bool(function(param, value))


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    """prctl(2); returns the call's result."""
    result: int = _libc.prctl(option, _c_ulong(arg2), _c_ulong(arg3), _c_ulong(arg4), _c_ulong(arg5))
    if result < 0:
        raise _fail(f"prctl {option}")
    return result


class _CapHeader(_ctypes.Structure):
    _fields_ = (("version", _c_uint32), ("pid", _c_int))


class _CapData(_ctypes.Structure):
    _fields_ = (
        ("effective", _c_uint32),
        ("permitted", _c_uint32),
        ("inheritable", _c_uint32),
    )


_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def capget(pid: int = 0) -> tuple[int, int, int]:
    """capget(2): the (effective, permitted, inheritable) sets of ``pid`` as 64-bit masks."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, pid)
    data = (_CapData * 2)()
    if _libc.capget(_ctypes.byref(header), data) != 0:
        raise _fail("capget")
    return (
        data[0].effective | data[1].effective << 32,
        data[0].permitted | data[1].permitted << 32,
        data[0].inheritable | data[1].inheritable << 32,
    )


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """capset(2) on the calling thread, with 64-bit masks."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    mask = 0xFFFFFFFF
    data[0].effective, data[1].effective = effective & mask, effective >> 32
    data[0].permitted, data[1].permitted = permitted & mask, permitted >> 32
    data[0].inheritable, data[1].inheritable = inheritable & mask, inheritable >> 32
    if _libc.capset(_ctypes.byref(header), data) != 0:
        raise _fail("capset")


class _SockFprog(_ctypes.Structure):
    _fields_ = (("len", _c_ushort), ("filter", _c_void_p))


SECCOMP_SET_MODE_FILTER = 1


def seccomp_set_mode_filter(program: bytes, flags: int = 0) -> int:
    """seccomp(SECCOMP_SET_MODE_FILTER): install a classic-BPF program (8 bytes per instruction).

    Returns the syscall's result (a notify fd with ``SECCOMP_FILTER_FLAG_NEW_LISTENER``).
    """
    if len(program) % 8:
        raise ValueError("a BPF program is a sequence of 8-byte instructions")
    buf = _buffer(program)
    prog = _SockFprog(len(program) // 8, _c_void_p(_ctypes.addressof(buf)))
    result: int = _syscall(_nr("seccomp"), SECCOMP_SET_MODE_FILTER, _c_ulong(flags), _ctypes.byref(prog))
    if result < 0:
        raise _fail("seccomp")
    return result


def sethostname(name: str) -> None:
    """sethostname(2) in the current UTS namespace."""
    raw = name.encode()
    if _libc.sethostname(raw, len(raw)) != 0:
        raise _fail(f"sethostname {name}")


def setdomainname(name: str) -> None:
    """setdomainname(2) in the current UTS namespace."""
    raw = name.encode()
    if _libc.setdomainname(raw, len(raw)) != 0:
        raise _fail(f"setdomainname {name}")


def pidfd_open(pid: int, flags: int = 0) -> int:
    """pidfd_open(2): an fd that names ``pid`` for as long as it is open (no pid reuse races)."""
    fd: int = _syscall(_nr("pidfd_open"), pid, flags)
    if fd < 0:
        raise _fail(f"pidfd_open {pid}")
    return fd


def pidfd_send_signal(pidfd: int, sig: int) -> None:
    """pidfd_send_signal(2) without siginfo."""
    if _syscall(_nr("pidfd_send_signal"), pidfd, sig, None, 0) != 0:
        raise _fail(f"pidfd_send_signal {sig}")


def close_range(first: int, last: int = 0xFFFFFFFF, flags: int = 0) -> None:
    """close_range(2); falls back to ``os.closerange`` on kernels older than 5.9."""
    if _syscall(_nr("close_range"), first, _c_uint(last), flags) != 0:
        if _ctypes.get_errno() != 38 or flags:
            raise _fail("close_range")
        os.closerange(first, min(last, os.sysconf("SC_OPEN_MAX")))


class _OpenHow(_ctypes.Structure):
    _fields_ = (("flags", _c_uint64), ("mode", _c_uint64), ("resolve", _c_uint64))


def openat2(dirfd: int, path: str, flags: int, mode: int = 0, resolve: int = 0) -> int:
    """openat2(2). Raises ``OSError(ENOSYS)`` on kernels older than 5.6."""
    how = _OpenHow(flags, mode, resolve)
    fd: int = _syscall(_nr("openat2"), dirfd, _b(path), _ctypes.byref(how), _ctypes.sizeof(how))
    if fd < 0:
        raise _fail(f"openat2 {path}", path)
    return fd


def open_tree(dirfd: int, path: str, flags: int) -> int:
    """open_tree(2): a detached mount (with ``OPEN_TREE_CLONE``) as an fd."""
    fd: int = _syscall(_nr("open_tree"), dirfd, _b(path), _c_uint(flags))
    if fd < 0:
        raise _fail(f"open_tree {path}", path)
    return fd


def move_mount(from_fd: int, to_fd: int, to_path: str = "", flags: int = MOVE_MOUNT_F_EMPTY_PATH) -> None:
    """move_mount(2): attach the detached mount ``from_fd`` at ``to_fd``/``to_path``."""
    if _syscall(_nr("move_mount"), from_fd, b"", to_fd, _b(to_path), _c_uint(flags)) != 0:
        raise _fail("move_mount", to_path or None)


# --- appended for the runtime's process side (runtime/init_process.py, mounts.py) -------------

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
PROC_SUPER_MAGIC = 0x9FA0
TIOCSCTTY = 0x540E
TIOCGPTN = 0x80045430
TIOCSPTLCK = 0x40045431
TIOCSWINSZ = 0x5414
CLOSE_RANGE_CLOEXEC = 4


class _Statfs(_ctypes.Structure):
    # struct statfs on 64-bit Linux (statfs(2)): only f_type is read, the rest is padding.
    _fields_ = (("f_type", _c_long), ("rest", _c_long * 15))


def fstatfs_type(fd: int) -> int:
    """fstatfs(2)'s ``f_type`` (the filesystem magic, e.g. ``PROC_SUPER_MAGIC``) of ``fd``."""
    buf = _Statfs()
    if _libc.fstatfs(fd, _ctypes.byref(buf)) != 0:
        raise _fail(f"fstatfs {fd}")
    return int(buf.f_type) & 0xFFFFFFFF


# --- appended for runtime/seccomp.py ------------------------------------------------------------

PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2


def prctl_seccomp_filter(program: bytes) -> None:
    """prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog): seccomp(2)'s predecessor, without flags."""
    if len(program) % 8:
        raise ValueError("a BPF program is a sequence of 8-byte instructions")
    buf = _buffer(program)
    prog = _SockFprog(len(program) // 8, _c_void_p(_ctypes.addressof(buf)))
    if _libc.prctl(PR_SET_SECCOMP, _c_ulong(SECCOMP_MODE_FILTER), _ctypes.byref(prog), 0, 0) != 0:
        raise _fail("prctl PR_SET_SECCOMP")


def fsopen(fstype: str, flags: int = FSOPEN_CLOEXEC) -> int:
    """fsopen(2): a filesystem context to configure with fsconfig (kernel 5.2+)."""
    fd: int = _syscall(_nr("fsopen"), _b(fstype), _c_uint(flags))
    if fd < 0:
        raise _fail(f"fsopen {fstype}")
    return fd


def fsconfig_set_flag(fs_fd: int, key: str) -> None:
    """fsconfig(FSCONFIG_SET_FLAG): a parameter without a value (``ro``, ``userxattr``)."""
    if _syscall(_nr("fsconfig"), fs_fd, _FSCONFIG_SET_FLAG, _b(key), None, 0) != 0:
        raise _fail(f"fsconfig {key}")


def fsconfig_set_string(fs_fd: int, key: str, value: str) -> None:
    """fsconfig(FSCONFIG_SET_STRING): ``key=value``; overlay's ``lowerdir+`` (6.8+) appends one layer."""
    if _syscall(_nr("fsconfig"), fs_fd, _FSCONFIG_SET_STRING, _b(key), _b(value), 0) != 0:
        raise _fail(f"fsconfig {key}={value}")


def fsconfig_create(fs_fd: int) -> None:
    """fsconfig(FSCONFIG_CMD_CREATE): create the superblock from the configured context."""
    if _syscall(_nr("fsconfig"), fs_fd, _FSCONFIG_CMD_CREATE, None, None, 0) != 0:
        raise _fail("fsconfig create")


def fsmount(fs_fd: int, flags: int = FSMOUNT_CLOEXEC, attrs: int = 0) -> int:
    """fsmount(2): a detached mount of the created superblock, to attach with move_mount."""
    fd: int = _syscall(_nr("fsmount"), fs_fd, _c_uint(flags), _c_uint(attrs))
    if fd < 0:
        raise _fail("fsmount")
    return fd


def syncfs(fd: int) -> None:
    """syncfs(2): flush the filesystem that ``fd`` lives on."""
    if _libc.syncfs(fd) != 0:
        raise _fail("syncfs")


# --- appended for the runtime's cgroup joins (runtime/main_process.py, join_process.py) ---------

CLONE_INTO_CGROUP = 0x200000000
_SYSCALLS["x86_64"]["clone3"] = 435
_SYSCALLS["aarch64"]["clone3"] = 435
_SIGCHLD = 17  # the same number on x86_64 and aarch64 (asm-generic/signal.h)


class _CloneArgs(_ctypes.Structure):
    # struct clone_args (include/uapi/linux/sched.h), CLONE_ARGS_SIZE_VER2 = 88 bytes.
    _fields_ = tuple(
        (name, _c_uint64)
        for name in ("flags", "pidfd", "child_tid", "parent_tid", "exit_signal", "stack", "stack_size",
                     "tls", "set_tid", "set_tid_size", "cgroup")
    )  # fmt: skip


# ctypes.PyDLL and ctypes.pythonapi: calls made holding the GIL.
_pythonapi = _Library(_ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_PYTHONAPI | _ctypes.FUNCFLAG_USE_ERRNO)
_syscall_holding_gil = _pythonapi.syscall
_syscall_holding_gil.restype = _c_long


def fork_into_cgroup(cgroup_fd: int) -> int:
    """``os.fork()`` whose child starts inside the cgroup v2 directory ``cgroup_fd``.

    clone3(2) with ``CLONE_INTO_CGROUP`` (Linux 5.7) places the child at birth, so nobody writes
    to ``cgroup.procs``, whose first write waits for an RCU grace period (~9 ms) on the global
    ``cgroup_threadgroup_rwsem``. Python is told about the fork as ``os.fork`` tells it, through
    the documented ``PyOS_BeforeFork``/``PyOS_AfterFork_Child``/``PyOS_AfterFork_Parent`` (the
    C API's contract for "fork(), or any similar function that clones the current process"), with
    the GIL held across the call. The child's glibc thread descriptor keeps the parent's cached
    tid, which only PI and robust mutexes read; the runtime uses neither. Call it only from a
    single-threaded process, as os.fork.

    Returns 0 in the child, the child's pid in the parent.

    Raises:
        OSError: ENOSYS (no clone3), E2BIG or EINVAL (a kernel without CLONE_INTO_CGROUP, or
            ``cgroup_fd`` not a cgroup2 directory), EBUSY (a domain cgroup with controllers
            enabled for its children), and fork's own errors (EAGAIN, ENOMEM).
    """
    args = _CloneArgs(flags=CLONE_INTO_CGROUP, exit_signal=_SIGCHLD, cgroup=cgroup_fd)
    _pythonapi.PyOS_BeforeFork()
    pid: int = _syscall_holding_gil(_nr("clone3"), _ctypes.byref(args), _ctypes.sizeof(args))
    err = _ctypes.get_errno()
    if pid == 0:
        _pythonapi.PyOS_AfterFork_Child()
        return 0
    _pythonapi.PyOS_AfterFork_Parent()
    if pid < 0:
        raise OSError(err, f"clone3: {os.strerror(err)}")
    return pid


__all__ += ["CLONE_INTO_CGROUP", "fork_into_cgroup"]
