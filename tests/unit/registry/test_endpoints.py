"""Which registries may speak plain HTTP, and which hosts serve a domain."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidArgument
from dockyard.registry import RegistryConfig
from dockyard.registry.endpoints import Site, sites_for

INSECURE = RegistryConfig(insecure_registries=("10.1.0.0/16", "myregistry:5000", "plain.example"))

PLAIN_HTTP = [
    ("127.0.0.1:5000", True),
    ("127.8.9.1", True),
    ("[::1]:5000", True),
    ("localhost:5000", True),
    ("localhost", True),
    ("10.1.2.3:443", True),
    ("10.2.0.1", False),
    ("myregistry:5000", True),
    ("myregistry:5001", False),
    ("myregistry", False),
    ("plain.example", True),
    ("plain.example:8080", False),
    ("registry-1.docker.io", False),
    ("192.168.1.1:5000", False),
]


@pytest.mark.parametrize(("host", "allowed"), PLAIN_HTTP, ids=[p[0] for p in PLAIN_HTTP])
def test_allows_plain_http(host: str, allowed: bool) -> None:
    assert INSECURE.allows_plain_http(host) is allowed


def test_sites_for_hub_uses_mirrors_for_pulls_only() -> None:
    config = RegistryConfig(mirrors=("https://mirror.example", "http://10.0.0.5:5000/"))
    pulls = sites_for(config, "docker.io", pulling=True)
    assert pulls == [
        Site("mirror.example", ("https",), mirror=True),
        Site("10.0.0.5:5000", ("http",), mirror=True),
        Site("registry-1.docker.io", ("https",)),
    ]
    assert sites_for(config, "docker.io", pulling=False) == [Site("registry-1.docker.io", ("https",))]


def test_sites_for_other_registries() -> None:
    config = RegistryConfig(mirrors=("https://mirror.example",))
    assert sites_for(config, "127.0.0.1:5000", pulling=True) == [Site("127.0.0.1:5000", ("https", "http"))]
    assert sites_for(config, "gcr.io", pulling=True) == [Site("gcr.io", ("https",))]


def test_bad_mirror_is_invalid() -> None:
    with pytest.raises(InvalidArgument, match="invalid mirror"):
        sites_for(RegistryConfig(mirrors=("ftp://x",)), "docker.io", pulling=True)
