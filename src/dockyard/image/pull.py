"""The pull pipeline: resolve, manifest, platform, config, then layers downloaded and unpacked.

Docker's ``v2 puller`` in shape, with containerd's content discipline:

1. ``resolve`` the tag (or digest) to a descriptor and fetch the manifest or index; only then
   say ``Pulling from <repository>`` (so an unknown image or a refusing registry is an error
   before any progress, as in dockerd). For an index, pick the manifest for the wanted
   platform. Manifest bytes are verified by the client against their descriptor before they
   are parsed.
2. Fetch the config (or find it in the content store). If the image already exists with its top
   layer, nothing else is fetched: ``Status: Image is up to date``.
3. Layers: one whose chain ID is already unpacked says ``Already exists``. The others download
   at most ``concurrency`` (3, dockerd's default) at a time, each into an ingest of the content
   store; the rest say ``Waiting``. **Unpacking is pipelined with downloading**: layer *i* is
   applied in a worker thread while its bytes still arrive, reading the ingest's file as it
   grows, so download, decompression and unpacking overlap. Layers are applied in order, each
   into its own fresh directory.
4. A layer is committed only after (a) its blob's digest and size matched at ``Ingest.commit``
   (the reader sees the end of the stream only then) and (b) the diff ID of what was unpacked
   equals the config's ``rootfs.diff_ids`` entry. The image record, its tag and repo digest are
   written last, after every blob and layer is committed: a pull killed at any point leaves
   ingests and ``preparing`` snapshots, which nothing trusts.

"Downloaded newer image" means the tag (or digest) now points at an image it did not point at
before, as in dockerd; otherwise the status is "Image is up to date".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Protocol

from dockyard.errors import InvalidArgument
from dockyard.image.archive import ApplyOptions
from dockyard.image.content import ContentStore
from dockyard.image.pipeline import ROOTFS_MISMATCH, LayerPipeline
from dockyard.image.progress import Progress, ProgressChannel, run_with_progress
from dockyard.image.snapshots import Snapshotter, chain_ids
from dockyard.image.store import ImageRecord, ImageStore
from dockyard.oci.digest import DigestMismatch
from dockyard.oci.image_spec import (
    MAX_CONFIG_SIZE,
    Descriptor,
    ImageConfig,
    Index,
    Manifest,
    Platform,
    parse_image_config,
    parse_manifest_or_index,
    select_platform,
)
from dockyard.registry import Reference, VerificationFailed
from dockyard.util.locks import KeyedLocks

if TYPE_CHECKING:
    from dockyard.registry.auth import AuthConfig

__all__ = ["Puller", "Registry"]

log = logging.getLogger(__name__)


class Registry(Protocol):
    """What a pull needs from ``registry.RegistryClient`` (tests supply fakes with behaviour)."""

    async def resolve(self, ref: Reference, *, auth: AuthConfig | None = None) -> Descriptor: ...

    async def fetch_manifest(
        self, ref: Reference, desc: Descriptor, *, auth: AuthConfig | None = None
    ) -> bytes: ...

    def fetch_blob(
        self, ref: Reference, desc: Descriptor, *, auth: AuthConfig | None = None, offset: int = 0
    ) -> AsyncIterator[bytes]: ...

    async def list_tags(self, ref: Reference, *, auth: AuthConfig | None = None) -> list[str]: ...


class Puller:
    """Pulls images into the content store, the snapshotter and the image store."""

    def __init__(
        self,
        *,
        content: ContentStore,
        snapshots: Snapshotter,
        store: ImageStore,
        registry: Registry,
        apply_options: ApplyOptions | None = None,
        concurrency: int = 3,
        unpackers: int = 3,
        locks: KeyedLocks | None = None,
    ) -> None:
        """``locks`` must be shared by every puller of one store: it serialises work on one blob
        or one layer between concurrent pulls."""
        self._content = content
        self._snapshots = snapshots
        self._store = store
        self._registry = registry
        self._apply = apply_options or ApplyOptions()
        self._concurrency = concurrency
        self._unpackers = unpackers
        self._locks = locks or KeyedLocks()

    def pull(
        self, ref: Reference, *, platform: Platform | None = None, auth: AuthConfig | None = None
    ) -> AsyncIterator[Progress]:
        """Pull one tag or digest (a bare name means ``latest``), yielding Docker's progress.

        Raises (from the iterator):
            NotFound: the registry has no such image (Docker's "manifest for ... not found").
            SystemFailure: any other refusal or failure of the registry (credentials, 429, 5xx,
                unreachable), in Docker's words (``registry.errors``: dockerd answers 500).
            InvalidArgument: bad content (``VerificationFailed`` for a digest mismatch, wrong
                diff IDs, malformed documents).
        """
        named = ref.with_default_tag()

        async def work(channel: ProgressChannel) -> None:
            updated = await self._pull_one(channel, named, platform, auth)
            channel.emit(Progress(status=_status(updated, named.familiar_string())))

        return run_with_progress(work)

    def pull_all_tags(
        self, ref: Reference, *, platform: Platform | None = None, auth: AuthConfig | None = None
    ) -> AsyncIterator[Progress]:
        """Pull every tag of ``ref``'s repository (``docker pull -a``)."""
        repository = ref.repository()

        async def work(channel: ProgressChannel) -> None:
            updated = False
            for tag in await self._registry.list_tags(repository, auth=auth):
                updated |= await self._pull_one(channel, repository.with_tag(tag), platform, auth)
            channel.emit(Progress(status=_status(updated, repository.familiar_name())))

        return run_with_progress(work)

    # --- one reference ---------------------------------------------------------------------
    async def _pull_one(
        self, channel: ProgressChannel, ref: Reference, platform: Platform | None, auth: AuthConfig | None
    ) -> bool:
        label = ref.tag if ref.digest is None else str(ref.digest)
        target = await self._registry.resolve(ref, auth=auth)
        top = await self._registry.fetch_manifest(ref, target, auth=auth)
        # Only now, as moby's pullV2Tag: a registry that refuses (404, 401, 429, 5xx, nobody
        # listening) fails the pull before its first message, so the API answers with an HTTP
        # error and the CLI prints "Error response from daemon: ...".
        channel.emit(Progress(status=f"Pulling from {ref.path}", id=label))  # the path, as dockerd
        documents = [(target, top)]
        manifest, manifest_desc = await self._platform_manifest(ref, target, top, platform, auth, documents)
        config_bytes = await self._config(ref, manifest.config, auth)
        config = parse_image_config(config_bytes)
        if platform is not None and target is manifest_desc and not platform.matches(config.platform):
            raise InvalidArgument(
                f"image with reference {ref.familiar_string()} was found but does not match the specified "
                f"platform: wanted {platform}, actual: {config.platform}"
            )
        if len(config.diff_ids) != len(manifest.layers):
            raise InvalidArgument(ROOTFS_MISMATCH)
        image_id = str(manifest.config.digest)
        chains = chain_ids([str(d) for d in config.diff_ids])
        top_layer = chains[-1] if chains else None
        if not (self._store.exists(image_id) and (top_layer is None or self._snapshots.has_layer(top_layer))):
            pipeline = LayerPipeline(
                content=self._content,
                snapshots=self._snapshots,
                registry=self._registry,
                options=self._apply,
                locks=self._locks,
                downloads=self._concurrency,
                unpackers=self._unpackers,
            )
            await pipeline.run(channel, ref, list(manifest.layers), list(config.diff_ids), chains, auth)
        for desc, data in documents:
            await asyncio.to_thread(self._content.add, data, desc.digest)
        updated = self._record(ref, image_id, target, manifest_desc, config, chains)
        channel.emit(Progress(status=f"Digest: {target.digest}"))
        return updated

    async def _platform_manifest(
        self,
        ref: Reference,
        target: Descriptor,
        data: bytes,
        platform: Platform | None,
        auth: AuthConfig | None,
        documents: list[tuple[Descriptor, bytes]],
    ) -> tuple[Manifest, Descriptor]:
        document = parse_manifest_or_index(data, target.media_type)
        if isinstance(document, Manifest):
            return document, target
        chosen = select_platform(document, platform or Platform.host())
        data = await self._registry.fetch_manifest(ref, chosen, auth=auth)
        manifest = parse_manifest_or_index(data, chosen.media_type)
        if isinstance(manifest, Index):
            raise InvalidArgument(f"invalid manifest: {chosen.digest} is an index inside an index")
        documents.append((chosen, data))
        return manifest, chosen

    async def _config(self, ref: Reference, desc: Descriptor, auth: AuthConfig | None) -> bytes:
        if self._content.exists(desc.digest):
            return await asyncio.to_thread(self._content.read, desc.digest, limit=MAX_CONFIG_SIZE)
        if desc.size > MAX_CONFIG_SIZE:
            raise InvalidArgument(f"invalid image config: {desc.size} bytes is more than {MAX_CONFIG_SIZE}")
        buffer = bytearray()
        try:
            async for chunk in self._registry.fetch_blob(ref, desc, auth=auth):
                buffer += chunk
                if len(buffer) > desc.size:
                    raise DigestMismatch(desc.digest, detail=f"more than the {desc.size} bytes declared")
        except DigestMismatch as exc:  # moby's words for a config that is not what was asked for
            raise VerificationFailed("image config", desc.digest, exc.actual) from exc
        data = bytes(buffer)
        await asyncio.to_thread(self._content.add, data, desc.digest)
        return data

    def _record(
        self,
        ref: Reference,
        image_id: str,
        target: Descriptor,
        manifest: Descriptor,
        config: ImageConfig,
        chains: list[str],
    ) -> bool:
        size = sum(s.size for s in self._snapshots.chain(chains[-1])) if chains else 0
        self._store.add(
            ImageRecord(
                id=image_id,
                manifest_digest=str(manifest.digest),
                created=config.created or "",
                size=size,
                os=config.os,
                architecture=config.architecture,
                variant=config.variant or "",
                top_layer=chains[-1] if chains else None,
                labels=dict(config.config.labels),
            )
        )
        digest_ref = ref.repository().with_digest(target.digest)
        before = self._store.lookup_reference(ref if ref.digest is None else digest_ref)
        self._store.add_digest(image_id, digest_ref)
        if ref.digest is None:
            self._store.tag(image_id, ref)
        return before != image_id


def _status(updated: bool, name: str) -> str:
    if updated:
        return f"Status: Downloaded newer image for {name}"
    return f"Status: Image is up to date for {name}"
