"""Request checks shared by the handlers: content type, timestamps, error context.

Each follows a dockerd helper (``httputils.CheckForJSON``, ``timetypes.ParseTimestamps``) so a
rule for malformed input is written once and reads the same on every endpoint.
"""

from __future__ import annotations

from typing import TypeVar

from dockyard.api.request import Request
from dockyard.errors import DockyardError, InvalidArgument

__all__ = ["check_json_content_type", "parse_timestamp", "with_context"]

E = TypeVar("E", bound=DockyardError)


def check_json_content_type(request: Request) -> None:
    """dockerd's ``CheckForJSON``: a body must be declared ``application/json`` (or undeclared).

    Raises:
        InvalidArgument: ``Content-Type specified (<type>) must be 'application/json'``.
    """
    declared = request.header("content-type").strip()
    if not declared:
        return
    media = declared.split(";", 1)[0].strip().lower()
    if media != "application/json":
        raise InvalidArgument(f"Content-Type specified ({declared}) must be 'application/json'")


def parse_timestamp(text: str, name: str) -> float | None:
    """``since``/``until`` as clients send them: ``<seconds>[.<nanoseconds>]``; empty is None.

    The docker CLI turns ``10m`` or an RFC 3339 date into this form before sending it.

    Raises:
        InvalidArgument: anything else, naming the parameter.
    """
    text = text.strip()
    if not text:
        return None
    seconds, _, fraction = text.partition(".")
    body = seconds.removeprefix("-")
    if not body.isdigit() or not (fraction == "" or (fraction.isdigit() and len(fraction) <= 9)):
        raise InvalidArgument(f'invalid value for "{name}": {text!r} is not a unix timestamp')
    value = float(int(seconds))
    if fraction:
        value += (int(fraction) / 10 ** len(fraction)) * (-1 if seconds.startswith("-") else 1)
    return value


def with_context(exc: E, prefix: str) -> E:
    """Prefix an error's message, keeping its class (and so its status), as Go's ``Wrapf`` does."""
    exc.message = f"{prefix}: {exc.message}"
    exc.args = (exc.message,)
    return exc
