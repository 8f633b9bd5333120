"""Credentials and challenges: X-Registry-Auth, WWW-Authenticate, config.json, the token cache."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument, SystemFailure
from dockyard.registry import AuthConfig, RegistryAuthError
from dockyard.registry.auth import (
    Challenge,
    TokenCache,
    TokenRequest,
    TokenResponse,
    lookup_docker_config,
    parse_challenges,
    parse_token_response,
)


def _header(doc: object, *, pad: bool = False) -> str:
    encoded = base64.urlsafe_b64encode(json.dumps(doc).encode()).decode()
    return encoded if pad else encoded.rstrip("=")


def test_x_registry_auth_decodes_docker_py_and_cli_forms() -> None:
    doc = {"username": "u", "password": "p?>", "serveraddress": "127.0.0.1:5000", "email": ""}
    for value in (_header(doc), _header(doc, pad=True)):
        config = AuthConfig.from_header(value)
        assert config is not None
        assert (config.username, config.password, config.server_address) == ("u", "p?>", "127.0.0.1:5000")


def test_x_registry_auth_matches_field_names_case_insensitively() -> None:
    config = AuthConfig.from_header(_header({"IdentityToken": "tok", "RegistryToken": "bearer"}))
    assert config is not None
    assert (config.identity_token, config.registry_token) == ("tok", "bearer")


@pytest.mark.parametrize("value", ["", "   ", _header({}), _header({"serveraddress": "x"})])
def test_x_registry_auth_without_credentials_is_none(value: str) -> None:
    assert AuthConfig.from_header(value) is None


@pytest.mark.parametrize("value", ["!!!", _header([1, 2]), base64.b64encode(b"\xff\xfe").decode()])
def test_x_registry_auth_garbage_is_invalid(value: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid X-Registry-Auth header"):
        AuthConfig.from_header(value)


def test_auth_field_is_a_base64_pair_and_secrets_stay_out_of_repr() -> None:
    config = AuthConfig(auth=base64.b64encode(b"bob:pa:ss").decode())
    assert config.user_password() == ("bob", "pa:ss")
    assert "pa:ss" not in repr(AuthConfig(username="bob", password="pa:ss"))
    assert AuthConfig(auth="not base64!").user_password() is None


CHALLENGES = [
    ('Bearer realm="https://auth.docker.io/token",service="registry.docker.io"',
     Challenge("bearer", {"realm": "https://auth.docker.io/token", "service": "registry.docker.io"})),
    ('Basic realm="basic-realm"', Challenge("basic", {"realm": "basic-realm"})),
    ('bearer realm="r", scope="repository:a/b:pull,push", error="insufficient_scope"',
     Challenge("bearer", {"realm": "r", "scope": "repository:a/b:pull,push", "error": "insufficient_scope"})),
    ('Bearer realm=unquoted,Service="s"', Challenge("bearer", {"realm": "unquoted", "service": "s"})),
    (r'Bearer realm="a\"b"', Challenge("bearer", {"realm": 'a"b'})),
    ("Negotiate abc==", Challenge("negotiate", {})),
]  # fmt: skip


@pytest.mark.parametrize(
    ("header", "expected"), CHALLENGES, ids=[c[1].scheme + str(i) for i, c in enumerate(CHALLENGES)]
)
def test_parse_challenges(header: str, expected: Challenge) -> None:
    assert parse_challenges([header]) == [expected]


def test_docker_config_lookup(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    pair = base64.b64encode(b"hub:pw").decode()
    path.write_text(
        json.dumps(
            {
                "auths": {
                    "https://index.docker.io/v1/": {"auth": pair},
                    "http://127.0.0.1:5000/v2/": {"identitytoken": "tok"},
                    "empty.example": {},
                },
                "credHelpers": {"gcr.io": "gcloud"},
            }
        )
    )
    hub = lookup_docker_config(path, "docker.io")
    assert hub is not None
    assert hub.user_password() == ("hub", "pw")
    local = lookup_docker_config(path, "127.0.0.1:5000")
    assert local is not None
    assert local.identity_token == "tok"
    assert lookup_docker_config(path, "empty.example") is None
    assert lookup_docker_config(path, "gcr.io") is None  # helpers are never run
    assert lookup_docker_config(tmp_path / "missing.json", "docker.io") is None
    (tmp_path / "bad.json").write_text("{")
    assert lookup_docker_config(tmp_path / "bad.json", "docker.io") is None


def test_token_response_forms() -> None:
    assert parse_token_response(b'{"token":"a","expires_in":300}') == TokenResponse("a", 300.0)
    assert parse_token_response(b'{"access_token":"b"}') == TokenResponse("b", 60.0)
    with pytest.raises(RegistryAuthError, match="unable to decode token response") as caught:
        parse_token_response(b"<html>")
    assert isinstance(caught.value, SystemFailure)  # the registry refused, not the daemon: 500
    with pytest.raises(RegistryAuthError, match="did not include a token"):
        parse_token_response(b"{}")


def test_token_request_query_and_refresh_form() -> None:
    request = TokenRequest(
        realm="https://a/t",
        service="svc",
        scopes=("repository:x:pull",),
        credentials=AuthConfig(username="u"),
    )
    assert request.query() == [("service", "svc"), ("scope", "repository:x:pull"), ("account", "u")]
    assert request.refresh_form() is None
    refresh = TokenRequest(
        realm="r", service=None, scopes=("s1", "s2"), credentials=AuthConfig(identity_token="t")
    )
    assert (
        refresh.refresh_form() == b"grant_type=refresh_token&refresh_token=t&client_id=dockyard&scope=s1+s2"
    )


class _Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_cache_fetches_once_per_key_until_expiry() -> None:
    clock = _Clock()
    calls: list[TokenRequest] = []

    async def fetch(request: TokenRequest) -> TokenResponse:
        calls.append(request)
        await asyncio.sleep(0)
        return TokenResponse(f"t{len(calls)}", 60.0)

    cache = TokenCache(fetch, clock=clock)
    alice = TokenRequest(realm="r", service="s", scopes=("a",), credentials=AuthConfig(username="alice"))
    bob = TokenRequest(realm="r", service="s", scopes=("a",), credentials=AuthConfig(username="bob"))

    async def go() -> list[str]:
        first = await asyncio.gather(*(cache.token(alice) for _ in range(5)))
        other = await cache.token(bob)
        clock.now += 100
        renewed = await cache.token(alice)
        return [*first, other, renewed]

    assert asyncio.run(go()) == ["t1"] * 5 + ["t2", "t3"]
    assert len(calls) == 3


def test_token_cache_uses_a_registry_token_as_is() -> None:
    async def fetch(request: TokenRequest) -> TokenResponse:
        raise AssertionError("no token server for a registry token")

    cache = TokenCache(fetch)
    request = TokenRequest(realm="r", service=None, scopes=(), credentials=AuthConfig(registry_token="given"))
    assert asyncio.run(cache.token(request)) == "given"
