"""OCI image-spec and Docker v2 image types, parsed strictly from untrusted bytes.

Everything here arrives from a registry, a ``docker load`` archive or an OCI layout, so it is
parsed the way a border guard reads a passport:

- **Bounded.** A manifest or index larger than 4 MiB and a config larger than 20 MiB are refused
  before JSON parsing (containerd's ``MaxManifestSize`` and ``jsonLimit``, CVE-2023-25153), and
  nesting deeper than ``util.jsoncodec.MAX_DEPTH`` never reaches the recursive parser.
- **Unambiguous.** A document with both ``manifests`` and ``config``/``layers`` is refused, and so
  is a body ``mediaType`` that disagrees with the media type the registry announced: the same
  digest must never mean an image to one reader and an index to another (CVE-2021-41190,
  moby's ``detectManifestBlobMediaType``).
- **Typed.** Every digest goes through ``oci.digest.Digest`` (strict ``sha256:<64 hex>``, so a
  traversal-shaped digest never becomes a path or a URL, CVE-2024-3727), sizes are non-negative
  integers, and a wrong JSON type is an ``InvalidArgument`` naming the field, never a
  ``KeyError`` or ``TypeError`` that would crash a daemon (CVE-2021-21285).
- **Schema 1 is refused** with the message Docker 28 prints.

Platforms follow containerd's ``platforms`` package: ``Platform.parse`` normalises what users
type (``x86_64`` is ``amd64``, ``aarch64`` is ``arm64``, ``arm64/v8`` is ``arm64``, ``armhf`` is
``arm/v7``), and ``select_platform`` prefers an exact variant and then the newest compatible
older one (an ``arm/v7`` host runs ``arm/v6`` images).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from dockyard.errors import InvalidArgument, NotFound
from dockyard.oci.digest import Digest
from dockyard.util import jsoncodec

__all__ = [
    "DOCKER_CONFIG",
    "DOCKER_FOREIGN_LAYER",
    "DOCKER_LAYER",
    "DOCKER_LIST",
    "DOCKER_MANIFEST",
    "DOCKER_SCHEMA1",
    "DOCKER_SCHEMA1_SIGNED",
    "INDEX_TYPES",
    "LAYER_TYPES",
    "MANIFEST_TYPES",
    "MAX_CONFIG_SIZE",
    "MAX_MANIFEST_SIZE",
    "OCI_CONFIG",
    "OCI_EMPTY",
    "OCI_INDEX",
    "OCI_LAYER",
    "OCI_LAYER_GZIP",
    "OCI_LAYER_NONDIST",
    "OCI_LAYER_NONDIST_GZIP",
    "OCI_LAYER_NONDIST_ZSTD",
    "OCI_LAYER_ZSTD",
    "SCHEMA1_REMOVED",
    "ContainerConfig",
    "Descriptor",
    "HistoryEntry",
    "ImageConfig",
    "Index",
    "Manifest",
    "Platform",
    "parse_descriptor",
    "parse_image_config",
    "parse_manifest_or_index",
    "select_platform",
]

# --- media types -------------------------------------------------------------------------------

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_NONDIST = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDIST_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_LAYER_NONDIST_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
LAYER_TYPES = frozenset(
    {
        OCI_LAYER,
        OCI_LAYER_GZIP,
        OCI_LAYER_ZSTD,
        OCI_LAYER_NONDIST,
        OCI_LAYER_NONDIST_GZIP,
        OCI_LAYER_NONDIST_ZSTD,
        DOCKER_LAYER,
        DOCKER_FOREIGN_LAYER,
    }
)
_SCHEMA1_TYPES = frozenset({DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED})

MAX_MANIFEST_SIZE = 4 * 1024 * 1024
"""Largest manifest or index accepted (containerd's ``MaxManifestSize``)."""
MAX_CONFIG_SIZE = 20 * 1024 * 1024
"""Largest image config accepted (containerd's import ``jsonLimit``)."""

SCHEMA1_REMOVED = (
    "support Docker Image manifest version 2, schema 1 has been removed. "
    "More information at https://docs.docker.com/go/deprecated-image-specs/"
)
"""Docker 28's answer to a schema 1 manifest."""

# RFC 6838 restricted names, as containerd's media-type check has them.
_MT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$&^_.+-")


def _valid_media_type(text: str) -> bool:
    kind, sep, sub = text.partition("/")
    return bool(sep) and all(
        0 < len(p) <= 127 and set(p) <= _MT_CHARS and p[0].isalnum() for p in (kind, sub)
    )


# --- a strict reader over decoded JSON -----------------------------------------------------------


class _Doc:
    """A JSON object with a path, whose getters raise ``InvalidArgument`` naming the field.

    Absent and ``null`` fields read as missing (Go's decoder treats them alike, and Docker
    writes ``null`` for empty lists).
    """

    __slots__ = ("path", "value", "what")

    def __init__(self, value: object, path: str, what: str) -> None:
        if not isinstance(value, dict):
            raise InvalidArgument(f"invalid {what}: {path or 'document'}: expected a JSON object")
        self.value: dict[str, object] = value
        self.path = path
        self.what = what

    def fail(self, key: str, expected: str) -> InvalidArgument:
        where = f"{self.path}.{key}" if self.path else key
        return InvalidArgument(f"invalid {self.what}: {where}: expected {expected}")

    def has(self, key: str) -> bool:
        return self.value.get(key) is not None

    def optional_text(self, key: str) -> str | None:
        value = self.value.get(key)
        if value is not None and not isinstance(value, str):
            raise self.fail(key, "a string")
        return value

    def text(self, key: str) -> str:
        """A string field, "" when absent."""
        return self.optional_text(key) or ""

    def required_text(self, key: str) -> str:
        value = self.optional_text(key)
        if value is None:
            raise self.fail(key, "a string")
        return value

    def integer(self, key: str) -> int | None:
        value = self.value.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise self.fail(key, "an integer")
        return value

    def flag(self, key: str) -> bool:
        value = self.value.get(key, False)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise self.fail(key, "true or false")
        return value

    def array(self, key: str) -> list[object] | None:
        value = self.value.get(key)
        if value is not None and not isinstance(value, list):
            raise self.fail(key, "a list")
        return value

    def strings(self, key: str) -> tuple[str, ...] | None:
        items = self.array(key)
        if items is None:
            return None
        out = tuple(item for item in items if isinstance(item, str))
        if len(out) != len(items):
            raise self.fail(key, "a list of strings")
        return out

    def child(self, key: str) -> _Doc | None:
        value = self.value.get(key)
        if value is None:
            return None
        return _Doc(value, f"{self.path}.{key}" if self.path else key, self.what)

    def string_map(self, key: str) -> dict[str, str]:
        value = self.value.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, "an object of strings")
        out = {k: v for k, v in value.items() if isinstance(v, str)}
        if len(out) != len(value):
            raise self.fail(key, "an object of strings")
        return out

    def key_set(self, key: str) -> tuple[str, ...]:
        """The keys of an object used as a set (``ExposedPorts``, ``Volumes``)."""
        value = self.value.get(key)
        if value is None:
            return ()
        if not isinstance(value, dict):
            raise self.fail(key, "an object")
        return tuple(value)


def _load(data: bytes, limit: int, what: str) -> object:
    if len(data) > limit:
        raise InvalidArgument(f"invalid {what}: {len(data)} bytes is more than the {limit} allowed")
    try:
        return jsoncodec.loads(data)
    except ValueError as exc:  # JSONDecodeError, and UnicodeDecodeError for invalid UTF-8
        raise InvalidArgument(f"invalid {what}: {exc}") from None


# --- platforms ----------------------------------------------------------------------------------

_KNOWN_OS = frozenset(
    {"aix", "android", "darwin", "dragonfly", "freebsd", "illumos", "ios", "js", "linux", "netbsd"}
    | {"openbsd", "plan9", "solaris", "wasip1", "windows"}
)
_ARCH_ALIASES = {
    "i386": ("386", None),
    "x86_64": ("amd64", None),
    "x86-64": ("amd64", None),
    "aarch64": ("arm64", None),
    "armhf": ("arm", "v7"),
    "armel": ("arm", "v6"),
}
_COMPONENT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-.")


def _normalize(os_name: str, arch: str, variant: str | None) -> tuple[str, str, str | None]:
    """containerd's ``platforms.Normalize``: canonical os, architecture and variant."""
    os_name = os_name.lower()
    if os_name == "macos":
        os_name = "darwin"
    arch = arch.lower()
    variant = variant.lower() if variant else None
    alias = _ARCH_ALIASES.get(arch)
    if alias is not None:
        arch, variant = alias[0], alias[1] or variant
    if arch == "amd64" and variant in ("v1", None):
        variant = None  # v1 is the baseline every amd64 image assumes
    elif arch == "arm64":
        variant = None if variant in ("8", "v8", "v8.0", None) else _v_prefix(variant)
    elif arch == "arm":
        variant = "v7" if variant in (None, "7") else _v_prefix(variant)
    return os_name, arch, variant


def _v_prefix(variant: str) -> str:
    return variant if variant.startswith("v") else f"v{variant}"


def _variant_rank(arch: str, variant: str | None) -> int | None:
    """Where ``variant`` sits in its architecture's compatibility ladder, or None off the ladder."""
    if arch == "amd64":
        return {None: 1, "v2": 2, "v3": 3, "v4": 4}.get(variant)
    if arch == "arm":
        return {"v5": 5, "v6": 6, "v7": 7, "v8": 8}.get(variant or "")
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Platform:
    """An os/architecture/variant triple, always normalised (containerd's rules)."""

    os: str
    architecture: str
    variant: str | None = None
    os_version: str | None = None
    os_features: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        os_name, arch, variant = _normalize(self.os, self.architecture, self.variant)
        object.__setattr__(self, "os", os_name)
        object.__setattr__(self, "architecture", arch)
        object.__setattr__(self, "variant", variant)

    @classmethod
    def parse(cls, text: str) -> Platform:
        """Parse a ``--platform`` value: ``linux/arm64/v8``, ``linux/amd64``, ``linux`` or ``arm64``.

        Raises:
            InvalidArgument: empty or unknown components, or more than three of them
                (containerd's wording).
        """
        parts = text.strip().split("/")
        if len(parts) > 3 or not all(parts) or not all(set(p.lower()) <= _COMPONENT_CHARS for p in parts):
            raise InvalidArgument(f'"{text}": unknown operating system or architecture: invalid argument')
        host = cls.host()
        if len(parts) == 1:
            word = parts[0].lower()
            if word in _KNOWN_OS or word == "macos":
                return cls(os=word, architecture=host.architecture, variant=host.variant)
            return cls(os=host.os, architecture=word)
        return cls(os=parts[0], architecture=parts[1], variant=parts[2] if len(parts) == 3 else None)

    @classmethod
    def host(cls) -> Platform:
        """The platform of this machine (linux and ``uname -m``, normalised)."""
        return cls(os="linux", architecture=os.uname().machine or "amd64")

    def matches(self, other: Platform) -> bool:
        """Whether this platform (the one wanted) can run an image built for ``other``.

        Same os and architecture, and a variant that is equal or older on the architecture's
        compatibility ladder (amd64 v1 to v4, arm v5 to v8), as containerd's ``Only`` matcher.
        """
        if (self.os, self.architecture) != (other.os, other.architecture):
            return False
        if self.variant == other.variant:
            return True
        mine, theirs = (
            _variant_rank(self.architecture, self.variant),
            _variant_rank(other.architecture, other.variant),
        )
        return mine is not None and theirs is not None and theirs <= mine

    def __str__(self) -> str:
        """containerd's ``platforms.Format``: ``linux/arm/v7``."""
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    def to_json_dict(self) -> dict[str, object]:
        """The OCI ``platform`` object."""
        out: dict[str, object] = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            out["os.version"] = self.os_version
        if self.os_features:
            out["os.features"] = list(self.os_features)
        if self.variant:
            out["variant"] = self.variant
        return out


def _parse_platform(doc: _Doc) -> Platform:
    return Platform(
        os=doc.required_text("os"),
        architecture=doc.required_text("architecture"),
        variant=doc.optional_text("variant") or None,
        os_version=doc.optional_text("os.version") or None,
        os_features=doc.strings("os.features") or (),
    )


# --- descriptors, manifests, indexes -------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Descriptor:
    """A content address with its type and size: what a manifest or index points at.

    Equality and hashing use (media type, digest, size) only: annotations and platforms describe
    the content, they do not change which content it is.
    """

    media_type: str
    digest: Digest
    size: int
    platform: Platform | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    urls: tuple[str, ...] = ()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Descriptor):
            return NotImplemented
        return (self.media_type, self.digest, self.size) == (other.media_type, other.digest, other.size)

    def __hash__(self) -> int:
        return hash((self.media_type, self.digest, self.size))

    def to_json_dict(self) -> dict[str, object]:
        """The OCI descriptor object, fields in the order Docker writes them."""
        out: dict[str, object] = {"mediaType": self.media_type, "digest": str(self.digest), "size": self.size}
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.platform is not None:
            out["platform"] = self.platform.to_json_dict()
        return out


def parse_descriptor(value: object, path: str = "descriptor", what: str = "manifest") -> Descriptor:
    """Parse one descriptor object, validating its digest, size and media type.

    Raises:
        InvalidArgument: a missing or malformed field (the digest check rejects traversal-shaped,
            upper-case, short and unknown-algorithm digests before they are used anywhere).
    """
    doc = _Doc(value, path, what)
    media_type = doc.required_text("mediaType")
    if not _valid_media_type(media_type):
        raise doc.fail("mediaType", "a media type")
    digest = Digest.parse(doc.required_text("digest"))
    size = doc.integer("size")
    if size is None or size < 0:
        raise doc.fail("size", "a non-negative integer")
    platform_doc = doc.child("platform")
    return Descriptor(
        media_type=media_type,
        digest=digest,
        size=size,
        platform=_parse_platform(platform_doc) if platform_doc is not None else None,
        annotations=doc.string_map("annotations"),
        urls=doc.strings("urls") or (),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Manifest:
    """An image manifest (OCI or Docker schema 2): one config and its layers, bottom first."""

    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    annotations: Mapping[str, str] = field(default_factory=dict)

    def to_json_dict(self) -> dict[str, object]:
        """The manifest document (serialise it once and keep the bytes: digests are of bytes)."""
        return _document(
            self.media_type,
            self.annotations,
            config=self.config.to_json_dict(),
            layers=[layer.to_json_dict() for layer in self.layers],
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Index:
    """An OCI index or Docker manifest list: one manifest per platform."""

    media_type: str
    manifests: tuple[Descriptor, ...]
    annotations: Mapping[str, str] = field(default_factory=dict)

    def to_json_dict(self) -> dict[str, object]:
        """The index document."""
        return _document(
            self.media_type, self.annotations, manifests=[m.to_json_dict() for m in self.manifests]
        )


def _document(media_type: str, annotations: Mapping[str, str], **body: object) -> dict[str, object]:
    out: dict[str, object] = {"schemaVersion": 2, "mediaType": media_type, **body}
    if annotations:
        out["annotations"] = dict(annotations)
    return out


def _base_type(media_type: str | None) -> str | None:
    """``application/x+json; charset=utf-8`` -> ``application/x+json``; empty -> None."""
    if not media_type:
        return None
    return media_type.split(";", 1)[0].strip().lower() or None


def parse_manifest_or_index(data: bytes, media_type: str | None) -> Manifest | Index:
    """Parse a manifest or index from its exact bytes and the media type it was served with.

    ``media_type`` is the ``Content-Type`` (or descriptor media type) the document arrived with;
    None or a generic type (``application/json``) lets the body decide. The caller has already
    checked the bytes against their digest.

    Raises:
        InvalidArgument: oversized, malformed or ambiguous documents, a body ``mediaType`` that
            conflicts with ``media_type``, unsupported media types, and schema 1 (Docker's
            message).
    """
    doc = _Doc(_load(data, MAX_MANIFEST_SIZE, "manifest"), "", "manifest")
    header = _base_type(media_type)
    body = doc.optional_text("mediaType")
    if (
        header in _SCHEMA1_TYPES
        or body in _SCHEMA1_TYPES
        or doc.has("fsLayers")
        or doc.integer("schemaVersion") == 1
    ):
        raise InvalidArgument(SCHEMA1_REMOVED)
    known = MANIFEST_TYPES | INDEX_TYPES
    if body is not None and body not in known:
        raise InvalidArgument(f"unsupported manifest media type {body}")
    if header in known and body is not None and body != header:
        raise InvalidArgument(f"media-type: the document says {body} but was served as {header}")
    declared = body or (header if header in known else None)
    is_index = doc.has("manifests") if declared is None else declared in INDEX_TYPES
    if declared in MANIFEST_TYPES and doc.has("manifests"):
        raise InvalidArgument("ocimanifest: expected manifest but found index")  # dockerd's words
    if declared in INDEX_TYPES and (doc.has("config") or doc.has("layers")):
        raise InvalidArgument(f"media-type: expected index but found manifest ({declared})")
    if doc.has("manifests") and (doc.has("config") or doc.has("layers")):
        raise InvalidArgument("invalid manifest: a document cannot have both manifests and config or layers")
    if doc.integer("schemaVersion") != 2:
        raise doc.fail("schemaVersion", "2")
    if is_index:
        return _parse_index(doc, declared or OCI_INDEX)
    return _parse_manifest(doc, declared or OCI_MANIFEST)


def _parse_manifest(doc: _Doc, media_type: str) -> Manifest:
    if media_type == DOCKER_MANIFEST and doc.optional_text("mediaType") is None:
        # Docker schema 2 requires the field; without it the document is an OCI manifest and
        # whoever announced it as Docker's is describing something else.
        raise doc.fail("mediaType", f"{DOCKER_MANIFEST}")
    if "config" not in doc.value:
        raise doc.fail("config", "a descriptor")
    layers = doc.array("layers")
    if layers is None:
        raise doc.fail("layers", "a list of descriptors")
    return Manifest(
        media_type=media_type,
        config=parse_descriptor(doc.value["config"], "config"),
        layers=tuple(parse_descriptor(item, f"layers[{i}]") for i, item in enumerate(layers)),
        annotations=doc.string_map("annotations"),
    )


def _parse_index(doc: _Doc, media_type: str) -> Index:
    entries = doc.array("manifests")
    if entries is None:
        raise doc.fail("manifests", "a list of descriptors")
    return Index(
        media_type=media_type,
        manifests=tuple(parse_descriptor(item, f"manifests[{i}]") for i, item in enumerate(entries)),
        annotations=doc.string_map("annotations"),
    )


def select_platform(index: Index, want: Platform) -> Descriptor:
    """The manifest of ``index`` that best fits ``want``.

    Entries without a platform, or whose media type is not a manifest (attestations, nested
    indexes), are skipped. Among matches, an exact variant wins, then the newest older variant;
    ties go to the first entry, as in containerd.

    Raises:
        NotFound: no entry matches (Docker's "no matching manifest for ... in the manifest list
            entries").
    """
    candidates = [
        desc
        for desc in index.manifests
        if desc.platform is not None and desc.media_type in MANIFEST_TYPES and want.matches(desc.platform)
    ]
    if not candidates:
        raise NotFound(f"no matching manifest for {want} in the manifest list entries")

    def preference(desc: Descriptor) -> tuple[bool, int]:
        found = desc.platform or want
        return found.variant != want.variant, -(_variant_rank(found.architecture, found.variant) or 0)

    return min(candidates, key=preference)  # min keeps the first of equals


# --- the image config ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerConfig:
    """The ``config`` object of an image config: the defaults a container starts with."""

    env: tuple[str, ...] = ()
    cmd: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    working_dir: str = ""
    user: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    exposed_ports: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    stop_signal: str | None = None
    healthcheck: Mapping[str, object] | None = None
    on_build: tuple[str, ...] = ()
    shell: tuple[str, ...] | None = None
    args_escaped: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryEntry:
    """One ``history`` record: how a layer (or an empty step) was made."""

    created: str | None = None
    created_by: str = ""
    empty_layer: bool = False
    comment: str = ""
    author: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageConfig:
    """The image config blob. ``raw`` is the decoded document, which ``inspect`` shows verbatim."""

    architecture: str
    os: str
    variant: str | None = None
    os_version: str | None = None
    created: str | None = None
    author: str = ""
    config: ContainerConfig = field(default_factory=ContainerConfig)
    diff_ids: tuple[Digest, ...] = ()
    history: tuple[HistoryEntry, ...] = ()
    raw: Mapping[str, object] = field(default_factory=dict)

    @property
    def platform(self) -> Platform:
        """The platform the image was built for."""
        return Platform(
            os=self.os, architecture=self.architecture, variant=self.variant, os_version=self.os_version
        )


def _container_config(doc: _Doc | None) -> ContainerConfig:
    if doc is None:
        return ContainerConfig()
    health = doc.child("Healthcheck")
    return ContainerConfig(
        env=doc.strings("Env") or (),
        cmd=doc.strings("Cmd"),
        entrypoint=doc.strings("Entrypoint"),
        working_dir=doc.text("WorkingDir"),
        user=doc.text("User"),
        labels=doc.string_map("Labels"),
        exposed_ports=doc.key_set("ExposedPorts"),
        volumes=doc.key_set("Volumes"),
        stop_signal=doc.optional_text("StopSignal") or None,
        healthcheck=dict(health.value) if health is not None else None,
        on_build=doc.strings("OnBuild") or (),
        shell=doc.strings("Shell"),
        args_escaped=doc.flag("ArgsEscaped"),
    )


def _history(doc: _Doc) -> tuple[HistoryEntry, ...]:
    entries = doc.array("history") or []
    out = []
    for i, item in enumerate(entries):
        entry = _Doc(item, f"history[{i}]", "image config")
        out.append(
            HistoryEntry(
                created=entry.optional_text("created"),
                created_by=entry.text("created_by"),
                empty_layer=entry.flag("empty_layer"),
                comment=entry.text("comment"),
                author=entry.text("author"),
            )
        )
    return tuple(out)


def parse_image_config(data: bytes) -> ImageConfig:
    """Parse an image config blob (bounded at 20 MiB, depth-limited).

    Raises:
        InvalidArgument: malformed JSON, wrong field types, a ``rootfs`` that is not of type
            ``layers``, or an invalid diff ID.
    """
    doc = _Doc(_load(data, MAX_CONFIG_SIZE, "image config"), "", "image config")
    rootfs = doc.child("rootfs")
    diff_ids: tuple[Digest, ...] = ()
    if rootfs is not None:
        if rootfs.optional_text("type") != "layers":
            raise rootfs.fail("type", '"layers"')
        diff_ids = tuple(Digest.parse(d) for d in rootfs.strings("diff_ids") or ())
    return ImageConfig(
        architecture=doc.text("architecture"),
        os=doc.text("os"),
        variant=doc.optional_text("variant") or None,
        os_version=doc.optional_text("os.version") or None,
        created=doc.optional_text("created"),
        author=doc.text("author"),
        config=_container_config(doc.child("config")),
        diff_ids=diff_ids,
        history=_history(doc),
        raw=doc.value,
    )
