from __future__ import annotations

import random

import pytest

from dockyard.engine.names import generate_name, validate_name
from dockyard.errors import InvalidArgument


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        pytest.param("web1", "web1", id="plain"),
        pytest.param("/web1", "web1", id="leading-slash"),
        pytest.param("a.b-c_d", "a.b-c_d", id="punctuation"),
        pytest.param("9lives", "9lives", id="leading-digit"),
    ],
)
def test_valid_names_are_kept_without_their_slash(given: str, stored: str) -> None:
    assert validate_name(given) == stored


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("a", id="too-short"),
        pytest.param("_web", id="leading-underscore"),
        pytest.param("-web", id="leading-dash"),
        pytest.param("web/1", id="slash-inside"),
        pytest.param("web 1", id="space"),
        pytest.param("//web", id="two-slashes"),
        pytest.param("wéb", id="non-ascii"),
        pytest.param("web\n", id="trailing-newline"),
        pytest.param("", id="empty"),
    ],
)
def test_invalid_names_get_dockers_message(name: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        validate_name(name)
    assert str(info.value) == f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"


def test_generated_names_are_adjective_underscore_surname_and_valid() -> None:
    rng = random.Random(7)
    for _ in range(200):
        name = generate_name(rng=rng)
        adjective, surname = name.split("_")
        assert adjective.isalpha()
        assert surname.isalpha()
        assert validate_name(name) == name


def test_retries_append_a_digit() -> None:
    name = generate_name(1, rng=random.Random(1))
    assert name[-1].isdigit()
    assert name[:-1].replace("_", "").isalpha()
