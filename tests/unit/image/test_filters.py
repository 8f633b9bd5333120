"""``/images/json`` filters and Go's ``path.Match``."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidArgument, NoSuchImage
from dockyard.image.filters import filter_images, go_path_match, parse_timestamp
from dockyard.image.store import Image

OLD = Image(id="sha256:" + "1" * 64, repo_tags=("alpine:3",), created_at=1000.0, labels={"tier": "base"})
MID = Image(
    id="sha256:" + "2" * 64,
    repo_tags=("alpine:latest", "127.0.0.1:5000/team/app:v1"),
    repo_digests=("alpine@sha256:" + "a" * 64,),
    created_at=2000.0,
    labels={"tier": "app", "x": "1"},
)
DANGLING = Image(id="sha256:" + "3" * 64, created_at=3000.0)
DIGEST_ONLY = Image(id="sha256:" + "4" * 64, repo_digests=("busybox@sha256:" + "b" * 64,), created_at=4000.0)
INTERMEDIATE = Image(id="sha256:" + "5" * 64, created_at=500.0)
ALL = [OLD, MID, DANGLING, DIGEST_ONLY, INTERMEDIATE]


def run(filters: dict[str, list[str]] | None = None, *, all: bool = False) -> list[str]:
    by_name = {"old": OLD, "mid": MID}

    def resolve(name: str) -> Image:
        if name not in by_name:
            raise NoSuchImage(name)
        return by_name[name]

    def has_children(image_id: str) -> bool:
        return image_id == INTERMEDIATE.id

    images = filter_images(
        ALL, all=all, filters=filters, resolve=resolve, has_children=has_children, now=10_000.0
    )
    return [i.id[7] for i in images]


def test_default_list_hides_intermediates_and_sorts_newest_first() -> None:
    assert run() == ["4", "3", "2", "1"]
    assert run(all=True) == ["4", "3", "2", "1", "5"]


def test_dangling() -> None:
    assert run({"dangling": ["true"]}) == ["4", "3"]
    assert run({"dangling": ["false"]}) == ["4", "2", "1"]
    with pytest.raises(InvalidArgument, match="invalid filter 'dangling"):
        run({"dangling": ["maybe"]})


def test_unknown_filter() -> None:
    with pytest.raises(InvalidArgument, match=r"^invalid filter 'color'$"):
        run({"color": ["red"]})


def test_reference_narrows_the_names_shown() -> None:
    images = filter_images(
        ALL,
        all=False,
        filters={"reference": ["alpine:latest"]},
        resolve=lambda n: OLD,
        has_children=lambda i: False,
    )
    assert [(i.id[7], i.repo_tags, i.repo_digests) for i in images] == [("2", ("alpine:latest",), ())]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("alpine", ["2", "1"]),  # the familiar name matches every tag of the repository
        ("*:latest", ["2"]),
        ("alpine:[0-9]", ["1"]),
        ("*/app", []),  # "*" does not cross "/"
        ("127.0.0.1:5000/*/app", ["2"]),
        ("busybox", ["4"]),
    ],
)
def test_reference_globs(pattern: str, expected: list[str]) -> None:
    assert run({"reference": [pattern]}) == expected


def test_before_since_label_until() -> None:
    assert run({"before": ["mid"]}) == ["1"]
    assert run({"since": ["old"]}) == ["4", "3", "2"]
    assert run({"label": ["tier"]}) == ["2", "1"]
    assert run({"label": ["tier=app", "x=1"]}) == ["2"]
    assert run({"until": ["2500"]}) == ["2", "1"]
    with pytest.raises(NoSuchImage):
        run({"before": ["nope"]})


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("a*", "abc", True),
        ("a*", "a/b", False),
        ("a?c", "abc", True),
        ("[a-c]x", "bx", True),
        ("[^a-c]x", "dx", True),
        ("[^a-c]x", "bx", False),
        ("a\\*", "a*", True),
        ("a\\*", "ab", False),
    ],
)
def test_go_path_match(pattern: str, name: str, matches: bool) -> None:
    assert go_path_match(pattern, name) is matches


@pytest.mark.parametrize("pattern", ["[", "[a-", "a\\", "[]"])
def test_go_path_match_bad_patterns(pattern: str) -> None:
    with pytest.raises(InvalidArgument, match="syntax error in pattern"):
        go_path_match(pattern, "x")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("10m", 10_000.0 - 600), ("1h30m", 10_000.0 - 5400), ("1700000000", 1_700_000_000.0)],
)
def test_parse_timestamp(value: str, expected: float) -> None:
    assert parse_timestamp(value, now=10_000.0) == pytest.approx(expected)


def test_parse_timestamp_rfc3339() -> None:
    assert parse_timestamp("2024-01-02T03:04:05Z") == pytest.approx(1704164645.0)
    with pytest.raises(InvalidArgument):
        parse_timestamp("yesterday")
