"""One parsed API request, and Docker's rules for reading its query string and JSON body.

Handlers never touch bytes or headers: they ask the :class:`Request` for typed values, and every
rule for malformed input lives here, once, with dockerd's wording:

- Booleans follow ``httputils.BoolValue``: a value is true unless it is empty, ``0``, ``no``,
  ``false`` or ``none`` (case-insensitive), so ``?all=1``, ``?all=true`` and ``?all=True`` all
  mean true and a key that is present but empty means false.
- Integers follow Go's ``strconv.Atoi``; a bad one is a 400 quoting the value.
- ``filters`` is JSON: ``{"key": {"value": true}}`` (what ``filters.Args`` marshals to) or the
  legacy ``{"key": ["value"]}``; both come out as ``{"key": ["value", ...]}``.
- JSON bodies are decoded with ``json`` after the server has bounded their size; errors carry
  dockerd's ``invalid JSON: ...`` prefix with Go's own description (``api.json_syntax`` scans a
  refused body as Go's decoder would; clients print it), and deep nesting and invalid UTF-8 are
  400s, never 500s (``RecursionError`` is a RuntimeError).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from dockyard.api import json_syntax
from dockyard.api.versions import ApiVersion
from dockyard.errors import InvalidArgument

__all__ = ["Query", "Request", "decode_json"]

_JSON_SPACE = " \t\r\n"  # JSON's whitespace (Go's isSpace); str.strip's default is wider

MAX_JSON_DEPTH = 512
"""Nesting deeper than this is refused (Go's decoder stops at 10000; nothing legitimate nests 50;
Python's decoder recurses, and must stay well inside the interpreter's recursion limit)."""


class Query:
    """The query string as Docker reads it: last value wins for scalars, all values for lists."""

    __slots__ = ("_pairs",)

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs

    def __contains__(self, name: str) -> bool:
        return any(k == name for k, _ in self._pairs)

    def get(self, name: str, default: str = "") -> str:
        """The first value of ``name`` (Go's ``Form.Get``), or ``default`` when absent."""
        for key, value in self._pairs:
            if key == name:
                return value
        return default

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name``, in order (``changes=...&changes=...``)."""
        return [value for key, value in self._pairs if key == name]

    def flag(self, name: str, default: bool = False) -> bool:
        """Docker's ``BoolValueOrDefault``: absent -> ``default``; else true unless falsy text."""
        if name not in self:
            return default
        return self.get(name).strip().lower() not in ("", "0", "no", "false", "none")

    def int_or(self, name: str, default: int) -> int:
        """An integer, or ``default`` when absent or empty.

        Raises:
            InvalidArgument: the value is not a decimal integer.
        """
        value = self.int_or_none(name)
        return default if value is None else value

    def int_or_none(self, name: str) -> int | None:
        """An integer, or None when absent or empty (``t`` on stop: absent means "the default").

        Raises:
            InvalidArgument: the value is not a decimal integer.
        """
        text = self.get(name).strip()
        if text == "":
            return None
        return parse_int(text, name)

    def filters(self) -> dict[str, list[str]]:
        """The ``filters`` parameter as ``{key: [values]}`` (empty when absent).

        Raises:
            InvalidArgument: it is not JSON of either accepted shape.
        """
        return parse_filters(self.get("filters"))


def parse_int(text: str, name: str = "") -> int:
    """Go's ``strconv.Atoi``: optional sign, decimal digits, 64-bit range.

    Raises:
        InvalidArgument: ``strconv.Atoi: parsing "<text>": invalid syntax`` (or ``value out of
            range``), as dockerd reports it.
    """
    body = text[1:] if text[:1] in ("+", "-") else text
    if not body or not body.isascii() or not body.isdigit():
        raise InvalidArgument(f'strconv.Atoi: parsing "{text}": invalid syntax')
    value = int(text)
    if not -(2**63) <= value < 2**63:
        raise InvalidArgument(f'strconv.Atoi: parsing "{text}": value out of range')
    return value


def parse_filters(text: str) -> dict[str, list[str]]:
    """Decode a ``filters`` query value; see the module docstring for the two shapes.

    Raises:
        InvalidArgument: not JSON, or not a map of lists or of ``{value: bool}`` maps.
    """
    if text == "":
        return {}
    data = text.encode("utf-8", "surrogateescape")
    problem = json_syntax.unmarshal_error(data, max_depth=MAX_JSON_DEPTH) if _maybe_too_deep(text) else None
    try:
        raw = None if problem else _DECODER.decode(text)
    except (ValueError, RecursionError):
        problem = json_syntax.unmarshal_error(data, max_depth=MAX_JSON_DEPTH) or "exceeded max depth"
    if problem:  # moby's filters.FromJSON uses json.Unmarshal, whose words these are
        raise InvalidArgument(f"invalid filter: {problem}")
    if not isinstance(raw, dict):
        raise InvalidArgument("invalid filter: json: cannot unmarshal non-object into filters")
    result: dict[str, list[str]] = {}
    for key, values in raw.items():
        if isinstance(values, dict) and all(isinstance(v, bool) for v in values.values()):
            result[key] = [str(v) for v, on in values.items() if on]
        elif isinstance(values, list) and all(isinstance(v, str) for v in values):
            result[key] = list(values)
        else:
            raise InvalidArgument(f"invalid filter: bad value for filter {key!r}")
    return result


def decode_json(body: bytes, *, allow_empty: bool = False) -> object:
    """Decode a request body as ``httputils.ReadJSON`` does (``json.Decoder``, then ``More``).

    Python's decoder does the work; when it refuses the body (or stops before its end), Go's
    verdict and words come from ``json_syntax``, which scans the bytes as Go's decoder would.

    Args:
        body: the whole body (the server has already bounded its size).
        allow_empty: an empty body decodes to None instead of failing (``ReadJSON`` treats
            ``Content-Length: 0`` as "no options").

    Raises:
        InvalidArgument: ``invalid JSON: got EOF while reading request body`` for an empty body,
            ``invalid JSON: <Go's words>`` for malformed JSON (``unexpected EOF``, ``invalid
            character 'x' looking for beginning of value``...), invalid UTF-8 or deep nesting,
            and ``unexpected content after JSON`` for trailing data.
    """
    if not body.strip(_JSON_SPACE.encode()):
        if allow_empty:
            return None
        raise InvalidArgument("invalid JSON: got EOF while reading request body")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidArgument(f"invalid JSON: invalid UTF-8 at offset {exc.start}") from None
    if _maybe_too_deep(text):
        _raise_go_verdict(body)
    try:
        value, end = _DECODER.raw_decode(text, len(text) - len(text.lstrip(_JSON_SPACE)))
    except (ValueError, RecursionError):
        _raise_go_verdict(body)
        # Go's grammar accepts it, so Python's recursion ran out: too deep all the same.
        raise InvalidArgument("invalid JSON: exceeded max depth") from None
    if text[end:].strip(_JSON_SPACE):
        # Where the value ends and what may follow is Go's decision (``1x`` is a syntax error,
        # ``{}]`` is accepted, ``{} x`` is content after JSON).
        _raise_go_verdict(body)
    return value


def _raise_go_verdict(body: bytes) -> None:
    """Raise the error Go's decoder gives for ``body``; return if Go accepts it."""
    verdict = json_syntax.decoder_verdict(body, max_depth=MAX_JSON_DEPTH)
    if verdict.error is not None:
        raise InvalidArgument(f"invalid JSON: {verdict.error}")
    if json_syntax.has_more(body, verdict.end):
        raise InvalidArgument("unexpected content after JSON")


def _refuse_constant(name: str) -> object:
    """``NaN`` and ``Infinity`` are Python's extensions; Go's grammar has no such values."""
    raise ValueError(f"invalid constant {name}")


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


def _maybe_too_deep(text: str) -> bool:
    """Whether the body might nest deeper than ``MAX_JSON_DEPTH`` (cheap: counts brackets)."""
    return text.count("[") + text.count("{") > MAX_JSON_DEPTH


@dataclass(slots=True, kw_only=True)
class Request:
    """What a handler sees of one HTTP request.

    ``path_params`` holds the route's captures (``id``, ``name``), already percent-decoded.
    ``body`` is the whole body for ordinary routes; streaming routes (load, import) read
    ``body_stream`` instead and ``body`` stays empty.
    """

    method: str
    path: str
    version: ApiVersion
    path_params: dict[str, str]
    query: Query
    headers: dict[str, str]
    body: bytes = b""
    body_stream: AsyncIterator[bytes] | None = None
    request_id: str = ""
    hijack_requested: bool = False
    extra: dict[str, object] = field(default_factory=dict)

    def param(self, name: str) -> str:
        """A path capture, e.g. ``request.param("id")``."""
        return self.path_params[name]

    def header(self, name: str, default: str = "") -> str:
        """A request header by case-insensitive name."""
        return self.headers.get(name.lower(), default)

    def json(self, *, allow_empty: bool = False) -> object:
        """The body as JSON; see :func:`decode_json`.

        Raises:
            InvalidArgument: malformed JSON, with dockerd's wording.
        """
        return decode_json(self.body, allow_empty=allow_empty)
