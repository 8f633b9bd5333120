"""An in-process API server over a FakeEngine, on a temporary unix socket.

The server runs its own event loop in a background thread, so tests talk to it exactly as
clients do, through the socket: raw bytes, ``http.client`` or docker-py. ``ServerThread.call``
runs a coroutine on the server's loop (to arrange engine state).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import shutil
import socket
import tempfile
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from dockyard.api import ApiServer, Limits, bind_unix, build_router
from tests.support.fakes import FakeEngine

T = TypeVar("T")


class UnixHTTPConnection(http.client.HTTPConnection):
    """``http.client`` over a unix socket."""

    def __init__(self, path: str, timeout: float = 10.0) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self._path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


class Reply:
    """A whole response: status, headers (lower-case names), body."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def message(self) -> str:
        return str(self.json()["message"])


class ServerThread:
    """An ApiServer + FakeEngine on their own loop in a daemon thread."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="dyt-api-"))
        self.socket_path = str(self.dir / "api.sock")
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.engine: FakeEngine = self.call(self._make_engine())
        self.server = ApiServer(self.engine, build_router(), server_version="0.1.0", limits=limits)  # type: ignore[arg-type]
        self.call(self.server.serve(bind_unix(self.socket_path, group="")))

    @staticmethod
    async def _make_engine() -> FakeEngine:
        return FakeEngine()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        try:
            self.call(self.server.close(grace=1.0))
            self.call(self.engine.close())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)
            self.loop.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    def connection(self, timeout: float = 10.0) -> UnixHTTPConnection:
        return UnixHTTPConnection(self.socket_path, timeout=timeout)

    def request(
        self,
        method: str,
        path: str,
        body: object = None,
        *,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> Reply:
        conn = self.connection()
        try:
            data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
            sent = dict(headers or {})
            if body is not None:
                sent.setdefault("Content-Type", "application/json")
            conn.request(method, path, body=data, headers=sent)
            response = conn.getresponse()
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        finally:
            conn.close()

    def raw(self, data: bytes, *, timeout: float = 5.0) -> bytes:
        """Send raw bytes, read until the server closes (or the timeout)."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(self.socket_path)
        try:
            sock.sendall(data)
            chunks = []
            while True:
                try:
                    chunk = sock.recv(65536)
                except TimeoutError:
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            sock.close()

    def create(self, image: str = "alpine", cmd: list[str] | None = None, **config: object) -> str:
        body: dict[str, object] = {"Image": image, **config}
        if cmd is not None:
            body["Cmd"] = cmd
        reply = self.request("POST", "/containers/create", body)
        assert reply.status == 201, reply.body
        return str(reply.json()["Id"])

    def run(self, cmd: list[str], **config: Any) -> str:
        """Create and start a container from the ``alpine`` fake image."""
        cid = self.create(cmd=cmd, **config)
        assert self.request("POST", f"/containers/{cid}/start").status == 204
        return cid


@pytest.fixture
def api() -> Iterator[ServerThread]:
    server = ServerThread()
    server.call(_add_alpine(server.engine))
    try:
        yield server
    finally:
        server.close()


async def _add_alpine(engine: FakeEngine) -> None:
    engine.images.add("alpine")
