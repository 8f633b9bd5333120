"""JSON for the programs that start at every container start, without importing ``json``.

``import json`` costs about 11 ms on the project machines, nearly all of it ``re``, which
``json.decoder`` and ``json.scanner`` import to build regexes the C accelerator never uses. The
runtime and the monitor read and write a few small JSON documents per run, and their whole
budget is a few tens of milliseconds, so this module drives CPython's C accelerator ``_json``
directly: ``make_scanner`` needs only a context object with six attributes, and
``make_encoder`` only its arguments. The output is byte-for-byte what ``json.dumps`` gives with
the same separators.

If ``_json`` is missing (another interpreter), it falls back to the ``json`` module.
Daemon-side code that already pays for ``json`` may use either.
"""

from __future__ import annotations

__all__ = ["JSONDecodeError", "dumps", "loads"]

MAX_DEPTH = 512
"""Nesting deeper than this is refused before parsing (untrusted input, CVE-2023-25153 class)."""


class JSONDecodeError(ValueError):
    """The text is not valid JSON, or nests too deep."""


try:
    import _json
except ImportError:  # pragma: no cover - other interpreters
    _json = None  # type: ignore[assignment]


class _ScannerContext:
    """The attributes ``_json.make_scanner`` reads from its context (see Modules/_json.c)."""

    __slots__ = (
        "memo",
        "object_hook",
        "object_pairs_hook",
        "parse_constant",
        "parse_float",
        "parse_int",
        "strict",
    )

    def __init__(self) -> None:
        self.strict = True
        self.object_hook = None
        self.object_pairs_hook = None
        self.parse_float = float
        self.parse_int = int
        self.parse_constant = _reject_constant
        self.memo: dict[str, str] = {}


def _reject_constant(name: str) -> float:
    raise JSONDecodeError(f"invalid JSON constant {name}")


_scanner = _json.make_scanner(_ScannerContext()) if _json is not None else None  # type: ignore[arg-type]
_WHITESPACE = " \t\n\r"


def _check_depth(text: str) -> None:
    """Refuse deep nesting without recursing: count brackets outside strings."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return
    depth = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise JSONDecodeError(f"JSON nests deeper than {MAX_DEPTH} levels")
        elif ch in "]}":
            depth -= 1


def loads(data: str | bytes) -> object:
    """Parse one JSON document (UTF-8 if bytes).

    Raises:
        JSONDecodeError: the text is not a single valid JSON value, or nests too deep.
    """
    text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
    _check_depth(text)
    if _scanner is None:  # pragma: no cover
        import json

        try:
            return json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise JSONDecodeError(str(exc)) from exc
    start = 0
    while start < len(text) and text[start] in _WHITESPACE:
        start += 1
    try:
        value, end = _scanner(text, start)
    except StopIteration as exc:
        raise JSONDecodeError(f"expecting a JSON value at offset {exc.value}") from None
    except (ValueError, RecursionError) as exc:
        raise JSONDecodeError(str(exc)) from None
    while end < len(text) and text[end] in _WHITESPACE:
        end += 1
    if end != len(text):
        raise JSONDecodeError(f"extra data at offset {end}")
    return value


def _encode_default(obj: object) -> object:
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serializable")


def _float_repr(value: float) -> str:
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("out of range float values are not JSON compliant")
    return float.__repr__(value)


def dumps(obj: object, *, indent: int | None = None, sort_keys: bool = False) -> str:
    """Serialise ``obj`` compactly (``","`` and ``":"``), or pretty-printed with ``indent``.

    Raises:
        TypeError: ``obj`` holds something other than dict, list, tuple, str, int, float,
            bool or None.
        ValueError: ``obj`` holds NaN or infinity.
    """
    if _json is None or indent is not None:
        import json

        seps = (",", ": ") if indent is not None else (",", ":")
        return json.dumps(obj, indent=indent, sort_keys=sort_keys, separators=seps, allow_nan=False)
    encoder = _json.make_encoder(
        {},  # markers: detects cycles
        _encode_default,
        _json.encode_basestring_ascii,
        None,  # indent
        ":",
        ",",
        sort_keys,
        False,  # skipkeys
        False,  # allow_nan
    )
    # The C encoder calls float.__repr__ itself when allow_nan is False and rejects NaN; its
    # result is a tuple of string chunks.
    return "".join(encoder(obj, 0))
