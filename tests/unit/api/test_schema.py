"""Every JSON answer validates against the Engine API's own schema (v1.41 and v1.55).

See ``tests/unit/api/spec.py`` for how the Swagger definitions are used as JSON Schema.
"""

from __future__ import annotations

import json
import time

import jsonschema  # type: ignore[import-untyped]
import pytest

from tests.unit.api.conftest import ServerThread
from tests.unit.api.spec import response_schema as _response_schema
from tests.unit.api.spec import validate, validate_definition

VERSIONS = [("1.41", "/v1.41"), ("1.55", "/v1.45")]


@pytest.fixture
def busy(api: ServerThread) -> tuple[ServerThread, str]:
    """A server with a running container, an exited one and a pulled image."""
    running = api.run(["sleep"], Labels={"a": "b"}, ExposedPorts={"80/tcp": {}})
    api.run(["echo", "x"], Tty=True)
    api.request("POST", "/images/create?fromImage=busybox&tag=latest")
    time.sleep(0.05)
    return api, running


@pytest.mark.parametrize(("spec", "prefix"), VERSIONS)
def test_system_documents(busy: tuple[ServerThread, str], spec: str, prefix: str) -> None:
    api, _ = busy
    validate_definition(api.request("GET", f"{prefix}/version").json(), "SystemVersion", spec)
    validate_definition(api.request("GET", f"{prefix}/info").json(), "SystemInfo", spec)


@pytest.mark.parametrize(("spec", "prefix"), VERSIONS)
def test_container_documents(busy: tuple[ServerThread, str], spec: str, prefix: str) -> None:
    api, running = busy
    rows = api.request("GET", f"{prefix}/containers/json?all=1&size=1").json()
    validate(rows, _response_schema(spec, "/containers/json", "get", 200), spec)
    for row in rows:
        document = api.request("GET", f"{prefix}/containers/{row['Id']}/json?size=1").json()
        validate(document, _response_schema(spec, "/containers/{id}/json", "get", 200), spec)
    created = api.request("POST", f"{prefix}/containers/create", {"Image": "alpine"})
    validate(created.json(), _response_schema(spec, "/containers/create", "post", 201), spec)
    top = api.request("GET", f"{prefix}/containers/{running}/top").json()
    validate(top, _response_schema(spec, "/containers/{id}/top", "get", 200), spec)
    prune = api.request("POST", f"{prefix}/containers/prune").json()
    validate(prune, _response_schema(spec, "/containers/prune", "post", 200), spec)


@pytest.mark.parametrize(("spec", "prefix"), VERSIONS)
def test_wait_document(api: ServerThread, spec: str, prefix: str) -> None:
    cid = api.run(["exit", "2"])
    reply = api.request("POST", f"{prefix}/containers/{cid}/wait")
    validate_definition(reply.json(), "ContainerWaitResponse", spec)


@pytest.mark.parametrize(("spec", "prefix"), VERSIONS)
def test_exec_documents(busy: tuple[ServerThread, str], spec: str, prefix: str) -> None:
    api, running = busy
    created = api.request("POST", f"{prefix}/containers/{running}/exec", {"Cmd": ["true"]})
    validate(created.json(), _response_schema(spec, "/containers/{id}/exec", "post", 201), spec)
    document = api.request("GET", f"{prefix}/exec/{created.json()['Id']}/json").json()
    validate(document, _response_schema(spec, "/exec/{id}/json", "get", 200), spec)


@pytest.mark.parametrize(("spec", "prefix"), VERSIONS)
def test_image_documents(busy: tuple[ServerThread, str], spec: str, prefix: str) -> None:
    api, _ = busy
    rows = api.request("GET", f"{prefix}/images/json").json()
    validate(rows, _response_schema(spec, "/images/json", "get", 200), spec)
    validate_definition(api.request("GET", f"{prefix}/images/busybox/json").json(), "ImageInspect", spec)
    history = api.request("GET", f"{prefix}/images/busybox/history").json()
    validate(history, _response_schema(spec, "/images/{name}/history", "get", 200), spec)
    removed = api.request("DELETE", f"{prefix}/images/busybox").json()
    validate(removed, _response_schema(spec, "/images/{name}", "delete", 200), spec)
    prune = api.request("POST", f"{prefix}/images/prune").json()
    validate(prune, _response_schema(spec, "/images/prune", "post", 200), spec)


@pytest.mark.parametrize(("spec", "prefix"), VERSIONS)
def test_stream_messages(busy: tuple[ServerThread, str], spec: str, prefix: str) -> None:
    api, _ = busy
    pull = api.request("POST", f"{prefix}/images/create?fromImage=broken&tag=latest")
    for line in pull.body.splitlines():
        validate_definition(json.loads(line), "CreateImageInfo", spec)
    events = api.request("GET", f"{prefix}/events?since=0&until={time.time():.3f}")
    lines = events.body.splitlines()
    assert lines
    for line in lines:
        validate_definition(json.loads(line), "EventMessage", spec)


@pytest.mark.parametrize(("spec", "prefix"), VERSIONS)
def test_errors_are_error_responses(api: ServerThread, spec: str, prefix: str) -> None:
    for method, path in [
        ("GET", "/containers/nosuch/json"),
        ("GET", "/nope"),
        ("POST", "/containers/create"),
    ]:
        validate_definition(api.request(method, prefix + path).json(), "ErrorResponse", spec)


def test_relaxation_still_catches_wrong_types() -> None:
    with pytest.raises(jsonschema.ValidationError):
        validate_definition({"StatusCode": "zero"}, "ContainerWaitResponse", "1.41")
    with pytest.raises(jsonschema.ValidationError):
        validate_definition({"Id": "x"}, "ImageSummary", "1.55")  # required fields missing
