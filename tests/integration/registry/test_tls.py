"""TLS: per-registry CAs and client certificates from a certs.d directory, Go's words on failure."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.registry import RegistryClient, RegistryConfig, TransportError
from dockyard.registry.transport import HttpSession
from tests.support import oci_layouts
from tests.support.registry import RunningRegistry, TlsFiles, make_tls, open_registry, push_image


@pytest.fixture(scope="module")
def tls_registry() -> Iterator[tuple[RunningRegistry, TlsFiles, Path]]:
    with tempfile.TemporaryDirectory(prefix="dyt-tls-") as tmp:
        tls = make_tls(Path(tmp))
        with open_registry(tls=tls) as running:
            certs = tls.certs_dir(Path(tmp) / "certs.d", running.host)
            config = RegistryConfig(certs_dir=certs, retry_backoff=0.01)
            push_image(running, oci_layouts.fixture("busybox"), "library/busybox:latest", config=config)
            yield running, tls, certs


async def _ping(certs_dir: Path, host: str) -> int:
    session = HttpSession(certs_dir=certs_dir, connect_timeout=5, read_timeout=5)
    try:
        reply = await session.send("GET", f"https://{host}/v2/", verify_tls=True)
        await reply.aclose()
        return reply.status
    finally:
        await session.aclose()


def test_certs_d_ca_and_client_certificate(tls_registry: tuple[RunningRegistry, TlsFiles, Path]) -> None:
    running, _, certs = tls_registry
    assert asyncio.run(_ping(certs, running.host)) == 200


def test_unknown_authority_is_refused_in_gos_words(
    tls_registry: tuple[RunningRegistry, TlsFiles, Path], tmp_path: Path
) -> None:
    running, _, _ = tls_registry
    with pytest.raises(TransportError) as info:
        asyncio.run(_ping(tmp_path, running.host))
    assert str(info.value) == (
        f'Get "https://{running.host}/v2/": tls: failed to verify certificate: x509: '
        "certificate signed by unknown authority"
    )
    assert info.value.retryable is False


def test_client_pulls_over_https_from_a_loopback_registry(
    tls_registry: tuple[RunningRegistry, TlsFiles, Path],
) -> None:
    # A loopback registry is tried over HTTPS first (unverified, as dockerd treats insecure
    # registries) and still presents the client certificate from certs.d.
    running, _, certs = tls_registry

    async def pull() -> bytes:
        client = RegistryClient(RegistryConfig(certs_dir=certs, retry_backoff=0.01))
        try:
            ref = running.ref("library/busybox:latest")
            return await client.fetch_manifest(ref, await client.resolve(ref))
        finally:
            await client.aclose()

    assert asyncio.run(pull()) == oci_layouts.fixture("busybox").docker_manifest
