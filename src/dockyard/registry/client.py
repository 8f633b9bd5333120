"""RegistryClient: what the image room asks of a registry, with every byte checked.

The operations are the distribution spec's (``/v2/<name>/manifests/<ref>``, ``/blobs/<digest>``,
``/blobs/uploads/``, ``/tags/list``); ``session.RegistrySession`` does the pinging,
authorising, retrying and error translation around each request. What this module adds is
distrust of the answers:

- **Manifests** are read whole, at most 4 MiB (the descriptor's size when known), and must hash
  to the digest they were asked for. When a tag is resolved, the computed digest must also agree
  with the registry's ``Docker-Content-Digest`` header: a registry that announces one digest and
  serves other bytes is lying about one of them (moby ``TestPullFailsWithAlteredManifest``).
  ``resolve`` keeps the bytes it read, so the following ``fetch_manifest`` costs nothing.
- **Blobs** stream through an ``oci.digest.Verifier``. A ``Content-Length`` that disagrees with
  the descriptor is refused before the first byte, the stream never yields more than the
  descriptor's size, and the digest is checked after the last byte: the consumer sees
  ``DigestMismatch`` (naming the expected digest) instead of end-of-stream, so it can never
  commit a tampered, truncated or extended layer. A connection that breaks mid-blob is resumed
  with ``Range`` (a server that ignores it is skipped forward, already-hashed bytes unsent).
- **Foreign layers'** ``urls`` are never followed: every blob comes from the registry the image
  was named by (CVE-2020-15157).

Pushes verify what they send against the descriptor before committing the upload, so a
corrupt local blob is never published under a digest it does not have.
"""

from __future__ import annotations

import logging
import re
import urllib.parse
from collections import OrderedDict
from collections.abc import AsyncIterator

from dockyard.errors import InvalidArgument
from dockyard.oci import image_spec
from dockyard.oci.digest import Digest, DigestMismatch, Verifier
from dockyard.oci.image_spec import Descriptor
from dockyard.registry.auth import AuthConfig
from dockyard.registry.endpoints import HUB_REGISTRY, RegistryConfig
from dockyard.registry.errors import VerificationFailed
from dockyard.registry.reference import Reference
from dockyard.registry.session import RegistrySession
from dockyard.registry.transport import Reply, TransportError
from dockyard.util import jsoncodec

TYPE_CHECKING = False
if TYPE_CHECKING:
    import httpx

__all__ = ["ACCEPT_MANIFESTS", "HUB_REGISTRY", "RegistryClient", "RegistryConfig"]

log = logging.getLogger(__name__)

ACCEPT_MANIFESTS = ", ".join(
    (
        image_spec.OCI_INDEX,
        image_spec.DOCKER_LIST,
        image_spec.OCI_MANIFEST,
        image_spec.DOCKER_MANIFEST,
        # Asked for so that a schema 1 image is recognised and refused with Docker's message.
        image_spec.DOCKER_SCHEMA1_SIGNED,
    )
)
_UPLOAD_BUFFER = 4 * 1024 * 1024
_MANIFEST_CACHE = 64
_MAX_TAG_PAGES = 1000
_TAG = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
_NEXT_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="?next"?', re.IGNORECASE)
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class RegistryClient:
    """A client for OCI distribution registries; one per daemon, safe for concurrent use."""

    def __init__(self, config: RegistryConfig, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        """``transport`` replaces the network (tests pass an ``httpx.MockTransport``)."""
        self._config = config
        self._session = RegistrySession(config, transport=transport)
        self._manifests: OrderedDict[tuple[str, str, Digest], bytes] = OrderedDict()

    async def aclose(self) -> None:
        """Close pooled connections; the client must not be used afterwards."""
        await self._session.aclose()

    # --- manifests -------------------------------------------------------------------------------

    async def resolve(self, ref: Reference, *, auth: AuthConfig | None = None) -> Descriptor:
        """The manifest or index ``ref`` names (tag ``latest`` if it has neither tag nor digest).

        Raises:
            RegistryNotFound: no such manifest or repository, or pull access denied (Docker's
                "manifest for x:latest not found: manifest unknown: manifest unknown").
            RegistryAuthError, RegistryUnavailable: credentials refused; registry unreachable
                (connection failures are retried), overloaded or failing (429 and 5xx are not).
            VerificationFailed: the bytes do not hash to the requested or announced digest (a
                ``DigestMismatch``, in dockerd's words).
            InvalidArgument: oversized, or a schema 1 manifest (Docker's message).
        """
        ref = ref.with_default_tag()
        target = str(ref.digest) if ref.digest else str(ref.tag)
        # As distribution's client: HEAD first, and GET when the HEAD answer is an error (a HEAD
        # has no body to explain it) or lacks the digest, type or length.
        path = f"/v2/{ref.path}/manifests/{target}"
        head = await self._session.call(
            ref,
            "HEAD",
            path,
            auth=auth,
            ok=range(100, 600),
            headers={"Accept": ACCEPT_MANIFESTS},
            retry_statuses=frozenset(),  # the GET says what went wrong
        )
        await head.aclose()
        described = _described(head, ref) if 200 <= head.status < 300 else None
        if described is not None:
            return described
        reply = await self._get_manifest(ref, target, auth=auth, error_ref=ref)
        try:
            body = await reply.read(image_spec.MAX_MANIFEST_SIZE)
            announced = reply.header("docker-content-digest")
            content_type = reply.header("content-type")
        finally:
            await reply.aclose()
        digest = Digest.from_bytes(body, ref.digest.algorithm if ref.digest else "sha256")
        if ref.digest is not None and digest != ref.digest:
            raise VerificationFailed("manifest", ref.digest, digest)
        if announced:
            # dockerd 20.10 does not check a tag's manifest against the header; we refuse it, in
            # the words moby uses for a manifest pulled by digest.
            claimed = Digest.parse(announced.strip())
            if claimed.algorithm == digest.algorithm and claimed != digest:
                raise VerificationFailed("manifest", claimed, digest)
        media_type = _manifest_media_type(content_type, body)
        self._remember(ref, digest, body)
        return Descriptor(media_type=media_type, digest=digest, size=len(body))

    async def fetch_manifest(
        self, ref: Reference, desc: Descriptor, *, auth: AuthConfig | None = None
    ) -> bytes:
        """The exact bytes of the manifest or index ``desc`` describes, verified.

        Raises:
            InvalidArgument: ``desc.size`` is over 4 MiB.
            VerificationFailed: wrong length or wrong digest (``manifest verification failed for
                digest <digest>``).
            RegistryNotFound, RegistryAuthError, RegistryUnavailable: as for ``resolve``.
        """
        if desc.size > image_spec.MAX_MANIFEST_SIZE:
            raise InvalidArgument(f"manifest {desc.digest} is {desc.size} bytes, over the 4 MiB limit")
        cached = self._manifests.get((ref.domain, ref.path, desc.digest))
        if cached is not None and len(cached) == desc.size:
            return cached
        reply = await self._get_manifest(
            ref, str(desc.digest), auth=auth, error_ref=ref.with_digest(desc.digest)
        )
        verifier = Verifier(desc.digest, desc.size)
        body = bytearray()
        try:
            _check_length(reply, desc, 0)
            async for chunk in reply.chunks():
                verifier.update(chunk)
                body += chunk
            verifier.verify()
        except DigestMismatch as exc:
            raise VerificationFailed("manifest", desc.digest, exc.actual) from exc
        finally:
            await reply.aclose()
        self._remember(ref, desc.digest, bytes(body))
        return bytes(body)

    async def _get_manifest(
        self, ref: Reference, target: str, *, auth: AuthConfig | None, error_ref: Reference
    ) -> Reply:
        path = f"/v2/{ref.path}/manifests/{target}"
        headers = {"Accept": ACCEPT_MANIFESTS}
        # A 429 or 5xx on a manifest fails the pull at once, as in dockerd, whose distribution
        # client does not retry manifest requests (only layer downloads are retried, each with
        # "Retrying in N seconds"): a rate-limited user learns it now, not after a backoff.
        return await self._session.call(
            ref,
            "GET",
            path,
            auth=auth,
            ok={200},
            headers=headers,
            error_ref=error_ref,
            retry_statuses=frozenset(),
        )

    def _remember(self, ref: Reference, digest: Digest, body: bytes) -> None:
        self._manifests[(ref.domain, ref.path, digest)] = body
        while len(self._manifests) > _MANIFEST_CACHE:
            self._manifests.popitem(last=False)

    # --- blobs -----------------------------------------------------------------------------------

    async def fetch_blob(
        self,
        ref: Reference,
        desc: Descriptor,
        *,
        auth: AuthConfig | None = None,
        offset: int = 0,
        verifier: Verifier | None = None,
    ) -> AsyncIterator[bytes]:
        """Stream the blob ``desc`` describes from ``ref``'s repository, from ``offset`` on.

        The bytes are hashed as they pass; after the last one the digest and size are checked,
        and a mismatch is raised instead of the end of the stream. To resume at ``offset`` > 0
        pass a ``verifier`` already fed the first ``offset`` bytes; without one only the size
        can be checked here, and the caller must verify the digest itself.

        Raises:
            DigestMismatch: wrong ``Content-Length``, more bytes than declared, too few, or a
                digest that does not match (the message names the expected digest).
            RegistryNotFound, RegistryAuthError, RegistryUnavailable: as for ``resolve``;
                connection failures are retried and resumed first.
        """
        if not 0 <= offset <= desc.size:
            raise InvalidArgument(f"offset {offset} is outside blob {desc.digest} of {desc.size} bytes")
        if verifier is None and offset == 0:
            verifier = Verifier(desc.digest, desc.size)
        elif verifier is not None and verifier.count != offset:
            raise InvalidArgument(
                f"resuming blob {desc.digest} at {offset} with a verifier at {verifier.count}"
            )
        position, retries = offset, self._config.max_attempts - 1
        while position < desc.size or (position == 0 and desc.size == 0):
            try:
                async for chunk in self._blob_stream(ref, desc, position, auth, verifier):
                    position += len(chunk)
                    yield chunk
                break
            except TransportError as exc:
                if not exc.started or retries <= 0:
                    raise
                retries -= 1
                log.info(
                    "blob download broke, resuming digest=%s offset=%d error=%s", desc.digest, position, exc
                )
        if position != desc.size:
            raise DigestMismatch(desc.digest, detail=f"{position} bytes received, {desc.size} declared")
        if verifier is not None:
            verifier.verify()

    async def _blob_stream(
        self,
        ref: Reference,
        desc: Descriptor,
        position: int,
        auth: AuthConfig | None,
        verifier: Verifier | None,
    ) -> AsyncIterator[bytes]:
        """One GET of the blob from ``position``; the chunks it yields are checked and counted."""
        headers = {"Range": f"bytes={position}-"} if position else None
        reply = await self._session.call(
            ref, "GET", f"/v2/{ref.path}/blobs/{desc.digest}", auth=auth, ok={200, 206}, headers=headers
        )
        try:
            skip = _check_length(reply, desc, position)
            remaining = desc.size - position
            async for chunk in reply.chunks():
                if skip:
                    dropped, chunk = chunk[:skip], chunk[skip:]
                    skip -= len(dropped)
                if not chunk:
                    continue
                if len(chunk) > remaining:
                    raise DigestMismatch(desc.digest, detail=f"more than the {desc.size} bytes declared")
                remaining -= len(chunk)
                if verifier is not None:
                    verifier.update(chunk)
                yield chunk
        finally:
            await reply.aclose()

    # --- tags ------------------------------------------------------------------------------------

    async def list_tags(self, ref: Reference, *, auth: AuthConfig | None = None) -> list[str]:
        """Every tag of ``ref``'s repository, following ``Link`` pagination.

        Tags that are not valid tag syntax are dropped (and logged): they would become
        references later.

        Raises:
            RegistryNotFound, RegistryAuthError, RegistryUnavailable: as for ``resolve``.
            InvalidArgument: a page that is not ``{"tags": [...]}``.
        """
        tags: list[str] = []
        path: str | None = f"/v2/{ref.path}/tags/list"
        for _page in range(_MAX_TAG_PAGES):
            if path is None:
                return tags
            reply = await self._session.call(ref, "GET", path, auth=auth, ok={200})
            try:
                body = await reply.read(image_spec.MAX_MANIFEST_SIZE)
                path = _next_page(reply.header_list("link"), f"/v2/{ref.path}/tags/list")
            finally:
                await reply.aclose()
            tags += _tags_of(body)
        raise InvalidArgument(f"registry returned more than {_MAX_TAG_PAGES} pages of tags")

    # --- pushes ----------------------------------------------------------------------------------

    async def push_blob(
        self,
        ref: Reference,
        desc: Descriptor,
        chunks: AsyncIterator[bytes],
        *,
        auth: AuthConfig | None = None,
        mount_from: Reference | None = None,
    ) -> None:
        """Make the blob ``desc`` exist in ``ref``'s repository.

        Nothing is sent if the registry has it already; ``mount_from`` (a repository on the same
        registry) is tried next as a cross-repository mount; otherwise the bytes are uploaded,
        in one PUT if they fit in 4 MiB, else streamed in one PATCH and committed by PUT. The
        bytes are verified against ``desc`` before the upload is committed.

        Raises:
            DigestMismatch: ``chunks`` do not match ``desc`` (nothing is committed).
            RegistryAuthError, RegistryRequestError, RegistryUnavailable: the registry refused.
        """
        blob_path = f"/v2/{ref.path}/blobs/{desc.digest}"
        head = await self._session.call(ref, "HEAD", blob_path, push=True, auth=auth, ok={200, 404})
        await head.aclose()
        if head.status == 200:
            await _close(chunks)
            return
        location = await self._start_upload(ref, desc, auth, mount_from)
        if location is None:
            await _close(chunks)
            return
        verifier = Verifier(desc.digest, desc.size)
        first, rest = await _buffer(chunks, _UPLOAD_BUFFER)
        if rest is None:
            verifier.update(first)
            verifier.verify()
            await self._finish_upload(ref, location, desc, auth, content=first)
            return

        async def body() -> AsyncIterator[bytes]:
            verifier.update(first)
            yield first
            async for chunk in rest:
                verifier.update(chunk)
                yield chunk

        headers = {"Content-Type": "application/octet-stream"}
        reply = await self._session.call(
            ref, "PATCH", location, push=True, auth=auth, ok={202}, headers=headers, content=body()
        )
        await reply.aclose()
        verifier.verify()
        await self._finish_upload(ref, _location(reply), desc, auth, content=b"")

    async def _start_upload(
        self, ref: Reference, desc: Descriptor, auth: AuthConfig | None, mount_from: Reference | None
    ) -> str | None:
        """POST an upload session; None if a cross-repository mount already made the blob."""
        path = f"/v2/{ref.path}/blobs/uploads/"
        extra: tuple[str, ...] = ()
        if mount_from is not None and mount_from.domain == ref.domain and mount_from.path != ref.path:
            query = urllib.parse.urlencode({"mount": str(desc.digest), "from": mount_from.path})
            path, extra = f"{path}?{query}", (f"repository:{mount_from.path}:pull",)
        reply = await self._session.call(
            ref, "POST", path, push=True, auth=auth, ok={201, 202}, extra_scopes=extra
        )
        await reply.aclose()
        return None if reply.status == 201 else _location(reply)

    async def _finish_upload(
        self, ref: Reference, location: str, desc: Descriptor, auth: AuthConfig | None, *, content: bytes
    ) -> None:
        parts = urllib.parse.urlsplit(location)
        query = "&".join(filter(None, (parts.query, urllib.parse.urlencode({"digest": str(desc.digest)}))))
        url = urllib.parse.urlunsplit(parts._replace(query=query))
        headers = {"Content-Type": "application/octet-stream"}
        reply = await self._session.call(
            ref, "PUT", url, push=True, auth=auth, ok={201, 204}, headers=headers, content=content
        )
        await reply.aclose()

    async def push_manifest(
        self, ref: Reference, data: bytes, media_type: str, *, auth: AuthConfig | None = None
    ) -> Digest:
        """PUT a manifest or index under ``ref``'s tag (or digest); its digest is returned.

        Raises:
            InvalidArgument: ``ref`` has neither tag nor digest, or a digest ``data`` lacks.
            RegistryRequestError: the registry refused the manifest (for instance
                ``manifest blob unknown``), RegistryAuthError, RegistryUnavailable.
        """
        digest = Digest.from_bytes(data)
        if ref.digest is not None and ref.digest != digest:
            raise DigestMismatch(ref.digest, digest, detail="manifest to push")
        target = ref.tag or (str(ref.digest) if ref.digest else None)
        if target is None:
            raise InvalidArgument(f"push of {ref.familiar_string()} needs a tag or a digest")
        if any(c in media_type for c in "\r\n"):
            raise InvalidArgument("invalid media type")
        reply = await self._session.call(
            ref,
            "PUT",
            f"/v2/{ref.path}/manifests/{target}",
            push=True,
            auth=auth,
            ok={200, 201, 204},
            headers={"Content-Type": media_type},
            content=data,
        )
        await reply.aclose()
        return digest


# --- helpers ---------------------------------------------------------------------------------------


def _manifest_media_type(content_type: str | None, body: bytes) -> str:
    """The media type a manifest was served as; the body decides when the header is generic.

    Raises:
        InvalidArgument: a schema 1 manifest, or a body that is neither manifest nor index.
    """
    known = image_spec.MANIFEST_TYPES | image_spec.INDEX_TYPES
    header = (content_type or "").split(";", 1)[0].strip().lower()
    if header in (image_spec.DOCKER_SCHEMA1, image_spec.DOCKER_SCHEMA1_SIGNED):
        raise InvalidArgument(image_spec.SCHEMA1_REMOVED)
    if header in known:
        return header
    parsed = image_spec.parse_manifest_or_index(body, None)
    return parsed.media_type


def _described(head: Reply, ref: Reference) -> Descriptor | None:
    """The descriptor a HEAD answer gives, if it gives all of it (else None: GET instead).

    The digest is the registry's claim; ``fetch_manifest`` checks the bytes against it.

    Raises:
        InvalidArgument: a schema 1 manifest, an oversized one, or a malformed digest header.
        VerificationFailed: pinned by digest, and the registry names another.
    """
    announced, length = head.header("docker-content-digest"), head.content_length()
    media_type = (head.header("content-type") or "").split(";", 1)[0].strip().lower()
    if media_type in (image_spec.DOCKER_SCHEMA1, image_spec.DOCKER_SCHEMA1_SIGNED):
        raise InvalidArgument(image_spec.SCHEMA1_REMOVED)
    known = image_spec.MANIFEST_TYPES | image_spec.INDEX_TYPES
    if not announced or length is None or media_type not in known:
        return None
    if length > image_spec.MAX_MANIFEST_SIZE:
        raise InvalidArgument(f"manifest of {length} bytes is over the 4 MiB limit")
    digest = Digest.parse(announced.strip())
    if ref.digest is not None and digest != ref.digest:
        raise VerificationFailed("manifest", ref.digest, digest)  # the registry names another
    return Descriptor(media_type=media_type, digest=digest, size=length)


def _check_length(reply: Reply, desc: Descriptor, position: int) -> int:
    """Check the reply's framing against the descriptor; return how many bytes to skip.

    A 206 must start where we asked; a 200 to a ranged request means the server ignored the
    range and the first ``position`` bytes must be skipped.

    Raises:
        DigestMismatch: ``Content-Length`` or ``Content-Range`` disagree with ``desc.size``.
    """
    skip = position if reply.status == 200 else 0
    expected = desc.size - position + skip
    if reply.status == 206:
        match = _CONTENT_RANGE.fullmatch((reply.header("content-range") or "").strip())
        if match is None or int(match.group(1)) != position or int(match.group(2)) != desc.size - 1:
            raise DigestMismatch(desc.digest, detail=f"bad Content-Range {reply.header('content-range')!r}")
    length = reply.content_length()
    if length is not None and length != expected:
        raise DigestMismatch(desc.digest, detail=f"Content-Length {length}, descriptor size {desc.size}")
    return skip


def _location(reply: Reply) -> str:
    location = reply.header("location")
    if not location:
        raise InvalidArgument(f"registry answered {reply.status} to {reply.method} without a Location")
    return urllib.parse.urljoin(reply.url, location)


def _next_page(links: list[str], base_path: str) -> str | None:
    """The next page from a ``Link: <...>; rel="next"`` header, if it stays in the repository."""
    for link in links:
        match = _NEXT_LINK.search(link)
        if match is None:
            continue
        target = urllib.parse.urlsplit(match.group(1))
        if target.path != base_path:
            raise InvalidArgument(f"registry paginated tags to another path: {match.group(1)[:200]}")
        return f"{target.path}?{target.query}" if target.query else target.path
    return None


def _tags_of(body: bytes) -> list[str]:
    try:
        doc = jsoncodec.loads(body)
    except ValueError as exc:
        raise InvalidArgument(f"invalid tag list from registry: {exc}") from None
    tags = doc.get("tags") if isinstance(doc, dict) else []
    if tags is None:
        return []
    if not isinstance(tags, list):
        raise InvalidArgument("invalid tag list from registry: tags is not a list")
    valid = [t for t in tags if isinstance(t, str) and _TAG.fullmatch(t)]
    if len(valid) != len(tags):
        log.warning("registry listed %d invalid tags, ignored", len(tags) - len(valid))
    return valid


async def _buffer(chunks: AsyncIterator[bytes], limit: int) -> tuple[bytes, AsyncIterator[bytes] | None]:
    """Read up to ``limit`` bytes; return them and the rest of the iterator (None if it ended)."""
    buffered = bytearray()
    async for chunk in chunks:
        buffered += chunk
        if len(buffered) >= limit:
            return bytes(buffered), chunks
    return bytes(buffered), None


async def _close(chunks: AsyncIterator[bytes]) -> None:
    closer = getattr(chunks, "aclose", None)
    if closer is not None:
        await closer()
