"""``/containers/{id}/exec`` and ``/exec/{id}/...``: create, start (hijacked), inspect, resize.

A detached start answers a bare 200. An attached one is hijacked like attach, with one
difference from moby's attach: the multiplexed media type is announced for any non-tty exec on
API 1.42+, upgraded or not (moby ``postContainerExecStart``).

The docker CLI learns an exec's exit status by inspecting it the moment the stream closes, so
the stream must not close before the exit code is recorded. The process's output can end a
moment before its exit is written down, so :class:`_ExecStream` holds the end of the stream
until the exec is no longer running (bounded: a detach also ends the stream while the process
lives on).
"""

from __future__ import annotations

import asyncio

from dockyard.api import versions
from dockyard.api.handlers.params import check_json_content_type
from dockyard.api.request import Request, parse_int
from dockyard.api.response import MEDIA_MULTIPLEXED, MEDIA_RAW, HijackResponse, Response
from dockyard.api.translate_system import exec_config, exec_document, exec_start
from dockyard.engine import AttachSession, Engine
from dockyard.errors import SystemFailure

__all__ = ["create", "inspect", "resize", "start"]

EXIT_SETTLE = 1.0
"""Seconds the end of an exec stream may wait for the exec's exit code to be recorded."""


class _ExecStream:
    """An exec's attach session whose end waits for the exit code (see the module docstring)."""

    def __init__(self, session: AttachSession, engine: Engine, exec_id: str) -> None:
        self._session = session
        self._engine = engine
        self._exec_id = exec_id
        self.tty = session.tty

    async def read(self) -> bytes:
        chunk = await self._session.read()
        if not chunk:
            await self._settle()
        return chunk

    async def _settle(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + EXIT_SETTLE
        while self._engine.execs.inspect(self._exec_id).running and loop.time() < deadline:
            await asyncio.sleep(0.002)

    async def write(self, data: bytes) -> None:
        await self._session.write(data)

    async def close_stdin(self) -> None:
        await self._session.close_stdin()

    async def close(self) -> None:
        await self._session.close()


async def create(request: Request, engine: Engine) -> Response:
    """POST /containers/{id}/exec"""
    check_json_content_type(request)
    config = exec_config(request.json(), request.version)
    exec_id = await engine.execs.create(request.param("id"), config)
    return Response.json({"Id": exec_id}, status=201)


async def start(request: Request, engine: Engine) -> Response | HijackResponse:
    """POST /exec/{id}/start: ``{"Detach", "Tty", "ConsoleSize"}``."""
    check_json_content_type(request)
    options = exec_start(request.json(allow_empty=True), request.version)
    exec_id = request.param("id")
    config = engine.execs.inspect(exec_id).config  # 404 before the connection is taken over
    if options.detach:
        await engine.execs.start(exec_id, detach=True, tty=options.tty, console_size=options.console_size)
        return Response.empty(200)

    async def open_session() -> _ExecStream:
        session = await engine.execs.start(
            exec_id, detach=False, tty=options.tty, console_size=options.console_size
        )
        if session is None:  # pragma: no cover - the engine returns a session unless detached
            raise SystemFailure(f"exec {exec_id} started without a stream")
        return _ExecStream(session, engine, exec_id)

    tty = config.tty if options.tty is None else options.tty
    multiplexed = not tty and versions.has_multiplexed_media_type(request.version)
    media = MEDIA_MULTIPLEXED if multiplexed else MEDIA_RAW
    return HijackResponse(open=open_session, media_type=media, stdin=config.attach_stdin)


async def inspect(request: Request, engine: Engine) -> Response:
    """GET /exec/{id}/json"""
    return Response.json(exec_document(engine.execs.inspect(request.param("id"))))


async def resize(request: Request, engine: Engine) -> Response:
    """POST /exec/{id}/resize?h=&w="""
    height = parse_int(request.query.get("h"))
    width = parse_int(request.query.get("w"))
    await engine.execs.resize(request.param("id"), height=height, width=width)
    return Response.empty(200)
