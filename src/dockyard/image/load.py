"""``docker load``: images from a ``docker save`` archive, in either of its forms.

- **Docker's** ``manifest.json`` (written by every dockerd): ``[{"Config": "<path>", "RepoTags":
  [...], "Layers": ["<path>", ...]}]``. Paths are ``<v1 id>/layer.tar`` and ``<id>.json`` in the
  classic form (dockerd up to 24, where a shared layer is a *symlink* to another ``layer.tar``),
  or ``blobs/sha256/<hex>`` in the OCI-layout form (dockerd 25+, and our own ``save``).
- **An OCI layout** without ``manifest.json`` (skopeo, containerd): ``index.json`` names the
  manifests, by ``io.containerd.image.name`` (or a full reference in
  ``org.opencontainers.image.ref.name``).

The archive is read once, as a stream: the members come in any order (the metadata often after
the blobs), so every regular file goes straight into the content store as it arrives, hashed on
the way (a ``blobs/<alg>/<hex>`` member must hash to its name), and only the few metadata files
are held in memory, each bounded at 20 MiB. Nothing in the archive is ever created as a file
under its own name: member names are only keys, so a hostile archive cannot write anywhere.
Layers are then unpacked from the stored blobs, their diff IDs checked against the config
(``invalid diffID for layer N: expected "...", got "..."``, dockerd's words), and the images
and tags recorded. The output lines are dockerd's: ``Loaded image: alpine:latest``,
``Loaded image ID: sha256:…``, and the note when a tag moves off another image.
"""

from __future__ import annotations

import posixpath
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field

from dockyard.errors import InvalidArgument
from dockyard.image.archive import ApplyOptions, clean_name
from dockyard.image.compression import LayerFormatError, Readable, open_decompressed
from dockyard.image.content import ContentStore
from dockyard.image.progress import Progress, Throttle
from dockyard.image.snapshots import Snapshotter, chain_ids
from dockyard.image.store import ImageRecord, ImageStore
from dockyard.image.unpack import unpack_layer
from dockyard.oci.digest import Digest
from dockyard.oci.image_spec import (
    MAX_CONFIG_SIZE,
    ImageConfig,
    Index,
    Manifest,
    Platform,
    parse_image_config,
    parse_manifest_or_index,
    select_platform,
)
from dockyard.registry import Reference
from dockyard.util import jsoncodec

__all__ = ["ArchiveLoader"]

_METADATA = frozenset({"manifest.json", "index.json", "repositories", "oci-layout"})
_MAX_MEMBERS = 1_000_000
_MAX_LINK_HOPS = 40
_NAME_ANNOTATION = "io.containerd.image.name"
_REF_ANNOTATION = "org.opencontainers.image.ref.name"

Emit = Callable[[Progress], None]


@dataclass(slots=True)
class _Archive:
    """What the stream held: blob digests by member path, links, and the metadata files."""

    files: dict[str, tuple[Digest, int]] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, bytes] = field(default_factory=dict)


@dataclass(slots=True)
class _Entry:
    config: bytes
    config_digest: Digest
    layers: list[Digest]
    tags: list[Reference]


class ArchiveLoader:
    """Reads one archive stream (blocking: it runs in a worker thread)."""

    def __init__(
        self,
        *,
        content: ContentStore,
        snapshots: Snapshotter,
        store: ImageStore,
        options: ApplyOptions,
        emit: Emit,
        limit: int = 64 << 30,
    ) -> None:
        self._content = content
        self._snapshots = snapshots
        self._store = store
        self._options = options
        self._emit = emit
        self._limit = limit

    def load(self, source: Readable) -> None:
        """Read the archive from ``source``, store its images, and report them.

        Raises:
            InvalidArgument: a malformed archive or metadata, a blob that does not match its
                name, or layers that do not match their config.
        """
        archive = self._read(source)
        for entry in self._entries(archive):
            self._store_image(entry)

    # --- reading the stream ----------------------------------------------------------------
    def _read(self, source: Readable) -> _Archive:
        archive = _Archive()
        _, plain = open_decompressed(source)
        try:
            with tarfile.open(fileobj=plain, mode="r|", bufsize=1 << 16) as tar:  # type: ignore[call-overload]
                count = 0
                while (member := tar.next()) is not None:
                    tar.members.clear()
                    count += 1
                    if count > _MAX_MEMBERS:
                        raise LayerFormatError("invalid archive: too many members")
                    self._member(tar, member, archive)
        except tarfile.TarError as exc:
            raise LayerFormatError(f"invalid archive: {exc}") from exc
        return archive

    def _member(self, tar: tarfile.TarFile, member: tarfile.TarInfo, archive: _Archive) -> None:
        name = clean_name(member.name)
        if member.issym() or member.islnk():
            base = posixpath.dirname(name) if member.issym() else ""
            archive.links[name] = clean_name(posixpath.join(base, member.linkname))
            return
        if not member.isreg():
            return
        data = tar.extractfile(member)
        if data is None:
            return
        if name in _METADATA:
            if member.size > MAX_CONFIG_SIZE:
                raise LayerFormatError(f"invalid archive: {name} is larger than {MAX_CONFIG_SIZE} bytes")
            archive.metadata[name] = data.read(member.size)
            return
        with self._content.ingest(None, member.size) as ingest:
            left = member.size
            while left > 0:
                chunk = data.read(min(1 << 20, left))
                if not chunk:
                    raise LayerFormatError(f"invalid archive: {name} is truncated")
                ingest.write(chunk)
                left -= len(chunk)
            digest = ingest.digest()
            named = _digest_of_blob_path(name)
            if named is not None and named != digest:
                raise InvalidArgument(f"invalid archive: {name} has digest {digest}")
            ingest.commit()
        archive.files[name] = (digest, member.size)

    # --- what the archive describes --------------------------------------------------------
    def _entries(self, archive: _Archive) -> list[_Entry]:
        if "manifest.json" in archive.metadata:
            return self._docker_entries(archive)
        if "index.json" in archive.metadata:
            return self._oci_entries(archive)
        raise InvalidArgument("invalid archive: it has neither manifest.json nor index.json")

    def _docker_entries(self, archive: _Archive) -> list[_Entry]:
        items = _json(archive.metadata["manifest.json"], "manifest.json")
        if not isinstance(items, list):
            raise InvalidArgument("invalid archive: manifest.json is not a list")
        entries = []
        for item in items:
            if not isinstance(item, dict):
                raise InvalidArgument("invalid archive: manifest.json entry is not an object")
            config_digest = _lookup(archive, _text(item, "Config"))
            layers = [_lookup(archive, _text({"p": p}, "p")) for p in _list(item, "Layers")]
            tags = [_tag(t) for t in _list(item, "RepoTags") or []]
            config = self._content.read(config_digest, limit=MAX_CONFIG_SIZE)
            entries.append(_Entry(config, config_digest, layers, tags))
        return entries

    def _oci_entries(self, archive: _Archive) -> list[_Entry]:
        index = parse_manifest_or_index(archive.metadata["index.json"], None)
        if not isinstance(index, Index):
            raise InvalidArgument("invalid archive: index.json is not an index")
        entries = []
        for desc in index.manifests:
            manifest = self._manifest(desc.digest, desc.media_type)
            config = self._content.read(manifest.config.digest, limit=MAX_CONFIG_SIZE)
            tags = _oci_names(desc.annotations)
            entries.append(_Entry(config, manifest.config.digest, [d.digest for d in manifest.layers], tags))
        return entries

    def _manifest(self, digest: Digest, media_type: str) -> Manifest:
        document = parse_manifest_or_index(self._content.read(digest, limit=MAX_CONFIG_SIZE), media_type)
        if isinstance(document, Index):
            chosen = select_platform(document, Platform.host())
            document = parse_manifest_or_index(self._content.read(chosen.digest, limit=MAX_CONFIG_SIZE), None)
            if isinstance(document, Index):
                raise InvalidArgument(f"invalid archive: {chosen.digest} is an index inside an index")
        return document

    # --- storing ---------------------------------------------------------------------------
    def _store_image(self, entry: _Entry) -> None:
        config = parse_image_config(entry.config)
        if len(config.diff_ids) != len(entry.layers):
            expected, got = len(config.diff_ids), len(entry.layers)
            raise InvalidArgument(f"invalid manifest, layers length mismatch: expected {expected}, got {got}")
        chains = chain_ids([str(d) for d in config.diff_ids])
        for i, blob in enumerate(entry.layers):
            self._layer(i, blob, config, chains)
        image_id = str(entry.config_digest)
        size = sum(s.size for s in self._snapshots.chain(chains[-1])) if chains else 0
        self._store.add(_record(image_id, config, chains, size))
        for ref in entry.tags:
            previous = self._store.tag(image_id, ref)
            if previous is not None and previous != image_id:
                self._emit(
                    Progress(
                        status=f"The image {ref.familiar_string()} already exists, renaming the old one "
                        f"with ID {previous} to empty string"
                    )
                )
            self._emit(Progress(status=f"Loaded image: {ref.familiar_string()}"))
        if not entry.tags:
            self._emit(Progress(status=f"Loaded image ID: {image_id}"))

    def _layer(self, i: int, blob: Digest, config: ImageConfig, chains: list[str]) -> None:
        if self._snapshots.has_layer(chains[i]):
            return
        expected = config.diff_ids[i]
        total = self._content.size(blob)
        throttle = Throttle(total)
        short = expected.short()

        def progress(count: int) -> None:
            if throttle.due(count):
                self._emit(Progress(status="Loading layer", id=short, current=count, total=total))

        def mismatch(actual: Digest) -> Exception:
            return InvalidArgument(f'invalid diffID for layer {i}: expected "{expected}", got "{actual}"')

        with self._content.open(blob) as source:
            unpack_layer(
                self._snapshots,
                source,
                chain_id=chains[i],
                parent=chains[i - 1] if i else None,
                expected=expected,
                blob=str(blob),
                media_type=None,
                options=self._options,
                mismatch=mismatch,
                progress=progress,
            )


def _record(image_id: str, config: ImageConfig, chains: list[str], size: int) -> ImageRecord:
    return ImageRecord(
        id=image_id,
        manifest_digest=None,
        created=config.created or "",
        size=size,
        os=config.os,
        architecture=config.architecture,
        variant=config.variant or "",
        top_layer=chains[-1] if chains else None,
        labels=dict(config.config.labels),
    )


def _digest_of_blob_path(name: str) -> Digest | None:
    parts = name.split("/")
    if len(parts) != 3 or parts[0] != "blobs":
        return None
    try:
        return Digest(parts[1], parts[2])
    except InvalidArgument:
        return None


def _lookup(archive: _Archive, path: str) -> Digest:
    name = clean_name(path)
    for _ in range(_MAX_LINK_HOPS):
        if name in archive.files:
            return archive.files[name][0]
        if name not in archive.links:
            break
        name = archive.links[name]
    raise InvalidArgument(f"invalid archive: {path} is not in the archive")


def _json(data: bytes, what: str) -> object:
    try:
        return jsoncodec.loads(data)
    except ValueError as exc:
        raise InvalidArgument(f"invalid archive: {what}: {exc}") from exc


def _text(item: dict[str, object], key: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidArgument(f"invalid archive: manifest.json: {key} must be a path")
    return value


def _list(item: dict[str, object], key: str) -> list[str]:
    value = item.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"invalid archive: manifest.json: {key} must be a list of strings")
    return [str(v) for v in value]


def _tag(text: str) -> Reference:
    ref = Reference.parse(text)
    if ref.tag is None or ref.digest is not None:
        raise InvalidArgument(f'invalid tag "{text}"')
    return ref


def _oci_names(annotations: object) -> list[Reference]:
    if not isinstance(annotations, dict):
        return []
    for key in (_NAME_ANNOTATION, _REF_ANNOTATION):
        value = annotations.get(key)
        if isinstance(value, str) and ("/" in value or ":" in value):
            try:
                ref = Reference.parse(value)
            except InvalidArgument:
                continue
            if ref.tag is not None and ref.digest is None:
                return [ref]
    return []
