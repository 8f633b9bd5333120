"""Layer tars and images built in memory, for the image room's tests (unit and integration).

``Entry`` describes one tar member; ``layer_tar`` writes a list of them as a tar (optionally
gzip/zstd/xz compressed); ``image_blobs`` turns layers into a config and a manifest, as a
registry would serve them. The breakout corpus (``BREAKOUTS``) is our own generator for the
cases containerd's ``TestBreakouts`` names: each case is a list of entries plus the outcome the
extraction must have (an error, or files it must leave in the layer).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import lzma
import tarfile
from dataclasses import dataclass, field

__all__ = [
    "BREAKOUTS",
    "Breakout",
    "Entry",
    "ImageBlobs",
    "compress",
    "d",
    "f",
    "h",
    "image_blobs",
    "layer_tar",
    "s",
    "sha256",
]


@dataclass(frozen=True)
class Entry:
    """One tar member."""

    name: str
    type: bytes = tarfile.REGTYPE
    data: bytes = b""
    linkname: str = ""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    mtime: int = 1_600_000_000
    xattrs: dict[str, str] = field(default_factory=dict)
    devmajor: int = 0
    devminor: int = 0


def f(name: str, data: bytes = b"", mode: int = 0o644, **kw: object) -> Entry:
    """A regular file."""
    return Entry(name, tarfile.REGTYPE, data, mode=mode, **kw)  # type: ignore[arg-type]


def d(name: str, mode: int = 0o755, **kw: object) -> Entry:
    """A directory."""
    return Entry(name, tarfile.DIRTYPE, mode=mode, **kw)  # type: ignore[arg-type]


def s(name: str, target: str) -> Entry:
    """A symlink."""
    return Entry(name, tarfile.SYMTYPE, linkname=target, mode=0o777)


def h(name: str, target: str) -> Entry:
    """A hard link."""
    return Entry(name, tarfile.LNKTYPE, linkname=target)


def layer_tar(entries: list[Entry], *, padding: int = 0) -> bytes:
    """The uncompressed tar of ``entries`` (PAX format, as Docker writes xattrs)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            info = tarfile.TarInfo(e.name)
            info.type = e.type
            info.mode = e.mode
            info.uid, info.gid = e.uid, e.gid
            info.mtime = e.mtime
            info.linkname = e.linkname
            info.devmajor, info.devminor = e.devmajor, e.devminor
            info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in e.xattrs.items()}
            if e.type in (tarfile.REGTYPE, tarfile.AREGTYPE):
                info.size = len(e.data)
                tar.addfile(info, io.BytesIO(e.data))
            else:
                tar.addfile(info)
    return out.getvalue() + b"\0" * padding


def compress(data: bytes, kind: str) -> bytes:
    """``data`` compressed as ``none``, ``gzip``, ``zstd``, ``xz`` or ``bzip2``."""
    if kind == "none":
        return data
    if kind == "gzip":
        return gzip.compress(data, mtime=0)
    if kind == "xz":
        return lzma.compress(data)
    if kind == "bzip2":
        import bz2

        return bz2.compress(data)
    if kind == "zstd":
        import zstandard

        return zstandard.ZstdCompressor().compress(data)
    raise ValueError(kind)


def sha256(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class ImageBlobs:
    """An image as a registry holds it."""

    config: bytes
    manifest: bytes
    layers: list[bytes]  # compressed blobs, bottom first
    diff_ids: list[str]

    @property
    def config_digest(self) -> str:
        return sha256(self.config)

    @property
    def manifest_digest(self) -> str:
        return sha256(self.manifest)

    def blobs(self) -> dict[str, bytes]:
        out = {sha256(b): b for b in self.layers}
        out[self.config_digest] = self.config
        return out


MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
LAYER_TYPES = {
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "none": "application/vnd.oci.image.layer.v1.tar",
}


def image_blobs(
    layers: list[list[Entry]],
    *,
    compression: str = "gzip",
    config_extra: dict[str, object] | None = None,
    diff_ids: list[str] | None = None,
    architecture: str = "amd64",
    created: str = "2024-01-02T03:04:05Z",
) -> ImageBlobs:
    """Config, manifest and layer blobs for an image made of ``layers``."""
    tars = [layer_tar(entries) for entries in layers]
    blobs = [compress(t, compression) for t in tars]
    real_diff_ids = [sha256(t) for t in tars]
    config: dict[str, object] = {
        "architecture": architecture,
        "os": "linux",
        "created": created,
        "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/usr/bin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids or real_diff_ids},
        "history": [{"created": created, "created_by": f"layer {i}"} for i in range(len(layers))],
    }
    config.update(config_extra or {})
    config_bytes = json.dumps(config).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": sha256(config_bytes),
            "size": len(config_bytes),
        },
        "layers": [
            {"mediaType": LAYER_TYPES[compression], "digest": sha256(b), "size": len(b)} for b in blobs
        ],
    }
    return ImageBlobs(config_bytes, json.dumps(manifest).encode(), blobs, real_diff_ids)


# --- the breakout corpus ------------------------------------------------------------------------


@dataclass(frozen=True)
class Breakout:
    """A hostile (or merely tricky) layer and what extracting it must do.

    ``error`` True: extraction must fail. ``files``: paths (inside the layer) that must then
    exist, with their expected content (``None``: must exist, any type) or, for symlinks, the
    target prefixed with ``->``. Either way nothing may change outside the layer.
    """

    name: str
    entries: list[Entry]
    error: bool = False
    files: dict[str, str | None] = field(default_factory=dict)
    whiteouts: bool = False


def _corpus() -> list[Breakout]:
    out = [
        Breakout("DotDotName", [f("../../../victim", b"x")], files={"victim": "x"}),
        Breakout("AbsoluteName", [f("/victim", b"x")], files={"victim": "x"}),
        Breakout("SymlinkAbsolute", [s("dummy", "/etc"), f("dummy/victim", b"x")], files={"etc/victim": "x"}),
        Breakout(
            "SymlinkUpAndOut",
            [d("dummy"), s("dummy/up", "../../../../.."), f("dummy/up/victim", b"x")],
            files={"victim": "x", "dummy/up": "->../../../../.."},
        ),
        Breakout(
            "SymlinkMultipleAbsolute",
            [s("dummy1", "/etc"), s("dummy2", "/dummy1"), f("dummy2/victim", b"x")],
            files={"etc/victim": "x"},
        ),
        Breakout(
            "SymlinkMultipleRelative",
            [s("dummy1", "../../../etc"), s("dummy2", "dummy1"), f("dummy2/victim", b"x")],
            files={"etc/victim": "x"},
        ),
        Breakout(
            "SymlinkEmptyFile", [f("victim"), s("dummy", "victim"), f("dummy", b"x")], files={"dummy": "x"}
        ),
        Breakout(
            "SymlinkParentDirectory",
            [d("etc"), s("etc/link", "../../etc"), f("etc/link/victim", b"x")],
            files={"etc/victim": "x"},
        ),
        Breakout(
            "SymlinkOverrideDirectory",
            [d("etc"), s("etc", "/tmp/outside"), f("etc/victim", b"x")],
            files={"tmp/outside/victim": "x", "etc": "->/tmp/outside"},
        ),
        Breakout(
            "SymlinkOverrideDirectoryRelative",
            [d("etc"), s("etc", "../../../tmp"), f("etc/victim", b"x")],
            files={"tmp/victim": "x"},
        ),
        Breakout(
            "DirectoryOverrideSymlink",
            [s("etc", "/tmp"), d("etc"), f("etc/victim", b"x")],
            files={"etc/victim": "x"},
        ),
        Breakout(
            "DirectoryOverrideSymlinkAndHardlink",
            [f("file", b"x"), s("etc", "/tmp"), d("etc"), h("etc/link", "file")],
            files={"etc/link": "x"},
        ),
        Breakout("HardlinkRelative", [f("file", b"x"), h("link", "./file")], files={"link": "x"}),
        Breakout("HardlinkDownAndOut", [d("dummy"), h("dummy/link", "../../../../etc/passwd")], error=True),
        Breakout("HardlinkAbsolute", [h("link", "/etc/passwd")], error=True),
        Breakout(
            "HardlinkRelativeLong",
            [f("file", b"x"), h("link", "../../../../../../../../../file")],
            files={"link": "x"},
        ),
        Breakout(
            "HardlinkRelativeUpAndOut",
            [d("dummy"), f("file", b"x"), h("dummy/link", "../file")],
            files={"dummy/link": "x"},
        ),
        Breakout("HardlinkDirectRelative", [f("file", b"x"), h("link", "file")], files={"link": "x"}),
        Breakout("HardlinkDirectAbsolute", [f("file", b"x"), h("link", "/file")], files={"link": "x"}),
        Breakout(
            "HardlinkSymlinkBeforeCreateTarget",
            [s("symlink", "/etc/passwd"), h("link", "symlink"), f("symlink", b"x")],
            files={"link": "->/etc/passwd", "symlink": "x"},
        ),
        Breakout(
            "HardlinkSymlinkRelative",
            [s("symlink", "../../../etc/passwd"), h("link", "symlink")],
            files={"link": "->../../../etc/passwd"},
        ),
        Breakout(
            "HardlinkSymlinkAbsolute",
            [s("symlink", "/etc/passwd"), h("link", "symlink")],
            files={"link": "->/etc/passwd"},
        ),
        Breakout(
            "HardlinkSymlinkChmod",
            [s("symlink", "/etc/hostname"), h("link", "symlink"), f("link", b"x", mode=0o4755)],
            files={"link": "x", "symlink": "->/etc/hostname"},
        ),
        Breakout(
            "SymlinkChmodFile",  # CVE-2021-32760: chmod must not follow x -> /etc/hostname
            [s("x", "/etc/hostname"), f("x", b"y", mode=0o4755)],
            files={"x": "y"},
        ),
        Breakout(
            "SymlinkThenDirectory",
            [s("x", "/etc"), d("x", mode=0o777)],
            files={"x": None},
        ),
        Breakout(
            "SymlinkOverridePath",
            [d("etc"), s("etc/passwd", "/etc/passwd")],
            files={"etc/passwd": "->/etc/passwd"},
        ),
        Breakout("WhiteoutRootParent", [f(".wh..."), f("victim", b"x")], error=True, whiteouts=True),
        Breakout("WhiteoutCurrentDirectory", [d("dir"), f("dir/.wh..")], error=True, whiteouts=True),
        Breakout(
            "WhiteoutParent", [d("dir"), f("dir/../.wh.victim")], files={".wh.victim": ""}, whiteouts=True
        ),
        Breakout("WhiteoutRoot", [f(".wh.etc")], files={".wh.etc": ""}, whiteouts=True),
        Breakout(
            "WhiteoutSymlink",
            [s("link", "/etc"), f("link/.wh.passwd")],
            files={"etc/.wh.passwd": ""},
            whiteouts=True,
        ),
        Breakout(
            "WhiteoutSymlinkPath",
            [d("dir"), s("dir/link", "../../.."), f("dir/link/.wh.passwd")],
            files={".wh.passwd": ""},
            whiteouts=True,
        ),
        Breakout(
            "WhiteoutDeadSymlinkParent",
            [s("dead", "/nonexistent/dir"), f("dead/.wh.file")],
            files={"nonexistent/dir/.wh.file": ""},
            whiteouts=True,
        ),
        Breakout("WhiteoutRelativePath", [f("../.wh.passwd")], files={".wh.passwd": ""}, whiteouts=True),
        Breakout(
            "WhiteoutDirectoryName",
            [d("dir"), f("dir/.wh..wh..opq")],
            files={"dir/.wh..wh..opq": ""},
            whiteouts=True,
        ),
    ]
    return out


BREAKOUTS = _corpus()
