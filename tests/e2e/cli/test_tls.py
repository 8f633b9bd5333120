"""dockyard over TCP with TLS (docker's --tlsverify and DOCKER_* variables), against a fake engine.

Root tier because it opens TCP sockets on 127.0.0.1 and runs openssl; no daemon is needed.
"""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Iterator

import pytest

from tests.e2e.cli.conftest import DOCKYARD
from tests.support.registry import TlsFiles, make_tls
from tests.unit.cli.fakeapi import FakeEngine, Reply


@pytest.fixture
def tls(tmp_path) -> TlsFiles:
    return make_tls(tmp_path)


@pytest.fixture
def engine(tmp_path, tls) -> Iterator[FakeEngine]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls.server_cert, tls.server_key)
    context.load_verify_locations(tls.ca)
    context.verify_mode = ssl.CERT_REQUIRED  # mutual TLS, as dockerd with --tlsverify
    with FakeEngine(tmp_path, tls=context) as fake:
        fake.route("GET", "/containers/json", Reply(200, []))
        yield fake


def _run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin", "DOCKYARD_AUTOSTART": "0"}
    return subprocess.run([DOCKYARD, *argv], env={**base, **env}, capture_output=True, text=True, timeout=30)


def test_tlsverify_flags_with_client_certificate(engine, tls, tmp_path) -> None:
    argv = ["--tlsverify", "--tlscacert", str(tls.ca), "--tlscert", str(tls.client_cert),
            "--tlskey", str(tls.client_key), "-H", engine.host, "ps"]  # fmt: skip
    result = _run(argv, {"HOME": str(tmp_path)})
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("CONTAINER ID")


def test_docker_cert_path_and_tls_verify_variables(engine, tls, tmp_path) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    for source, name in ((tls.ca, "ca.pem"), (tls.client_cert, "cert.pem"), (tls.client_key, "key.pem")):
        (certs / name).write_bytes(source.read_bytes())
    env = {
        "HOME": str(tmp_path),
        "DOCKER_HOST": engine.host,
        "DOCKER_TLS_VERIFY": "1",
        "DOCKER_CERT_PATH": str(certs),
    }
    result = _run(["ps"], env)
    assert (result.returncode, result.stderr) == (0, "")


def test_an_untrusted_server_is_refused(engine, tls, tmp_path) -> None:
    (tmp_path / "other").mkdir()
    other = make_tls(tmp_path / "other")
    argv = ["--tlsverify", "--tlscacert", str(other.ca), "--tlscert", str(tls.client_cert),
            "--tlskey", str(tls.client_key), "-H", engine.host, "ps"]  # fmt: skip
    result = _run(argv, {"HOME": str(tmp_path)})
    assert result.returncode == 1
    assert result.stderr == f"error during connect: {engine.host}: CERTIFICATE_VERIFY_FAILED\n"
