"""OCI image-spec parsing: strict, bounded, unambiguous; platforms as containerd matches them."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockyard.errors import InvalidArgument, NotFound
from dockyard.oci import image_spec as spec
from dockyard.oci.digest import Digest
from dockyard.oci.image_spec import Descriptor, Index, Manifest, Platform

CONFIG_DIGEST = "sha256:" + "c" * 64
LAYER_DIGEST = "sha256:" + "1" * 64


def _manifest_doc(media_type: str | None = spec.DOCKER_MANIFEST, **extra: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "schemaVersion": 2,
        "config": {"mediaType": spec.DOCKER_CONFIG, "digest": CONFIG_DIGEST, "size": 10},
        "layers": [{"mediaType": spec.DOCKER_LAYER, "digest": LAYER_DIGEST, "size": 20}],
    }
    if media_type is not None:
        doc["mediaType"] = media_type
    doc.update(extra)
    return doc


def _entry(
    arch: str, variant: str | None = None, *, digest: str = "d", media_type: str = spec.OCI_MANIFEST
) -> dict[str, object]:
    platform: dict[str, object] = {"os": "linux", "architecture": arch}
    if variant:
        platform["variant"] = variant
    return {
        "mediaType": spec.OCI_MANIFEST,
        "digest": "sha256:" + digest * 64,
        "size": 1,
        "platform": platform,
    }


def _index_doc(*entries: dict[str, object], media_type: str | None = spec.OCI_INDEX) -> dict[str, object]:
    doc: dict[str, object] = {"schemaVersion": 2, "manifests": list(entries)}
    if media_type is not None:
        doc["mediaType"] = media_type
    return doc


def _parse(doc: object, media_type: str | None) -> Manifest | Index:
    return spec.parse_manifest_or_index(json.dumps(doc).encode(), media_type)


# --- manifests and indexes --------------------------------------------------------------------


def test_docker_manifest_parses_with_its_descriptors() -> None:
    manifest = _parse(_manifest_doc(), spec.DOCKER_MANIFEST)
    assert isinstance(manifest, Manifest)
    assert manifest.media_type == spec.DOCKER_MANIFEST
    assert manifest.config.digest == Digest.parse(CONFIG_DIGEST)
    assert [(d.media_type, d.size) for d in manifest.layers] == [(spec.DOCKER_LAYER, 20)]


def test_oci_manifest_without_body_media_type_takes_the_header() -> None:
    manifest = _parse(_manifest_doc(None), spec.OCI_MANIFEST)
    assert isinstance(manifest, Manifest)
    assert manifest.media_type == spec.OCI_MANIFEST


def test_generic_content_type_lets_the_structure_decide() -> None:
    assert isinstance(_parse(_index_doc(_entry("amd64"), media_type=None), "application/json"), Index)
    assert isinstance(_parse(_manifest_doc(None), None), Manifest)


def test_header_parameters_are_ignored() -> None:
    assert isinstance(_parse(_manifest_doc(), spec.DOCKER_MANIFEST + "; charset=utf-8"), Manifest)


AMBIGUOUS = [
    ("index-with-layers-as-index", _index_doc(_entry("amd64")) | {"layers": []}, spec.OCI_INDEX),
    ("index-with-layers-as-manifest", _index_doc(_entry("amd64")) | {"layers": []}, spec.OCI_MANIFEST),
    ("manifest-with-manifests", _manifest_doc(None) | {"manifests": []}, None),
    ("no-types-both-fields", {"schemaVersion": 2, "manifests": [], "config": {}}, None),
    ("body-manifest-header-index", _manifest_doc(spec.OCI_MANIFEST), spec.OCI_INDEX),
    ("body-index-header-manifest", _index_doc(_entry("amd64")), spec.OCI_MANIFEST),
    ("body-docker-header-oci", _manifest_doc(spec.DOCKER_MANIFEST), spec.OCI_MANIFEST),
    ("untyped-manifest-served-as-index", _manifest_doc(None), spec.OCI_INDEX),
    ("untyped-index-served-as-manifest", _index_doc(_entry("amd64"), media_type=None), spec.DOCKER_MANIFEST),
    ("untyped-served-as-docker-manifest", _manifest_doc(None), spec.DOCKER_MANIFEST),
]


@pytest.mark.parametrize(("doc", "header"), [a[1:] for a in AMBIGUOUS], ids=[a[0] for a in AMBIGUOUS])
def test_ambiguous_or_conflicting_documents_are_refused(doc: object, header: str | None) -> None:
    # CVE-2021-41190: one digest must never be read as a manifest by one client and an index by another.
    with pytest.raises(InvalidArgument):
        _parse(doc, header)


@pytest.mark.parametrize(
    ("doc", "header"),
    [
        ({"schemaVersion": 1, "fsLayers": [{"blobSum": LAYER_DIGEST}]}, None),
        ({"schemaVersion": 1, "name": "x"}, spec.DOCKER_SCHEMA1_SIGNED),
        (_manifest_doc(), spec.DOCKER_SCHEMA1),
    ],
    ids=["fslayers", "signed-header", "schema1-header"],
)
def test_schema1_is_refused_with_dockers_message(doc: object, header: str | None) -> None:
    with pytest.raises(InvalidArgument) as info:
        _parse(doc, header)
    assert str(info.value) == (
        "support Docker Image manifest version 2, schema 1 has been removed. "
        "More information at https://docs.docker.com/go/deprecated-image-specs/"
    )


BAD_DIGESTS = [
    "sha256:../../../../tmp/x",
    "sha256:" + "A" * 64,
    "sha256:" + "a" * 63,
    "md5:" + "a" * 32,
    "sha256/" + "a" * 64,
    "",
]


@pytest.mark.parametrize("digest", BAD_DIGESTS, ids=["traversal", "upper", "short", "md5", "slash", "empty"])
def test_traversal_shaped_and_malformed_digests_are_refused(digest: str) -> None:
    doc = _manifest_doc()
    doc["layers"] = [{"mediaType": spec.DOCKER_LAYER, "digest": digest, "size": 1}]
    with pytest.raises(InvalidArgument):
        _parse(doc, spec.DOCKER_MANIFEST)


def _with(**fields: object) -> bytes:
    return json.dumps(_manifest_doc() | fields).encode()


def _with_config(**fields: object) -> bytes:
    return _with(config={"mediaType": "a/b", "digest": CONFIG_DIGEST, "size": 1} | fields)


MALFORMED = [
    ("not-json", b"{"),
    ("not-object", b"[]"),
    ("invalid-utf8", b'{"a": "\xff"}'),
    ("nan", b'{"schemaVersion": NaN}'),
    ("trailing-data", b"{} {}"),
    ("schema-3", _with(schemaVersion=3)),
    ("schema-string", _with(schemaVersion="2")),
    ("size-negative", _with_config(size=-1)),
    ("size-bool", _with_config(size=True)),
    ("size-float", _with_config(size=1.5)),
    ("bad-media-type", _with_config(mediaType="nonsense")),
    ("layers-not-list", _with(layers={})),
    ("no-config", json.dumps({k: v for k, v in _manifest_doc().items() if k != "config"}).encode()),
    ("annotations-not-strings", _with(annotations={"a": 1})),
    ("unknown-media-type", json.dumps(_manifest_doc("application/vnd.example+json")).encode()),
    (
        "urls-not-strings",
        _with(layers=[{"mediaType": "a/b", "digest": LAYER_DIGEST, "size": 1, "urls": [1]}]),
    ),
    (
        "platform-without-os",
        json.dumps(_index_doc({**_entry("amd64"), "platform": {"architecture": "x"}})).encode(),
    ),
    ("deep", b"[" * 100_000 + b"]" * 100_000),
    ("oversize", b" " * (spec.MAX_MANIFEST_SIZE + 1) + b"{}"),
]


@pytest.mark.parametrize("data", [m[1] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_documents_are_invalid_arguments(data: bytes) -> None:
    with pytest.raises(InvalidArgument):
        spec.parse_manifest_or_index(data, None)


def test_descriptor_keeps_platform_annotations_and_urls() -> None:
    entry = _entry("arm", "v7") | {"annotations": {"k": "v"}, "urls": ["https://example.com/x"]}
    index = _parse(_index_doc(entry), spec.OCI_INDEX)
    assert isinstance(index, Index)
    desc = index.manifests[0]
    assert desc.platform == Platform(os="linux", architecture="arm", variant="v7")
    assert desc.annotations == {"k": "v"}
    assert desc.urls == ("https://example.com/x",)


def test_to_json_dict_round_trips() -> None:
    for doc, header in (
        (_manifest_doc(), spec.DOCKER_MANIFEST),
        (_index_doc(_entry("arm64", "v8")), spec.OCI_INDEX),
    ):
        parsed = _parse(doc, header)
        again = _parse(parsed.to_json_dict(), header)
        assert again == parsed


def test_descriptor_identity_ignores_annotations() -> None:
    digest = Digest.parse(LAYER_DIGEST)
    a = Descriptor(media_type=spec.OCI_LAYER_GZIP, digest=digest, size=3, annotations={"x": "y"})
    b = Descriptor(media_type=spec.OCI_LAYER_GZIP, digest=digest, size=3)
    assert a == b
    assert hash(a) == hash(b)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
KEYS = st.sampled_from(
    ["schemaVersion", "mediaType", "config", "layers", "manifests", "fsLayers", "size", "digest"]
)


@settings(max_examples=300, deadline=None, database=None)
@given(
    doc=st.dictionaries(KEYS, JSON_VALUES, max_size=6),
    header=st.sampled_from([None, spec.OCI_INDEX, spec.OCI_MANIFEST, spec.DOCKER_MANIFEST, "text/plain"]),
)
def test_fuzzed_documents_parse_or_fail_cleanly(doc: dict[str, object], header: str | None) -> None:
    # CVE-2021-21285: a malformed manifest must be a request error, never a crash.
    try:
        _parse(doc, header)
    except InvalidArgument:
        pass


# --- platforms --------------------------------------------------------------------------------

PLATFORMS = [
    ("linux/amd64", "linux", "amd64", None, "linux/amd64"),
    ("linux/x86_64", "linux", "amd64", None, "linux/amd64"),
    ("linux/amd64/v1", "linux", "amd64", None, "linux/amd64"),
    ("linux/amd64/v3", "linux", "amd64", "v3", "linux/amd64/v3"),
    ("linux/aarch64", "linux", "arm64", None, "linux/arm64"),
    ("linux/arm64/v8", "linux", "arm64", None, "linux/arm64"),
    ("linux/arm64/9", "linux", "arm64", "v9", "linux/arm64/v9"),
    ("linux/arm", "linux", "arm", "v7", "linux/arm/v7"),
    ("linux/armhf", "linux", "arm", "v7", "linux/arm/v7"),
    ("linux/armel", "linux", "arm", "v6", "linux/arm/v6"),
    ("linux/arm/6", "linux", "arm", "v6", "linux/arm/v6"),
    ("linux/i386", "linux", "386", None, "linux/386"),
    ("Linux/AMD64", "linux", "amd64", None, "linux/amd64"),
    ("macos/arm64", "darwin", "arm64", None, "darwin/arm64"),
    ("windows/amd64", "windows", "amd64", None, "windows/amd64"),
]


@pytest.mark.parametrize(("text", "os", "arch", "variant", "shown"), PLATFORMS, ids=[p[0] for p in PLATFORMS])
def test_platform_parse_normalises(text: str, os: str, arch: str, variant: str | None, shown: str) -> None:
    parsed = Platform.parse(text)
    assert (parsed.os, parsed.architecture, parsed.variant) == (os, arch, variant)
    assert str(parsed) == shown


def test_platform_parse_single_component_uses_the_host() -> None:
    host = Platform.host()
    assert Platform.parse("linux") == Platform(os="linux", architecture=host.architecture)
    assert Platform.parse("arm64") == Platform(os="linux", architecture="arm64")


@pytest.mark.parametrize("text", ["", "linux/", "a/b/c/d", "linux/amd 64", "linux/$x"])
def test_platform_parse_rejects_garbage(text: str) -> None:
    with pytest.raises(InvalidArgument, match="unknown operating system or architecture"):
        Platform.parse(text)


MATCHES = [
    ("linux/amd64", "linux/amd64", True),
    ("linux/amd64", "linux/arm64", False),
    ("linux/amd64", "windows/amd64", False),
    ("linux/amd64", "linux/amd64/v2", False),
    ("linux/amd64/v3", "linux/amd64", True),
    ("linux/amd64/v3", "linux/amd64/v2", True),
    ("linux/arm/v7", "linux/arm/v6", True),
    ("linux/arm/v6", "linux/arm/v7", False),
    ("linux/arm64", "linux/arm64/v8", True),
]


@pytest.mark.parametrize(("want", "have", "ok"), MATCHES, ids=[f"{m[0]}~{m[1]}" for m in MATCHES])
def test_platform_matches_like_containerd(want: str, have: str, ok: bool) -> None:
    assert Platform.parse(want).matches(Platform.parse(have)) is ok


def test_select_platform_prefers_exact_variant_then_newest_older() -> None:
    index = _parse(
        _index_doc(
            _entry("arm", "v5", digest="5"), _entry("arm", "v6", digest="6"), _entry("arm", "v7", digest="7")
        ),
        spec.OCI_INDEX,
    )
    assert isinstance(index, Index)
    assert spec.select_platform(index, Platform.parse("linux/arm/v7")).digest.hex == "7" * 64
    older = Index(media_type=spec.OCI_INDEX, manifests=index.manifests[:2])
    assert spec.select_platform(older, Platform.parse("linux/arm/v7")).digest.hex == "6" * 64


def test_select_platform_skips_attestations_and_first_match_wins() -> None:
    attestation = _entry("unknown", digest="a") | {"platform": {"os": "unknown", "architecture": "unknown"}}
    index = _parse(
        _index_doc(
            attestation, _entry("amd64", digest="1"), _entry("amd64", digest="2"), _entry("arm64", digest="3")
        ),
        spec.OCI_INDEX,
    )
    assert isinstance(index, Index)
    assert spec.select_platform(index, Platform.parse("linux/amd64")).digest.hex == "1" * 64
    assert spec.select_platform(index, Platform.parse("linux/arm64/v8")).digest.hex == "3" * 64


def test_select_platform_not_found_has_dockers_message() -> None:
    index = _parse(_index_doc(_entry("amd64")), spec.OCI_INDEX)
    assert isinstance(index, Index)
    with pytest.raises(NotFound) as info:
        spec.select_platform(index, Platform.parse("linux/arm64/v8"))
    assert str(info.value) == "no matching manifest for linux/arm64 in the manifest list entries"


# --- image configs ----------------------------------------------------------------------------


def _config_doc(**extra: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-02T03:04:05Z",
        "config": {
            "Env": ["PATH=/usr/bin:/bin"],
            "Cmd": ["/bin/sh"],
            "Entrypoint": None,
            "WorkingDir": "/root",
            "User": "1000:1000",
            "Labels": {"a": "b"},
            "ExposedPorts": {"80/tcp": {}},
            "Volumes": {"/data": {}},
            "StopSignal": "SIGQUIT",
            "Healthcheck": {"Test": ["CMD", "true"], "Interval": 1000000000},
            "OnBuild": None,
            "Shell": ["/bin/ash", "-c"],
            "ArgsEscaped": True,
        },
        "rootfs": {"type": "layers", "diff_ids": [LAYER_DIGEST]},
        "history": [
            {"created": "2024-01-02T03:04:05Z", "created_by": "ADD rootfs /"},
            {"created_by": 'CMD ["/bin/sh"]', "empty_layer": True, "comment": "c", "author": "me"},
        ],
        "unknown_field": {"kept": True},
    }
    doc.update(extra)
    return doc


def test_image_config_parses_every_field() -> None:
    config = spec.parse_image_config(json.dumps(_config_doc()).encode())
    assert config.platform == Platform.parse("linux/amd64")
    assert config.created == "2024-01-02T03:04:05Z"
    c = config.config
    assert c.env == ("PATH=/usr/bin:/bin",)
    assert c.cmd == ("/bin/sh",)
    assert c.entrypoint is None
    assert (c.working_dir, c.user, c.stop_signal) == ("/root", "1000:1000", "SIGQUIT")
    assert c.labels == {"a": "b"}
    assert c.exposed_ports == ("80/tcp",)
    assert c.volumes == ("/data",)
    assert c.healthcheck == {"Test": ["CMD", "true"], "Interval": 1000000000}
    assert c.on_build == ()
    assert c.shell == ("/bin/ash", "-c")
    assert c.args_escaped is True
    assert config.diff_ids == (Digest.parse(LAYER_DIGEST),)
    assert [h.empty_layer for h in config.history] == [False, True]
    assert config.history[1].author == "me"
    assert config.raw["unknown_field"] == {"kept": True}


def test_minimal_image_config() -> None:
    config = spec.parse_image_config(b'{"architecture":"arm64","os":"linux"}')
    assert config.config.cmd is None
    assert config.diff_ids == ()


BAD_CONFIGS = [
    ("cmd-string", _config_doc(config={"Cmd": "/bin/sh"})),
    ("env-numbers", _config_doc(config={"Env": [1]})),
    ("labels-list", _config_doc(config={"Labels": ["a"]})),
    ("rootfs-type", _config_doc(rootfs={"type": "other", "diff_ids": []})),
    ("diff-id-traversal", _config_doc(rootfs={"type": "layers", "diff_ids": ["sha256:../x"]})),
    ("history-not-objects", _config_doc(history=["x"])),
    ("empty-layer-string", _config_doc(history=[{"empty_layer": "yes"}])),
    ("not-object", []),
]


@pytest.mark.parametrize("doc", [b[1] for b in BAD_CONFIGS], ids=[b[0] for b in BAD_CONFIGS])
def test_bad_image_configs_are_invalid_arguments(doc: object) -> None:
    with pytest.raises(InvalidArgument):
        spec.parse_image_config(json.dumps(doc).encode())


def test_image_config_size_bound() -> None:
    with pytest.raises(InvalidArgument, match="more than"):
        spec.parse_image_config(b" " * (spec.MAX_CONFIG_SIZE + 1))
