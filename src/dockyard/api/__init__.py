"""The Docker Engine API over HTTP: server, routes, handlers, Docker's errors and quirks.

Reaches the machinery only through the engine's door (and the builder for /build). The daemon
uses :class:`ApiServer` with :func:`build_router`, and the listener helpers to create its
sockets with the right permissions; :data:`MAX_VERSION` is the API version we advertise.
"""

from __future__ import annotations

from dockyard.api.listeners import Endpoint, TlsFiles, bind_tcp, bind_unix, parse_host, tls_context
from dockyard.api.router import build_router
from dockyard.api.server import ApiServer, Limits
from dockyard.api.versions import MAX_VERSION, MIN_VERSION

__all__ = [
    "MAX_VERSION",
    "MIN_VERSION",
    "ApiServer",
    "Endpoint",
    "Limits",
    "TlsFiles",
    "bind_tcp",
    "bind_unix",
    "build_router",
    "parse_host",
    "tls_context",
]
