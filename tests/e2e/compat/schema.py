"""The Engine API's Swagger documents as validators, and a recorder of what docker-py exchanged.

**The schemas.** ``../shared/ref/docker-engine-api-v1.41.yaml`` (beside the checkout) and ``-v1.55.yaml`` are
Swagger 2.0; their ``definitions`` and response ``schema`` objects are JSON Schema draft 4 plus
vendor keys. A response is validated against the document of the API version the client
negotiated: 1.41 for a client pinned to 1.41, 1.55 (the newest we have, a superset in shape) for
anything newer (docker-py's ``auto`` settles on our 1.45).

Two relaxations, and only these: Go encodes a nil slice, map or pointer as ``null``, so dockerd
itself sends ``"Cmd": null`` or ``"Labels": null`` where Swagger 2.0 can only say "array" or
"object". An ``array`` or ``object`` may therefore be ``null``, and so may any value the
document marks ``x-nullable: true``, and the few scalars that are Go pointers in moby's
``HostConfig`` or in one operation's answer but unmarked in the documents (``_GO_POINTERS``:
dockerd 20.10 sends ``"MemorySwappiness": null``, and ``"ExitCode": null`` for an exec that has
not ended). Other strings, numbers and booleans may not be ``null``. A hijacked
answer (``101 UPGRADED``, for attach and exec start) has no body to validate, and neither has a
``301`` that sends an unclean path (``/containers//name/json``, docker-py's path for
``get("/name")``) to its clean form, as Go's ServeMux does in front of every dockerd route (the
documents cannot list it, since no template has an empty segment); the ``Location`` must be
exactly the cleaned path. An error answer
must be ``application/json`` and fit ``ErrorResponse`` whatever its status, because the documents
list only some of the error statuses dockerd really sends (a 400 for an ambiguous ID prefix). This was
calibrated by validating what Debian's dockerd 20.10 answers to the same docker-py calls against
the 1.41 document: it passes.

**The recorder.** docker-py's ``APIClient`` is a ``requests.Session``; a response hook sees every
exchange. A response that was not streamed (``stream=False``) has its JSON body kept and is
validated against the operation found by matching the path against the document's templates
(``/containers/{id}/json``), for the status code returned. Streamed responses (pull progress,
events, attach and exec hijacks, logs) are recorded without a body; tests validate the items
they decode themselves (``EngineApi.validate_response``).
"""

from __future__ import annotations

import copy
import functools
import json
import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import jsonschema
import yaml

__all__ = ["ApiRecorder", "EngineApi", "Exchange", "clean_path", "spec_version_for"]

from tests.support.reference import REF

_VERSION_PREFIX = re.compile(r"^/v\d+\.\d+(?=/)")


def spec_version_for(negotiated: str) -> str:
    """Which document validates a client that negotiated ``negotiated`` (see the module docstring)."""
    major, minor = (int(part) for part in negotiated.split("."))
    return "1.41" if (major, minor) <= (1, 41) else "1.55"


# moby api/types/container: `MemorySwappiness *int64`, `OomKillDisable *bool`, `PidsLimit *int64`
# (Resources) and `Init *bool` (HostConfig); and per operation, `ExitCode *int` of an exec (null
# until the process ends: moby api/types ContainerExecInspect).
_GO_POINTERS = frozenset({"MemorySwappiness", "OomKillDisable", "PidsLimit", "Init"})
_OPERATION_POINTERS = {"/exec/{id}/json": frozenset({"ExitCode"})}


def _relaxed(node: Any, name: str = "", pointers: frozenset[str] = _GO_POINTERS) -> Any:
    """A copy of ``node`` where arrays, objects and ``x-nullable`` values also accept ``null``."""
    if isinstance(node, list):
        return [_relaxed(item, pointers=pointers) for item in node]
    if not isinstance(node, dict):
        return node
    out = {
        key: (
            {prop: _relaxed(schema, prop, pointers) for prop, schema in value.items()}
            if key == "properties" and isinstance(value, dict)
            else _relaxed(value, pointers=pointers)
        )
        for key, value in node.items()
        if key not in ("example", "examples")
    }
    kind = out.get("type")
    nullable = out.get("x-nullable") is True or kind in ("array", "object") or name in pointers
    if nullable and isinstance(kind, str):  # an untyped schema accepts null already
        out["type"] = [kind, "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    return out


@dataclass(frozen=True)
class _Route:
    template: str
    pattern: re.Pattern[str]


class EngineApi:
    """One Swagger document: its routes, and validation of responses and definitions."""

    def __init__(self, version: str) -> None:
        self.version = version
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        with open(REF / f"docker-engine-api-v{version}.yaml", encoding="utf-8") as handle:
            self.document: dict[str, Any] = yaml.load(handle, Loader=loader)
        self.definitions = _relaxed(copy.deepcopy(self.document["definitions"]))
        # A parameter may hold slashes (`/images/{name}/json` with `127.0.0.1:5000/library/alpine`),
        # as in dockerd's router; the most literal template that matches wins.
        self.routes = sorted(
            (
                _Route(template, re.compile("^" + re.sub(r"\\\{[^}]+\\\}", ".+", re.escape(template)) + "$"))
                for template in self.document["paths"]
            ),
            key=lambda route: -len(re.sub(r"\{[^}]+\}", "", route.template)),
        )

    def route(self, path: str) -> str | None:
        """The template that ``path`` (without a version prefix) matches, or None."""
        for route in self.routes:
            if route.pattern.match(path):
                return route.template
        return None

    def response_schema(self, method: str, template: str, status: int) -> dict[str, Any] | None:
        """The relaxed schema of that response, or None when the document gives no body schema.

        Raises:
            AssertionError: the document does not list ``status`` for this operation.
        """
        operation = self.document["paths"][template][method.lower()]
        responses = operation["responses"]
        assert status in responses, (
            f"{method} {template} answered {status}; v{self.version} documents {sorted(responses)}"
        )
        schema = responses[status].get("schema")
        pointers = _GO_POINTERS | _OPERATION_POINTERS.get(template, frozenset())
        return None if schema is None else _relaxed(copy.deepcopy(schema), pointers=pointers)

    def validate(self, document: object, schema: dict[str, Any]) -> None:
        """Raise ``jsonschema.ValidationError`` unless ``document`` fits ``schema``."""
        jsonschema.Draft4Validator({**schema, "definitions": self.definitions}).validate(document)

    def validate_response(self, method: str, path: str, status: int, document: object) -> None:
        """Validate one decoded response body (or one item of a JSON stream) for ``path``."""
        template = self.route(path)
        assert template is not None, f"{path} is not in the v{self.version} document"
        schema = self.response_schema(method, template, status)
        assert schema is not None, f"{method} {template} {status} has no schema in v{self.version}"
        self.validate(document, schema)

    def validate_definition(self, document: object, name: str) -> None:
        self.validate(document, {"$ref": f"#/definitions/{name}"})


def clean_path(path: str) -> str:
    """Go's ``path.Clean`` as net/http's ServeMux applies it (a trailing slash is kept)."""
    parts: list[str] = []
    for part in path.split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    clean = "/" + "/".join(parts)
    return clean + "/" if path.endswith("/") and clean != "/" else clean


@functools.cache
def engine_api(version: str) -> EngineApi:
    """The parsed document for ``version`` (parsed once per session)."""
    return EngineApi(version)


@dataclass
class Exchange:
    """One request and its response as the client saw them."""

    method: str
    path: str
    query: dict[str, list[str]]
    status: int
    content_type: str
    body: bytes | None  # None for a streamed response
    location: str = ""  # the Location header of a redirect

    def __str__(self) -> str:
        return f"{self.method} {self.path} -> {self.status}"


@dataclass
class ApiRecorder:
    """Collects docker-py's exchanges (``attach``) and validates them against ``api``."""

    api: EngineApi
    exchanges: list[Exchange] = field(default_factory=list)
    checked: int = 0

    def attach(self, client: Any) -> None:
        """Hook ``client`` (a ``docker.DockerClient``) so every response is recorded."""
        client.api.hooks["response"].append(self._hook)

    def _hook(self, response: Any, *args: object, **kwargs: Any) -> Any:
        url = urllib.parse.urlsplit(response.request.url)
        path = _VERSION_PREFIX.sub("", urllib.parse.unquote(url.path))
        streamed = bool(kwargs.get("stream")) or response.status_code == 101
        self.exchanges.append(
            Exchange(
                method=response.request.method,
                path=path,
                query=urllib.parse.parse_qs(url.query),
                status=response.status_code,
                content_type=response.headers.get("Content-Type", ""),
                body=None if streamed else response.content,
                location=response.headers.get("Location", ""),
            )
        )
        return response

    def check(self) -> list[Exchange]:
        """Validate every exchange not yet checked; return them.

        Raises:
            AssertionError: an undocumented path or status, or a body that does not fit its schema
                (all problems listed).
        """
        problems = []
        fresh = self.exchanges[self.checked :]
        self.checked = len(self.exchanges)
        for exchange in fresh:
            try:
                self._check_one(exchange)
            except (AssertionError, jsonschema.ValidationError) as exc:
                message = exc.message if isinstance(exc, jsonschema.ValidationError) else str(exc)
                where = "/".join(str(p) for p in getattr(exc, "absolute_path", []))
                problems.append(f"{exchange}: {message}" + (f" (at {where})" if where else ""))
        assert not problems, f"v{self.api.version} schema violations:\n" + "\n".join(problems)
        return fresh

    def _check_one(self, exchange: Exchange) -> None:
        template = self.api.route(exchange.path)
        assert template is not None, f"{exchange.path} is not in the v{self.api.version} document"
        if exchange.status == 101:
            assert template in ("/containers/{id}/attach", "/exec/{id}/start"), template
            return
        if exchange.status == 301:
            clean = clean_path(exchange.path)
            assert clean != exchange.path, f"301 for a clean path {exchange.path}"
            location = urllib.parse.urlsplit(exchange.location)
            target = _VERSION_PREFIX.sub("", urllib.parse.unquote(location.path))
            assert target == clean, f"301 to {exchange.location}, not to {clean}"
            return
        if exchange.status >= 400:  # the documents list only some error statuses; the body is fixed
            assert exchange.content_type.startswith("application/json"), exchange.content_type
            assert exchange.body is not None
            self.api.validate_definition(json.loads(exchange.body), "ErrorResponse")
            return
        schema = self.api.response_schema(exchange.method, template, exchange.status)
        if exchange.body is None or schema is None:
            return
        if exchange.content_type.startswith("application/json"):
            self.api.validate(json.loads(exchange.body), schema)
