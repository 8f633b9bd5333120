"""The request core of the registry client: ping, authorise, send, retry, translate.

One request, start to finish:

1. **Where** (``endpoints.sites_for``): docker.io's mirrors first for pulls (a mirror never sees
   credentials, and any failure there falls through), then the registry itself; plain-HTTP
   hosts are tried over HTTPS without verification first, then over HTTP, as dockerd does.
2. **Ping.** ``GET /v2/`` once per host tells which scheme works and how to authenticate (the
   ``WWW-Authenticate`` challenges of its 401). A ping that gets no answer at all (connection
   refused, no such host, a timeout) is not tried again: nothing listens there, and dockerd
   says so at once (``Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection
   refused``) instead of after a round of backoff. A 5xx or 429 answer is retried as usual.
3. **Authorise.** Basic credentials, or a bearer token for the scopes the operation needs
   (``repository:<path>:pull`` or ``pull,push``) from ``auth.TokenCache``. A 401 that asks for
   another scope, or calls the token invalid, gets one fresh token and one more try. With a
   Basic challenge and no credentials the request is not sent: Docker says ``no basic auth
   credentials``.
4. **Send** through ``transport.HttpSession``, retrying connection failures, and 5xx and 429
   unless the caller says otherwise (manifest requests do: dockerd fails them at once).
5. **Translate** a refusal into ``registry.errors``, in Docker's words. Only challenges from the
   registry's own origin count; a host we were redirected to cannot ask for credentials.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from collections.abc import AsyncIterator, Collection
from typing import TYPE_CHECKING

from dockyard.errors import DockyardError
from dockyard.oci import image_spec
from dockyard.registry.auth import (
    AuthConfig,
    Challenge,
    TokenCache,
    TokenRequest,
    TokenResponse,
    basic_authorization,
    lookup_docker_config,
    parse_challenges,
    parse_token_response,
)
from dockyard.registry.endpoints import Endpoint, RegistryConfig, Site, sites_for
from dockyard.registry.errors import RegistryAuthError, error_from_response
from dockyard.registry.reference import Reference
from dockyard.registry.transport import (
    RETRY_STATUSES,
    HttpSession,
    Reply,
    TransportError,
    origin_of,
    with_retries,
)

if TYPE_CHECKING:
    import httpx

__all__ = ["RegistrySession"]

log = logging.getLogger(__name__)

_ERROR_BODY_LIMIT = 64 * 1024


class RegistrySession:
    """Pings, credentials, tokens and retries for registry requests; the core of RegistryClient."""

    def __init__(self, config: RegistryConfig, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        """``transport`` replaces the network (tests pass an ``httpx.MockTransport``)."""
        self._config = config
        self._session = HttpSession(
            certs_dir=config.certs_dir,
            connect_timeout=config.connect_timeout,
            read_timeout=config.read_timeout,
            transport=transport,
        )
        self._tokens = TokenCache(self._fetch_token)
        self._endpoints: dict[Site, Endpoint] = {}
        self._ping_locks: dict[Site, asyncio.Lock] = {}

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self._session.aclose()

    # --- pings and credentials -----------------------------------------------------------------

    async def _endpoint(self, site: Site) -> Endpoint:
        """Ping ``site`` once (per client) to learn its scheme and challenges."""
        known = self._endpoints.get(site)
        if known is not None:
            return known
        async with self._ping_locks.setdefault(site, asyncio.Lock()):
            known = self._endpoints.get(site)
            if known is None:
                known = await self._ping(site)
                self._endpoints[site] = known
            return known

    async def _ping(self, site: Site) -> Endpoint:
        plain_ok = self._config.allows_plain_http(site.host)
        failure: TransportError | None = None
        for scheme in site.schemes:
            endpoint = Endpoint(f"{scheme}://{site.host}", verify_tls=not plain_ok)
            url = endpoint.url("/v2/")
            last = scheme == site.schemes[-1]
            try:
                reply = await self._send_retrying(
                    "GET", url, endpoint, None, attempts=None if last else 1, retry_transport=False
                )
            except TransportError as exc:
                failure = exc
                continue
            try:
                if reply.status == 401:
                    endpoint.challenges = parse_challenges(reply.header_list("www-authenticate"))
                elif reply.status >= 500:
                    body = await reply.read_prefix(_ERROR_BODY_LIMIT)
                    raise error_from_response(status=reply.status, reason=reply.reason, body=body)
            finally:
                await reply.aclose()
            return endpoint
        assert failure is not None
        raise failure

    def _credentials(self, domain: str, auth: AuthConfig | None) -> AuthConfig | None:
        if auth is not None and auth.has_credentials():
            return auth
        return lookup_docker_config(self._config.docker_config, domain)

    async def _authorization(
        self, endpoint: Endpoint, scopes: tuple[str, ...], creds: AuthConfig | None, method: str, url: str
    ) -> str | None:
        """The ``Authorization`` value ``endpoint``'s challenges call for, if any."""
        for challenge in endpoint.challenges:
            if challenge.scheme == "bearer" and challenge.params.get("realm"):
                return "Bearer " + await self._tokens.token(self._token_request(challenge, scopes, creds))
        for challenge in endpoint.challenges:
            if challenge.scheme == "basic":
                pair = creds.user_password() if creds else None
                if pair is None:
                    raise RegistryAuthError(f'{method.capitalize()} "{url}": no basic auth credentials')
                return basic_authorization(*pair)
        return None

    def _token_request(
        self, challenge: Challenge, scopes: tuple[str, ...], creds: AuthConfig | None
    ) -> TokenRequest:
        realm = challenge.params["realm"]
        parts = urllib.parse.urlsplit(realm)
        if parts.scheme == "http" and not self._config.allows_plain_http(parts.netloc):
            creds = None  # never send a password in clear text to a realm on the open network
        return TokenRequest(
            realm=realm, service=challenge.params.get("service"), scopes=scopes, credentials=creds
        )

    async def _fetch_token(self, request: TokenRequest) -> TokenResponse:
        """Ask a token realm (GET with Basic credentials, or POST with a refresh token)."""
        parts = urllib.parse.urlsplit(request.realm)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise RegistryAuthError(f"invalid token realm: {request.realm}")
        form = request.refresh_form()
        headers: dict[str, str] = {}
        authorization = None
        if form is not None:
            url, method = request.realm, "POST"
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            query = "&".join(filter(None, (parts.query, urllib.parse.urlencode(request.query()))))
            url, method = urllib.parse.urlunsplit(parts._replace(query=query)), "GET"
            pair = request.credentials.user_password() if request.credentials else None
            authorization = basic_authorization(*pair) if pair else None
        verify = not self._config.allows_plain_http(parts.netloc)
        endpoint = Endpoint(f"{parts.scheme}://{parts.netloc}", verify_tls=verify)
        reply = await self._send_retrying(method, url, endpoint, authorization, headers=headers, content=form)
        try:
            if reply.status != 200:
                body = await reply.read_prefix(_ERROR_BODY_LIMIT)
                raise error_from_response(status=reply.status, reason=reply.reason, body=body, pulling=False)
            return parse_token_response(await reply.read(image_spec.MAX_MANIFEST_SIZE))
        finally:
            await reply.aclose()

    # --- the request core ------------------------------------------------------------------------

    async def _send_retrying(
        self,
        method: str,
        url: str,
        endpoint: Endpoint,
        authorization: str | None,
        *,
        headers: dict[str, str] | None = None,
        content: bytes | AsyncIterator[bytes] | None = None,
        attempts: int | None = None,
        statuses: frozenset[int] = RETRY_STATUSES,
        retry_transport: bool = True,
    ) -> Reply:
        async def attempt() -> Reply:
            return await self._session.send(
                method,
                url,
                headers=headers,
                content=content,
                authorization=authorization,
                verify_tls=endpoint.verify_tls,
                allow_plain_http=self._config.allows_plain_http,
            )

        if isinstance(content, AsyncIterator):
            attempts = 1  # a streamed body cannot be sent twice
        count = attempts or self._config.max_attempts
        return await with_retries(
            attempt,
            attempts=count,
            backoff=self._config.retry_backoff,
            what=method,
            statuses=statuses,
            retry_transport=retry_transport,
        )

    async def call(
        self,
        ref: Reference,
        method: str,
        path: str,
        *,
        push: bool = False,
        auth: AuthConfig | None,
        ok: Collection[int],
        headers: dict[str, str] | None = None,
        content: bytes | AsyncIterator[bytes] | None = None,
        error_ref: Reference | None = None,
        extra_scopes: tuple[str, ...] = (),
        retry_statuses: frozenset[int] = RETRY_STATUSES,
    ) -> Reply:
        """Send one registry request for ``ref``'s repository; a reply whose status is in ``ok``.

        Mirrors are tried first for pulls; their failures fall through to the registry itself.
        Answers in ``retry_statuses`` are tried again (connection failures always are).

        Raises:
            DockyardError: the registry's answer, translated (``registry.errors``).
        """
        scopes = (f"repository:{ref.path}:{'pull,push' if push else 'pull'}", *extra_scopes)
        sites = sites_for(self._config, ref.domain, pulling=not push)
        for site in sites:
            try:
                return await self._call_site(
                    site,
                    ref,
                    method,
                    path,
                    scopes,
                    auth,
                    ok,
                    headers,
                    content,
                    error_ref,
                    push,
                    retry_statuses,
                )
            except DockyardError as exc:
                if not site.mirror:
                    raise
                log.info("registry mirror failed, trying the next mirror=%s error=%s", site.host, exc)
        raise AssertionError("unreachable: the last site is the registry itself")

    async def _call_site(
        self,
        site: Site,
        ref: Reference,
        method: str,
        path: str,
        scopes: tuple[str, ...],
        auth: AuthConfig | None,
        ok: Collection[int],
        headers: dict[str, str] | None,
        content: bytes | AsyncIterator[bytes] | None,
        error_ref: Reference | None,
        push: bool,
        retry_statuses: frozenset[int],
    ) -> Reply:
        endpoint = await self._endpoint(site)
        url = endpoint.url(path)
        same_origin = origin_of(url) == origin_of(endpoint.base)
        creds = None if site.mirror else self._credentials(ref.domain, auth)
        authorization = (
            await self._authorization(endpoint, scopes, creds, method, url) if same_origin else None
        )
        reply = await self._send_retrying(
            method, url, endpoint, authorization, headers=headers, content=content, statuses=retry_statuses
        )
        if reply.status == 401 and same_origin and origin_of(reply.url) == origin_of(url):
            fresh = await self._reauthorize(reply, endpoint, scopes, creds)
            if fresh is not None and fresh != authorization and not isinstance(content, AsyncIterator):
                await reply.aclose()
                reply = await self._send_retrying(
                    method, url, endpoint, fresh, headers=headers, content=content, statuses=retry_statuses
                )
        if reply.status in ok:
            return reply
        try:
            body = await reply.read_prefix(_ERROR_BODY_LIMIT)
        finally:
            await reply.aclose()
        # Only the registry's own challenges may speak for it (CVE-2020-15157).
        own = origin_of(reply.url) == origin_of(endpoint.base)
        challenges = parse_challenges(reply.header_list("www-authenticate")) if own else []
        raise error_from_response(
            status=reply.status,
            reason=reply.reason,
            body=body,
            challenges=challenges,
            ref=error_ref or ref,
            pulling=not push,
        )

    async def _reauthorize(
        self, reply: Reply, endpoint: Endpoint, scopes: tuple[str, ...], creds: AuthConfig | None
    ) -> str | None:
        """A new bearer token after a 401, for our scopes plus any the challenge names."""
        for challenge in parse_challenges(reply.header_list("www-authenticate")):
            if challenge.scheme != "bearer" or not challenge.params.get("realm"):
                continue
            if challenge.params.get("error") == "insufficient_scope" and not challenge.params.get("scope"):
                return None  # the same request for the same scopes would be refused again
            wanted = tuple(dict.fromkeys((*scopes, *challenge.params.get("scope", "").split())))
            request = self._token_request(challenge, tuple(s for s in wanted if s), creds)
            self._tokens.forget(request)
            if endpoint.challenges != [challenge]:
                endpoint.challenges = [challenge]
            return "Bearer " + await self._tokens.token(request)
        return None
