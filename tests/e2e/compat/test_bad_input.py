"""Bad input on the raw Engine API: Docker's status and message, and a store left as it was.

The clients' side of issue #3's list is in ``tests/e2e/lab/test_bad_input.py``; here the same
cases (and the ones only an API client can make: malformed or unknown JSON, versions out of
range) are sent as bare HTTP requests, and every error body must fit ``ErrorResponse``. Expected
words are dockerd 20.10's, or moby's since 23.0 where the API level we claim (1.45) follows it:
``invalid JSON: ...`` with 400 (moby ``httputils.ReadJSON``), where 20.10 answered 500 with the
bare decoder error.
"""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator

import pytest

from tests.e2e.compat.schema import engine_api
from tests.support.daemon import DaemonHarness, HttpReply
from tests.support.evil_registry import open_evil_registry, refused_host
from tests.support.registry import FixtureRegistry, open_registry


def _store(daemon: DaemonHarness) -> tuple[object, object]:
    images = sorted(
        (row["Id"], sorted(row["RepoTags"] or [])) for row in daemon.request("GET", "/images/json").json()
    )
    containers = sorted(row["Id"] for row in daemon.request("GET", "/containers/json?all=1").json())
    return images, containers


@pytest.fixture
def daemon(compat_daemon: DaemonHarness) -> Iterator[DaemonHarness]:
    """The package's daemon; the store must be as it was when the test ends."""
    before = _store(compat_daemon)
    yield compat_daemon
    assert _store(compat_daemon) == before, "the store changed"


def _connect(daemon: DaemonHarness) -> http.client.HTTPConnection:
    connection = http.client.HTTPConnection("localhost", timeout=60)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(daemon.socket)
    connection.sock = sock
    return connection


def _raw(
    daemon: DaemonHarness,
    method: str,
    path: str,
    body: bytes | None = None,
    content_type: str = "application/json",
) -> HttpReply:
    """A request with a body sent as is (``DaemonHarness.request`` would encode it as JSON)."""
    connection = _connect(daemon)
    try:
        headers = {"Content-Type": content_type} if body is not None else {}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return HttpReply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def _error(reply: HttpReply, status: int, message: str | None = None) -> str:
    """Assert an error answer: ``status``, JSON fitting ``ErrorResponse``, and ``message`` if given."""
    assert reply.status == status, (reply.status, reply.body)
    assert reply.headers["content-type"].startswith("application/json"), reply.headers
    document = reply.json()
    engine_api("1.55").validate_definition(document, "ErrorResponse")
    if message is not None:
        assert document["message"] == message
    return str(document["message"])


class TestCreateBodies:
    def test_truncated_json_is_a_400(self, daemon: DaemonHarness) -> None:
        message = _error(_raw(daemon, "POST", "/v1.45/containers/create", b'{"Image": "alpine",'), 400)
        assert message.startswith("invalid JSON: ")

    def test_truncated_json_in_mobys_words(self, daemon: DaemonHarness) -> None:
        """moby decodes with json.Decoder, whose word for a body cut short is ``unexpected EOF``."""
        reply = _raw(daemon, "POST", "/v1.45/containers/create", b'{"Image": "alpine",')
        _error(reply, 400, "invalid JSON: unexpected EOF")

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            (b'{"Image": "alp', "unexpected EOF"),
            (b'{"Image" "alpine"}', "invalid character '\"' after object key"),
            (b'{"Image": "alpine" "Cmd": []}', "invalid character '\"' after object key:value pair"),
            (b'{"Image": alpine}', "invalid character 'a' looking for beginning of value"),
            (b'{"Cmd": [1 2]}', "invalid character '2' after array element"),
            (b'{"Tty": tru}', "invalid character '}' in literal true (expecting 'e')"),
        ],
    )
    def test_malformed_json_in_gos_words(self, daemon: DaemonHarness, body: bytes, message: str) -> None:
        _error(_raw(daemon, "POST", "/v1.45/containers/create", body), 400, f"invalid JSON: {message}")

    def test_an_empty_body(self, daemon: DaemonHarness) -> None:
        reply = _raw(daemon, "POST", "/v1.45/containers/create", b"")
        _error(reply, 400, "invalid JSON: got EOF while reading request body")

    @pytest.mark.parametrize("body", [b"[1, 2]", b'{"Image": "alpine", "Cmd": 5}', b'"alpine"'])
    def test_json_of_the_wrong_shape(self, daemon: DaemonHarness, body: bytes) -> None:
        message = _error(_raw(daemon, "POST", "/v1.45/containers/create", body), 400)
        assert message.startswith("invalid JSON: json: cannot unmarshal "), message

    def test_a_body_that_is_not_json(self, daemon: DaemonHarness) -> None:
        reply = _raw(daemon, "POST", "/v1.45/containers/create", b'{"Image": "alpine"}', "text/plain")
        _error(reply, 400, "Content-Type specified (text/plain) must be 'application/json'")

    def test_unknown_fields_are_ignored_as_dockerd_does(self, compat_daemon: DaemonHarness) -> None:
        body = b'{"Image": "alpine", "Cmd": ["true"], "DytBogus": 1, "HostConfig": {"DytBogus": {"x": 1}}}'
        reply = _raw(compat_daemon, "POST", "/v1.45/containers/create", body)
        assert reply.status == 201, reply.body
        cid = reply.json()["Id"]
        try:
            details = compat_daemon.request("GET", f"/containers/{cid}/json").json()
            assert "DytBogus" not in details["Config"]
            assert "DytBogus" not in details["HostConfig"]
            assert details["Config"]["Cmd"] == ["true"]
        finally:
            compat_daemon.request("DELETE", f"/containers/{cid}")


class TestVersions:
    def test_too_new(self, daemon: DaemonHarness) -> None:
        reply = daemon.request("GET", "/v1.99/version")
        _error(reply, 400, "client version 1.99 is too new. Maximum supported API version is 1.45")

    def test_too_old(self, daemon: DaemonHarness) -> None:
        reply = daemon.request("GET", "/v1.23/version")
        _error(
            reply,
            400,
            "client version 1.23 is too old. Minimum supported API version is 1.24, "
            "please upgrade your client to a newer version",
        )

    @pytest.mark.parametrize("version", ["1.24", "1.41", "1.45"])
    def test_in_range(self, daemon: DaemonHarness, version: str) -> None:
        reply = daemon.request("GET", f"/v{version}/version")
        assert reply.status == 200
        assert reply.headers["api-version"] == "1.45"


class TestObjects:
    def test_unknown_container(self, daemon: DaemonHarness) -> None:
        for method, path in [("GET", "/json"), ("DELETE", ""), ("POST", "/start"), ("POST", "/exec")]:
            body = {"Cmd": ["ls"]} if path == "/exec" else None
            reply = daemon.request(method, f"/v1.45/containers/dyt-nosuch{path}", body)
            _error(reply, 404, "No such container: dyt-nosuch")

    def test_unknown_image(self, daemon: DaemonHarness) -> None:
        _error(
            daemon.request("GET", "/v1.45/images/dyt/nosuch/json"), 404, "No such image: dyt/nosuch:latest"
        )
        reply = daemon.request("POST", "/v1.45/containers/create", {"Image": "dyt/nosuch"})
        _error(reply, 404, "No such image: dyt/nosuch:latest")

    def test_duplicate_name_and_running_container(self, daemon: DaemonHarness) -> None:
        created = daemon.request(
            "POST", "/v1.45/containers/create?name=dyt-twice", {"Image": "alpine", "Cmd": ["sleep", "60"]}
        )
        cid = created.json()["Id"]
        try:
            before = _store(daemon)
            again = daemon.request("POST", "/v1.45/containers/create?name=dyt-twice", {"Image": "alpine"})
            _error(
                again,
                409,
                f'Conflict. The container name "/dyt-twice" is already in use by container "{cid}". '
                "You have to remove (or rename) that container to be able to reuse that name.",
            )
            assert daemon.request("POST", f"/v1.45/containers/{cid}/start").status == 204
            _error(
                daemon.request("DELETE", f"/v1.45/containers/{cid}"),
                409,
                'cannot remove container "/dyt-twice": container is running: '
                "stop the container before removing or force remove",
            )
            assert _store(daemon) == before
        finally:
            daemon.request("DELETE", f"/v1.45/containers/{cid}?force=1")


class TestRefusedPulls:
    def test_manifest_unknown_is_a_404(
        self, daemon: DaemonHarness, registry_with_fixtures: FixtureRegistry
    ) -> None:
        ref = f"{registry_with_fixtures.host}/library/nosuch"
        reply = daemon.request("POST", f"/v1.45/images/create?fromImage={ref}&tag=latest")
        _error(reply, 404, f"manifest for {ref}:latest not found: manifest unknown: manifest unknown")

    def test_connection_refused_is_a_500(self, daemon: DaemonHarness) -> None:
        host = refused_host()
        reply = daemon.request("POST", f"/v1.45/images/create?fromImage={host}/library/alpine&tag=latest")
        _error(reply, 500, f'Get "http://{host}/v2/": dial tcp {host}: connect: connection refused')

    def test_missing_credentials_is_a_500(self, daemon: DaemonHarness) -> None:
        with open_registry(auth="htpasswd") as locked:
            ref = f"{locked.host}/library/alpine"
            reply = daemon.request("POST", f"/v1.45/images/create?fromImage={ref}&tag=latest")
        message = f'Head "http://{locked.host}/v2/library/alpine/manifests/latest": no basic auth credentials'
        _error(reply, 500, message)

    @pytest.mark.parametrize(
        ("repository", "message"),
        [
            ("status/429", "toomanyrequests: You have reached your pull rate limit."),
            ("status/500", "received unexpected HTTP status: 500 Internal Server Error"),
            ("nosuch/repo", "name unknown"),  # a bare NAME_UNKNOWN: moby does not translate it
        ],
    )
    def test_other_registry_failures_are_500s_at_once(
        self, daemon: DaemonHarness, repository: str, message: str
    ) -> None:
        """moby's TranslatePullError makes every refusal but "not found" errdefs.Unknown (500), and
        a manifest request is not retried: the registry sees one HEAD and one GET."""
        with open_evil_registry() as evil:
            reply = daemon.request(
                "POST", f"/v1.45/images/create?fromImage={evil.host}/{repository}&tag=latest"
            )
            manifests = [r.method for r in evil.requests if "/manifests/" in r.path]
        _error(reply, 500, message)
        assert manifests == ["HEAD", "GET"]

    def test_a_pull_leaves_the_connection_usable(
        self, daemon: DaemonHarness, registry_with_fixtures: FixtureRegistry
    ) -> None:
        """Clients reuse the connection after a pull (docker run: pull, then create on it)."""
        connection = _connect(daemon)
        try:
            ref = f"{registry_with_fixtures.host}/library/alpine"
            connection.request(
                "POST", f"/v1.45/images/create?fromImage={ref}&tag=latest", headers={"Content-Length": "0"}
            )
            pulled = connection.getresponse()
            assert pulled.status == 200
            pulled.read()
            connection.request("GET", "/_ping")
            ping = connection.getresponse()
            assert (ping.status, ping.read()) == (200, b"OK")
        finally:
            connection.close()
