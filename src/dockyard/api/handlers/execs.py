"""``/containers/{id}/exec`` and ``/exec/{id}/...``: create, start (hijacked), inspect, resize.

A detached start answers a bare 200. An attached one is hijacked like attach, with one
difference from moby's attach: the multiplexed media type is announced for any non-tty exec on
API 1.42+, upgraded or not (moby ``postContainerExecStart``).

The docker CLI learns an exec's exit status by inspecting it the moment the stream closes; the
engine ends an exec's stream only once its exit code is stored, so the stream is passed through
as it is.
"""

from __future__ import annotations

from dockyard.api import versions
from dockyard.api.handlers.params import check_json_content_type
from dockyard.api.request import Request, parse_int
from dockyard.api.response import MEDIA_MULTIPLEXED, MEDIA_RAW, HijackResponse, Response
from dockyard.api.translate_system import exec_config, exec_document, exec_start
from dockyard.engine import AttachSession, Engine
from dockyard.errors import SystemFailure

__all__ = ["create", "inspect", "resize", "start"]


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

    async def open_session() -> AttachSession:
        session = await engine.execs.start(
            exec_id, detach=False, tty=options.tty, console_size=options.console_size
        )
        if session is None:  # pragma: no cover - the engine returns a session unless detached
            raise SystemFailure(f"exec {exec_id} started without a stream")
        return session

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
