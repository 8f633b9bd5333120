"""``/containers/...``: parse the request, call the container service, shape dockerd's answer.

Quirks kept here, where a reader looks for them (moby ``container_routes.go``):

- ``start`` refuses a body longer than 7 bytes (the pre-1.24 HostConfig-on-start form);
- ``stop``/``restart`` read ``signal`` only from API 1.42 on; ``t`` absent means the
  container's own timeout, ``-1`` waits forever;
- ``kill`` errors are prefixed ``cannot kill container: <ref>:``;
- ``wait`` validates ``condition`` from API 1.30, sends its headers before blocking, and
  answers ``{"StatusCode": n, "Error": null | {"Message": ...}}``;
- ``logs`` needs ``stdout`` or ``stderr``; without a tty its entries are stdcopy frames, and
  ``timestamps`` prefixes each line with a fixed-width RFC 3339 time;
- ``attach`` is hijacked; its media type is the multiplexed one only for an upgraded, non-tty
  stream on API 1.42+.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from dockyard.api import versions
from dockyard.api.handlers.params import check_json_content_type, parse_timestamp, with_context
from dockyard.api.request import Request, parse_int
from dockyard.api.response import (
    MEDIA_MULTIPLEXED,
    MEDIA_RAW,
    HijackResponse,
    Response,
    StreamResponse,
    encode_json,
)
from dockyard.api.streams import STDERR, STDOUT, frame
from dockyard.api.translate_containers import container_summary, create_request, inspect_document
from dockyard.engine import AttachSession, Engine, LogEntry
from dockyard.errors import DockyardError, InvalidArgument

__all__ = [
    "attach",
    "create",
    "inspect",
    "kill",
    "list_containers",
    "logs",
    "pause",
    "prune",
    "remove",
    "rename",
    "resize",
    "restart",
    "start",
    "stop",
    "top",
    "unpause",
    "wait",
]

STREAM_PRIME = 0.05
"""Seconds a logs stream may take to refuse its arguments before the headers go out."""

_WAIT_CONDITIONS = ("not-running", "next-exit", "removed")


async def create(request: Request, engine: Engine) -> Response:
    """POST /containers/create?name=&platform="""
    check_json_content_type(request)
    body = create_request(request.json(), request.version)
    platform = request.query.get("platform") if versions.has_platform_on_create(request.version) else ""
    container_id, warnings = await engine.containers.create(
        name=request.query.get("name") or None,
        config=body.config,
        host_config=body.host_config,
        networking_config=body.networking_config,
        platform=platform or None,
    )
    return Response.json({"Id": container_id, "Warnings": [*warnings, *body.warnings]}, status=201)


async def list_containers(request: Request, engine: Engine) -> Response:
    """GET /containers/json?all=&limit=&size=&filters= (and the legacy since=/before=)."""
    filters = request.query.filters()
    for legacy in ("since", "before"):
        value = request.query.get(legacy)
        if value:
            filters.setdefault(legacy, []).append(value)
    listings = engine.containers.list(
        all=request.query.flag("all"), limit=request.query.int_or("limit", -1), filters=filters
    )
    if request.query.flag("size"):
        listings = await engine.containers.with_sizes(listings)  # walks layers in a worker thread
    return Response.json([container_summary(item) for item in listings])


async def inspect(request: Request, engine: Engine) -> Response:
    """GET /containers/{id}/json?size="""
    details = engine.containers.inspect(request.param("id"))
    if request.query.flag("size"):
        (details,) = await engine.containers.with_sizes([details])
    return Response.json(inspect_document(details, request.version))


async def start(request: Request, engine: Engine) -> Response:
    """POST /containers/{id}/start (304 when already running)."""
    if len(request.body) > 7:  # a non-empty JSON object: the HostConfig-on-start form
        raise InvalidArgument(
            "starting container with non-empty request body was deprecated since API v1.22 "
            "and removed in v1.24"
        )
    await engine.containers.start(request.param("id"))
    return Response.no_content()


def _stop_options(request: Request) -> tuple[int | None, str | None]:
    signal = request.query.get("signal") if versions.has_stop_signal(request.version) else ""
    return request.query.int_or_none("t"), signal or None


async def stop(request: Request, engine: Engine) -> Response:
    """POST /containers/{id}/stop?t=&signal= (304 when already stopped)."""
    timeout, signal = _stop_options(request)
    await engine.containers.stop(request.param("id"), timeout=timeout, signal=signal)
    return Response.no_content()


async def restart(request: Request, engine: Engine) -> Response:
    """POST /containers/{id}/restart?t=&signal="""
    timeout, signal = _stop_options(request)
    await engine.containers.restart(request.param("id"), timeout=timeout, signal=signal)
    return Response.no_content()


async def kill(request: Request, engine: Engine) -> Response:
    """POST /containers/{id}/kill?signal= (default SIGKILL)."""
    ref = request.param("id")
    try:
        await engine.containers.kill(ref, signal=request.query.get("signal") or None)
    except DockyardError as exc:
        raise with_context(exc, f"cannot kill container: {ref}") from None
    return Response.no_content()


async def wait(request: Request, engine: Engine) -> StreamResponse:
    """POST /containers/{id}/wait?condition=: headers at once, the exit status when it comes."""
    condition = "not-running"
    if versions.has_wait_condition(request.version):
        value = request.query.get("condition")
        if value and value not in _WAIT_CONDITIONS:
            raise InvalidArgument(f'invalid condition: "{value}"')
        condition = value or condition
    # Look up and register the wait before answering: a missing container is a 404, and an exit
    # that happens after this line is never missed. Then send the headers at once, as dockerd does:
    # `docker run` waits for them before it sends `start`.
    pending = engine.containers.waiter(request.param("id"), condition=condition)

    async def status() -> AsyncIterator[bytes]:
        code, error = await pending
        yield encode_json({"Error": None if error is None else {"Message": error}, "StatusCode": code})

    return StreamResponse(chunks=status(), endless=True)


async def attach(request: Request, engine: Engine) -> HijackResponse:
    """POST /containers/{id}/attach?stream=&logs=&stdin=&stdout=&stderr=&detachKeys= (hijacked)."""
    query = request.query
    ref = request.param("id")
    tty = engine.containers.get(ref).config.tty  # 404 before the connection is taken over
    stdin = query.flag("stdin")

    async def open_session() -> AttachSession:
        return await engine.containers.attach(
            ref,
            stdin=stdin,
            stdout=query.flag("stdout"),
            stderr=query.flag("stderr"),
            logs=query.flag("logs"),
            stream=query.flag("stream"),
            detach_keys=query.get("detachKeys") or None,
        )

    multiplexed = (
        request.hijack_requested and not tty and versions.has_multiplexed_media_type(request.version)
    )
    media = MEDIA_MULTIPLEXED if multiplexed else MEDIA_RAW
    return HijackResponse(open=open_session, media_type=media, stdin=stdin)


async def resize(request: Request, engine: Engine) -> Response:
    """POST /containers/{id}/resize?h=&w="""
    height = parse_int(request.query.get("h"))
    width = parse_int(request.query.get("w"))
    await engine.containers.resize(request.param("id"), height=height, width=width)
    return Response.empty(200)


def _fixed_nano(time: str) -> str:
    """RFC 3339 with exactly nine fractional digits (Go's ``RFC3339NanoFixed``)."""
    head, dot, rest = time.partition(".")
    if not dot:
        base, zone = (head[:-1], "Z") if head.endswith("Z") else (head[:19], head[19:])
        return f"{base}.000000000{zone}"
    digits = "".join(c for c in rest if c.isdigit())
    zone = rest[len(digits) :]
    return f"{head}.{digits[:9].ljust(9, '0')}{zone}"


def _log_tail(text: str) -> int | None:
    """``tail``: ``all`` (or anything not a number, as dockerd treats it) means everything."""
    text = text.strip()
    if not text or text == "all":
        return None
    try:
        value = parse_int(text)
    except InvalidArgument:
        return None
    return value if value >= 0 else None


async def logs(request: Request, engine: Engine) -> StreamResponse:
    """GET /containers/{id}/logs?follow=&stdout=&stderr=&since=&until=&timestamps=&tail="""
    query = request.query
    stdout, stderr = query.flag("stdout"), query.flag("stderr")
    if not (stdout or stderr):
        raise InvalidArgument("Bad parameters: you must choose at least one stream")
    ref = request.param("id")
    tty = engine.containers.get(ref).config.tty
    follow = query.flag("follow")
    timestamps = query.flag("timestamps")
    entries = engine.containers.logs(
        ref,
        stdout=stdout,
        stderr=stderr,
        follow=follow,
        since=parse_timestamp(query.get("since"), "since"),
        until=parse_timestamp(query.get("until"), "until"),
        timestamps=timestamps,
        tail=_log_tail(query.get("tail")),
    )
    media = (
        MEDIA_RAW if tty or not versions.has_multiplexed_media_type(request.version) else MEDIA_MULTIPLEXED
    )
    return StreamResponse(
        chunks=_log_chunks(entries, tty=tty, timestamps=timestamps),
        content_type=media,
        prime=STREAM_PRIME,
        endless=follow,
    )


async def _log_chunks(
    entries: AsyncIterator[LogEntry], *, tty: bool, timestamps: bool
) -> AsyncIterator[bytes]:
    async for entry in entries:
        data = entry.data
        if timestamps:
            data = _fixed_nano(entry.time).encode() + b" " + data
        yield data if tty else frame(STDERR if entry.stream == "stderr" else STDOUT, data)


async def top(request: Request, engine: Engine) -> Response:
    """GET /containers/{id}/top?ps_args="""
    titles, rows = await engine.containers.top(
        request.param("id"), ps_args=request.query.get("ps_args") or None
    )
    return Response.json({"Titles": titles, "Processes": rows})


async def remove(request: Request, engine: Engine) -> Response:
    """DELETE /containers/{id}?force=&v=&link="""
    query = request.query
    await engine.containers.remove(
        request.param("id"), force=query.flag("force"), volumes=query.flag("v"), link=query.flag("link")
    )
    return Response.no_content()


async def pause(request: Request, engine: Engine) -> Response:
    """POST /containers/{id}/pause"""
    await engine.containers.pause(request.param("id"))
    return Response.no_content()


async def unpause(request: Request, engine: Engine) -> Response:
    """POST /containers/{id}/unpause"""
    await engine.containers.unpause(request.param("id"))
    return Response.no_content()


async def rename(request: Request, engine: Engine) -> Response:
    """POST /containers/{id}/rename?name="""
    await engine.containers.rename(request.param("id"), request.query.get("name"))
    return Response.no_content()


async def prune(request: Request, engine: Engine) -> Response:
    """POST /containers/prune?filters="""
    deleted, reclaimed = await engine.containers.prune(filters=request.query.filters())
    return Response.json({"ContainersDeleted": deleted or None, "SpaceReclaimed": reclaimed})
