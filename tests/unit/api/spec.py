"""The Engine API's Swagger documents (in ../shared/ref, beside the checkout), and validation.

The Swagger 2.0 definitions are used as JSON Schema (draft 4) with one relaxation: any value
may be ``null``, because dockerd itself sends ``null`` for Go's nil slices, maps and pointers
(``"Cmd": null``, ``"ExecIDs": null``) where Swagger 2.0 cannot say so. Types, required fields
and enums are enforced as written. Used by the unit tests and by tests/e2e/api.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import yaml  # type: ignore[import-untyped]

from tests.support.reference import REF


@functools.cache
def load_spec(version: str) -> dict[str, Any]:
    """``"1.41"`` or ``"1.55"``: the parsed Swagger 2.0 document."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(REF / f"docker-engine-api-v{version}.yaml", encoding="utf-8") as handle:
        document: dict[str, Any] = yaml.load(handle, Loader=loader)
    return document


def _nullable(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _nullable(v) for k, v in node.items() if k != "example"}
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        return out
    if isinstance(node, list):
        return [_nullable(v) for v in node]
    return node


@functools.cache
def _definitions(version: str) -> dict[str, Any]:
    return _nullable(copy.deepcopy(load_spec(version)["definitions"]))  # type: ignore[no-any-return]


def response_schema(version: str, path: str, method: str, status: int) -> dict[str, Any]:
    """The (relaxed) schema of one operation's response, e.g. ``("1.41", "/containers/json", "get", 200)``."""
    operation = load_spec(version)["paths"][path][method]
    return _nullable(copy.deepcopy(operation["responses"][status]["schema"]))  # type: ignore[no-any-return]


def validate(document: object, schema: dict[str, Any], version: str) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``document`` fits ``schema`` (refs from ``version``)."""
    root = {**schema, "definitions": _definitions(version)}
    jsonschema.Draft4Validator(root).validate(document)


def validate_definition(document: object, name: str, version: str) -> None:
    """Validate against ``#/definitions/<name>`` of the ``version`` document."""
    validate(document, {"$ref": f"#/definitions/{name}"}, version)
