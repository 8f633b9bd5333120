"""Registry failures in Docker's exact words, and the error kind each one maps to."""

from __future__ import annotations

import asyncio
import errno
import json
import socket
import ssl
from collections.abc import Callable

import httpx
import pytest

from dockyard.errors import InvalidArgument, NotFound, SystemFailure, Unauthorized, Unavailable
from dockyard.registry import Reference, RegistryConfig
from dockyard.registry.auth import Challenge
from dockyard.registry.errors import DistributionError, error_from_response
from dockyard.registry.transport import transport_error
from tests.unit.registry.conftest import Image, client_for, run
from tests.unit.registry.fakeregistry import HOST, FakeRegistry

REF = Reference.parse("127.0.0.1:5000/x:latest")
HUB = Reference.parse("x")


def _body(*errors: tuple[str, str, object]) -> bytes:
    return json.dumps({"errors": [{"code": c, "message": m, "detail": d} for c, m, d in errors]}).encode()


DENIED_CHALLENGE = Challenge("bearer", {"realm": "https://auth", "error": "insufficient_scope"})

MANIFEST_UNKNOWN = _body(("MANIFEST_UNKNOWN", "manifest unknown", {"Tag": "latest"}))
NAME_UNKNOWN = _body(("NAME_UNKNOWN", "repository name not known to registry", {"n": 1}))
UNAUTHORIZED = _body(("UNAUTHORIZED", "authentication required", [{"a": 1}]))
PULL_DENIED = "pull access denied for x, repository does not exist or may require 'docker login': "
BLOB_UNKNOWN = "blob unknown: blob unknown to registry"
TWO_BLOBS = _body(
    ("BLOB_UNKNOWN", "blob unknown to registry", "d1"), ("BLOB_UNKNOWN", "blob unknown to registry", "d2")
)
NO_DETAILS = "no error details found in HTTP response body"

CASES = [
    # id, status, reason, body, challenges, ref, pulling, kind, message
    ("manifest-unknown", 404, "Not Found", MANIFEST_UNKNOWN, (), REF, True, NotFound,
     "manifest for 127.0.0.1:5000/x:latest not found: manifest unknown: manifest unknown"),
    ("denied-hub", 401, "Unauthorized", _body(("UNAUTHORIZED", "authentication required", [])),
     (DENIED_CHALLENGE,), HUB, True, NotFound,
     PULL_DENIED + "denied: requested access to the resource is denied"),
    ("denied-body", 403, "Forbidden", _body(("DENIED", "requested access to the resource is denied", None)),
     (), HUB, True, NotFound, PULL_DENIED + "denied"),
    ("name-unknown", 404, "Not Found", NAME_UNKNOWN, (), REF, True, NotFound,
     "repository 127.0.0.1:5000/x not found: name unknown: repository name not known to registry"),
    ("toomanyrequests", 429, "Too Many Requests",
     _body(("TOOMANYREQUESTS", "You have reached your pull rate limit.", None)), (), HUB, True, Unavailable,
     "toomanyrequests: You have reached your pull rate limit."),
    ("500", 500, "Internal Server Error", b"oops", (), REF, True, Unavailable,
     "received unexpected HTTP status: 500 Internal Server Error"),
    ("503", 503, "Service Unavailable", b"", (), REF, True, Unavailable,
     "received unexpected HTTP status: 503 Service Unavailable"),
    ("unauthorized", 401, "Unauthorized", UNAUTHORIZED, (), REF, True, Unauthorized,
     "unauthorized: authentication required"),
    ("401-no-body", 401, "Unauthorized", b"", (), REF, True, Unauthorized,
     "unauthorized: authentication required"),
    ("invalid-token", 401, "Unauthorized", b"", (Challenge("bearer", {"error": "invalid_token"}),), REF, True,
     Unauthorized, "unauthorized: authentication required"),
    ("details-compat", 401, "Unauthorized", b'{"details":"incorrect username or password"}', (), None, False,
     Unauthorized, "unauthorized: incorrect username or password"),
    ("429-html", 429, "Too Many Requests", b"<html>slow down</html>", (), REF, True, Unavailable,
     'error parsing HTTP 429 response body: invalid character \'<\' looking for beginning of value: '
     '"<html>slow down</html>"'),
    ("404-empty-errors", 404, "Not Found", b'{"errors":[]}', (), REF, True, InvalidArgument,
     f'error parsing HTTP 404 response body: {NO_DETAILS}: "{{\\"errors\\":[]}}"'),
    ("unknown-code", 400, "Bad Request", _body(("WEIRD", "strange", None)), (), REF, True, SystemFailure,
     "unknown: strange"),
    ("manifest-invalid-push", 400, "Bad Request", _body(("MANIFEST_INVALID", "manifest invalid", {"x": 1})),
     (), REF, False, InvalidArgument, "manifest invalid: manifest invalid"),
    ("denied-push", 403, "Forbidden", _body(("DENIED", "requested access to the resource is denied", [])),
     (), REF, False, Unauthorized, "denied: requested access to the resource is denied"),
    ("two-errors", 400, "Bad Request", TWO_BLOBS, (), REF, False, NotFound,
     f"errors:\n{BLOB_UNKNOWN}\n{BLOB_UNKNOWN}\n"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("status", "reason", "body", "challenges", "ref", "pulling", "kind", "message"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_error_messages_are_dockers(
    status: int,
    reason: str,
    body: bytes,
    challenges: tuple[Challenge, ...],
    ref: Reference | None,
    pulling: bool,
    kind: type,
    message: str,
) -> None:
    error = error_from_response(
        status=status, reason=reason, body=body, challenges=challenges, ref=ref, pulling=pulling
    )
    assert isinstance(error, kind)
    assert str(error) == message
    assert getattr(error, "status", None) == status


def test_bare_code_when_the_message_is_the_default() -> None:
    assert str(DistributionError("DENIED", "requested access to the resource is denied")) == "denied"
    assert str(DistributionError("DENIED", "requested access to the resource is denied", True)) == (
        "denied: requested access to the resource is denied"
    )


def _chained(cause: BaseException) -> httpx.ConnectError:
    try:
        try:
            raise cause
        except BaseException as inner:
            raise httpx.ConnectError("failed") from inner
    except httpx.ConnectError as exc:
        return exc


TRANSPORT = [
    ("refused", ConnectionRefusedError(errno.ECONNREFUSED, "refused"), "http://127.0.0.1:1/v2/",
     'Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused'),
    ("no-host", socket.gaierror(-2, "Name or service not known"), "https://nosuch.invalid/v2/",
     'Get "https://nosuch.invalid/v2/": dial tcp: lookup nosuch.invalid: no such host'),
    ("unreachable", OSError(errno.ENETUNREACH, "unreachable"), "https://10.0.0.1/v2/",
     'Get "https://10.0.0.1/v2/": dial tcp 10.0.0.1:443: connect: network is unreachable'),
    ("http-to-https", ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"),
     "https://127.0.0.1:5000/v2/",
     'Get "https://127.0.0.1:5000/v2/": http: server gave HTTP response to HTTPS client'),
]  # fmt: skip


@pytest.mark.parametrize(
    ("cause", "url", "message"), [t[1:] for t in TRANSPORT], ids=[t[0] for t in TRANSPORT]
)
def test_transport_errors_read_like_go(cause: BaseException, url: str, message: str) -> None:
    if isinstance(cause, ssl.SSLError):
        cause.reason = "WRONG_VERSION_NUMBER"
    error = transport_error(_chained(cause), "GET", url)
    assert isinstance(error, Unavailable)
    assert str(error) == message


def test_tls_failures_are_not_retried() -> None:
    cause = ssl.SSLError(1, "wrong version")
    assert transport_error(_chained(cause), "GET", "https://h/v2/").retryable is False
    assert transport_error(
        _chained(ConnectionRefusedError(errno.ECONNREFUSED, "x")), "GET", "https://h/"
    ).retryable


def test_a_refused_ping_fails_at_once_with_dockers_message(config: RegistryConfig) -> None:
    attempts = []

    def refuse(request: httpx.Request) -> httpx.Response:
        attempts.append(str(request.url))
        raise _chained(ConnectionRefusedError(errno.ECONNREFUSED, "refused"))

    registry = FakeRegistry(faults=[refuse])
    slow = RegistryConfig(retry_backoff=30.0, certs_dir=config.certs_dir)  # a retry would hang the test
    with pytest.raises(Unavailable) as info:
        run(asyncio.wait_for(client_for(registry, slow).resolve(Reference.parse("127.0.0.1:1/x")), 10))
    assert (
        str(info.value) == 'Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused'
    )
    # HTTPS once, as dockerd tries an insecure registry, then plain HTTP once: nobody listens.
    assert attempts == ["https://127.0.0.1:1/v2/", "http://127.0.0.1:1/v2/"]


def _fail_twice(registry: FakeRegistry, path_end: str, fail: Callable[[], httpx.Response]) -> list[int]:
    """Make the first two requests whose path ends with ``path_end`` fail; returns the count left."""
    left = [2]

    def fault(request: httpx.Request) -> httpx.Response | None:
        if request.url.path.endswith(path_end) and left[0]:
            left[0] -= 1
            return fail()
        return None

    registry.faults.append(fault)
    return left


def _refused() -> httpx.Response:
    raise _chained(ConnectionRefusedError(errno.ECONNREFUSED, "refused"))


def test_a_ping_answered_503_is_retried(registry: FakeRegistry, config: RegistryConfig) -> None:
    image = Image(registry)
    left = _fail_twice(registry, "/v2/", lambda: httpx.Response(503, text="starting"))
    assert str(run(client_for(registry, config).resolve(image.ref)).digest) == image.manifest_digest
    assert left == [0]


def test_a_refused_manifest_request_is_retried(registry: FakeRegistry, config: RegistryConfig) -> None:
    # The ping answered, so something listens there: a refusal now is worth another try.
    image = Image(registry)
    left = _fail_twice(registry, "/manifests/latest", _refused)
    assert str(run(client_for(registry, config).resolve(image.ref)).digest) == image.manifest_digest
    assert left == [0]


def test_5xx_is_retried_then_reported(registry: FakeRegistry, config: RegistryConfig) -> None:
    image = Image(registry)
    failures = []

    def fail(request: httpx.Request) -> httpx.Response | None:
        if "/manifests/" in request.url.path:
            failures.append(1)
            return httpx.Response(500, text="boom")
        return None

    registry.faults.append(fail)
    with pytest.raises(Unavailable) as info:
        run(client_for(registry, config).resolve(image.ref))
    assert str(info.value) == "received unexpected HTTP status: 500 Internal Server Error"
    assert len(failures) == 1 + config.max_attempts  # one HEAD, then the GET and its retries


@pytest.mark.parametrize("status", [429, 502, 503])
def test_transient_statuses_are_retried_until_success(
    registry: FakeRegistry, config: RegistryConfig, status: int
) -> None:
    image = Image(registry)
    left = [2]

    def flaky(request: httpx.Request) -> httpx.Response | None:
        if "/manifests/" in request.url.path and left[0]:
            left[0] -= 1
            return httpx.Response(status, headers={"Retry-After": "0"}, json={"errors": []})
        return None

    registry.faults.append(flaky)
    desc = run(client_for(registry, config).resolve(image.ref))
    assert str(desc.digest) == image.manifest_digest


def test_429_with_registry_message_after_retries(registry: FakeRegistry, config: RegistryConfig) -> None:
    image = Image(registry)
    body = {"errors": [{"code": "TOOMANYREQUESTS", "message": "You have reached your pull rate limit."}]}
    registry.faults.append(
        lambda request: httpx.Response(429, json=body) if "/manifests/" in request.url.path else None
    )
    with pytest.raises(Unavailable) as info:
        run(client_for(registry, config).resolve(image.ref))
    assert str(info.value) == "toomanyrequests: You have reached your pull rate limit."


def test_redirect_loop_stops_after_ten(registry: FakeRegistry, config: RegistryConfig) -> None:
    image = Image(registry)

    def loop(request: httpx.Request) -> httpx.Response | None:
        if "/manifests/" in request.url.path:
            return httpx.Response(302, headers={"Location": request.url.path})
        return None

    registry.faults.append(loop)
    with pytest.raises(Unavailable, match="stopped after 10 redirects"):
        run(client_for(registry, config).resolve(image.ref))
    assert HOST in str(image.ref)
