"""Exceptions to HTTP answers: the only table of status codes in dockyard (DESIGN §6).

The engine raises ``dockyard.errors`` kinds; this module picks the status from the kind and
writes dockerd's body, ``{"message": "..."}``. ``NotModified`` (start of a running container,
stop of a stopped one) is a 304 with an empty body, as dockerd sends it. Anything that is not
a ``DockyardError`` is a bug or an unforeseen failure: it answers 500 with a short message and
is logged once, with its traceback and the request id, so the client's error and the daemon's
log can be matched. Messages in the log never include request headers or bodies, which carry
registry credentials (``X-Registry-Auth``) and environment values.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Final

from dockyard.api.response import Response, encode_json
from dockyard.errors import (
    Conflict,
    DockyardError,
    Forbidden,
    InvalidArgument,
    NotFound,
    NotModified,
    SystemFailure,
    Unauthorized,
    Unavailable,
    Unsupported,
)

__all__ = ["PAGE_NOT_FOUND", "error_response", "status_for"]

log = logging.getLogger(__name__)

_STATUS_BY_KIND: Final = (
    (NotModified, HTTPStatus.NOT_MODIFIED),
    (InvalidArgument, HTTPStatus.BAD_REQUEST),
    (Unauthorized, HTTPStatus.UNAUTHORIZED),
    (Forbidden, HTTPStatus.FORBIDDEN),
    (NotFound, HTTPStatus.NOT_FOUND),
    (Conflict, HTTPStatus.CONFLICT),
    (Unsupported, HTTPStatus.NOT_IMPLEMENTED),
    (Unavailable, HTTPStatus.SERVICE_UNAVAILABLE),
    (SystemFailure, HTTPStatus.INTERNAL_SERVER_ERROR),
)

PAGE_NOT_FOUND: Final = "page not found"
"""dockerd's body for an unknown path, or a known path with the wrong method."""


def status_for(exc: BaseException) -> HTTPStatus:
    """The status dockerd would answer with; 500 for anything that is not a known kind."""
    for kind, status in _STATUS_BY_KIND:
        if isinstance(exc, kind):
            return status
    return HTTPStatus.INTERNAL_SERVER_ERROR


def error_response(exc: BaseException, *, request_id: str, method: str, path: str) -> Response:
    """The response for an exception that escaped a handler.

    Deliberate errors (``DockyardError``) are logged at debug level only: they are the
    client's business. Anything else is logged once at error level, with its traceback.
    """
    status = status_for(exc)
    if status == HTTPStatus.NOT_MODIFIED:
        return Response(status=304, content_type=None)
    if isinstance(exc, DockyardError):
        message = str(exc)
        if isinstance(exc, SystemFailure):
            log.error(
                "request failed request_id=%s method=%s path=%s error=%s", request_id, method, path, message
            )
        else:
            log.debug("request refused request_id=%s status=%d error=%s", request_id, status, message)
    else:
        message = f"internal error: {type(exc).__name__} (request id {request_id})"
        log.error("unexpected error request_id=%s method=%s path=%s", request_id, method, path, exc_info=exc)
    return Response(status=int(status), body=encode_json({"message": message}))
