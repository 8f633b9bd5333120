"""The container's filesystem: the mount plan (pure) and its application through verified fds.

``plan_mounts`` turns the spec into the list of operations init makes before ``pivot_root``,
``plan_finalize`` the ones after; both are pure and unit-tested. ``apply`` makes each one.

Every target is resolved *inside the rootfs* with ``util.securejoin`` (openat2
``RESOLVE_IN_ROOT`` or an ``O_NOFOLLOW`` walk), opened ``O_PATH``, and mounted onto as
``/proc/self/fd/N``. A container that swaps a path component for a symlink between our check
and our mount (CVE-2021-30465's ``RENAME_EXCHANGE`` race, CVE-2024-45310) can only redirect the
mount to another place *inside* its own root. ``/proc`` and ``/sys`` destinations must be
ordinary directories, never symlinks (CVE-2019-19921, runc's "must be mounted on ordinary
directory"). Masked files get the host's ``/dev/null`` bind-mounted from an fd opened and
checked (char 1:3) before any container code could have touched ``/dev`` (CVE-2025-31133).

The sequence follows runc's ``prepareRootfs``: ``/`` made rprivate so nothing propagates to the
host, the rootfs bind-mounted onto itself (``pivot_root`` needs a mount point), the spec's mounts
in order (a ``bind`` remounted for its flags, propagation applied last), then ``/dev``'s devices
and symlinks when ``/dev`` is ours; after ``pivot_root``: the ``/dev`` and root read-only
remounts, sysctls, read-only paths, masked paths.
"""

from __future__ import annotations

import errno
import os
import stat

from dockyard.errors import InvalidArgument, SystemFailure
from dockyard.util import libc, securejoin

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.oci.runtime_spec import Spec

__all__ = ["MountError", "MountOp", "Rootfs", "apply", "parse_options", "plan_finalize", "plan_mounts"]

# mount(8) option -> (clear?, flag), runc's libcontainer/specconv "mountFlags".
_FLAGS: dict[str, tuple[bool, int]] = {
    "acl": (False, 1 << 16),
    "async": (True, libc.MS_SYNCHRONOUS),
    "atime": (True, libc.MS_NOATIME),
    "bind": (False, libc.MS_BIND),
    "defaults": (False, 0),
    "dev": (True, libc.MS_NODEV),
    "diratime": (True, libc.MS_NODIRATIME),
    "dirsync": (False, libc.MS_DIRSYNC),
    "exec": (True, libc.MS_NOEXEC),
    "iversion": (False, 1 << 23),
    "lazytime": (False, libc.MS_LAZYTIME),
    "loud": (True, libc.MS_SILENT),
    "mand": (False, libc.MS_MANDLOCK),
    "noacl": (True, 1 << 16),
    "noatime": (False, libc.MS_NOATIME),
    "nodev": (False, libc.MS_NODEV),
    "nodiratime": (False, libc.MS_NODIRATIME),
    "noexec": (False, libc.MS_NOEXEC),
    "noiversion": (True, 1 << 23),
    "nolazytime": (True, libc.MS_LAZYTIME),
    "nomand": (True, libc.MS_MANDLOCK),
    "norelatime": (True, libc.MS_RELATIME),
    "nostrictatime": (True, libc.MS_STRICTATIME),
    "nosuid": (False, libc.MS_NOSUID),
    "rbind": (False, libc.MS_BIND | libc.MS_REC),
    "relatime": (False, libc.MS_RELATIME),
    "remount": (False, libc.MS_REMOUNT),
    "ro": (False, libc.MS_RDONLY),
    "rw": (True, libc.MS_RDONLY),
    "silent": (False, libc.MS_SILENT),
    "strictatime": (False, libc.MS_STRICTATIME),
    "suid": (True, libc.MS_NOSUID),
    "sync": (False, libc.MS_SYNCHRONOUS),
}
PROPAGATION = {
    "private": libc.MS_PRIVATE,
    "rprivate": libc.MS_PRIVATE | libc.MS_REC,
    "shared": libc.MS_SHARED,
    "rshared": libc.MS_SHARED | libc.MS_REC,
    "slave": libc.MS_SLAVE,
    "rslave": libc.MS_SLAVE | libc.MS_REC,
    "unbindable": libc.MS_UNBINDABLE,
    "runbindable": libc.MS_UNBINDABLE | libc.MS_REC,
}
# Options the runtime consumes itself and never passes to the kernel.
_IGNORED = frozenset({"tmpcopyup", "idmap", "ridmap", "nofollow"})
# The devices every container gets (runtime-spec config-linux.md "Default Devices"), 0666 root.
DEFAULT_DEVICES = (
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("tty", 5, 0),
    ("urandom", 1, 9),
    ("random", 1, 8),
)
_DEV_SYMLINKS = (
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
)
_MOUNT_FLAGS_MASK = libc.MS_RDONLY | libc.MS_NOSUID | libc.MS_NODEV | libc.MS_NOEXEC | libc.MS_NOATIME
_MOUNT_FLAGS_MASK |= libc.MS_NODIRATIME | libc.MS_RELATIME


class MountError(SystemFailure):
    """A mount, device or path operation inside the rootfs failed."""


class MountOp:
    """One step of the rootfs set-up, described before it is made.

    ``kind`` is one of: ``mount`` (a filesystem), ``bind``, ``cgroup`` (the cgroup tree at
    ``target``), ``device``, ``symlink`` (``source`` is the link text), ``mask``, ``readonly``,
    ``remount-ro`` (re-apply ``flags`` plus read-only to an existing mount). ``propagation`` is
    applied after the mount; ``remount`` are the flags a bind is remounted with.
    """

    __slots__ = ("data", "device", "flags", "fstype", "kind", "propagation", "remount", "source", "target")

    def __init__(
        self,
        kind: str,
        target: str,
        *,
        source: str | None = None,
        fstype: str | None = None,
        flags: int = 0,
        data: str = "",
        propagation: int = 0,
        remount: int = 0,
        device: tuple[str, int, int, int, int, int] | None = None,
    ) -> None:
        self.kind = kind
        self.target = target
        self.source = source
        self.fstype = fstype
        self.flags = flags
        self.data = data
        self.propagation = propagation
        self.remount = remount
        self.device = device  # (type c/b/p/u, major, minor, mode, uid, gid)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MountOp):
            return NotImplemented
        return all(getattr(self, s) == getattr(other, s) for s in self.__slots__)

    def __repr__(self) -> str:
        shown = ", ".join(f"{s}={getattr(self, s)!r}" for s in self.__slots__ if getattr(self, s))
        return f"MountOp({shown})"


def parse_options(options: list[str]) -> tuple[int, int, str]:
    """mount(8) options -> (MS_* flags, propagation flags, data string for the filesystem)."""
    flags = propagation = 0
    data: list[str] = []
    for option in options:
        if option in _FLAGS:
            clear, flag = _FLAGS[option]
            flags = flags & ~flag if clear else flags | flag
        elif option in PROPAGATION:
            propagation |= PROPAGATION[option]
        elif option not in _IGNORED:
            data.append(option)
    return flags, propagation, ",".join(data)


def _is_bind(fstype: str | None, flags: int) -> bool:
    return fstype == "bind" or bool(flags & libc.MS_BIND)


def needs_dev_setup(spec: Spec) -> bool:
    """The runtime populates /dev unless the spec bind-mounts something over it (runc's rule)."""
    for m in spec.mounts:
        if m.destination.rstrip("/") == "/dev" and _is_bind(m.type, parse_options(m.options)[0]):
            return False
    return True


def plan_mounts(spec: Spec, *, userns: bool = False) -> list[MountOp]:
    """The operations made before ``pivot_root``, in order. Pure.

    Raises:
        InvalidArgument: a mount destination is relative.
    """
    ops: list[MountOp] = []
    for m in spec.mounts:
        if not m.destination.startswith("/"):
            raise InvalidArgument(f"mount destination {m.destination} not absolute")
        flags, propagation, data = parse_options(m.options)
        target = os.path.normpath(m.destination)
        if m.type == "cgroup" or m.type == "cgroup2":
            ops.append(MountOp("cgroup", target, fstype=m.type, flags=flags, propagation=propagation))
        elif _is_bind(m.type, flags):
            remount = flags & ~(libc.MS_BIND | libc.MS_REC | libc.MS_REMOUNT)
            bind = libc.MS_BIND | (flags & libc.MS_REC)
            ops.append(
                MountOp("bind", target, source=m.source, flags=bind, propagation=propagation, remount=remount)
            )
        else:
            ops.append(
                MountOp(
                    "mount",
                    target,
                    source=m.source or m.type,
                    fstype=m.type,
                    flags=flags,
                    data=data,
                    propagation=propagation,
                )
            )
    if needs_dev_setup(spec):
        ops.extend(_plan_dev(spec, userns=userns))
    return ops


def _plan_dev(spec: Spec, *, userns: bool) -> list[MountOp]:
    ops: list[MountOp] = []
    listed = {d.path for d in spec.linux.devices} if spec.linux else set()
    for name, major, minor in DEFAULT_DEVICES:
        if f"/dev/{name}" not in listed:
            ops.append(MountOp("device", f"/dev/{name}", device=("c", major, minor, 0o666, 0, 0)))
    for d in spec.linux.devices if spec.linux else []:
        mode = d.file_mode if d.file_mode is not None else 0o666
        ops.append(
            MountOp(
                "device",
                os.path.normpath(d.path),
                device=(d.type, d.major or 0, d.minor or 0, mode, d.uid or 0, d.gid or 0),
            )
        )
    if userns:
        ops = [MountOp("bind", op.target, source=op.target, flags=libc.MS_BIND) for op in ops]
    for link, path in _DEV_SYMLINKS:
        ops.append(MountOp("symlink", path, source=link))
    ops.append(MountOp("symlink", "/dev/core", source="/proc/kcore"))
    ops.append(MountOp("symlink", "/dev/ptmx", source="pts/ptmx"))
    return ops


def plan_finalize(spec: Spec) -> list[MountOp]:
    """The operations made after ``pivot_root``, in order. Pure."""
    ops: list[MountOp] = []
    for m in spec.mounts:
        if os.path.normpath(m.destination) == "/dev":
            flags, _, _ = parse_options(m.options)
            if flags & libc.MS_RDONLY:
                ops.append(MountOp("remount-ro", "/dev", flags=flags & _MOUNT_FLAGS_MASK))
    if spec.root is not None and spec.root.readonly:
        ops.append(MountOp("remount-ro", "/", flags=libc.MS_BIND))
    linux = spec.linux
    if linux is not None:
        ops.extend(MountOp("readonly", os.path.normpath(p)) for p in linux.readonly_paths)
        ops.extend(MountOp("mask", os.path.normpath(p)) for p in linux.masked_paths)
    return ops


# --- application -----------------------------------------------------------------------------


class Rootfs:
    """What ``apply`` needs: the rootfs fd, a verified /dev/null fd, cgroup sources, userns."""

    def __init__(
        self, root_fd: int, *, null_fd: int, cgroup_binds: list[tuple[str, str]], userns: bool
    ) -> None:
        self.root_fd = root_fd
        self.null_fd = null_fd
        self.cgroup_binds = cgroup_binds  # (name under the cgroup mount, host source directory)
        self.userns = userns


def _fd_path(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


def _mount(source: str | None, target_fd: int, fstype: str | None, flags: int, data: str, what: str) -> None:
    try:
        libc.mount(source, _fd_path(target_fd), fstype, flags, data or None)
    except OSError as exc:
        raise MountError(f"error mounting {what}: {exc.strerror}") from None


def open_target(root_fd: int, path: str, *, directory: bool) -> int:
    """An O_PATH fd of ``path`` inside the rootfs, created (dir or empty file) if missing.

    Raises:
        MountError: the path cannot be resolved inside the root or created.
    """
    try:
        try:
            return securejoin.open_in_root(root_fd, path, os.O_PATH)
        except FileNotFoundError:
            pass
        parent_path, _, name = path.rstrip("/").rpartition("/")
        parent = securejoin.mkdir_all_in_root(root_fd, parent_path or "/")
        try:
            if directory:
                try:
                    os.mkdir(name, 0o755, dir_fd=parent)
                except FileExistsError:
                    pass
            else:
                try:
                    os.close(
                        os.open(
                            name,
                            os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC,
                            0o644,
                            dir_fd=parent,
                        )
                    )
                except FileExistsError:
                    pass
            return os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        finally:
            os.close(parent)
    except OSError as exc:
        raise MountError(f"cannot create mount target {path} in the rootfs: {exc.strerror}") from None


def _ordinary_dir(root_fd: int, path: str, what: str) -> None:
    """runc's check for /proc and /sys: never mount them onto a symlink (CVE-2019-19921)."""
    try:
        fd = securejoin.open_in_root(root_fd, path, os.O_PATH | os.O_NOFOLLOW)
    except FileNotFoundError:
        return
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            raise MountError(
                f'error mounting "{what}" to rootfs at "{path}": must be mounted on ordinary directory'
            )
    finally:
        os.close(fd)


def _apply_mount(rootfs: Rootfs, op: MountOp) -> None:
    if op.target in ("/proc", "/sys") or op.fstype in ("proc", "sysfs"):
        _ordinary_dir(rootfs.root_fd, op.target, op.source or str(op.fstype))
    fd = open_target(rootfs.root_fd, op.target, directory=True)
    try:
        what = f'"{op.source}" to rootfs at "{op.target}"'
        try:
            libc.mount(op.source, _fd_path(fd), op.fstype, op.flags, op.data or None)
        except OSError as exc:
            if not (rootfs.userns and op.fstype == "sysfs" and exc.errno == errno.EPERM):
                raise MountError(f"error mounting {what}: {exc.strerror}") from None
            # sysfs needs a network namespace owned by our user namespace; runc binds the
            # host's /sys read-only instead.
            _mount("/sys", fd, None, libc.MS_BIND | libc.MS_REC, "", what)
            _remount(rootfs, op.target, op.flags | libc.MS_RDONLY)
    finally:
        os.close(fd)
    _propagate(rootfs, op)


def _remount(rootfs: Rootfs, target: str, flags: int, *, keep: bool = False) -> None:
    """Remount the bind at ``target`` (reopened: it is a new mount) with ``flags``.

    With ``keep`` the mount's current flags (statvfs(3)) are kept, as runc does for read-only
    paths. Otherwise they are added only if the kernel refuses without them: a bind inherits
    locked flags (nodev, nosuid, noexec in a user namespace) that a remount must keep.
    """
    fd = securejoin.open_in_root(rootfs.root_fd, target, os.O_PATH)
    try:
        current = os.statvfs(_fd_path(fd)).f_flag & _MOUNT_FLAGS_MASK
        flags = libc.MS_REMOUNT | libc.MS_BIND | flags | (current if keep else 0)
        try:
            libc.mount(None, _fd_path(fd), None, flags, None)
        except OSError:
            _mount(None, fd, None, flags | current, "", f'remount of "{target}"')
    finally:
        os.close(fd)


def _propagate(rootfs: Rootfs, op: MountOp) -> None:
    if not op.propagation:
        return
    fd = securejoin.open_in_root(rootfs.root_fd, op.target, os.O_PATH)
    try:
        _mount(None, fd, None, op.propagation, "", f'propagation of "{op.target}"')
    finally:
        os.close(fd)


def _apply_bind(rootfs: Rootfs, op: MountOp) -> None:
    source = op.source or ""
    try:
        directory = stat.S_ISDIR(os.stat(source).st_mode)
    except OSError as exc:
        raise MountError(f'error mounting "{source}" to rootfs at "{op.target}": {exc.strerror}') from None
    fd = open_target(rootfs.root_fd, op.target, directory=directory)
    try:
        _mount(source, fd, None, op.flags, "", f'"{source}" to rootfs at "{op.target}"')
    finally:
        os.close(fd)
    if op.remount:
        _remount(rootfs, op.target, op.remount | (op.flags & libc.MS_REC))
    _propagate(rootfs, op)


def _apply_cgroup(rootfs: Rootfs, op: MountOp) -> None:
    """A tmpfs with one bind per hierarchy of the container's own cgroups (runc's v1 layout).

    Every hierarchy is bound from the host directory of the container's cgroup, so the
    container sees its own cgroup as the root, with or without a cgroup namespace.
    """
    ro = op.flags & libc.MS_RDONLY
    base = op.flags & ~libc.MS_RDONLY
    if len(rootfs.cgroup_binds) == 1 and rootfs.cgroup_binds[0][0] == "":
        _apply_bind(
            rootfs,
            MountOp(
                "bind",
                op.target,
                source=rootfs.cgroup_binds[0][1],
                flags=libc.MS_BIND | libc.MS_REC,
                remount=op.flags,
            ),
        )
        return
    fd = open_target(rootfs.root_fd, op.target, directory=True)
    try:
        _mount("tmpfs", fd, "tmpfs", base, "mode=755", f'"cgroup" to rootfs at "{op.target}"')
    finally:
        os.close(fd)
    for name, source in rootfs.cgroup_binds:
        sub = f"{op.target}/{name}"
        _apply_bind(rootfs, MountOp("bind", sub, source=source, flags=libc.MS_BIND, remount=op.flags))
        for part in name.split(",") if "," in name else ():
            _apply_symlink(rootfs, MountOp("symlink", f"{op.target}/{part}", source=name))
    if ro:
        fd = securejoin.open_in_root(rootfs.root_fd, op.target, os.O_PATH)
        try:
            _mount(None, fd, None, libc.MS_REMOUNT | op.flags, "", f'remount of "{op.target}"')
        finally:
            os.close(fd)
    _propagate(rootfs, op)


def _apply_device(rootfs: Rootfs, op: MountOp) -> None:
    assert op.device is not None
    kind, major, minor, mode, uid, gid = op.device
    kinds = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}
    if kind not in kinds:
        raise InvalidArgument(f"{kind} is not a valid device type for device {op.target}")
    parent_path, _, name = op.target.rpartition("/")
    parent = securejoin.mkdir_all_in_root(rootfs.root_fd, parent_path or "/")
    try:
        try:
            os.unlink(name, dir_fd=parent)
        except (FileNotFoundError, IsADirectoryError):
            pass
        try:
            os.mknod(name, kinds[kind] | (mode & 0o7777), os.makedev(major, minor), dir_fd=parent)
            os.chown(name, uid, gid, dir_fd=parent, follow_symlinks=False)
        except OSError as exc:
            raise MountError(f"mknod {op.target}: {exc.strerror}") from None
    finally:
        os.close(parent)


def _apply_symlink(rootfs: Rootfs, op: MountOp) -> None:
    if op.target == "/dev/core" and not os.path.exists("/proc/kcore"):
        return
    parent_path, _, name = op.target.rpartition("/")
    parent = securejoin.mkdir_all_in_root(rootfs.root_fd, parent_path or "/")
    try:
        os.symlink(op.source or "", name, dir_fd=parent)
    except FileExistsError:
        pass
    except OSError as exc:
        raise MountError(f"symlink {op.target}: {exc.strerror}") from None
    finally:
        os.close(parent)


def _apply_mask(rootfs: Rootfs, op: MountOp) -> None:
    try:
        fd = securejoin.open_in_root(rootfs.root_fd, op.target, os.O_PATH)
    except (FileNotFoundError, NotADirectoryError):
        return  # nothing to mask
    try:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            _mount("tmpfs", fd, "tmpfs", libc.MS_RDONLY, "", f'mask of "{op.target}"')
        else:
            _mount(_fd_path(rootfs.null_fd), fd, None, libc.MS_BIND, "", f'mask of "{op.target}"')
    finally:
        os.close(fd)


def _apply_readonly(rootfs: Rootfs, op: MountOp) -> None:
    try:
        fd = securejoin.open_in_root(rootfs.root_fd, op.target, os.O_PATH)
    except (FileNotFoundError, NotADirectoryError):
        return
    try:
        _mount(_fd_path(fd), fd, None, libc.MS_BIND | libc.MS_REC, "", f'readonly path "{op.target}"')
    finally:
        os.close(fd)
    _remount(rootfs, op.target, libc.MS_RDONLY | libc.MS_REC, keep=True)


def _apply_remount_ro(rootfs: Rootfs, op: MountOp) -> None:
    _remount(rootfs, op.target, op.flags | libc.MS_RDONLY, keep=True)


_APPLY = {
    "mount": _apply_mount,
    "bind": _apply_bind,
    "cgroup": _apply_cgroup,
    "device": _apply_device,
    "symlink": _apply_symlink,
    "mask": _apply_mask,
    "readonly": _apply_readonly,
    "remount-ro": _apply_remount_ro,
}


def apply(ops: list[MountOp], rootfs: Rootfs) -> None:
    """Make each operation, in order, inside ``rootfs``.

    Raises:
        MountError: an operation failed; the message names the mount as runc does.
        InvalidArgument: a device of an unknown type.
    """
    for op in ops:
        _APPLY[op.kind](rootfs, op)


def open_null() -> int:
    """An O_PATH fd of the host's /dev/null, checked to be the char device 1:3.

    Raises:
        MountError: /dev/null is not the null device.
    """
    fd = os.open("/dev/null", os.O_PATH | os.O_CLOEXEC)
    st = os.fstat(fd)
    if not stat.S_ISCHR(st.st_mode) or st.st_rdev != os.makedev(1, 3):
        os.close(fd)
        raise MountError("/dev/null is not the null device (char 1:3)")
    return fd


def write_sysctl(root_fd: int, key: str, value: str) -> None:
    """Write one sysctl through ``/proc/sys``, refusing anything that is not procfs.

    Raises:
        MountError: the file is missing, not on procfs, or the write failed.
    """
    path = "/proc/sys/" + key.replace(".", "/")
    try:
        fd = securejoin.open_in_root(root_fd, path, os.O_WRONLY)
    except OSError as exc:
        raise MountError(f"write sysctl {key}: {exc.strerror}") from None
    try:
        if libc.fstatfs_type(fd) != libc.PROC_SUPER_MAGIC:
            raise MountError(f"write sysctl {key}: {path} is not on procfs")
        os.write(fd, value.encode())
    except OSError as exc:
        raise MountError(f"write sysctl {key}={value}: {exc.strerror}") from None
    finally:
        os.close(fd)
