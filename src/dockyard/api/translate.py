"""Docker JSON <-> the engine's dataclasses, mechanically, with validation at the edge.

The engine's records use the snake_case of Docker's JSON names (``CpuShares`` <-> ``cpu_shares``),
so one rule converts names in both directions: capitalise each word. Docker's exceptions
(``OOMKilled``, ``UTSMode``, ``BlkioDeviceReadIOps``, ``IPAddress``, ...) are listed in
:data:`JSON_NAMES`, the only table of them.

**Loading** (JSON -> dataclass) is driven by the dataclass's type hints and enforces Go's
``encoding/json`` rules, because that is what dockerd's clients are used to: a bool must be a
JSON bool, an integer a JSON number without a fraction and within the Go type's range, a list a
JSON array of the right element type, and ``null`` means "the zero value" (the field's default).
Unknown fields are ignored, as dockerd ignores them. Violations raise ``InvalidArgument`` with
Go's wording (``invalid JSON: json: cannot unmarshal string into Go struct field Config.Tty of
type bool``), since the body is untrusted input and this is its edge.

**Dumping** (dataclass -> JSON) writes every field, tuples as arrays and ``None`` as ``null``;
callers drop the fields Go's ``omitempty`` tags would drop.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final, TypeVar

from dockyard.errors import InvalidArgument

__all__ = [
    "JSON_NAMES",
    "Loader",
    "dump",
    "json_name",
    "load",
    "load_console_size",
    "require_object",
    "rfc3339_to_epoch",
    "type_error",
]

T = TypeVar("T")

JSON_NAMES: Final[Mapping[str, str]] = {
    "oom_killed": "OOMKilled",
    "io_maximum_iops": "IOMaximumIOps",
    "io_maximum_bandwidth": "IOMaximumBandwidth",
    "blkio_device_read_iops": "BlkioDeviceReadIOps",
    "blkio_device_write_iops": "BlkioDeviceWriteIOps",
    "uts_mode": "UTSMode",
    "container_id_file": "ContainerIDFile",
    "rw": "RW",
    "network_id": "NetworkID",
    "endpoint_id": "EndpointID",
    "sandbox_id": "SandboxID",
    "ip_address": "IPAddress",
    "ip_prefix_len": "IPPrefixLen",
    "ipv6_gateway": "IPv6Gateway",
    "global_ipv6_address": "GlobalIPv6Address",
    "global_ipv6_prefix_len": "GlobalIPv6PrefixLen",
    "link_local_ipv6_address": "LinkLocalIPv6Address",
    "link_local_ipv6_prefix_len": "LinkLocalIPv6PrefixLen",
    "dns_names": "DNSNames",
    "ipv4_address": "IPv4Address",
    "ipv6_address": "IPv6Address",
    "host_ip": "HostIp",
}
"""Field names whose JSON spelling is not the capitalised words (Docker's acronyms)."""

# Go's integer types for fields whose range is narrower than int64 (json.Unmarshal rejects
# out-of-range numbers with the type's name).
_INT_RANGES: Final[Mapping[str, tuple[str, int, int]]] = {
    "blkio_weight": ("uint16", 0, 2**16 - 1),
    "weight": ("uint16", 0, 2**16 - 1),
    "rate": ("uint64", 0, 2**64 - 1),
    "oom_score_adj": ("int", -(2**63), 2**63 - 1),
    "maximum_retry_count": ("int", -(2**63), 2**63 - 1),
    "soft": ("int64", -(2**63), 2**63 - 1),
    "hard": ("int64", -(2**63), 2**63 - 1),
    "io_maximum_iops": ("uint64", 0, 2**64 - 1),
    "io_maximum_bandwidth": ("uint64", 0, 2**64 - 1),
}
_INT64: Final = ("int64", -(2**63), 2**63 - 1)

Loader = Callable[[object, str], object]
"""A field's custom loader: ``(json_value, go_path) -> python value``; raises InvalidArgument."""

_HINTS: dict[type, list[tuple[str, str, Any, bool]]] = {}


def json_name(field: str) -> str:
    """``cpu_shares`` -> ``CpuShares``; Docker's acronyms from :data:`JSON_NAMES`."""
    special = JSON_NAMES.get(field)
    if special is not None:
        return special
    return "".join(word[:1].upper() + word[1:] for word in field.split("_"))


def _fields(cls: type) -> list[tuple[str, str, Any, bool]]:
    """(field, JSON name, resolved type hint, has default) for a dataclass, cached."""
    cached = _HINTS.get(cls)
    if cached is None:
        hints = typing.get_type_hints(cls)
        cached = [
            (
                f.name,
                json_name(f.name),
                hints[f.name],
                f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING,
            )
            for f in dataclasses.fields(cls)
        ]
        _HINTS[cls] = cached
    return cached


def _json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _go_type(hint: Any) -> str:
    """The Go type name dockerd would print for a hint (for error messages)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        return _go_type(inner[0]) if len(inner) == 1 else "interface {}"
    if origin is tuple:
        return "[]" + _go_type(typing.get_args(hint)[0])
    if origin is dict:
        key, value = typing.get_args(hint)
        return f"map[{_go_type(key)}]{_go_type(value)}"
    simple = {bool: "bool", int: "int64", str: "string", float: "float64", object: "interface {}"}
    if hint in simple:
        return simple[hint]
    return f"container.{getattr(hint, '__name__', 'value')}"


def type_error(value: object, path: str, go_type: str) -> InvalidArgument:
    """Go's ``UnmarshalTypeError`` wording, with dockerd's ``invalid JSON:`` prefix."""
    kind = _json_kind(value)
    if kind == "number":
        kind = f"number {value}"
    return InvalidArgument(
        f"invalid JSON: json: cannot unmarshal {kind} into Go struct field {path} of type {go_type}"
    )


def require_object(value: object, path: str, go_type: str) -> dict[str, object]:
    """``value`` as a JSON object; ``null`` is an empty one.

    Raises:
        InvalidArgument: ``value`` is another JSON kind.
    """
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise type_error(value, path, go_type)
    return value


def _load_int(value: object, field: str, path: str) -> int:
    name, low, high = _INT_RANGES.get(field, _INT64)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise type_error(value, path, name)
    if isinstance(value, float):
        if not value.is_integer():
            raise type_error(value, path, name)
        value = int(value)
    if not low <= value <= high:
        raise type_error(value, path, name)
    return value


def _load_value(hint: Any, value: object, field: str, path: str, loaders: Mapping[str, Loader]) -> object:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        return _load_value(inner[0], value, field, path, loaders)
    if hint is bool:
        if not isinstance(value, bool):
            raise type_error(value, path, "bool")
        return value
    if hint is int:
        return _load_int(value, field, path)
    if hint is str:
        if not isinstance(value, str):
            raise type_error(value, path, "string")
        return value
    if hint is object:
        return value
    if origin is tuple:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise type_error(value, path, _go_type(hint))
        item = typing.get_args(hint)[0]
        return tuple(_load_value(item, v, field, path, loaders) for v in value)
    if origin is dict:
        mapping = require_object(value, path, _go_type(hint))
        item = typing.get_args(hint)[1]
        return {k: _load_value(item, v, field, path, loaders) for k, v in mapping.items()}
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return load(hint, value, path=path, loaders=loaders)
    raise TypeError(f"no JSON loader for {hint!r}")  # a programming error, not bad input


def load(
    cls: type[T], data: object, *, path: str | None = None, loaders: Mapping[str, Loader] | None = None
) -> T:
    """Build ``cls`` from a JSON object, field by field; absent or null fields keep defaults.

    ``loaders`` maps ``"<ClassName>.<field>"`` to a custom loader for fields whose JSON shape
    is not the mechanical one (``ExposedPorts`` is a map of empty objects, ``Cmd`` a string or
    an array, ...).

    Raises:
        InvalidArgument: a value of the wrong JSON type or range (Go's wording), or a missing
            required field.
    """
    struct = path or cls.__name__
    loaders = loaders or {}
    mapping = require_object(data, struct, f"container.{cls.__name__}")
    kwargs: dict[str, object] = {}
    for field, name, hint, has_default in _fields(cls):
        value = mapping.get(name)
        custom = loaders.get(f"{cls.__name__}.{field}")
        if value is None and custom is None:
            if not has_default:
                raise InvalidArgument(f"invalid JSON: missing field {name} in {struct}")
            continue
        field_path = f"{struct}.{name}"
        if custom is not None:
            if value is None and has_default:
                continue
            kwargs[field] = custom(value, field_path)
        else:
            kwargs[field] = _load_value(hint, value, field, field_path, loaders)
    return cls(**kwargs)


def dump(obj: object, *, skip: frozenset[str] = frozenset()) -> dict[str, object]:
    """A dataclass as Docker's JSON object: every field (except ``skip``), recursively."""
    result: dict[str, object] = {}
    for field, name, _, _ in _fields(type(obj)):
        if field in skip:
            continue
        result[name] = _dump_value(getattr(obj, field))
    return result


def _dump_value(value: object) -> object:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_dump_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _dump_value(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dump(value)
    raise TypeError(f"cannot dump {type(value).__name__} as JSON")


def load_console_size(value: object, path: str) -> tuple[int, int]:
    """``ConsoleSize``: ``[height, width]``, two unsigned integers.

    Raises:
        InvalidArgument: any other shape (Go: ``[2]uint``).
    """
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**32 for v in value)
    ):
        raise type_error(value, path, "[2]uint")
    return (value[0], value[1])


def rfc3339_to_epoch(text: str) -> int:
    """Seconds since the epoch of an RFC 3339 timestamp (Docker's zero time gives a negative)."""
    try:
        return int(datetime.fromisoformat(text).timestamp())
    except ValueError:
        return 0
