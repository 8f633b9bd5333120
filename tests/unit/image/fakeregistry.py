"""An in-memory registry with behaviour, speaking the image room's ``Registry`` protocol.

It serves what tests put in it, and can misbehave the ways real registries and networks do:
serve altered bytes (as a client that did not verify would pass them on), cut a blob short,
drop the connection mid-blob, or trickle bytes slowly. It records every blob request (digest
and offset) and the highest number of blob streams open at once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from dockyard.errors import NotFound, Unavailable
from dockyard.oci.digest import Digest, DigestMismatch
from dockyard.oci.image_spec import Descriptor
from dockyard.registry import Reference
from tests.unit.image.tarfixtures import MANIFEST_TYPE, ImageBlobs, sha256

INDEX_TYPE = "application/vnd.oci.image.index.v1+json"


class FakeRegistry:
    def __init__(self, *, verify: bool = True, chunk: int = 65536, delay: float = 0.0) -> None:
        self.verify = verify
        self.chunk = chunk
        self.delay = delay
        self.tags: dict[str, dict[str, str]] = {}  # repo name -> tag -> digest
        self.documents: dict[str, tuple[str, bytes]] = {}  # digest -> (media type, bytes)
        self.blobs: dict[str, bytes] = {}
        self.served: dict[str, bytes] = {}  # digest -> bytes actually sent (tampering)
        self.drop_after: dict[str, int] = {}  # digest -> bytes sent before the connection drops
        self.requests: list[tuple[str, int]] = []
        self.open_streams = 0
        self.max_streams = 0

    # --- content -----------------------------------------------------------------------------
    def push(self, repo: str, tag: str, image: ImageBlobs) -> str:
        self.documents[image.manifest_digest] = (MANIFEST_TYPE, image.manifest)
        self.blobs.update(image.blobs())
        self.tags.setdefault(Reference.parse(repo).name(), {})[tag] = image.manifest_digest
        return image.manifest_digest

    def push_index(self, repo: str, tag: str, entries: list[tuple[ImageBlobs, str, str]]) -> str:
        manifests = []
        for image, os_name, arch in entries:
            self.documents[image.manifest_digest] = (MANIFEST_TYPE, image.manifest)
            self.blobs.update(image.blobs())
            manifests.append(
                {
                    "mediaType": MANIFEST_TYPE,
                    "digest": image.manifest_digest,
                    "size": len(image.manifest),
                    "platform": {"os": os_name, "architecture": arch},
                }
            )
        data = json.dumps({"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": manifests}).encode()
        self.documents[sha256(data)] = (INDEX_TYPE, data)
        self.tags.setdefault(Reference.parse(repo).name(), {})[tag] = sha256(data)
        return sha256(data)

    # --- the protocol ------------------------------------------------------------------------
    async def resolve(self, ref: Reference, *, auth: object = None) -> Descriptor:
        if ref.digest is not None:
            digest = str(ref.digest)
        else:
            digest = self.tags.get(ref.name(), {}).get(ref.tag or "latest", "")
        if digest not in self.documents:
            raise NotFound(
                f"manifest for {ref.familiar_string()} not found: manifest unknown: manifest unknown"
            )
        media_type, data = self.documents[digest]
        return Descriptor(media_type=media_type, digest=Digest.parse(digest), size=len(data))

    async def fetch_manifest(self, ref: Reference, desc: Descriptor, *, auth: object = None) -> bytes:
        _, data = self.documents[str(desc.digest)]
        if Digest.from_bytes(data) != desc.digest:
            raise DigestMismatch(desc.digest, Digest.from_bytes(data))
        return data

    async def fetch_blob(
        self, ref: Reference, desc: Descriptor, *, auth: object = None, offset: int = 0
    ) -> AsyncIterator[bytes]:
        key = str(desc.digest)
        self.requests.append((key, offset))
        if key not in self.blobs:
            raise NotFound(f"blob unknown: {key}")
        data = self.served.get(key, self.blobs[key])
        limit = self.drop_after.pop(key, None)
        self.open_streams += 1
        self.max_streams = max(self.max_streams, self.open_streams)
        try:
            position = offset
            while position < len(data) and position < desc.size:
                if limit is not None and position >= limit:
                    raise Unavailable(f"read tcp: connection reset by peer ({key})")
                end = min(position + self.chunk, len(data), desc.size)
                if limit is not None:
                    end = min(end, max(limit, position + 1))
                await asyncio.sleep(self.delay)
                yield data[position:end]
                position = end
            if self.verify and offset == 0 and Digest.from_bytes(data[: desc.size]) != desc.digest:
                raise DigestMismatch(desc.digest, Digest.from_bytes(data[: desc.size]))
        finally:
            self.open_streams -= 1

    async def list_tags(self, ref: Reference, *, auth: object = None) -> list[str]:
        return sorted(self.tags.get(ref.name(), {}))
