"""Container names: Docker's rule for ``--name`` and generated ``adjective_surname`` names.

A name the user gives must match ``[a-zA-Z0-9][a-zA-Z0-9_.-]+`` (moby ``daemon/names``,
``RestrictedNameChars``); one leading ``/`` is accepted and dropped, since the API shows names with
it. A name we make up is an adjective and the surname of a scientist or engineer, in the style of
moby's generator (these word lists are our own). When a generated name is taken, later attempts
append a random digit, as dockerd does.
"""

from __future__ import annotations

import random
import re

from dockyard.errors import InvalidArgument

__all__ = ["RESTRICTED_NAME_CHARS", "generate_name", "validate_name"]

RESTRICTED_NAME_CHARS = "[a-zA-Z0-9][a-zA-Z0-9_.-]"
"""The characters Docker allows in names, as its error message spells them."""

_PATTERN = re.compile(rf"^{RESTRICTED_NAME_CHARS}+$")

_ADJECTIVES = (
    "agile", "amber", "ample", "arcane", "ardent", "astute", "blithe", "bold", "bouncy", "brave",
    "breezy", "bright", "brisk", "buoyant", "calm", "candid", "cheery", "civic", "clever", "cosmic",
    "crisp", "curious", "daring", "dapper", "deft", "devoted", "dreamy", "eager", "earnest", "elated",
    "eloquent", "fearless", "fervent", "festive", "fluent", "frank", "gallant", "genial", "gentle",
    "gleaming", "glowing", "graceful", "hardy", "hearty", "humble", "jolly", "jovial", "keen", "kind",
    "lively", "loyal", "lucid", "lunar", "mellow", "merry", "mindful", "modest", "nimble", "noble",
    "patient", "plucky", "polite", "proud", "quiet", "radiant", "rapid", "serene", "sincere", "snappy",
    "solar", "spirited", "steady", "stoic", "sturdy", "sunny", "swift", "tender", "thrifty", "tidy",
    "upbeat", "valiant", "vivid", "warm", "witty", "zealous", "zesty",
)  # fmt: skip

_SURNAMES = (
    "agnesi", "alhazen", "ampere", "archimedes", "babbage", "bardeen", "bassi", "bernoulli",
    "bohr", "boole", "bose", "brahe", "cajal", "cantor", "carnot", "cauchy", "cavendish", "chandra",
    "coulomb", "curie", "dalton", "darwin", "descartes", "dijkstra", "dirac", "doppler", "easley",
    "edison", "euclid", "euler", "faraday", "fermat", "fermi", "feynman", "fibonacci", "fourier",
    "franklin", "galileo", "galois", "gauss", "germain", "goodall", "hamilton", "hawking", "heisenberg",
    "hertz", "hilbert", "hodgkin", "hopper", "hubble", "huygens", "hypatia", "jackson", "johnson",
    "joule", "kelvin", "kepler", "knuth", "kovalevskaya", "lagrange", "lamarr", "laplace", "leavitt",
    "leibniz", "lovelace", "maxwell", "meitner", "mendel", "mirzakhani", "mohr", "napier", "neumann",
    "newton", "noether", "ohm", "pascal", "pasteur", "pauli", "planck", "poincare", "ramanujan",
    "riemann", "ritchie", "rubin", "rutherford", "sagan", "salk", "shannon", "somerville", "tesla",
    "thompson", "torvalds", "turing", "volta", "wiles", "wozniak", "wu", "yalow", "yonath", "zuse",
)  # fmt: skip


def validate_name(name: str) -> str:
    """The name without its leading ``/``, if it follows Docker's rule.

    Raises:
        InvalidArgument: Docker's "Invalid container name (...), only [a-zA-Z0-9][a-zA-Z0-9_.-]
            are allowed".
    """
    bare = name[1:] if name.startswith("/") else name
    if not _PATTERN.match(bare) or "\n" in bare:
        raise InvalidArgument(f"Invalid container name ({name}), only {RESTRICTED_NAME_CHARS} are allowed")
    return bare


def generate_name(attempt: int = 0, *, rng: random.Random | None = None) -> str:
    """A random ``adjective_surname``; from the second attempt on, with a random digit appended.

    ``attempt`` counts the names already found taken for this container.
    """
    pick = rng or random
    name = f"{pick.choice(_ADJECTIVES)}_{pick.choice(_SURNAMES)}"
    if attempt > 0:
        name += str(pick.randrange(10))
    return name
