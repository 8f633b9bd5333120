"""Reference parsing: docker/distribution's grammar, Hub normalisation and Docker's messages."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidArgument
from dockyard.oci.digest import Digest
from dockyard.registry import Reference

HEX = "a" * 64

VALID = [
    # text -> domain, path, tag, str(); the digest column is checked by its own test
    ("alpine", "docker.io", "library/alpine", None, "docker.io/library/alpine"),
    ("alpine:3.18", "docker.io", "library/alpine", "3.18", "docker.io/library/alpine:3.18"),
    ("user/app", "docker.io", "user/app", None, "docker.io/user/app"),
    ("docker.io/alpine", "docker.io", "library/alpine", None, "docker.io/library/alpine"),
    ("index.docker.io/library/x", "docker.io", "library/x", None, "docker.io/library/x"),
    ("docker.io/library/a/b", "docker.io", "library/a/b", None, "docker.io/library/a/b"),
    ("127.0.0.1:5000/x", "127.0.0.1:5000", "x", None, "127.0.0.1:5000/x"),
    ("localhost/x:1", "localhost", "x", "1", "localhost/x:1"),
    ("localhost:5000/a/b/c", "localhost:5000", "a/b/c", None, "localhost:5000/a/b/c"),
    ("gcr.io/p/q:v1.2-rc_3", "gcr.io", "p/q", "v1.2-rc_3", "gcr.io/p/q:v1.2-rc_3"),
    ("Registry.Example.com/x", "Registry.Example.com", "x", None, "Registry.Example.com/x"),
    ("[::1]:5000/x", "[::1]:5000", "x", None, "[::1]:5000/x"),
    ("alpine:LATEST", "docker.io", "library/alpine", "LATEST", "docker.io/library/alpine:LATEST"),
    ("a__b.c-d---e", "docker.io", "library/a__b.c-d---e", None, "docker.io/library/a__b.c-d---e"),
    ("x:" + "t" * 128, "docker.io", "library/x", "t" * 128, "docker.io/library/x:" + "t" * 128),
]


@pytest.mark.parametrize(("text", "domain", "path", "tag", "full"), VALID, ids=[v[0][:40] for v in VALID])
def test_parse_valid(text: str, domain: str, path: str, tag: str | None, full: str) -> None:
    ref = Reference.parse(text)
    assert (ref.domain, ref.path, ref.tag, ref.digest) == (domain, path, tag, None)
    assert str(ref) == full


DIGESTED = [
    (f"alpine@sha256:{HEX}", None, f"docker.io/library/alpine@sha256:{HEX}", f"alpine@sha256:{HEX}"),
    (f"x:1@sha256:{HEX}", "1", f"docker.io/library/x:1@sha256:{HEX}", f"x:1@sha256:{HEX}"),
]


@pytest.mark.parametrize(("text", "tag", "full", "familiar"), DIGESTED, ids=["digest", "tag-and-digest"])
def test_parse_digested(text: str, tag: str | None, full: str, familiar: str) -> None:
    ref = Reference.parse(text)
    assert ref.tag == tag
    assert ref.digest == Digest("sha256", HEX)
    assert str(ref) == full
    assert ref.familiar_string() == familiar


INVALID = [
    ("Alpine", "invalid reference format: repository name must be lowercase"),
    ("user/App:1", "invalid reference format: repository name must be lowercase"),
    ("localhost:5000/X", "invalid reference format: repository name must be lowercase"),
    (HEX, f"invalid repository name ({HEX}), cannot specify 64-byte hexadecimal strings"),
    ("", "invalid reference format"),
    ("foo//bar", "invalid reference format"),
    ("-x", "invalid reference format"),
    ("x-", "invalid reference format"),
    ("x:", "invalid reference format"),
    ("x:-tag", "invalid reference format"),
    ("x:" + "t" * 129, "invalid reference format"),
    ("x@sha256:abc", "invalid reference format"),
    ("x y", "invalid reference format"),
    ("/x", "invalid reference format"),
    ("x/", "invalid reference format"),
    ("a" * 300, "repository name must not be more than 255 characters"),
    (f"x@sha256:{'A' * 64}", f"invalid checksum digest format: sha256:{'A' * 64}"),
    (f"x@md5:{'a' * 32}", "unsupported digest algorithm: md5"),
    (f"x@sha256:{'a' * 63}", f"invalid checksum digest format: sha256:{'a' * 63}"),
]


@pytest.mark.parametrize(("text", "message"), INVALID, ids=[v[0][:30] or "empty" for v in INVALID])
def test_parse_invalid_gives_dockers_message(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        Reference.parse(text)
    assert str(info.value) == message


FAMILIAR_NAMES = [
    ("alpine", "alpine", "docker.io/library/alpine"),
    ("library/alpine", "alpine", "docker.io/library/alpine"),
    ("user/app:1", "user/app", "docker.io/user/app"),
    ("127.0.0.1:5000/library/alpine", "127.0.0.1:5000/library/alpine", "127.0.0.1:5000/library/alpine"),
]


@pytest.mark.parametrize(("text", "familiar", "name"), FAMILIAR_NAMES, ids=[v[0] for v in FAMILIAR_NAMES])
def test_familiar_name_and_name(text: str, familiar: str, name: str) -> None:
    ref = Reference.parse(text)
    assert ref.familiar_name() == familiar
    assert ref.name() == name


def test_with_default_tag_adds_latest_only_when_bare() -> None:
    assert Reference.parse("alpine").with_default_tag().tag == "latest"
    assert Reference.parse("alpine:3").with_default_tag().tag == "3"
    pinned = Reference.parse(f"alpine@sha256:{HEX}").with_default_tag()
    assert pinned.tag is None
    assert pinned.digest is not None


def test_references_are_hashable_values() -> None:
    assert Reference.parse("alpine") == Reference.parse("docker.io/library/alpine")
    assert len({Reference.parse("alpine:latest"), Reference.parse("index.docker.io/alpine:latest")}) == 1


def test_with_tag_and_digest_replace_the_suffix() -> None:
    ref = Reference.parse(f"x:1@sha256:{HEX}")
    assert str(ref.with_tag("2")) == "docker.io/library/x:2"
    assert str(ref.with_digest(Digest("sha256", "b" * 64))) == f"docker.io/library/x@sha256:{'b' * 64}"
    assert str(ref.repository()) == "docker.io/library/x"
    with pytest.raises(InvalidArgument, match="invalid reference format"):
        ref.with_tag("-bad")
