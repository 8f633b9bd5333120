"""The registry room: the OCI distribution client (references, HTTP, auth). No disks.

It owns how images are named (:class:`Reference`) and how bytes are fetched from and pushed to
registries (``RegistryClient``, with ``AuthConfig`` credentials). It imports only ``oci``,
``util`` and ``errors``; the image room stores what it fetches. ``httpx`` is imported on the
first request, not with this door, so a daemon that never pulls never pays for it.
"""

from __future__ import annotations

from dockyard.registry.reference import DEFAULT_DOMAIN, DEFAULT_TAG, Reference

__all__ = ["DEFAULT_DOMAIN", "DEFAULT_TAG", "Reference"]
