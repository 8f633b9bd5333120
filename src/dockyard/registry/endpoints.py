"""Where registries live: the daemon's registry settings, and a registry host as configured.

dockerd decides per host whether plain HTTP is allowed: loopback addresses and ``localhost``
always, ``--insecure-registry`` entries (``host[:port]`` exactly, or a CIDR containing the
host's address) too. Names are not resolved to check them against a CIDR: that would put a
blocking DNS lookup in the daemon's event loop, and a DNS answer is no reason to drop TLS.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from dockyard.errors import InvalidArgument
from dockyard.registry.auth import Challenge

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ipaddress import IPv4Address, IPv6Address

__all__ = ["HUB_REGISTRY", "Endpoint", "RegistryConfig", "Site", "sites_for"]

HUB_REGISTRY = "registry-1.docker.io"
"""Where ``docker.io`` is served."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistryConfig:
    """How the daemon reaches registries (dockerd's registry flags and defaults)."""

    insecure_registries: tuple[str, ...] = ()
    """``host[:port]`` or CIDR entries allowed plain HTTP (127.0.0.0/8 and ::1 always are)."""
    mirrors: tuple[str, ...] = ()
    """Mirror URLs for docker.io, tried in order before Docker Hub."""
    certs_dir: Path = Path("/etc/docker/certs.d")
    docker_config: Path | None = None
    """A docker ``config.json`` whose ``auths`` serve when a call brings no credentials."""
    max_attempts: int = 5
    retry_backoff: float = 0.5
    """Seconds before the first retry; doubled for each further one."""
    connect_timeout: float = 15.0
    read_timeout: float = 60.0

    def allows_plain_http(self, host: str) -> bool:
        """Whether ``host`` (``name[:port]``) may be reached over plain HTTP."""
        hostname, port = _split_host(host)
        if hostname == "localhost":
            return True
        address = _ip(hostname)
        if address is not None and address.is_loopback:
            return True
        for entry in self.insecure_registries:
            if "/" in entry:
                if address is not None and _in_network(address, entry):
                    return True
            elif entry in (host, hostname if port is None else None):
                return True
        return False


def _split_host(host: str) -> tuple[str, str | None]:
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        return name.lower(), rest[1:] if rest.startswith(":") else None
    name, sep, port = host.rpartition(":")
    return (name.lower(), port) if sep and port.isdigit() else (host.lower(), None)


def _ip(hostname: str) -> IPv4Address | IPv6Address | None:
    import ipaddress  # on the first registry call: an idle daemon does not pay for it

    try:
        return ipaddress.ip_address(hostname)
    except ValueError:
        return None


def _in_network(address: IPv4Address | IPv6Address, cidr: str) -> bool:
    import ipaddress

    try:
        return address in ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class Site:
    """A registry host as configured: its ``host[:port]``, the schemes to try, mirror or not."""

    host: str
    schemes: tuple[str, ...]
    mirror: bool = False


@dataclass(slots=True)
class Endpoint:
    """A site after its ping: the base URL that answered and the challenges it issued."""

    base: str
    verify_tls: bool
    challenges: list[Challenge] = field(default_factory=list)

    def url(self, path_or_url: str) -> str:
        return path_or_url if "://" in path_or_url else self.base + path_or_url


def sites_for(config: RegistryConfig, domain: str, *, pulling: bool) -> list[Site]:
    """The hosts to try for ``domain``, in order: docker.io's mirrors (pulls only), then itself."""
    sites = [_mirror_site(m) for m in config.mirrors] if domain == "docker.io" and pulling else []
    host = HUB_REGISTRY if domain == "docker.io" else domain
    schemes = ("https", "http") if config.allows_plain_http(host) else ("https",)
    return [*sites, Site(host, schemes)]


def _mirror_site(mirror: str) -> Site:
    parts = urllib.parse.urlsplit(mirror if "://" in mirror else f"https://{mirror}")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidArgument(f"invalid mirror: {mirror}")
    return Site(parts.netloc, (parts.scheme,), mirror=True)
