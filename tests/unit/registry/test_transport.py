"""The HTTP seam's choices: which TLS configuration a host gets, and certs.d mistakes refused."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument
from dockyard.registry.transport import HttpSession, origin_of


def _session(certs: Path) -> HttpSession:
    return HttpSession(certs_dir=certs, connect_timeout=1, read_timeout=1)


def test_tls_configuration_per_host(tmp_path: Path) -> None:
    (tmp_path / "with-ca:5000").mkdir()
    (tmp_path / "with-ca:5000" / "ca.crt").write_text("x")
    (tmp_path / "empty").mkdir()
    session = _session(tmp_path)
    assert session._tls_for("registry.example", verify=True) == "default"
    assert session._tls_for("empty", verify=True) == "default"
    assert session._tls_for("with-ca:5000", verify=True) == "default:with-ca:5000"
    assert session._tls_for("with-ca:5000", verify=False) == "insecure:with-ca:5000"
    assert session._tls_for("127.0.0.1:5000", verify=False) == "insecure"


@pytest.mark.parametrize(
    ("files", "message"), [(["client.cert"], "missing key"), (["client.key"], "missing client")]
)
def test_half_a_client_certificate_is_refused(tmp_path: Path, files: list[str], message: str) -> None:
    host = tmp_path / "registry.example"
    host.mkdir()
    for name in files:
        (host / name).write_text("x")
    session = _session(tmp_path)
    with pytest.raises(InvalidArgument, match=message):
        session._make_context(session._tls_for("registry.example", verify=True))


def test_a_file_that_is_no_certificate_is_refused(tmp_path: Path) -> None:
    host = tmp_path / "registry.example"
    host.mkdir()
    (host / "ca.crt").write_text("not a certificate")
    session = _session(tmp_path)
    with pytest.raises(InvalidArgument, match="invalid TLS file"):
        session._make_context(session._tls_for("registry.example", verify=True))


def test_redirect_downgrade_to_plain_http_is_refused(tmp_path: Path) -> None:
    import httpx

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.scheme == "https":
            return httpx.Response(302, headers={"Location": "http://cdn.example/blob"})
        return httpx.Response(200)

    session = HttpSession(
        certs_dir=tmp_path, connect_timeout=1, read_timeout=1, transport=httpx.MockTransport(handler)
    )

    async def go() -> None:
        try:
            await session.send("GET", "https://registry.example/v2/x/blobs/y")
        finally:
            await session.aclose()

    with pytest.raises(InvalidArgument, match="from HTTPS to plain HTTP"):
        asyncio.run(go())


def test_origin_of() -> None:
    assert origin_of("https://Registry.Example/v2/") == ("https", "registry.example", 443)
    assert origin_of("http://127.0.0.1:5000/x") == ("http", "127.0.0.1", 5000)
    assert origin_of("https://[::1]:5000/") == ("https", "::1", 5000)


def test_httpx_is_loaded_without_its_command_line_client() -> None:
    """httpx imports its CLI (click, rich, pygments: 6 MiB of the daemon's PSS) when those are
    installed; they are here, beside the test tools, so this checks the real case."""
    import importlib.util
    import subprocess
    import sys

    if importlib.util.find_spec("rich") is None:
        pytest.skip("rich is not installed: httpx would not import its CLI anyway")
    program = (
        "import sys\n"
        "import dockyard.registry.transport\n"
        "import httpx\n"
        "print(sorted({'click', 'rich', 'pygments'} & set(sys.modules)), callable(httpx.main))\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[] True"
