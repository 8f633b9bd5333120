"""The registry room: the OCI distribution client (references, HTTP, auth). No disks.

It owns how images are named (:class:`Reference`) and how manifests and blobs are fetched from
and pushed to registries (:class:`RegistryClient`, configured by :class:`RegistryConfig`, with
per-call :class:`AuthConfig` credentials), every byte checked against its digest. It imports
only ``oci``, ``util`` and ``errors``; the image room stores what it fetches. ``httpx`` is
imported on the first request, not with this door, so a daemon that never pulls never pays for
it. Failures are the ``Registry*`` errors below, each of one dockyard kind, worded as Docker's.
"""

from __future__ import annotations

from dockyard.registry.auth import AuthConfig
from dockyard.registry.client import ACCEPT_MANIFESTS, RegistryClient
from dockyard.registry.endpoints import HUB_REGISTRY, RegistryConfig
from dockyard.registry.errors import (
    RegistryAuthError,
    RegistryFailure,
    RegistryNotFound,
    RegistryRequestError,
    RegistryUnavailable,
    VerificationFailed,
)
from dockyard.registry.reference import DEFAULT_DOMAIN, DEFAULT_TAG, Reference
from dockyard.registry.transport import TransportError

__all__ = [
    "ACCEPT_MANIFESTS",
    "DEFAULT_DOMAIN",
    "DEFAULT_TAG",
    "HUB_REGISTRY",
    "AuthConfig",
    "Reference",
    "RegistryAuthError",
    "RegistryClient",
    "RegistryConfig",
    "RegistryFailure",
    "RegistryNotFound",
    "RegistryRequestError",
    "RegistryUnavailable",
    "TransportError",
    "VerificationFailed",
]
