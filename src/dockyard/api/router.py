"""Every endpoint of the Engine API that dockyard answers, in one readable table.

Paths are written without the ``/vX.Y`` prefix, which the server strips and checks. Order
matters only among patterns: fixed paths always win over captures. Anything not listed answers
404 ``page not found``, as dockerd does for unknown paths; the swarm family answers dockerd's
503 "not a swarm manager" so docker-py and the CLI report it the way they would against a
standalone dockerd.
"""

from __future__ import annotations

from dockyard.api.handlers import containers, execs, images, system
from dockyard.api.routing import Body, Route, Router

__all__ = ["ROUTES", "build_router"]

ROUTES: tuple[Route, ...] = (
    # --- system -------------------------------------------------------------------------
    Route("GET", "/_ping", system.ping),
    Route("HEAD", "/_ping", system.ping_head),
    Route("GET", "/version", system.version),
    Route("GET", "/info", system.info),
    Route("GET", "/events", system.events),
    # --- containers ---------------------------------------------------------------------
    Route("POST", "/containers/create", containers.create),
    Route("GET", "/containers/json", containers.list_containers),
    Route("POST", "/containers/prune", containers.prune),
    Route("GET", "/containers/{id}/json", containers.inspect),
    Route("POST", "/containers/{id}/start", containers.start),
    Route("POST", "/containers/{id}/stop", containers.stop),
    Route("POST", "/containers/{id}/restart", containers.restart),
    Route("POST", "/containers/{id}/kill", containers.kill),
    Route("POST", "/containers/{id}/wait", containers.wait),
    Route("POST", "/containers/{id}/attach", containers.attach),
    Route("POST", "/containers/{id}/resize", containers.resize),
    Route("GET", "/containers/{id}/logs", containers.logs),
    Route("GET", "/containers/{id}/top", containers.top),
    Route("POST", "/containers/{id}/pause", containers.pause),
    Route("POST", "/containers/{id}/unpause", containers.unpause),
    Route("POST", "/containers/{id}/rename", containers.rename),
    Route("DELETE", "/containers/{id}", containers.remove),
    # --- exec ---------------------------------------------------------------------------
    Route("POST", "/containers/{id}/exec", execs.create),
    Route("POST", "/exec/{id}/start", execs.start),
    Route("GET", "/exec/{id}/json", execs.inspect),
    Route("POST", "/exec/{id}/resize", execs.resize),
    # --- images -------------------------------------------------------------------------
    Route("POST", "/images/create", images.create, Body.STREAMED),
    Route("GET", "/images/json", images.list_images),
    Route("GET", "/images/get", images.save),
    Route("POST", "/images/load", images.load, Body.STREAMED),
    Route("POST", "/images/prune", images.prune),
    Route("GET", "/images/{name*}/json", images.inspect),
    Route("GET", "/images/{name*}/history", images.history),
    Route("POST", "/images/{name*}/tag", images.tag),
    Route("POST", "/images/{name*}/push", images.push),
    Route("GET", "/images/{name*}/get", images.save_one),
    Route("DELETE", "/images/{name*}", images.remove),
    # --- not here: swarm and plugins, answered the way a standalone dockerd answers ------
    Route("GET", "/plugins", system.plugins),
    Route("GET", "/swarm", system.not_swarm_manager),
    Route("GET", "/services", system.not_swarm_manager),
    Route("GET", "/nodes", system.not_swarm_manager),
    Route("GET", "/tasks", system.not_swarm_manager),
    Route("GET", "/secrets", system.not_swarm_manager),
    Route("GET", "/configs", system.not_swarm_manager),
)


def build_router() -> Router:
    """The daemon's router over :data:`ROUTES`."""
    return Router(ROUTES)
