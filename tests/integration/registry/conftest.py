"""Fixtures for the registry integration tests: the real registry, the evil one, a client."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from dockyard.registry import RegistryClient, RegistryConfig
from tests.support.evil_registry import EvilRegistry, open_evil_registry
from tests.support.registry import registry, registry_with_fixtures

__all__ = ["evil", "registry", "registry_with_fixtures", "run", "with_client"]

T = TypeVar("T")


@pytest.fixture(scope="module")
def evil() -> Iterator[EvilRegistry]:
    with open_evil_registry() as running:
        yield running


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def with_client(work: Any, *, config: RegistryConfig | None = None) -> Any:
    """Run ``work(client)`` with a fresh client (fast retries) and close the client afterwards."""

    async def go() -> Any:
        client = RegistryClient(config or RegistryConfig(retry_backoff=0.01))
        try:
            return await work(client)
        finally:
            await client.aclose()

    return asyncio.run(go())
