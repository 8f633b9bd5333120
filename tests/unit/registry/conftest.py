"""Fixtures for the registry room: a fake registry and a client wired to it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from dockyard.oci import image_spec
from dockyard.registry import Reference, RegistryClient, RegistryConfig
from tests.unit.registry.fakeregistry import HOST, FakeRegistry

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine to completion (the unit tier has no asyncio plugin)."""
    return asyncio.run(coro)


class Image:
    """A tiny image stored in a FakeRegistry: one config and two layers."""

    def __init__(self, registry: FakeRegistry, repo: str = "library/app", tag: str = "latest") -> None:
        self.repo = repo
        self.config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
        self.layers = [b"layer-one" * 1000, b"layer-two" * 3000]
        config_digest = registry.add_blob(repo, self.config)
        layer_digests = [registry.add_blob(repo, layer) for layer in self.layers]
        doc = {
            "schemaVersion": 2,
            "mediaType": image_spec.DOCKER_MANIFEST,
            "config": {
                "mediaType": image_spec.DOCKER_CONFIG,
                "digest": config_digest,
                "size": len(self.config),
            },
            "layers": [
                {"mediaType": image_spec.DOCKER_LAYER, "digest": d, "size": len(data)}
                for d, data in zip(layer_digests, self.layers, strict=True)
            ],
        }
        self.manifest = json.dumps(doc, indent=3).encode()
        self.manifest_digest = registry.add_manifest(repo, tag, self.manifest, image_spec.DOCKER_MANIFEST)
        self.ref = Reference.parse(f"{HOST}/{repo}:{tag}")

    def parsed(self) -> image_spec.Manifest:
        manifest = image_spec.parse_manifest_or_index(self.manifest, image_spec.DOCKER_MANIFEST)
        assert isinstance(manifest, image_spec.Manifest)
        return manifest


@pytest.fixture
def registry() -> FakeRegistry:
    return FakeRegistry()


@pytest.fixture
def config(tmp_path: Any) -> RegistryConfig:
    return RegistryConfig(retry_backoff=0.001, certs_dir=tmp_path / "certs.d")


def client_for(registry: FakeRegistry, config: RegistryConfig) -> RegistryClient:
    return RegistryClient(config, transport=registry.transport())
