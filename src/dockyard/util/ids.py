"""Object IDs as Docker makes them: 64 random hex digits, shown as their first 12.

Lookup by ID prefix follows Docker's rules: a full ID or a name wins outright; otherwise a
prefix must match exactly one ID, and an ambiguous prefix is an error, never a guess.
"""

from __future__ import annotations

import os
import string
from collections.abc import Iterable

__all__ = ["AmbiguousPrefix", "is_full_id", "is_hex_prefix", "match_prefix", "new_id", "short_id"]

_HEX = frozenset(string.hexdigits.lower())


class AmbiguousPrefix(ValueError):
    """A prefix matches more than one ID; callers turn this into the room's own error."""

    def __init__(self, prefix: str, matches: list[str]) -> None:
        super().__init__(f"prefix {prefix} matches {len(matches)} IDs")
        self.prefix = prefix
        self.matches = matches


def new_id() -> str:
    """A new random 64-hex ID. Docker re-draws IDs that are all digits; so do we."""
    while True:
        value = os.urandom(32).hex()
        if not value.isdigit():
            return value


def short_id(full_id: str) -> str:
    """The 12-digit form shown in tables and messages (``sha256:`` prefixes are dropped)."""
    return full_id.removeprefix("sha256:")[:12]


def is_full_id(value: str) -> bool:
    """True for exactly 64 lower-case hex digits."""
    return len(value) == 64 and is_hex_prefix(value)


def is_hex_prefix(value: str) -> bool:
    """True for a non-empty string of lower-case hex digits (a possible ID prefix)."""
    return bool(value) and set(value) <= _HEX


def match_prefix(prefix: str, ids: Iterable[str]) -> str | None:
    """The one ID in ``ids`` that starts with ``prefix``, or None if none does.

    Raises:
        AmbiguousPrefix: more than one ID starts with ``prefix``.
    """
    if not is_hex_prefix(prefix):
        return None
    matches = [i for i in ids if i.startswith(prefix)]
    if len(matches) > 1:
        raise AmbiguousPrefix(prefix, matches)
    return matches[0] if matches else None
