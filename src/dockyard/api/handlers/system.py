"""``/_ping``, ``/version``, ``/info``, ``/events``, and dockerd's answers for swarm and plugins.

Clients call ``/_ping`` first and read its headers: ``Api-Version`` to negotiate, ``Swarm`` and
``Builder-Version`` to pick features. It must stay cheap (the docker CLI pings before every
command), so it touches nothing but constants.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from dockyard.api.handlers.params import parse_timestamp
from dockyard.api.request import Request
from dockyard.api.response import Response, StreamResponse, encode_json
from dockyard.api.translate_system import event_message, info_document, version_document
from dockyard.engine import Engine
from dockyard.errors import Unavailable

__all__ = ["events", "info", "not_swarm_manager", "ping", "ping_head", "plugins", "version"]

_PING_HEADERS = [
    ("Builder-Version", "1"),
    ("Swarm", "inactive"),
    ("Cache-Control", "no-cache, no-store, must-revalidate"),
    ("Pragma", "no-cache"),
]

EVENTS_PRIME = 0.05
"""Seconds given to the events iterator to refuse bad filters before the headers go out."""


async def ping(request: Request, engine: Engine) -> Response:
    """GET /_ping: ``OK``, with the negotiation headers."""
    return Response(
        status=200, body=b"OK", content_type="text/plain; charset=utf-8", headers=list(_PING_HEADERS)
    )


async def ping_head(request: Request, engine: Engine) -> Response:
    """HEAD /_ping: the same headers, no body."""
    return Response(
        status=200, body=b"", content_type="text/plain; charset=utf-8", headers=list(_PING_HEADERS)
    )


async def version(request: Request, engine: Engine) -> Response:
    """GET /version."""
    return Response.json(version_document(engine.system.version()))


async def info(request: Request, engine: Engine) -> Response:
    """GET /info."""
    return Response.json(info_document(engine.system.info()))


async def events(request: Request, engine: Engine) -> StreamResponse:
    """GET /events: journal replay from ``since``, then live events until ``until`` or the client leaves."""
    since = parse_timestamp(request.query.get("since"), "since")
    until = parse_timestamp(request.query.get("until"), "until")
    filters = request.query.filters()
    subscription = engine.events.subscribe(since=since, until=until, filters=filters)

    async def messages() -> AsyncIterator[bytes]:
        async for event in subscription:
            yield encode_json(event_message(event))

    return StreamResponse(chunks=messages(), prime=EVENTS_PRIME, endless=until is None)


async def not_swarm_manager(request: Request, engine: Engine) -> Response:
    """Swarm endpoints (``/swarm``, ``/services``, ``/nodes``, ...): dockerd's 503 for a non-manager."""
    raise Unavailable(
        'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect '
        "this node to swarm and try again."
    )


async def plugins(request: Request, engine: Engine) -> Response:
    """GET /plugins: no managed plugins."""
    return Response.json([])
