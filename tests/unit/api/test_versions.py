"""API version range, prefixes and negotiation, with dockerd's messages."""

from __future__ import annotations

import pytest

from dockyard.api import versions
from dockyard.api.versions import MAX_VERSION, MIN_VERSION, UnsupportedVersion, check_version, parse_version
from tests.unit.api.conftest import ServerThread


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("1.41", (1, 41)),
        ("1.24", (1, 24)),
        ("1", (1, 0)),
        ("1.45.0", (1, 45)),
        ("x", None),
        ("1.a", None),
        ("", None),
    ],
)
def test_parse_version(text: str, parsed: tuple[int, int] | None) -> None:
    assert parse_version(text) == parsed


def test_unversioned_means_newest() -> None:
    assert check_version(None) == MAX_VERSION
    assert check_version("") == MAX_VERSION


def test_range_is_1_24_to_at_least_1_45() -> None:
    assert MIN_VERSION == (1, 24)
    assert MAX_VERSION >= (1, 45)
    assert check_version("1.24") == (1, 24)
    assert check_version("1.45") == (1, 45)


def test_too_old_has_dockerd_wording() -> None:
    with pytest.raises(UnsupportedVersion) as caught:
        check_version("1.20")
    assert str(caught.value) == (
        "client version 1.20 is too old. Minimum supported API version is 1.24, "
        "please upgrade your client to a newer version"
    )


def test_too_new_has_dockerd_wording() -> None:
    with pytest.raises(UnsupportedVersion) as caught:
        check_version("1.50")
    assert str(caught.value) == "client version 1.50 is too new. Maximum supported API version is 1.45"


def test_version_is_compared_numerically() -> None:
    with pytest.raises(UnsupportedVersion):
        check_version("1.5")  # older than 1.24, although "1.5" > "1.24" as text


def test_switches_follow_the_changelog() -> None:
    assert not versions.has_stop_signal((1, 41))
    assert versions.has_stop_signal((1, 42))
    assert versions.emits_none_repo_tags((1, 42))
    assert not versions.emits_none_repo_tags((1, 43))
    assert versions.has_virtual_size((1, 43))
    assert not versions.has_virtual_size((1, 44))
    assert versions.has_image_container_config((1, 44))
    assert not versions.has_image_container_config((1, 45))
    assert not versions.has_wait_condition((1, 29))
    assert versions.has_wait_condition((1, 30))


def test_prefixed_and_unprefixed_paths_both_work(api: ServerThread) -> None:
    for path in ("/version", "/v1.24/version", "/v1.41/version", "/v1.45/version"):
        reply = api.request("GET", path)
        assert reply.status == 200, path
        assert reply.json()["ApiVersion"] == "1.45"


@pytest.mark.parametrize("prefix", ["/v1.20", "/v1.50", "/v2.0"])
def test_out_of_range_prefix_is_400(api: ServerThread, prefix: str) -> None:
    reply = api.request("GET", f"{prefix}/containers/json")
    assert reply.status == 400
    assert reply.message.startswith(f"client version {prefix[2:]} is too")


def test_ping_advertises_the_version_to_negotiate_with(api: ServerThread) -> None:
    reply = api.request("GET", "/_ping")
    assert reply.headers["api-version"] == "1.45"


def test_unknown_path_is_404_whatever_the_version(api: ServerThread) -> None:
    reply = api.request("GET", "/v1.20/no/such/endpoint")
    assert reply.status == 404
    assert reply.message == "page not found"
