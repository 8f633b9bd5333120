"""Go's view of API data: the value model docker decodes JSON into, ``fmt`` and ``encoding/json``.

Templates print Go values, so dockyard must hold API answers the way docker's Go types hold
them and print them the way Go's ``fmt`` does:

- **The model.** A JSON object is a struct (``GoStruct``, fields in the order received)
  unless its field name is one docker's types declare as a map (``Labels``, ``ExposedPorts``,
  ``PortBindings`` ...), then it is a ``GoMap``; a null where Go has a slice or a map is a nil
  slice or map, which ``fmt`` prints as ``[]`` or ``map[]``, not ``<nil>`` (``to_go``).
- **``fmt``'s ``%v``** (``go_str``): ``[a b]``, ``map[k:v]`` with sorted keys, ``<nil>``,
  ``<no value>`` for a missing interface, floats in strconv's shortest form switching to an
  exponent from 1e+06 on. A struct prints its fields in declaration order with pointers as
  addresses; JSON cannot reproduce that, so it is refused (``Unprintable``) rather than
  guessed.
- **``encoding/json``** (``go_json``) as docker's ``{{json}}`` calls it, HTML escaping off:
  struct fields in order, map keys sorted, nil slices and maps as ``null``, floats in
  ``'f'`` form unless tiny or huge.
- **``fmt.Sprintf``** (``sprintf``): the verbs templates use (``%s %v %d %q %t %f %e %g %x``,
  width, precision, ``-``/``+``/``0`` flags), with Go's ``%!d(string=x)`` for mismatches.
"""

from __future__ import annotations

__all__ = [
    "MISSING",
    "GoMap",
    "GoSlice",
    "GoStruct",
    "HeaderMap",
    "TemplateObject",
    "Unprintable",
    "go_float",
    "go_json",
    "go_quote",
    "go_str",
    "go_type",
    "sprintf",
    "to_go",
]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any


# --- the value model -------------------------------------------------------------------


class _Missing:
    """The value of a missing key in a map of interfaces: Go prints it as ``<no value>``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<no value>"


MISSING = _Missing()


class GoStruct(dict[str, object]):
    """A JSON object that docker decodes into a Go struct: fields in the order received."""

    __slots__ = ()


class GoMap(dict[object, object]):
    """A JSON object that docker decodes into a Go map; ``nil`` when the JSON was null.

    Indexing a missing key gives the element type's zero value (``zero``), as Go does.
    """

    __slots__ = ("nil", "zero")

    def __init__(
        self, items: Mapping[Any, object] | None = None, *, nil: bool = False, zero: object = ""
    ) -> None:
        super().__init__(items or {})
        self.nil = nil
        self.zero = zero


class HeaderMap(GoMap):
    """docker's ``SubHeaderContext``: column names by field, plus ``Label`` for label columns."""

    __slots__ = ()

    def Label(self, name: str) -> str:
        # The header of {{.Label "com.example.some-key"}} is "some key".
        return name.split(".")[-1].replace("-", " ").replace("_", " ")


class GoSlice(list[object]):
    """A JSON array (or a null where Go has a slice, then ``nil``)."""

    __slots__ = ("nil",)

    def __init__(self, items: Iterable[object] = (), *, nil: bool = False) -> None:
        super().__init__(items)
        self.nil = nil


class TemplateObject:
    """Base of the objects docker's formatters hand to templates (a ``ps`` row, an image row).

    Their public methods named like Go's (``ID``, ``Names``, ``Label``) are the template's
    fields; ``json_fields`` lists the argument-less ones that ``{{json .}}`` marshals.
    """

    json_fields: tuple[str, ...] = ()


class Unprintable(ValueError):
    """A value ``fmt`` would print in a form dockyard cannot reproduce (a whole struct)."""


# Keys whose JSON objects are Go maps, and whose nulls are nil maps or slices, in the types
# docker decodes API answers into (api/types: ContainerJSON, ImageInspect, Info, Version).
_MAP_KEYS = frozenset(
    {
        "Labels",
        "Volumes",
        "ExposedPorts",
        "PortBindings",
        "Tmpfs",
        "Sysctls",
        "StorageOpt",
        "Ports",
        "Networks",
        "DriverOpts",
        "Annotations",
        "Details",
        "IndexConfigs",
        "Runtimes",
    }
)
_MAP_PAIRS = frozenset({("LogConfig", "Config"), ("GraphDriver", "Data"), ("IPAM", "Options")})
_SLICE_KEYS = frozenset(
    {
        "Args",
        "Cmd",
        "Entrypoint",
        "Env",
        "OnBuild",
        "Shell",
        "Binds",
        "Links",
        "VolumesFrom",
        "CapAdd",
        "CapDrop",
        "Dns",
        "DnsOptions",
        "DnsSearch",
        "ExtraHosts",
        "GroupAdd",
        "SecurityOpt",
        "Devices",
        "DeviceCgroupRules",
        "DeviceRequests",
        "Ulimits",
        "MaskedPaths",
        "ReadonlyPaths",
        "BlkioWeightDevice",
        "BlkioDeviceReadBps",
        "BlkioDeviceWriteBps",
        "BlkioDeviceReadIOps",
        "BlkioDeviceWriteIOps",
        "Mounts",
        "ExecIDs",
        "RepoTags",
        "RepoDigests",
        "Layers",
        "Aliases",
        "DNSNames",
        "Test",
        "SecondaryIPAddresses",
        "SecondaryIPv6Addresses",
        "ConsoleSize",
        "Warnings",
        "Components",
    }
)


def _is_map(key: str | None, parent: str | None) -> bool:
    return key in _MAP_KEYS or (parent, key) in _MAP_PAIRS


def to_go(value: object, key: str | None = None, parent: str | None = None) -> object:
    """Shape decoded API JSON as docker's Go types hold it (structs, maps, nil slices).

    ``key`` is the JSON field name the value sits under and ``parent`` the field above it;
    together they decide whether an object is a struct or a map, and what a null is.
    """
    if isinstance(value, dict):
        if _is_map(key, parent):
            return GoMap({k: to_go(v) for k, v in value.items()})
        return GoStruct({k: to_go(v, k, key) for k, v in value.items()})
    if isinstance(value, list):
        return GoSlice(to_go(v) for v in value)
    if value is None:
        if key in _SLICE_KEYS:
            return GoSlice(nil=True)
        if _is_map(key, parent):
            return GoMap(nil=True)
    return value


# --- fmt's %v -------------------------------------------------------------------------------


def go_str(value: object) -> str:
    """``fmt.Sprint(value)`` for one value, as text/template prints an action's result.

    Raises:
        Unprintable: a struct with fields, or a formatter object, which Go would print in a
            layout (declaration order, pointer addresses) that JSON cannot reproduce.
    """
    if isinstance(value, str):
        return value
    if value is None:
        return "<nil>"
    if value is MISSING:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, GoMap):
        items = sorted(value.items(), key=lambda kv: _sort_key(kv[0]))
        return "map[" + " ".join(f"{go_str(k)}:{go_str(v)}" for k, v in items) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_str(v) for v in value) + "]"
    if isinstance(value, dict) and not value:
        return "{}"
    raise Unprintable("printing a whole object is not supported; use {{json .Field}}")


def _sort_key(key: object) -> tuple[int, object]:
    return (0, key) if isinstance(key, int | float) else (1, str(key))


def go_float(value: float) -> str:
    """``strconv.FormatFloat(v, 'g', -1, 64)``: shortest digits, exponent from 1e+06 up."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    digits, point = _shortest_digits(value)
    sign = "-" if value < 0 or (value == 0 and str(value).startswith("-")) else ""
    if value == 0:
        return sign + "0"
    exponent = point - 1
    # strconv's 'g' with the shortest precision switches to %e from exponent 6 (1e+06).
    if exponent < -4 or exponent >= 6:
        return sign + _e_format(digits, exponent)
    return sign + _f_format(digits, point)


def _shortest_digits(value: float) -> tuple[str, int]:
    """The shortest decimal digits that round-trip ``value``, and the decimal point position."""
    mantissa, _, exp = repr(abs(value)).partition("e")
    whole, _, frac = mantissa.partition(".")
    whole = whole.lstrip("0")
    if whole:
        return (whole + frac).rstrip("0") or "0", len(whole) + int(exp or 0)
    stripped = frac.lstrip("0")
    return stripped.rstrip("0") or "0", int(exp or 0) - (len(frac) - len(stripped))


def _e_format(digits: str, exponent: int) -> str:
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"


def _f_format(digits: str, point: int) -> str:
    if point <= 0:
        return "0." + "0" * -point + digits
    if point >= len(digits):
        return digits + "0" * (point - len(digits))
    return digits[:point] + "." + digits[point:]


def go_quote(text: str) -> str:
    """``strconv.Quote``: double quotes, Go escapes, printable Unicode kept as is."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch in _QUOTE_ESCAPES:
            out.append(_QUOTE_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif code < 0x10000:
            out.append(f"\\x{code:02x}" if code < 0x80 else f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


_QUOTE_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


# --- encoding/json --------------------------------------------------------------------------


def go_json(value: object) -> str:
    """``json.Marshal`` with HTML escaping off, as docker's ``{{json}}`` produces it.

    Raises:
        Unprintable: a value JSON cannot hold.
    """
    parts: list[str] = []
    _encode(value, parts)
    return "".join(parts)


def _encode(value: object, out: list[str], html: bool = False) -> None:
    if isinstance(value, str):
        out.append(_json_string(value, html))
    elif value is None or value is MISSING:
        out.append("null")
    elif isinstance(value, bool):
        out.append("true" if value else "false")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        out.append(_json_float(value))
    elif isinstance(value, GoMap | GoSlice) and value.nil:
        out.append("null")
    elif isinstance(value, dict):
        items = (
            sorted(value.items(), key=lambda kv: str(kv[0])) if isinstance(value, GoMap) else value.items()
        )
        _encode_object(((str(k), v) for k, v in items), out, html)
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out, html)
        out.append("]")
    elif isinstance(value, TemplateObject):
        # docker's formatter objects marshal themselves with json.Marshal, which escapes <>&.
        fields = sorted(value.json_fields)
        _encode_object(((name, getattr(value, name)()) for name in fields), out, True)
    else:
        raise Unprintable(f"json: unsupported type {type(value).__name__}")


def _encode_object(items: Iterable[tuple[str, object]], out: list[str], html: bool) -> None:
    out.append("{")
    first = True
    for key, item in items:
        if not first:
            out.append(",")
        first = False
        out.append(_json_string(key, html))
        out.append(":")
        _encode(item, out, html)
    out.append("}")


_JSON_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}
_HTML = frozenset("<>&")


def _json_string(text: str, html: bool = False) -> str:
    out = ['"']
    for ch in text:
        if ch in _JSON_ESCAPES:
            out.append(_JSON_ESCAPES[ch])
        elif ch < " " or ch in "\u2028\u2029" or (html and ch in _HTML):
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _json_float(value: float) -> str:
    if value != value or value in (float("inf"), float("-inf")):
        raise Unprintable(f"json: unsupported value: {go_float(value)}")
    if value == int(value) and abs(value) < 1e21:
        return str(int(value))
    magnitude = abs(value)
    digits, point = _shortest_digits(value)
    sign = "-" if value < 0 else ""
    if magnitude < 1e-6 or magnitude >= 1e21:
        text = _e_format(digits, point - 1)
        return sign + text.replace("e-0", "e-").replace("e+0", "e+")
    return sign + _f_format(digits, point)


# --- fmt.Sprintf ----------------------------------------------------------------------------


def sprintf(fmt: str, args: Sequence[object]) -> str:
    """``fmt.Sprintf`` for the verbs templates use; Go's ``%!verb(type=value)`` on mismatch.

    Raises:
        Unprintable: an argument ``%v`` cannot print.
    """
    out: list[str] = []
    i = 0
    used = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch != "%":
            out.append(ch)
            i += 1
            continue
        i, spec = _read_spec(fmt, i + 1)
        verb = spec[-1] if spec else ""
        if verb == "%":
            out.append("%")
            continue
        if not verb:
            out.append("%!(NOVERB)")
            continue
        if used >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        out.append(_format_one(spec, args[used]))
        used += 1
    if used < len(args):
        extra = ", ".join(f"{go_type(a)}={go_str(a)}" for a in args[used:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _read_spec(fmt: str, i: int) -> tuple[int, str]:
    start = i
    while i < len(fmt) and fmt[i] in "-+# 0":
        i += 1
    while i < len(fmt) and (fmt[i].isdigit() or fmt[i] == "."):
        i += 1
    if i < len(fmt):
        i += 1
    return i, fmt[start:i]


def go_type(value: object) -> str:
    """The Go type docker's decoding gives ``value``, for error messages."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "[]string" if value and all(isinstance(v, str) for v in value) else "[]interface {}"
    if isinstance(value, GoMap):
        return "map[string]string"
    if isinstance(value, dict):
        return "map[string]interface {}"
    if value is None:
        return "<nil>"
    return type(value).__name__


def _format_one(spec: str, value: object) -> str:
    verb, flags_width = spec[-1], spec[:-1]
    if verb in "vs" and not (verb == "s" and isinstance(value, bool | int | float) and value is not True):
        return _pad_text(flags_width, go_str(value) if verb == "v" or not isinstance(value, str) else value)
    if verb == "q" and isinstance(value, str):
        return _pad_text(flags_width, go_quote(value))
    if verb == "t" and isinstance(value, bool):
        return _pad_text(flags_width, "true" if value else "false")
    if verb in "dxXoc" and isinstance(value, int) and not isinstance(value, bool):
        return chr(value) if verb == "c" else ("%" + flags_width + verb) % value
    if verb in "xX" and isinstance(value, str):
        text = value.encode().hex()
        return _pad_text(flags_width, text.upper() if verb == "X" else text)
    if verb in "feEgG" and isinstance(value, int | float) and not isinstance(value, bool):
        if verb in "gG" and "." not in flags_width:
            text = go_float(float(value))
            return _pad_text(flags_width, text.upper() if verb == "G" else text)
        return ("%" + flags_width + verb) % value
    return f"%!{verb}({go_type(value)}={go_str(value)})"


def _pad_text(flags_width: str, text: str) -> str:
    left = "-" in flags_width
    digits = flags_width.lstrip("-+# 0")
    width_text, _, precision = digits.partition(".")
    if precision:
        text = text[: int(precision)]
    width = int(width_text) if width_text else 0
    return text.ljust(width) if left else text.rjust(width)
