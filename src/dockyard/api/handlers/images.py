"""``/images/...``: pull and import, list, inspect, history, tag, remove, save, load, prune.

Pull, import and load answer JSON-message streams (``streams.py``). The status line waits for
the first message, so an error the engine finds before anything happened (a bad reference, the
registry's ``manifest unknown``) is an ordinary HTTP error that clients print as ``Error
response from daemon: ...``; later errors end the stream in-band, as dockerd does.

``load``'s closing lines are ``{"stream": "Loaded image: <ref>\\n"}``: docker-py's
``images.load()`` finds the loaded images by matching exactly that text, so progress events
without a layer id are rendered as ``stream`` lines.

Registry credentials arrive in ``X-Registry-Auth`` and go to the engine untouched; they are
never logged.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator

from dockyard.api import versions
from dockyard.api.request import Request
from dockyard.api.response import Response, StreamResponse, encode_json
from dockyard.api.streams import error_message, progress_message
from dockyard.api.translate_images import (
    delete_report,
    history_rows,
    image_document,
    image_summary,
    prune_report,
)
from dockyard.engine import Engine, Progress
from dockyard.errors import InvalidArgument, Unsupported

__all__ = [
    "create",
    "history",
    "inspect",
    "list_images",
    "load",
    "prune",
    "remove",
    "save",
    "save_one",
    "tag",
]

MEDIA_TAR = "application/x-tar"


async def _progress_lines(items: AsyncIterator[Progress]) -> AsyncIterator[bytes]:
    async for item in items:
        yield progress_message(item)


async def _load_lines(items: AsyncIterator[Progress]) -> AsyncIterator[bytes]:
    async for item in items:
        if item.id is None and item.current is None and item.total is None:
            yield encode_json({"stream": item.status + "\n"})
        else:
            yield progress_message(item)


def _progress_response(lines: AsyncIterator[bytes]) -> StreamResponse:
    return StreamResponse(chunks=lines, prime=math.inf, in_band_error=error_message)


async def create(request: Request, engine: Engine) -> StreamResponse:
    """POST /images/create?fromImage=&tag=&platform= (pull) or ?fromSrc=-&repo=&tag= (import)."""
    query = request.query
    platform = query.get("platform") or None
    from_image = query.get("fromImage")
    if from_image:
        progress = engine.images.pull(
            from_image=from_image,
            tag=query.get("tag"),
            platform=platform,
            registry_auth=request.header("x-registry-auth") or None,
        )
        return _progress_response(_progress_lines(progress))
    source = query.get("fromSrc")
    if not source:
        raise InvalidArgument("either fromImage or fromSrc must be given")
    if source != "-":
        raise Unsupported(
            f"importing from a URL is not supported ({source}): send the archive in the request body "
            "with fromSrc=-"
        )
    assert request.body_stream is not None  # /images/create is a streamed route
    progress = engine.images.import_image(
        request.body_stream,
        repo=query.get("repo"),
        tag=query.get("tag"),
        message=query.get("message"),
        changes=query.get_all("changes"),
        platform=platform,
    )
    return _progress_response(_progress_lines(progress))


async def list_images(request: Request, engine: Engine) -> Response:
    """GET /images/json?all=&filters=&digests=&shared-size= (and the pre-1.41 ``filter``)."""
    query = request.query
    filters = query.filters()
    legacy = query.get("filter")
    if legacy and request.version < (1, 41):
        filters.setdefault("reference", []).append(legacy)
    images = engine.images.list(
        all=query.flag("all"),
        filters=filters,
        digests=query.flag("digests"),
        shared_size=query.flag("shared-size") and versions.has_shared_size(request.version),
    )
    return Response.json([image_summary(image, request.version) for image in images])


async def inspect(request: Request, engine: Engine) -> Response:
    """GET /images/{name}/json"""
    return Response.json(image_document(engine.images.inspect(request.param("name")), request.version))


async def history(request: Request, engine: Engine) -> Response:
    """GET /images/{name}/history"""
    return Response.json(history_rows(engine.images.history(request.param("name"))))


async def tag(request: Request, engine: Engine) -> Response:
    """POST /images/{name}/tag?repo=&tag= (201, as dockerd answers)."""
    engine.images.tag(request.param("name"), repo=request.query.get("repo"), tag=request.query.get("tag"))
    return Response.empty(201)


async def remove(request: Request, engine: Engine) -> Response:
    """DELETE /images/{name}?force=&noprune="""
    actions = await engine.images.remove_image(
        request.param("name"), force=request.query.flag("force"), noprune=request.query.flag("noprune")
    )
    return Response.json(delete_report(actions))


async def push(request: Request, engine: Engine) -> StreamResponse:
    """POST /images/{name}/push?tag= (X-Registry-Auth): Docker's JSON progress stream."""
    progress = engine.images.push(
        request.param("name"),
        tag=request.query.get("tag"),
        registry_auth=request.header("x-registry-auth") or None,
    )
    return _progress_response(_progress_lines(progress))


def _tar_response(chunks: AsyncIterator[bytes]) -> StreamResponse:
    return StreamResponse(chunks=chunks, content_type=MEDIA_TAR, prime=math.inf)


async def save(request: Request, engine: Engine) -> StreamResponse:
    """GET /images/get?names=a&names=b: one docker-save archive of several images."""
    names = [n for n in request.query.get_all("names") if n]
    if not names:
        raise InvalidArgument("no images given: pass one or more names")
    return _tar_response(engine.images.save(names))


async def save_one(request: Request, engine: Engine) -> StreamResponse:
    """GET /images/{name}/get"""
    return _tar_response(engine.images.save([request.param("name")]))


async def load(request: Request, engine: Engine) -> StreamResponse:
    """POST /images/load?quiet= (quiet defaults to true, as in dockerd)."""
    assert request.body_stream is not None  # /images/load is a streamed route
    progress = engine.images.load(request.body_stream, quiet=request.query.flag("quiet", True))
    return _progress_response(_load_lines(progress))


async def prune(request: Request, engine: Engine) -> Response:
    """POST /images/prune?filters="""
    deleted, reclaimed = await engine.images.prune_images(filters=request.query.filters())
    return Response.json(prune_report(deleted, reclaimed))
