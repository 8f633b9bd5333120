"""Engine records (frozen dataclasses) to JSON and back, for the state database.

The store keeps each container as one JSON document. Rather than hand-writing a codec per class,
this walks the dataclass fields with their resolved type hints, which are the schema: nested
dataclasses, ``StrEnum``s, ``tuple[X, ...]`` and fixed tuples, ``dict[str, X]``, optionals and
the JSON scalars. Decoding is tolerant in the way the persistence rules ask (docs/architecture.md
section 8): unknown fields are ignored and missing ones take their defaults, so a record written
by an older dockyard still loads; a value of the wrong shape is a ``CorruptRecord``.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from functools import cache
from typing import Any, TypeVar, Union

from dockyard.errors import CorruptRecord

__all__ = ["decode", "encode"]

T = TypeVar("T")


def encode(value: object) -> object:
    """A JSON-ready form of a record: dataclasses become objects, tuples lists, enums strings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in _fields(type(value))}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    return value


def decode(cls: type[T], data: object) -> T:
    """Rebuild a ``cls`` record from its JSON form.

    Raises:
        CorruptRecord: a value does not fit its field's type.
    """
    try:
        result = _decode(cls, data, cls.__name__)
    except (TypeError, ValueError) as exc:
        raise CorruptRecord(f"{cls.__name__} record: {exc}") from None
    return typing.cast(T, result)


@cache
def _fields(cls: type) -> tuple[dataclasses.Field[Any], ...]:
    return dataclasses.fields(cls)


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _decode(hint: Any, data: object, path: str) -> object:
    origin = typing.get_origin(hint)
    if origin is Union or origin is types.UnionType:
        return _decode_union(hint, data, path)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _decode_dataclass(hint, data, path)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint(data)
    if origin is tuple:
        return _decode_tuple(hint, data, path)
    if origin is dict:
        if not isinstance(data, dict):
            raise TypeError(f"{path}: expected an object")
        _key, value_hint = typing.get_args(hint)
        return {str(k): _decode(value_hint, v, f"{path}.{k}") for k, v in data.items()}
    if origin is list:
        if not isinstance(data, list):
            raise TypeError(f"{path}: expected a list")
        (item_hint,) = typing.get_args(hint)
        return [_decode(item_hint, v, f"{path}[]") for v in data]
    return _decode_scalar(hint, data, path)


def _decode_union(hint: Any, data: object, path: str) -> object:
    args = typing.get_args(hint)
    if data is None:
        if type(None) in args:
            return None
        raise TypeError(f"{path}: null is not allowed")
    errors = []
    for arg in args:
        if arg is type(None):
            continue
        try:
            return _decode(arg, data, path)
        except (TypeError, ValueError) as exc:
            errors.append(str(exc))
    raise TypeError("; ".join(errors) or f"{path}: no matching type")


def _decode_dataclass(cls: type, data: object, path: str) -> object:
    if not isinstance(data, dict):
        raise TypeError(f"{path}: expected an object")
    hints = _hints(cls)
    values = {}
    for f in _fields(cls):
        if f.name in data:
            values[f.name] = _decode(hints[f.name], data[f.name], f"{path}.{f.name}")
    return cls(**values)


def _decode_tuple(hint: Any, data: object, path: str) -> object:
    if not isinstance(data, list | tuple):
        raise TypeError(f"{path}: expected a list")
    args = typing.get_args(hint)
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(_decode(args[0], v, f"{path}[]") for v in data)
    if len(args) != len(data):
        raise TypeError(f"{path}: expected {len(args)} items")
    return tuple(_decode(a, v, f"{path}[]") for a, v in zip(args, data, strict=True))


def _decode_scalar(hint: Any, data: object, path: str) -> object:
    if hint is object or hint is Any:
        return data
    if hint is bool:
        if not isinstance(data, bool):
            raise TypeError(f"{path}: expected a boolean")
        return data
    if hint is int:
        if isinstance(data, bool) or not isinstance(data, int):
            raise TypeError(f"{path}: expected an integer")
        return data
    if hint is float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            raise TypeError(f"{path}: expected a number")
        return float(data)
    if hint is str:
        if not isinstance(data, str):
            raise TypeError(f"{path}: expected a string")
        return data
    raise TypeError(f"{path}: unsupported type {hint!r}")
