"""Fixture images built from busybox-static: layers, configs, manifests, indexes and archives.

There is no Docker Hub here, so every image a test pulls, loads or runs is made by this module
from ``tests.support.rootfs`` (Debian's static busybox). Everything is **deterministic**: tar
members are sorted, owned by 0:0, stamped with one fixed time, and gzip headers carry no name or
date, so an image has the same digests in every run and on every machine, and two images that
share a base layer share its digest (a second pull says ``Already exists``).

Named fixtures (``fixture(name)``, cached per process):

- ``alpine``: the lab's image. busybox with ``/bin/sh``, ``ash``, ``ls``, ``echo``,
  ``hostname``...; ``Cmd ["/bin/sh"]``; two layers (the busybox base and ``/etc`` release files).
- ``busybox``: the base layer alone, ``Cmd ["sh"]``.
- ``hello-world``: prints Docker's greeting from ``/hello``.
- ``whiteouts``: four layers that add files, delete some (``.wh.<name>``), make a directory
  opaque (``.wh..wh..opq``) and replace a directory; ``expected`` and ``absent`` say what the
  unpacked root must and must not hold.
- ``big``: four layers, about 10,000 files and 40 MB compressed, for the cold-pull benchmark.
- ``alpine-arm64``: ``alpine``'s layers with an arm64/v8 config, for platform selection.

Forms: Docker schema 2 and OCI manifests (``ImageFixture.docker_manifest``/``oci_manifest``),
an index or manifest list over amd64 and arm64 (``index_for``), classic ``docker save``
tarballs (``manifest.json``, ``repositories``, ``<id>/layer.tar``), the OCI-layout form that
``docker save`` writes since Docker 25, and plain OCI layout directories.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import json
import os
import random
import stat
import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.rootfs import PASSWD, build_rootfs

__all__ = [
    "CREATED",
    "FIXTURES",
    "Entry",
    "ImageFixture",
    "Layer",
    "build_image",
    "fixture",
    "index_for",
    "make_layer",
    "sha256",
    "tar_bytes",
    "write_docker_save",
    "write_oci_layout",
    "write_oci_save",
]

CREATED = "2024-01-01T00:00:00Z"
MTIME = 1704067200  # CREATED as a Unix time
FIXTURES = ("alpine", "busybox", "hello-world", "whiteouts", "big", "alpine-arm64")

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HELLO = """\
Hello from Docker!
This message shows that your installation appears to be working correctly.
"""


def sha256(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _json(doc: object) -> bytes:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


# --- tar layers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One tar member: ``file``, ``dir``, ``symlink`` or ``hardlink``, at a relative ``path``."""

    path: str
    kind: str = "file"
    data: bytes = b""
    mode: int = 0o644
    target: str = ""
    uid: int = 0
    gid: int = 0


def tar_bytes(entries: Iterable[Entry]) -> bytes:
    """A deterministic tar of ``entries``, sorted by path (parents before children)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for entry in sorted(entries, key=lambda e: e.path):
            info = tarfile.TarInfo(entry.path)
            info.mtime, info.uid, info.gid, info.mode = MTIME, entry.uid, entry.gid, entry.mode
            info.uname = info.gname = ""
            if entry.kind == "dir":
                info.type = tarfile.DIRTYPE
            elif entry.kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, entry.target
            elif entry.kind == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, entry.target
            else:
                info.size = len(entry.data)
            archive.addfile(info, io.BytesIO(entry.data) if entry.kind == "file" else None)
    return buffer.getvalue()


def entries_from_dir(root: Path) -> list[Entry]:
    """Every file, directory and symlink under ``root``, owned by 0:0, modes kept."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            info = path.lstat()
            mode = stat.S_IMODE(info.st_mode)
            if stat.S_ISLNK(info.st_mode):
                out.append(Entry(rel, "symlink", mode=0o777, target=os.readlink(path)))
            elif stat.S_ISDIR(info.st_mode):
                out.append(Entry(rel, "dir", mode=mode))
            else:
                out.append(Entry(rel, "file", path.read_bytes(), mode=mode))
    return out


@dataclass(frozen=True)
class Layer:
    """A layer in both forms: the tar (whose digest is the diff ID) and its gzip blob."""

    tar: bytes = field(repr=False)
    blob: bytes = field(repr=False)
    created_by: str

    @functools.cached_property
    def diff_id(self) -> str:
        return sha256(self.tar)

    @functools.cached_property
    def digest(self) -> str:
        return sha256(self.blob)


def make_layer(entries: Iterable[Entry], created_by: str, *, level: int = 6) -> Layer:
    """Tar and gzip ``entries`` (no name, no date in the gzip header: stable digests)."""
    tar = tar_bytes(entries)
    return Layer(tar=tar, blob=gzip.compress(tar, compresslevel=level, mtime=0), created_by=created_by)


# --- images ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageFixture:
    """One image with everything a registry, ``docker load`` or a test needs to know about it."""

    name: str
    repo: str
    tag: str
    config: bytes = field(repr=False)
    layers: tuple[Layer, ...]
    architecture: str = "amd64"
    variant: str | None = None
    expected: dict[str, bytes] = field(default_factory=dict, repr=False)
    absent: tuple[str, ...] = ()

    @property
    def config_digest(self) -> str:
        return sha256(self.config)

    @property
    def image_id(self) -> str:
        """Docker's image ID: the config digest."""
        return self.config_digest

    @property
    def diff_ids(self) -> list[str]:
        return [layer.diff_id for layer in self.layers]

    def _manifest(self, media_type: str, config_type: str, layer_type: str, *, compressed: bool) -> bytes:
        layers = [
            {
                "mediaType": layer_type,
                "size": len(layer.blob if compressed else layer.tar),
                "digest": layer.digest if compressed else layer.diff_id,
            }
            for layer in self.layers
        ]
        config = {"mediaType": config_type, "size": len(self.config), "digest": self.config_digest}
        doc = {"schemaVersion": 2, "mediaType": media_type, "config": config, "layers": layers}
        return json.dumps(doc, indent=3).encode()  # Docker's own indentation, for realism

    @functools.cached_property
    def docker_manifest(self) -> bytes:
        """Docker schema 2 manifest with gzip layers (what ``docker push`` writes)."""
        return self._manifest(DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER, compressed=True)

    @functools.cached_property
    def oci_manifest(self) -> bytes:
        """OCI manifest with gzip layers."""
        return self._manifest(OCI_MANIFEST, OCI_CONFIG, OCI_LAYER_GZIP, compressed=True)

    @functools.cached_property
    def oci_manifest_uncompressed(self) -> bytes:
        """OCI manifest with plain tar layers (``docker save`` since Docker 25)."""
        return self._manifest(OCI_MANIFEST, OCI_CONFIG, OCI_LAYER, compressed=False)

    @property
    def manifest_digest(self) -> str:
        """Digest of the Docker schema 2 manifest: the repo digest after a push."""
        return sha256(self.docker_manifest)

    def blobs(self) -> dict[str, bytes]:
        """Config and gzip layers by digest: what a registry must hold for this image."""
        out = {self.config_digest: self.config}
        out.update((layer.digest, layer.blob) for layer in self.layers)
        return out

    def platform(self) -> dict[str, str]:
        doc = {"architecture": self.architecture, "os": "linux"}
        if self.variant:
            doc["variant"] = self.variant
        return doc


def build_image(
    name: str,
    layers: list[Layer],
    *,
    repo: str | None = None,
    tag: str = "latest",
    cmd: list[str] | None = None,
    entrypoint: list[str] | None = None,
    env: list[str] | None = None,
    workdir: str = "",
    labels: dict[str, str] | None = None,
    architecture: str = "amd64",
    variant: str | None = None,
    empty_steps: list[str] | None = None,
    expected: dict[str, bytes] | None = None,
    absent: tuple[str, ...] = (),
) -> ImageFixture:
    """An image from ``layers`` with a config as ``docker build`` writes one.

    ``empty_steps`` become ``empty_layer`` history entries after the layers (ENV, CMD...).
    """
    history: list[dict[str, object]] = [
        {"created": CREATED, "created_by": layer.created_by} for layer in layers
    ]
    for step in empty_steps or []:
        history.append({"created": CREATED, "created_by": step, "empty_layer": True})
    container: dict[str, object] = {"Env": env or [PATH_ENV], "Cmd": cmd, "WorkingDir": workdir}
    if entrypoint is not None:
        container["Entrypoint"] = entrypoint
    if labels:
        container["Labels"] = labels
    doc: dict[str, object] = {
        "architecture": architecture,
        "os": "linux",
        "created": CREATED,
        "config": container,
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": history,
    }
    if variant:
        doc["variant"] = variant
    return ImageFixture(
        name=name,
        repo=repo or f"library/{name}",
        tag=tag,
        config=_json(doc),
        layers=tuple(layers),
        architecture=architecture,
        variant=variant,
        expected=expected or {},
        absent=absent,
    )


@functools.cache
def busybox_layer() -> Layer:
    """The busybox root filesystem as one layer (about 1 MB compressed)."""
    with tempfile.TemporaryDirectory(prefix="dyt-rootfs-") as tmp:
        root = build_rootfs(Path(tmp) / "rootfs")
        return make_layer(entries_from_dir(root), "ADD busybox-rootfs.tar /")


def _files(created_by: str, files: dict[str, bytes], *, dirs: Iterable[str] = ()) -> Layer:
    entries = [Entry(d, "dir", mode=0o755) for d in dirs]
    entries += [
        Entry(path, "file", data, mode=0o755 if data.startswith(b"#!") else 0o644)
        for path, data in files.items()
    ]
    return make_layer(entries, created_by)


def _alpine(architecture: str = "amd64", variant: str | None = None, name: str = "alpine") -> ImageFixture:
    release = _files(
        "COPY etc /etc",
        {"etc/alpine-release": b"3.19.0\n", "etc/os-release": b'NAME="dockyard test alpine"\nID=alpine\n'},
        dirs=["etc"],
    )
    return build_image(
        name,
        [busybox_layer(), release],
        repo="library/alpine",
        cmd=["/bin/sh"],
        architecture=architecture,
        variant=variant,
        empty_steps=['CMD ["/bin/sh"]'],
        expected={"etc/alpine-release": b"3.19.0\n"},
    )


def _whiteouts() -> ImageFixture:
    add = _files(
        "COPY data /",
        {
            "data/keep.txt": b"keep\n",
            "data/gone.txt": b"deleted by layer 3\n",
            "data/dir/inner.txt": b"the directory goes in layer 4\n",
            "opaque/old1": b"hidden by the opaque marker\n",
            "opaque/old2": b"hidden too\n",
            "etc/removed.conf": b"x=1\n",
        },
        dirs=["data", "data/dir", "opaque", "etc"],
    )
    delete = make_layer(
        [
            Entry("data", "dir", mode=0o755),
            Entry("data/.wh.gone.txt"),
            Entry("etc", "dir", mode=0o755),
            Entry("etc/.wh.removed.conf"),
            Entry("opaque", "dir", mode=0o755),
            Entry("opaque/.wh..wh..opq"),
            Entry("opaque/new", data=b"after the opaque marker\n"),
        ],
        "RUN rm data/gone.txt etc/removed.conf && rm -rf opaque/* && echo > opaque/new",
    )
    replace = make_layer(
        [
            Entry("data", "dir", mode=0o755),
            Entry("data/.wh.dir"),
            Entry("data/dir.txt", data=b"a file where a directory was\n"),
            Entry("data/link", "symlink", mode=0o777, target="keep.txt"),
            # A hard link may only name a file of its own layer: each layer unpacks on its own.
            Entry("data/base.txt", data=b"two names\n"),
            Entry("data/hard", "hardlink", target="data/base.txt"),
        ],
        "RUN rm -rf data/dir && echo > data/dir.txt"
        " && ln -s keep.txt data/link && echo > data/base.txt && ln data/base.txt data/hard",
    )
    return build_image(
        "whiteouts",
        [busybox_layer(), add, delete, replace],
        repo="dockyard/whiteouts",
        cmd=["/bin/sh"],
        expected={
            "data/keep.txt": b"keep\n",
            "data/hard": b"two names\n",
            "data/base.txt": b"two names\n",
            "data/dir.txt": b"a file where a directory was\n",
            "opaque/new": b"after the opaque marker\n",
            "etc/passwd": PASSWD.encode(),
        },
        absent=("data/gone.txt", "data/dir", "opaque/old1", "opaque/old2", "etc/removed.conf"),
    )


def _big() -> ImageFixture:
    """About 10,000 files in 3 layers over busybox; a third of them incompressible 12 KiB."""
    rng = random.Random(20240101)  # fixed seed: the same bytes, the same digests, every run
    layers = [busybox_layer()]
    for number in range(3):
        entries = [Entry(f"usr/share/big{number}", "dir", mode=0o755)]
        for i in range(3300):
            directory = f"usr/share/big{number}/d{i // 100:02d}"
            if i % 100 == 0:
                entries.append(Entry(directory, "dir", mode=0o755))
            if i % 3 == 0:
                data = rng.randbytes(12 * 1024)
            else:
                data = f"file {number}/{i}: {rng.random()}\n".encode() * 8
            entries.append(Entry(f"{directory}/f{i:04d}", data=data))
        layers.append(make_layer(entries, f"COPY big{number} /usr/share/big{number}", level=1))
    return build_image("big", layers, repo="dockyard/big", cmd=["/bin/sh"])


@functools.cache
def fixture(name: str) -> ImageFixture:
    """The named fixture image (see the module docstring), built once per process."""
    if name == "alpine":
        return _alpine()
    if name == "alpine-arm64":
        return _alpine("arm64", "v8", name="alpine-arm64")
    if name == "busybox":
        return build_image("busybox", [busybox_layer()], cmd=["sh"], empty_steps=['CMD ["sh"]'])
    if name == "hello-world":
        hello = _files("COPY hello /", {"hello": b"#!/bin/sh\ncat <<'EOF'\n\n" + HELLO.encode() + b"\nEOF\n"})
        return build_image(
            "hello-world", [busybox_layer(), hello], cmd=["/hello"], empty_steps=['CMD ["/hello"]']
        )
    if name == "whiteouts":
        return _whiteouts()
    if name == "big":
        return _big()
    raise KeyError(f"no fixture image named {name!r}; known: {', '.join(FIXTURES)}")


def index_for(images: Iterable[ImageFixture], *, docker: bool = False) -> bytes:
    """A manifest list (``docker=True``) or OCI index over ``images``' manifests, one per platform."""
    entries = []
    for image in images:
        manifest = image.docker_manifest if docker else image.oci_manifest
        entries.append(
            {
                "mediaType": DOCKER_MANIFEST if docker else OCI_MANIFEST,
                "size": len(manifest),
                "digest": sha256(manifest),
                "platform": image.platform(),
            }
        )
    doc = {"schemaVersion": 2, "mediaType": DOCKER_LIST if docker else OCI_INDEX, "manifests": entries}
    return json.dumps(doc, indent=3).encode()


# --- archives and layouts --------------------------------------------------------------------------


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), MTIME, 0o644
    archive.addfile(info, io.BytesIO(data))


def _add_dir(archive: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mtime, info.mode = tarfile.DIRTYPE, MTIME, 0o755
    archive.addfile(info)


def _repo_tags(image: ImageFixture, tags: list[str] | None) -> list[str]:
    if tags is not None:
        return tags
    short = image.repo.removeprefix("library/")
    return [f"{short}:{image.tag}"]


def _repositories(images: list[tuple[ImageFixture, list[str]]], top: dict[str, str]) -> bytes:
    repositories: dict[str, dict[str, str]] = {}
    for image, tags in images:
        for tag in tags:
            name, _, version = tag.rpartition(":")
            repositories.setdefault(name, {})[version] = top[image.name]
    return _json(repositories)


def write_docker_save(dest: Path, images: list[tuple[ImageFixture, list[str] | None]]) -> Path:
    """A classic ``docker save`` tarball (Docker <= 24): ``<id>/layer.tar`` + ``manifest.json``.

    Each layer directory is named by a v1-compatible ID chained from its parent and diff ID, as
    ``docker save`` names them; ``repositories`` maps each tag to the top layer's ID.
    """
    resolved = [(image, _repo_tags(image, tags)) for image, tags in images]
    manifest, top, written = [], {}, set()
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as archive:
        for image, tags in resolved:
            parent, layer_paths = "", []
            for layer in image.layers:
                layer_id = hashlib.sha256(f"{parent}\n{layer.diff_id}".encode()).hexdigest()
                if layer_id not in written:
                    written.add(layer_id)
                    _add_dir(archive, layer_id)
                    _add(archive, f"{layer_id}/VERSION", b"1.0")
                    v1 = {"id": layer_id, "created": CREATED, **({"parent": parent} if parent else {})}
                    _add(archive, f"{layer_id}/json", _json(v1))
                    _add(archive, f"{layer_id}/layer.tar", layer.tar)
                layer_paths.append(f"{layer_id}/layer.tar")
                parent = layer_id
            top[image.name] = parent
            config_name = f"{image.config_digest.removeprefix('sha256:')}.json"
            if config_name not in written:
                written.add(config_name)
                _add(archive, config_name, image.config)
            manifest.append({"Config": config_name, "RepoTags": tags, "Layers": layer_paths})
        _add(archive, "manifest.json", _json(manifest))
        _add(archive, "repositories", _repositories(resolved, top))
    return dest


def _blob_path(digest: str) -> str:
    return "blobs/sha256/" + digest.removeprefix("sha256:")


def write_oci_save(dest: Path, images: list[tuple[ImageFixture, list[str] | None]]) -> Path:
    """A ``docker save`` tarball as Docker 25+ writes it: an OCI layout plus ``manifest.json``.

    Layers are stored uncompressed (media type ``...layer.v1.tar``); ``index.json`` names each
    image with ``io.containerd.image.name`` and ``org.opencontainers.image.ref.name``.
    """
    resolved = [(image, _repo_tags(image, tags)) for image, tags in images]
    blobs: dict[str, bytes] = {}
    index, manifest = [], []
    for image, tags in resolved:
        blobs[image.config_digest] = image.config
        for layer in image.layers:
            blobs[layer.diff_id] = layer.tar
        body = image.oci_manifest_uncompressed
        blobs[sha256(body)] = body
        for tag in tags:
            name, _, version = tag.rpartition(":")
            full = name if "/" in name and "." in name.split("/", 1)[0] else f"docker.io/{image.repo}"
            annotations = {
                "io.containerd.image.name": f"{full}:{version}",
                "org.opencontainers.image.ref.name": version,
            }
            index.append(
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": sha256(body),
                    "size": len(body),
                    "annotations": annotations,
                }
            )
        manifest.append(
            {
                "Config": _blob_path(image.config_digest),
                "RepoTags": tags,
                "Layers": [_blob_path(layer.diff_id) for layer in image.layers],
            }
        )
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as archive:
        for directory in ("blobs", "blobs/sha256"):
            _add_dir(archive, directory)
        for digest, data in sorted(blobs.items()):
            _add(archive, _blob_path(digest), data)
        _add(archive, "index.json", _json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": index}))
        _add(archive, "manifest.json", _json(manifest))
        _add(archive, "oci-layout", _json({"imageLayoutVersion": "1.0.0"}))
    return dest


def write_oci_layout(
    dest: Path, images: list[tuple[ImageFixture, str]], *, index: bytes | None = None
) -> Path:
    """An OCI image layout directory (gzip layers), each image named by a ref-name annotation.

    With ``index`` (from ``index_for``), that index is stored as a blob and listed instead, so
    a multi-platform image can be laid out too.
    """
    blob_dir = dest / "blobs" / "sha256"
    blob_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for image, ref_name in images:
        for digest, data in image.blobs().items():
            (blob_dir / digest.removeprefix("sha256:")).write_bytes(data)
        (blob_dir / sha256(image.oci_manifest).removeprefix("sha256:")).write_bytes(image.oci_manifest)
        entry = {
            "mediaType": OCI_MANIFEST,
            "digest": sha256(image.oci_manifest),
            "size": len(image.oci_manifest),
        }
        entries.append(entry | {"annotations": {"org.opencontainers.image.ref.name": ref_name}})
    if index is not None:
        (blob_dir / sha256(index).removeprefix("sha256:")).write_bytes(index)
        entries = [{"mediaType": OCI_INDEX, "digest": sha256(index), "size": len(index)}]
    (dest / "oci-layout").write_bytes(_json({"imageLayoutVersion": "1.0.0"}))
    (dest / "index.json").write_bytes(
        _json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
    )
    return dest
