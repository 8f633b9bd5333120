"""Registry credentials and the token dance of the distribution auth spec.

Who may send what to whom is the whole point of this module:

1. **Credentials** come with the request (``X-Registry-Auth``: username and password, an
   ``identitytoken`` that is an OAuth2 refresh token, or a ``registrytoken`` used as the bearer
   token itself), or else from the ``auths`` of a docker ``config.json`` (base64
   ``user:password`` in ``auth``, or ``identitytoken``). Credential helpers (``credsStore``,
   ``credHelpers``) are *not* run: the daemon never executes programs named by a user's config.
2. **Challenges.** The registry answers ``GET /v2/`` with 401 and one ``WWW-Authenticate``
   challenge per header: ``Basic realm=...`` (send ``Authorization: Basic`` on every request) or
   ``Bearer realm=...,service=...`` (get a token from the realm for a scope such as
   ``repository:library/alpine:pull`` and send it as ``Authorization: Bearer``). Only challenges
   issued by the registry's own origin are honoured; one from a host we were redirected to, or
   from a foreign-layer URL, never sees credentials (CVE-2020-15157).
3. **Tokens** are cached per (realm, service, scopes, credentials) until shortly before they
   expire (``expires_in``, at least 60 s as the spec says), with one fetch in flight per key so
   ten concurrent layer downloads cost one token request.

The token request itself goes through a ``TokenFetcher`` seam (the HTTP session), so this module
does no I/O of its own except reading ``config.json``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dockyard.errors import InvalidArgument
from dockyard.registry.errors import RegistryAuthError
from dockyard.util import jsoncodec

__all__ = [
    "AuthConfig",
    "Challenge",
    "TokenCache",
    "TokenRequest",
    "TokenResponse",
    "basic_authorization",
    "lookup_docker_config",
    "parse_challenges",
    "parse_token_response",
]

log = logging.getLogger(__name__)

MIN_TOKEN_LIFETIME = 60.0
"""Seconds a token lives when the server says less or nothing (distribution's token spec)."""
_EXPIRY_MARGIN = 5.0
_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io")


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthConfig:
    """What ``X-Registry-Auth`` carries: credentials for one registry.

    ``repr`` hides the secrets, so an AuthConfig can appear in logs and tracebacks.
    """

    username: str | None = field(default=None)
    password: str | None = field(default=None, repr=False)
    auth: str | None = field(default=None, repr=False)
    server_address: str | None = None
    identity_token: str | None = field(default=None, repr=False)
    registry_token: str | None = field(default=None, repr=False)

    @classmethod
    def from_header(cls, value: str) -> AuthConfig | None:
        """Decode an ``X-Registry-Auth`` header (base64url JSON, padding optional).

        Field names match case-insensitively, as Go's JSON decoder matches them. Returns None
        for an empty header or one that carries no credential at all.

        Raises:
            InvalidArgument: the header is not base64 of a JSON object (moby's wording).
        """
        value = value.strip()
        if not value:
            return None
        try:
            raw = base64.b64decode(value.replace("-", "+").replace("_", "/") + "=" * (-len(value) % 4))
            doc = jsoncodec.loads(raw)
        except ValueError as exc:  # binascii.Error, JSONDecodeError and UnicodeDecodeError
            raise InvalidArgument(f"invalid X-Registry-Auth header: {exc}") from None
        if not isinstance(doc, dict):
            raise InvalidArgument("invalid X-Registry-Auth header: expected a JSON object")
        fields = {str(k).lower(): v for k, v in doc.items() if isinstance(v, str) and v}
        config = cls(
            username=fields.get("username"),
            password=fields.get("password"),
            auth=fields.get("auth"),
            server_address=fields.get("serveraddress"),
            identity_token=fields.get("identitytoken"),
            registry_token=fields.get("registrytoken"),
        )
        return config if config.has_credentials() else None

    def has_credentials(self) -> bool:
        """Whether anything here can authenticate."""
        return bool(self.username or self.password or self.auth or self.identity_token or self.registry_token)

    def user_password(self) -> tuple[str, str] | None:
        """The username and password, from the fields or from the base64 ``auth`` pair."""
        if self.username or self.password:
            return self.username or "", self.password or ""
        if self.auth:
            try:
                user, sep, password = base64.b64decode(self.auth).decode().partition(":")
            except ValueError:
                return None
            if sep:
                return user, password
        return None

    def fingerprint(self) -> str:
        """A digest of the secrets, to key token caches without keeping secrets in keys."""
        material = "\0".join(
            v or ""
            for v in (self.username, self.password, self.auth, self.identity_token, self.registry_token)
        )
        return hashlib.sha256(material.encode()).hexdigest()[:32]


# --- docker config.json --------------------------------------------------------------------


def _hostname_of(key: str) -> str:
    """Docker's ``ConvertToHostname``: ``https://host:5000/v1/`` -> ``host:5000``."""
    stripped = key.removeprefix("http://").removeprefix("https://")
    return stripped.split("/", 1)[0]


def lookup_docker_config(path: Path | None, domain: str) -> AuthConfig | None:
    """Credentials for ``domain`` from a docker ``config.json``, or None.

    Docker Hub's entries live under several historical keys; other registries are matched by
    host name after stripping scheme and path. Unreadable or malformed files yield None (logged):
    a broken config must not break an anonymous pull. Credential helpers are ignored.
    """
    if path is None:
        return None
    try:
        doc = jsoncodec.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("docker config unreadable path=%s error=%s", path, exc)
        return None
    auths = doc.get("auths") if isinstance(doc, dict) else None
    if not isinstance(auths, dict):
        return None
    wanted = _HUB_KEYS if domain == "docker.io" else (domain,)
    for key in wanted:
        for candidate, entry in auths.items():
            if isinstance(entry, dict) and (candidate == key or _hostname_of(candidate) == key):
                return _entry_config(entry)
    return None


def _entry_config(entry: Mapping[str, object]) -> AuthConfig | None:
    def text(name: str) -> str | None:
        value = entry.get(name)
        return value if isinstance(value, str) and value else None

    config = AuthConfig(
        username=text("username"),
        password=text("password"),
        auth=text("auth"),
        identity_token=text("identitytoken"),
        registry_token=text("registrytoken"),
    )
    return config if config.has_credentials() else None


# --- challenges ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Challenge:
    """One ``WWW-Authenticate`` challenge: a lower-case scheme and its parameters."""

    scheme: str
    params: Mapping[str, str]


def _parse_params(text: str) -> dict[str, str]:
    """``a="x, y",b=z`` -> {"a": "x, y", "b": "z"}; quoted-pairs unescaped (RFC 7230 3.2.6)."""
    params: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t,":
            i += 1
        start = i
        while i < n and text[i] not in "=, \t":
            i += 1
        key = text[start:i].lower()
        while i < n and text[i] in " \t":
            i += 1
        if i >= n or text[i] != "=" or not key:
            while i < n and text[i] != ",":  # a token68 or junk: skip to the next parameter
                i += 1
            continue
        i += 1
        if i < n and text[i] == "=":  # token68 padding ("abc=="), not a parameter
            while i < n and text[i] != ",":
                i += 1
            continue
        while i < n and text[i] in " \t":
            i += 1
        value_chars: list[str] = []
        if i < n and text[i] == '"':
            i += 1
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                value_chars.append(text[i])
                i += 1
            i += 1
        else:
            while i < n and text[i] not in ", \t":
                value_chars.append(text[i])
                i += 1
        params[key] = "".join(value_chars)
    return params


def parse_challenges(headers: list[str]) -> list[Challenge]:
    """Parse ``WWW-Authenticate`` header values, one challenge per value (as distribution)."""
    out = []
    for value in headers:
        scheme, _, rest = value.strip().partition(" ")
        if scheme:
            out.append(Challenge(scheme.lower(), _parse_params(rest)))
    return out


def basic_authorization(user: str, password: str) -> str:
    """The ``Authorization`` value for HTTP Basic (RFC 7617)."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


# --- tokens --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenRequest:
    """What to ask a token realm for; the HTTP session turns it into GET or POST."""

    realm: str
    service: str | None
    scopes: tuple[str, ...]
    credentials: AuthConfig | None

    def query(self) -> list[tuple[str, str]]:
        """Query parameters of the GET form (distribution's token spec)."""
        params = [("service", self.service)] if self.service else []
        params += [("scope", s) for s in self.scopes]
        pair = self.credentials.user_password() if self.credentials else None
        if pair and pair[0]:
            params.append(("account", pair[0]))
        return params

    def refresh_form(self) -> bytes | None:
        """The body of the OAuth2 refresh-token POST, when an identity token is the credential."""
        token = self.credentials.identity_token if self.credentials else None
        if not token:
            return None
        form = [("grant_type", "refresh_token"), ("refresh_token", token), ("client_id", "dockyard")]
        if self.service:
            form.append(("service", self.service))
        if self.scopes:
            form.append(("scope", " ".join(self.scopes)))
        return urllib.parse.urlencode(form).encode()


@dataclass(frozen=True, slots=True)
class TokenResponse:
    """A bearer token and how many seconds it is good for."""

    token: str
    expires_in: float


def parse_token_response(body: bytes) -> TokenResponse:
    """Parse a token endpoint's JSON (``token`` or ``access_token``, ``expires_in``).

    Raises:
        RegistryAuthError: not JSON, or no token in it.
    """
    try:
        doc = jsoncodec.loads(body)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise RegistryAuthError("unable to decode token response")
    token = doc.get("token") or doc.get("access_token")
    if not isinstance(token, str) or not token:
        raise RegistryAuthError("authorization server did not include a token in the response")
    expires = doc.get("expires_in")
    lifetime = float(expires) if isinstance(expires, int | float) and not isinstance(expires, bool) else 0.0
    return TokenResponse(token, max(lifetime, MIN_TOKEN_LIFETIME))


TokenFetcher = Callable[[TokenRequest], Awaitable[TokenResponse]]


class TokenCache:
    """Bearer tokens by (realm, service, scopes, credentials), refreshed before they expire."""

    def __init__(self, fetch: TokenFetcher, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self._clock = clock
        self._tokens: dict[tuple[str, ...], tuple[str, float]] = {}
        self._locks: dict[tuple[str, ...], asyncio.Lock] = {}

    @staticmethod
    def _key(request: TokenRequest) -> tuple[str, ...]:
        who = request.credentials.fingerprint() if request.credentials else "-"
        return (request.realm, request.service or "", who, *sorted(request.scopes))

    async def token(self, request: TokenRequest) -> str:
        """A valid token for ``request``, fetched at most once at a time per key.

        Raises:
            RegistryAuthError: the realm refused the credentials or answered garbage.
            RegistryUnavailable: the realm could not be reached.
        """
        if request.credentials is not None and request.credentials.registry_token:
            return request.credentials.registry_token
        key = self._key(request)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(key)
            if cached is not None and cached[1] > self._clock():
                return cached[0]
            response = await self._fetch(request)
            self._tokens[key] = (response.token, self._clock() + response.expires_in - _EXPIRY_MARGIN)
            return response.token

    def forget(self, request: TokenRequest) -> None:
        """Drop a token the registry refused (revoked, or scoped too narrowly)."""
        self._tokens.pop(self._key(request), None)
