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
from dockyard.registry import (
    Reference,
    RegistryAuthError,
    RegistryClient,
    RegistryConfig,
    RegistryFailure,
    RegistryNotFound,
    RegistryRequestError,
    RegistryUnavailable,
)
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
BARE_NAME_UNKNOWN = _body(("NAME_UNKNOWN", "repository name not known to registry", None))
UNAUTHORIZED = _body(("UNAUTHORIZED", "authentication required", [{"a": 1}]))
PULL_DENIED = "pull access denied for x, repository does not exist or may require 'docker login': "
BLOB_UNKNOWN = "blob unknown: blob unknown to registry"
TWO_BLOBS = _body(
    ("BLOB_UNKNOWN", "blob unknown to registry", "d1"), ("BLOB_UNKNOWN", "blob unknown to registry", "d2")
)
NO_DETAILS = "no error details found in HTTP response body"

CASES = [
    # id, status, reason, body, challenges, ref, pulling, kind, message
    ("manifest-unknown", 404, "Not Found", MANIFEST_UNKNOWN, (), REF, True, RegistryNotFound,
     "manifest for 127.0.0.1:5000/x:latest not found: manifest unknown: manifest unknown"),
    ("denied-hub", 401, "Unauthorized", _body(("UNAUTHORIZED", "authentication required", [])),
     (DENIED_CHALLENGE,), HUB, True, RegistryNotFound,
     PULL_DENIED + "denied: requested access to the resource is denied"),
    ("denied-body", 403, "Forbidden", _body(("DENIED", "requested access to the resource is denied", [])),
     (), HUB, True, RegistryNotFound, PULL_DENIED + "denied: requested access to the resource is denied"),
    ("name-unknown", 404, "Not Found", NAME_UNKNOWN, (), REF, True, RegistryNotFound,
     "repository 127.0.0.1:5000/x not found: name unknown: repository name not known to registry"),
    # A bare code (default message, no detail) is an errcode.ErrorCode, which moby's
    # TranslatePullError does not translate: dockerd says only the code, and answers 500.
    ("name-unknown-bare", 404, "Not Found", BARE_NAME_UNKNOWN, (), REF, True, RegistryFailure,
     "name unknown"),
    ("manifest-unknown-bare", 404, "Not Found", _body(("MANIFEST_UNKNOWN", "manifest unknown", None)),
     (), REF, True, RegistryFailure, "manifest unknown"),
    ("denied-bare", 403, "Forbidden", _body(("DENIED", "requested access to the resource is denied", None)),
     (), HUB, True, RegistryAuthError, "denied"),
    ("toomanyrequests", 429, "Too Many Requests",
     _body(("TOOMANYREQUESTS", "You have reached your pull rate limit.", None)), (), HUB, True,
     RegistryUnavailable, "toomanyrequests: You have reached your pull rate limit."),
    ("500", 500, "Internal Server Error", b"oops", (), REF, True, RegistryUnavailable,
     "received unexpected HTTP status: 500 Internal Server Error"),
    ("503", 503, "Service Unavailable", b"", (), REF, True, RegistryUnavailable,
     "received unexpected HTTP status: 503 Service Unavailable"),
    ("unauthorized", 401, "Unauthorized", UNAUTHORIZED, (), REF, True, RegistryAuthError,
     "unauthorized: authentication required"),
    ("401-no-body", 401, "Unauthorized", b"", (), REF, True, RegistryAuthError,
     "unauthorized: authentication required"),
    ("invalid-token", 401, "Unauthorized", b"", (Challenge("bearer", {"error": "invalid_token"}),), REF, True,
     RegistryAuthError, "unauthorized: authentication required"),
    ("details-compat", 401, "Unauthorized", b'{"details":"incorrect username or password"}', (), None, False,
     RegistryAuthError, "unauthorized: incorrect username or password"),
    ("429-html", 429, "Too Many Requests", b"<html>slow down</html>", (), REF, True, RegistryUnavailable,
     'error parsing HTTP 429 response body: invalid character \'<\' looking for beginning of value: '
     '"<html>slow down</html>"'),
    ("404-empty-errors-pull", 404, "Not Found", b'{"errors":[]}', (), REF, True, RegistryFailure,
     f'error parsing HTTP 404 response body: {NO_DETAILS}: "{{\\"errors\\":[]}}"'),
    ("404-empty-errors-push", 404, "Not Found", b'{"errors":[]}', (), REF, False, RegistryRequestError,
     f'error parsing HTTP 404 response body: {NO_DETAILS}: "{{\\"errors\\":[]}}"'),
    ("unknown-code", 400, "Bad Request", _body(("WEIRD", "strange", None)), (), REF, True, RegistryFailure,
     "unknown: strange"),
    ("name-invalid-pull", 400, "Bad Request", _body(("NAME_INVALID", "bad name", {"x": 1})), (), REF, True,
     RegistryFailure, "name invalid: bad name"),
    ("manifest-invalid-push", 400, "Bad Request", _body(("MANIFEST_INVALID", "manifest invalid", {"x": 1})),
     (), REF, False, RegistryRequestError, "manifest invalid: manifest invalid"),
    ("denied-push", 403, "Forbidden", _body(("DENIED", "requested access to the resource is denied", [])),
     (), REF, False, RegistryAuthError, "denied: requested access to the resource is denied"),
    ("two-errors", 400, "Bad Request", TWO_BLOBS, (), REF, False, RegistryNotFound,
     f"errors:\n{BLOB_UNKNOWN}\n{BLOB_UNKNOWN}\n"),
]  # fmt: skip

# What each kind answers over the API (api/errors.py maps kinds): a pull is 404 or 500.
STATUS_KIND = {
    RegistryNotFound: NotFound,
    RegistryFailure: SystemFailure,
    RegistryAuthError: SystemFailure,
    RegistryUnavailable: SystemFailure,
    RegistryRequestError: InvalidArgument,
}


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
    assert type(error) is kind
    assert isinstance(error, STATUS_KIND[kind])
    assert not isinstance(error, Unauthorized | Unavailable)  # 401 and 503 are the daemon's own
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
    assert isinstance(error, RegistryUnavailable)
    assert isinstance(error, SystemFailure)  # dockerd answers a pull that cannot connect with 500
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
    with pytest.raises(RegistryUnavailable) as info:
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


def _count_failures(registry: FakeRegistry, part: str, answer: Callable[[], httpx.Response]) -> list[str]:
    """Answer every request whose path contains ``part`` with ``answer()``; returns their methods."""
    failures: list[str] = []

    def fail(request: httpx.Request) -> httpx.Response | None:
        if part in request.url.path:
            failures.append(request.method)
            return answer()
        return None

    registry.faults.append(fail)
    return failures


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_on_a_manifest_fails_at_once(registry: FakeRegistry, config: RegistryConfig, status: int) -> None:
    """dockerd does not retry manifest requests: a failing registry is reported at once."""
    image = Image(registry)
    failures = _count_failures(registry, "/manifests/", lambda: httpx.Response(status, text="boom"))
    with pytest.raises(RegistryUnavailable) as info:
        run(client_for(registry, config).resolve(image.ref))
    assert str(info.value).startswith(f"received unexpected HTTP status: {status} ")
    assert failures == ["HEAD", "GET"]  # the GET only asks why the HEAD failed


def test_429_on_a_manifest_fails_at_once_in_the_registrys_words(
    registry: FakeRegistry, config: RegistryConfig
) -> None:
    image = Image(registry)
    body = {"errors": [{"code": "TOOMANYREQUESTS", "message": "You have reached your pull rate limit."}]}
    failures = _count_failures(registry, "/manifests/", lambda: httpx.Response(429, json=body))
    with pytest.raises(RegistryUnavailable) as info:
        run(client_for(registry, config).resolve(image.ref))
    assert str(info.value) == "toomanyrequests: You have reached your pull rate limit."
    assert failures == ["HEAD", "GET"]


async def _read_blob(client: RegistryClient, image: Image, index: int) -> bytes:
    desc = image.parsed().layers[index]
    return b"".join([chunk async for chunk in client.fetch_blob(image.ref, desc)])


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_transient_statuses_on_a_blob_are_retried_until_success(
    registry: FakeRegistry, config: RegistryConfig, status: int
) -> None:
    image = Image(registry)
    blob = str(image.parsed().layers[1].digest)
    left = _fail_twice(
        registry, blob, lambda: httpx.Response(status, headers={"Retry-After": "0"}, json={"errors": []})
    )
    assert run(_read_blob(client_for(registry, config), image, 1)) == image.layers[1]
    assert left == [0]


def test_a_blob_that_keeps_failing_is_reported_after_its_retries(
    registry: FakeRegistry, config: RegistryConfig
) -> None:
    image = Image(registry)
    failures = _count_failures(registry, "/blobs/", lambda: httpx.Response(503, text="busy"))
    with pytest.raises(
        RegistryUnavailable, match=r"^received unexpected HTTP status: 503 Service Unavailable$"
    ):
        run(_read_blob(client_for(registry, config), image, 0))
    assert len(failures) == config.max_attempts


def test_redirect_loop_stops_after_ten(registry: FakeRegistry, config: RegistryConfig) -> None:
    image = Image(registry)

    def loop(request: httpx.Request) -> httpx.Response | None:
        if "/manifests/" in request.url.path:
            return httpx.Response(302, headers={"Location": request.url.path})
        return None

    registry.faults.append(loop)
    with pytest.raises(RegistryUnavailable, match="stopped after 10 redirects"):
        run(client_for(registry, config).resolve(image.ref))
    assert HOST in str(image.ref)
