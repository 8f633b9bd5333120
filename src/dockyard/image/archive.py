"""Applying a layer tar to a directory: whiteouts, ownership, and path safety.

A layer is a tar of changes. Each layer is unpacked into its own empty directory (moby's
overlay2 ``diff`` directory), and overlayfs stacks the directories; so a deletion cannot be
performed here, only *recorded* in overlayfs' own vocabulary:

- ``dir/.wh.name`` (an AUFS-style whiteout, which is how layer tars spell "name was deleted")
  becomes ``dir/name`` as a character device 0:0, which overlayfs reads as "hidden below";
- ``dir/.wh..wh..opq`` (an opaque directory) becomes the xattr ``trusted.overlay.opaque=y`` on
  ``dir``, which hides everything the lower layers have under it;
- other ``.wh..wh.`` names are AUFS bookkeeping and are skipped.

With ``whiteouts="keep"`` the ``.wh.`` files are written as plain empty files instead (AUFS
format); that needs no privilege, so the unit tier can exercise everything else.

**Path safety** (reliability-security.md §2.5 and §6). The layer is untrusted input. ``tarfile``
is used only to parse headers from a stream (mode ``r|``); its ``extract`` and its filters are
never used: they have had escape bugs through 2026 and refuse legitimate layer content
(absolute symlinks, device nodes). Instead:

- names are cleaned lexically as if rooted at ``/``: ``..`` cannot climb above the root and a
  leading ``/`` is dropped (containerd's choice: neutralise rather than refuse);
- the parent directory of every entry is resolved *inside* the layer root, component by
  component with ``O_NOFOLLOW`` or ``openat2(RESOLVE_IN_ROOT)`` (util.securejoin): a symlink the
  layer planted earlier is followed only within the root, never out of it;
- every file is created relative to that parent's fd, with ``O_CREAT|O_EXCL|O_NOFOLLOW``, after
  removing whatever was there; symlinks are created, never followed;
- hard-link targets are resolved inside the root the same way, and the link itself is made with
  ``linkat`` without ``AT_SYMLINK_FOLLOW`` (a hard link to a symlink is another symlink);
- owners, modes, xattrs and times are applied through the fd of the object just created
  (``fchown``/``fchmod``/``fsetxattr``/``futimens``), or through ``/proc/self/fd/N`` of an
  ``O_PATH`` fd that was checked to be the node we made (device nodes, FIFOs): never by a path
  that a later entry could have turned into a symlink (CVE-2021-32760);
- ``trusted.overlay.*`` xattrs in the tar are dropped: they are overlayfs' control plane, and a
  layer must not forge redirects or metacopy markers.

Everything is bounded: special headers (pax, GNU long names) to 1 MiB each, the uncompressed
stream to ``ApplyOptions.max_bytes``. The diff ID (the sha256 of the whole uncompressed stream,
including the zero blocks after the end marker) is computed as the bytes pass, so checking it
against the config's ``rootfs.diff_ids`` costs no second read.

The directory being filled must be private to the extraction (no container sees it until the
layer is committed), so nothing races the writes here (CVE-2025-47290).
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import posixpath
import shutil
import stat
import tarfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from dockyard.errors import SystemFailure
from dockyard.image.compression import LayerFormatError, Readable, open_decompressed
from dockyard.oci.digest import Digest
from dockyard.util import securejoin

__all__ = ["ApplyOptions", "ApplyResult", "apply_layer", "clean_name", "tree_size"]

log = logging.getLogger(__name__)

MAX_SPECIAL_HEADER = 1 << 20
"""Largest pax or GNU long-name header accepted (Go's archive/tar uses the same bound)."""

WHITEOUT_PREFIX = ".wh."
WHITEOUT_META_PREFIX = ".wh..wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"

_COPY_CHUNK = 1 << 20
_DIR_CACHE_MAX = 256
_SPECIAL_TYPES = frozenset(
    {
        tarfile.XHDTYPE,
        tarfile.XGLTYPE,
        tarfile.SOLARIS_XHDTYPE,
        tarfile.GNUTYPE_LONGNAME,
        tarfile.GNUTYPE_LONGLINK,
    }
)
_O_PATH_DIR = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
_O_DIR_READ = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplyOptions:
    """How to apply a layer.

    ``privileged`` (default: running as root) applies owners and creates device nodes; without
    it, owners are left to the caller and device nodes are skipped, as rootless engines do.
    """

    whiteouts: Literal["overlay", "keep"] = "overlay"
    max_bytes: int = 64 << 30
    privileged: bool = field(default_factory=lambda: os.geteuid() == 0)
    compressions: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplyResult:
    """What applying a layer produced."""

    diff_id: Digest
    """sha256 of the uncompressed tar stream."""
    size: int
    """The layer's size as dockerd reports it (see :func:`tree_size`)."""
    uncompressed: int
    """Length of the uncompressed stream."""
    compression: str


def clean_name(name: str) -> str:
    """``name`` cleaned as if rooted at ``/``, returned without the leading slash ("" is the root).

    ``..`` never climbs above the root: ``../../etc/passwd`` and ``/etc/passwd`` both become
    ``etc/passwd``.
    """
    return posixpath.normpath("/" + name).lstrip("/")  # lstrip: normpath keeps a leading "//"


class _Counting:
    """Counts compressed bytes read (for "Extracting" progress)."""

    def __init__(self, source: Readable, progress: Callable[[int], None] | None) -> None:
        self._source = source
        self._progress = progress
        self.count = 0

    def read(self, n: int = -1, /) -> bytes:
        chunk = self._source.read(n)
        self.count += len(chunk)
        if self._progress is not None and chunk:
            self._progress(self.count)
        return chunk


class _Hashing:
    """Hashes and counts the uncompressed stream, and enforces the size bound."""

    def __init__(self, source: Readable, limit: int) -> None:
        self._source = source
        self._limit = limit
        self.hash = hashlib.sha256()
        self.count = 0

    def read(self, n: int = -1, /) -> bytes:
        chunk = self._source.read(n)
        self.count += len(chunk)
        if self.count > self._limit:
            raise LayerFormatError(f"layer exceeds the limit of {self._limit} uncompressed bytes")
        self.hash.update(chunk)
        return chunk

    def drain(self) -> None:
        while self.read(_COPY_CHUNK):
            pass


class _BoundedTarInfo(tarfile.TarInfo):
    """TarInfo that refuses oversized special headers and sparse files before tarfile reads them.

    tarfile reads a pax or GNU long-name header's whole body into memory, with the size the
    header claims; ``_proc_member`` is the hook that runs before that read.
    """

    def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type in _SPECIAL_TYPES and self.size > MAX_SPECIAL_HEADER:
            raise LayerFormatError(f"tar header of {self.size} bytes is larger than {MAX_SPECIAL_HEADER}")
        if self.type == tarfile.GNUTYPE_SPARSE:
            raise LayerFormatError(f"sparse files are not supported in layers: {self.name}")
        return super()._proc_member(tarfile_)  # type: ignore[misc,no-any-return]


def apply_layer(
    source: Readable,
    root_fd: int,
    *,
    options: ApplyOptions | None = None,
    progress: Callable[[int], None] | None = None,
    lowers: Callable[[], Sequence[int]] | None = None,
) -> ApplyResult:
    """Apply the (possibly compressed) layer tar ``source`` to the directory ``root_fd``.

    ``progress`` is called with the number of compressed bytes consumed so far. ``lowers()``
    gives the directory fds of the layers below, top first (asked for only when needed): a hard
    link whose target only exists there gets the target copied up first, as overlayfs would do
    when a layer is applied through a mount.
    Blocking: run it in a worker thread.

    Raises:
        LayerFormatError: the stream is malformed, over a bound, or asks for something impossible
            (a hard link to a missing file, an invalid whiteout).
        SystemFailure: the filesystem refused a write (ENOSPC, EPERM, ...).
    """
    opts = options or ApplyOptions()
    counting = _Counting(source, progress)
    kind, plain = open_decompressed(counting, allowed=opts.compressions)
    hashing = _Hashing(plain, opts.max_bytes)
    writer = _Writer(root_fd, opts, lowers)
    try:
        with tarfile.open(  # type: ignore[call-overload]
            fileobj=hashing,
            mode="r|",
            bufsize=1 << 16,
            tarinfo=_BoundedTarInfo,
        ) as tar:
            while (member := tar.next()) is not None:
                tar.members.clear()  # stream mode: nothing looks back, so keep memory flat
                writer.apply(member, tar)
        hashing.drain()
        writer.finish()
    except tarfile.TarError as exc:
        raise LayerFormatError(f"invalid tar archive: {exc}") from exc
    except RecursionError as exc:  # pragma: no cover - tarfile does not recurse; defensive
        raise LayerFormatError("invalid tar archive: nesting too deep") from exc
    finally:
        writer.close()
    return ApplyResult(
        diff_id=Digest("sha256", hashing.hash.hexdigest()),
        size=tree_size(root_fd) if writer.recount else writer.size,
        uncompressed=hashing.count,
        compression=kind,
    )


class _Writer:
    """Applies tar members under one root; owns a small cache of parent-directory fds."""

    def __init__(
        self, root_fd: int, options: ApplyOptions, lowers: Callable[[], Sequence[int]] | None = None
    ) -> None:
        self._root = root_fd
        self._opts = options
        self._get_lowers = lowers
        self._lowers: Sequence[int] | None = None
        self._dirs: dict[str, int] = {}
        self._dir_times: list[tuple[str, int, int]] = []
        self._setgid_dirs = False
        # The layer's size, kept as entries are written (every new inode adds its st_size); an
        # entry that replaces another sets ``recount``, and the tree is measured instead.
        self.size = 0
        self.recount = False

    # --- fds and names ---------------------------------------------------------------------
    def close(self) -> None:
        self._forget_dirs()

    def _forget_dirs(self, keep: int | None = None) -> None:
        """Close the cached directory fds (all but ``keep``, which stays cached)."""
        kept = {k: fd for k, fd in self._dirs.items() if fd == keep}
        for fd in self._dirs.values():
            if fd != keep:
                os.close(fd)
        self._dirs = kept

    def _parent(self, rel_dir: str) -> int:
        """An O_PATH fd of directory ``rel_dir`` inside the root, created (0755) if missing."""
        fd = self._dirs.get(rel_dir)
        if fd is not None:
            return fd
        if len(self._dirs) >= _DIR_CACHE_MAX:
            self._forget_dirs()
        try:
            fd = securejoin.mkdir_all_in_root(self._root, rel_dir or "/", 0o755)
        except OSError as exc:
            raise LayerFormatError(f"cannot create parent directory {rel_dir!r}: {exc.strerror}") from exc
        self._dirs[rel_dir] = fd
        return fd

    def _clear_slot(self, parent: int, base: str, *, keep_dir: bool) -> bool:
        """Remove whatever is at ``parent/base``; returns True if a directory was kept."""
        try:
            st = os.stat(base, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(st.st_mode):
            if keep_dir:
                return True
            shutil.rmtree(base, dir_fd=parent)
        else:
            os.unlink(base, dir_fd=parent)
        self.recount = True  # bytes counted earlier may be gone: apply_layer measures the tree
        # A removed name may have been (or led to) a cached directory: start the cache afresh,
        # except for the parent being written to, which still exists.
        self._forget_dirs(keep=parent)
        return False

    # --- members ---------------------------------------------------------------------------
    def apply(self, member: tarfile.TarInfo, tar: tarfile.TarFile) -> None:
        if member.sparse is not None:
            raise LayerFormatError(f"sparse files are not supported in layers: {member.name}")
        name = clean_name(member.name)
        if not name:
            return  # the root itself: its metadata belongs to the snapshot, not the layer
        rel_dir, _, base = name.rpartition("/")
        try:
            if base.startswith(WHITEOUT_PREFIX):
                self._whiteout(rel_dir, base)
                return
            parent = self._parent(rel_dir)
            self._create(parent, base, name, member, tar)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO):
                raise SystemFailure(f"apply layer: {name}: {exc.strerror}") from exc
            raise LayerFormatError(f"apply layer: {name}: {exc.strerror or exc}") from exc

    def _create(self, parent: int, base: str, name: str, m: tarfile.TarInfo, tar: tarfile.TarFile) -> None:
        if m.isdir():
            self._directory(parent, base, name, m)
        elif m.islnk():
            self._hardlink(parent, base, name, m)
        elif m.isreg():
            self._regular(parent, base, m, tar)
        elif m.issym():
            self._retry_if_taken(parent, base, lambda: os.symlink(m.linkname, base, dir_fd=parent))
            self.size += len(os.fsencode(m.linkname))  # a symlink's st_size: its target's length
            if self._needs_chown(m):
                os.chown(base, m.uid, m.gid, dir_fd=parent, follow_symlinks=False)
            os.utime(base, ns=_times(m), dir_fd=parent, follow_symlinks=False)
        elif m.ischr() or m.isblk() or m.isfifo():
            self._clear_slot(parent, base, keep_dir=False)
            self._special(parent, base, m)
        else:
            raise LayerFormatError(f"unsupported tar entry type {m.type!r} for {name}")

    # Syscalls per entry dominate unpacking, so each is made only when it changes something:
    # the create is tried first (a name already taken is the rare case), and owner and mode are
    # set only when the create could not already give them.

    def _retry_if_taken(self, parent: int, base: str, create: Callable[[], object]) -> None:
        try:
            create()
        except FileExistsError:
            self._clear_slot(parent, base, keep_dir=False)
            create()

    def _needs_chown(self, m: tarfile.TarInfo) -> bool:
        """Root creates files as 0:0 unless a set-group-ID directory of this layer says otherwise."""
        return self._opts.privileged and (m.uid != 0 or m.gid != 0 or self._setgid_dirs)

    def _needs_chmod(self, m: tarfile.TarInfo, chowned: bool) -> bool:
        """The create's mode lost bits to the umask, or chown cleared set-ID bits."""
        mode = m.mode & 0o7777
        return bool(mode & _UMASK) or (chowned and bool(mode & 0o6000)) or bool(mode & 0o7000)

    def _directory(self, parent: int, base: str, name: str, m: tarfile.TarInfo) -> None:
        # Unprivileged, a directory stays writable until its metadata is set (its children are
        # written first only as root, whose writes ignore permissions).
        create_mode = (m.mode & 0o777) if self._opts.privileged else 0o700
        try:
            os.mkdir(base, create_mode, dir_fd=parent)
            merged = False
        except FileExistsError:
            merged = self._clear_slot(parent, base, keep_dir=True)
            if not merged:
                os.mkdir(base, create_mode, dir_fd=parent)
        if m.mode & stat.S_ISGID:
            self._setgid_dirs = True
        chown = self._needs_chown(m) or (merged and self._opts.privileged)
        if merged or chown or not self._opts.privileged or self._needs_chmod(m, chown) or _xattrs(m):
            fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
            try:
                self._set_owner_mode_xattrs(fd, m, chown=chown, chmod=True)
            finally:
                os.close(fd)
        self._dir_times.append((name, *_times(m)))

    def _regular(self, parent: int, base: str, m: tarfile.TarInfo, tar: tarfile.TarFile) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        mode = m.mode & 0o777
        try:
            fd = os.open(base, flags, mode, dir_fd=parent)
        except FileExistsError:
            self._clear_slot(parent, base, keep_dir=False)
            fd = os.open(base, flags, mode, dir_fd=parent)
        try:
            # In stream mode the tar's stream stands at this member's data; reading it directly
            # skips tarfile's per-member file object.
            stream = tar.fileobj
            left = m.size
            while left > 0 and stream is not None:
                chunk = stream.read(min(_COPY_CHUNK, left))
                if not chunk:
                    raise LayerFormatError(f"unexpected end of data in {m.name}")
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
                left -= len(chunk)
            self.size += m.size
            chown = self._needs_chown(m)
            self._set_owner_mode_xattrs(fd, m, chown=chown, chmod=self._needs_chmod(m, chown))
            os.utime(fd, ns=_times(m))
        finally:
            os.close(fd)

    def _special(self, parent: int, base: str, m: tarfile.TarInfo) -> None:
        if m.isfifo():
            os.mkfifo(base, 0o600, dir_fd=parent)
        elif self._opts.privileged:
            kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK
            os.mknod(base, kind | 0o600, os.makedev(m.devmajor, m.devminor), dir_fd=parent)
        else:
            log.debug("apply layer: skipped device node %s (unprivileged)", m.name)
            return
        fd = os.open(base, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        try:
            st = os.fstat(fd)
            if stat.S_ISLNK(st.st_mode) or stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode):
                raise LayerFormatError(f"apply layer: {m.name} changed while being created")
            # O_PATH fds do not allow fchmod/fchown; the magic link reaches exactly this inode.
            proc = f"/proc/self/fd/{fd}"
            if self._opts.privileged:
                os.chown(proc, m.uid, m.gid)
            os.chmod(proc, m.mode & 0o7777)
            os.utime(proc, ns=_times(m))
        finally:
            os.close(fd)

    def _hardlink(self, parent: int, base: str, name: str, m: tarfile.TarInfo) -> None:
        target = clean_name(m.linkname)
        if not target:
            raise LayerFormatError(f"hard link {name} points at the root")
        if target == name:
            return  # a link to itself: moby skips it too
        t_dir, _, t_base = target.rpartition("/")
        if not self._exists(t_dir, t_base) and not self._copy_up(t_dir, t_base):
            raise LayerFormatError(f"hard link {name}: target {m.linkname} does not exist")
        t_parent = securejoin.open_in_root(self._root, t_dir or "/", _O_PATH_DIR)
        try:
            self._clear_slot(parent, base, keep_dir=False)
            os.link(t_base, base, src_dir_fd=t_parent, dst_dir_fd=parent, follow_symlinks=False)
        finally:
            os.close(t_parent)

    def _exists(self, rel_dir: str, base: str) -> bool:
        try:
            fd = securejoin.open_in_root(self._root, rel_dir or "/", _O_PATH_DIR)
        except (FileNotFoundError, NotADirectoryError, securejoin.PathEscape):
            return False
        try:
            os.stat(base, dir_fd=fd, follow_symlinks=False)
            return True
        except FileNotFoundError:
            return False
        finally:
            os.close(fd)

    def _copy_up(self, rel_dir: str, base: str) -> bool:
        """Copy a hard link's target from the nearest lower layer that has it; False if none."""
        if self._lowers is None:
            self._lowers = self._get_lowers() if self._get_lowers is not None else ()
        for lower in self._lowers:
            try:
                fd = securejoin.open_in_root(lower, rel_dir or "/", _O_PATH_DIR)
            except (FileNotFoundError, NotADirectoryError, securejoin.PathEscape):
                continue
            try:
                try:
                    st = os.stat(base, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                    return False  # a whiteout: deleted below this layer
                self._copy_node(fd, base, st, self._parent(rel_dir))
                return True
            finally:
                os.close(fd)
        return False

    def _copy_node(self, src_dir: int, base: str, st: os.stat_result, parent: int) -> None:
        if stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(base, dir_fd=src_dir), base, dir_fd=parent)
            if self._opts.privileged:
                os.chown(base, st.st_uid, st.st_gid, dir_fd=parent, follow_symlinks=False)
            self.size += st.st_size
            return
        if not stat.S_ISREG(st.st_mode):
            raise LayerFormatError(f"hard link target {base} in a lower layer is not a file")
        src = os.open(base, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src_dir)
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            dst = os.open(base, flags, 0o600, dir_fd=parent)
            try:
                while os.sendfile(dst, src, None, _COPY_CHUNK):
                    pass
                if self._opts.privileged:
                    os.fchown(dst, st.st_uid, st.st_gid)
                os.fchmod(dst, stat.S_IMODE(st.st_mode))
                os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
            finally:
                os.close(dst)
        finally:
            os.close(src)
        self.size += st.st_size

    def _whiteout(self, rel_dir: str, base: str) -> None:
        if base.startswith(WHITEOUT_META_PREFIX) and base != WHITEOUT_OPAQUE:
            return  # AUFS bookkeeping (.wh..wh.plnk, .wh..wh.aufs)
        hidden = base[len(WHITEOUT_PREFIX) :]
        if base != WHITEOUT_OPAQUE and (not hidden or hidden in (".", "..") or "/" in hidden):
            raise LayerFormatError(f"invalid whiteout {rel_dir}/{base}")
        parent = self._parent(rel_dir)
        if self._opts.whiteouts == "keep":
            self._clear_slot(parent, base, keep_dir=False)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            os.close(os.open(base, flags, 0o600, dir_fd=parent))
            return
        if base == WHITEOUT_OPAQUE:
            fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=parent)
            try:
                os.setxattr(fd, OPAQUE_XATTR, b"y")
            finally:
                os.close(fd)
            return
        self._clear_slot(parent, hidden, keep_dir=False)
        os.mknod(hidden, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=parent)

    # --- metadata --------------------------------------------------------------------------
    def _set_owner_mode_xattrs(self, fd: int, m: tarfile.TarInfo, *, chown: bool, chmod: bool) -> None:
        if chown:
            os.fchown(fd, m.uid, m.gid)
        if chmod:
            os.fchmod(fd, m.mode & 0o7777)  # after chown: chown clears set-id bits
        for attr, raw in _xattrs(m):
            try:
                os.setxattr(fd, attr, raw)
            except OSError as exc:
                if exc.errno not in (errno.ENOTSUP, errno.EPERM, errno.EACCES):
                    raise
                log.debug("apply layer: xattr %s on %s not applied: %s", attr, m.name, exc.strerror)

    def finish(self) -> None:
        """Set directory times last: creating their children changed them."""
        self._forget_dirs()
        for name, atime, mtime in self._dir_times:
            try:
                fd = securejoin.open_in_root(self._root, name, os.O_PATH | os.O_NOFOLLOW | os.O_DIRECTORY)
            except OSError:
                continue  # replaced by a later entry; its own metadata already applies
            try:
                os.utime(f"/proc/self/fd/{fd}", ns=(atime, mtime))
            finally:
                os.close(fd)


def tree_size(root_fd: int) -> int:
    """The size dockerd reports for the layer directory ``root_fd`` (moby ``directory.Size``).

    dockerd's layer size is what its graph driver measures on disk after unpacking (overlay2's
    ``ApplyDiff`` returns ``directory.Size`` of the diff directory), not the tar's byte count:
    the ``st_size`` of every non-directory, each inode once. So a symlink counts the length of
    its target, a hard link nothing more, a whiteout or device node nothing, a directory
    nothing; a file written twice counts once, as it ends up. For busybox's alpine that is
    1985709 bytes, where the regular files alone are 1982493 (``docker images`` says 1.99MB).
    Entries that vanish while they are counted (a running container's layer) are skipped.
    Blocking.
    """
    seen: set[int] = set()
    total = 0
    pending = [os.dup(root_fd)]
    try:
        while pending:
            directory = pending.pop()
            try:
                with os.scandir(directory) as entries:
                    for entry in entries:
                        try:
                            st = entry.stat(follow_symlinks=False)
                            if stat.S_ISDIR(st.st_mode):
                                pending.append(os.open(entry.name, _O_DIR_READ, dir_fd=directory))
                            elif st.st_ino not in seen:
                                seen.add(st.st_ino)
                                total += st.st_size
                        except (FileNotFoundError, NotADirectoryError, PermissionError):
                            continue
            except PermissionError:
                continue
            finally:
                os.close(directory)
    finally:
        for directory in pending:
            os.close(directory)
    return total


def _xattrs(m: tarfile.TarInfo) -> list[tuple[str, bytes]]:
    """The entry's xattrs (PAX ``SCHILY.xattr.*``), without overlayfs' own ``trusted.overlay.*``."""
    out = []
    for key, value in m.pax_headers.items():
        if key.startswith("SCHILY.xattr."):
            attr = key[len("SCHILY.xattr.") :]
            if not attr.startswith("trusted.overlay."):  # overlayfs' control plane: never from a layer
                out.append((attr, value.encode("utf-8", "surrogateescape")))
    return out


def _read_umask() -> int:
    """The process umask, read without changing it (``os.umask`` can only set)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o777  # unknown: always chmod


_UMASK = _read_umask()


def _times(m: tarfile.TarInfo) -> tuple[int, int]:
    mtime = int(float(m.mtime) * 1_000_000_000)
    atime_text = m.pax_headers.get("atime")
    try:
        atime = int(float(atime_text) * 1_000_000_000) if atime_text else mtime
    except ValueError:
        atime = mtime
    return atime, mtime
