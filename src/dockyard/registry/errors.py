"""Registry failures in Docker's words, sorted into dockyard's error kinds.

Users read these messages in ``docker pull`` output and scripts grep them, so they are built the
way moby builds them, in two steps:

1. **The response becomes distribution errors** (``registry/client/errors.go``,
   ``HandleErrorResponse``). For a 4xx, a bearer challenge carrying ``error="insufficient_scope"``
   or ``"invalid_token"`` comes first (as DENIED or UNAUTHORIZED), then the body's
   ``{"errors": [{"code", "message", "detail"}]}``. An error prints as ``"<code in lower case
   with spaces>: <message>"``; one that only repeats its code's default message and has no
   detail prints as the bare code (``errcode.Errors.UnmarshalJSON``). A body that is not that
   envelope gives ``error parsing HTTP 429 response body: ...`` (a 401 gives ``unauthorized:
   authentication required``). Anything else gives ``received unexpected HTTP status: 500
   Internal Server Error``.
2. **A pull translates the first error** (moby's ``TranslatePullError``): DENIED becomes ``pull
   access denied for <name>, repository does not exist or may require 'docker login': ...``,
   MANIFEST_UNKNOWN ``manifest for <name:tag> not found: ...`` and NAME_UNKNOWN ``repository
   <name> not found: ...``, all "not found" to the API. Only an error that carries a detail or
   its own message is translated: distribution's client turns a bare one (default message, no
   detail) into an ``errcode.ErrorCode``, not an ``errcode.Error``, and ``TranslatePullError``
   matches only the latter, so dockerd reports it as its bare code (``name unknown``).

Transport failures read like Go's ``url.Error``: ``Get "http://127.0.0.1:1/v2/": dial tcp
127.0.0.1:1: connect: connection refused``.

**Status codes** (the kinds below; ``api/errors.py`` maps kinds to statuses). A pull answers 404
for the three translated "not found" errors and 500 for every other registry failure, whatever
the registry said: ``TranslatePullError`` wraps all the rest in ``errdefs.Unknown``. That
includes a refused connection, a 429 or 5xx, and missing or refused credentials, which must not
be a 401: the docker CLI takes a 401 from the daemon as its cue to start an interactive login.
So ``RegistryAuthError`` and ``RegistryUnavailable`` are ``SystemFailure`` kinds, and 401 and
503 stay the daemon's own (its ``/auth`` endpoint; its own shutdown). Outside a pull (pushes,
token requests) moby's API takes the status from the distribution error code
(``statusCodeFromDistributionError``): malformed-request codes are 400, unknown ones 404; a push
reports them inside its progress stream, where no status is seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dockyard.errors import DockyardError, InvalidArgument, NotFound, SystemFailure
from dockyard.oci.digest import Digest, DigestMismatch
from dockyard.registry.reference import Reference
from dockyard.util import jsoncodec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.registry.auth import Challenge  # auth raises RegistryAuthError: no import cycle

__all__ = [
    "CODE_MESSAGES",
    "DistributionError",
    "RegistryAuthError",
    "RegistryFailure",
    "RegistryNotFound",
    "RegistryRequestError",
    "RegistryUnavailable",
    "VerificationFailed",
    "error_from_response",
    "parse_error_body",
]

CODE_MESSAGES = {
    "UNKNOWN": "unknown error",
    "UNSUPPORTED": "The operation is unsupported.",
    "UNAUTHORIZED": "authentication required",
    "DENIED": "requested access to the resource is denied",
    "UNAVAILABLE": "service unavailable",
    "TOOMANYREQUESTS": "too many requests",
    "DIGEST_INVALID": "provided digest did not match uploaded content",
    "SIZE_INVALID": "provided length did not match content length",
    "RANGE_INVALID": "invalid content range",
    "NAME_INVALID": "invalid repository name",
    "TAG_INVALID": "manifest tag did not match URI",
    "NAME_UNKNOWN": "repository name not known to registry",
    "MANIFEST_UNKNOWN": "manifest unknown",
    "MANIFEST_INVALID": "manifest invalid",
    "MANIFEST_UNVERIFIED": "manifest failed signature verification",
    "MANIFEST_BLOB_UNKNOWN": "blob unknown to registry",
    "BLOB_UNKNOWN": "blob unknown to registry",
    "BLOB_UPLOAD_UNKNOWN": "blob upload unknown to registry",
    "BLOB_UPLOAD_INVALID": "blob upload invalid",
    "PAGINATION_NUMBER_INVALID": "invalid number of results requested",
}
"""distribution's error codes and their default messages (``errcode/register.go``)."""

_NOT_FOUND_CODES = frozenset({"MANIFEST_UNKNOWN", "NAME_UNKNOWN", "BLOB_UNKNOWN", "BLOB_UPLOAD_UNKNOWN"})
_PULL_NOT_FOUND_CODES = frozenset({"DENIED", "MANIFEST_UNKNOWN", "NAME_UNKNOWN"})  # TranslatePullError's
_AUTH_CODES = frozenset({"UNAUTHORIZED", "DENIED"})
_UNAVAILABLE_CODES = frozenset({"TOOMANYREQUESTS", "UNAVAILABLE"})


class _RegistryDetail:
    """What every registry error carries besides its message: the HTTP status and error codes."""

    def __init__(self, message: str, *, status: int | None = None, codes: Sequence[str] = ()) -> None:
        super().__init__(message)  # type: ignore[call-arg]  # DockyardError.__init__(message)
        self.status = status
        self.codes = tuple(codes)


class RegistryNotFound(_RegistryDetail, NotFound):
    """The registry has no such manifest, repository or blob, or will not say (pull denied)."""


class RegistryAuthError(_RegistryDetail, SystemFailure):
    """Credentials are missing, refused or insufficient for the operation.

    A ``SystemFailure`` (HTTP 500), not ``Unauthorized`` (401): it is the registry that refused,
    and dockerd answers 500 for it. A 401 from the daemon makes ``docker pull`` start an
    interactive login (``Cannot perform an interactive login from a non TTY device`` in a
    script) instead of printing the registry's words. 401 is kept for the daemon's own auth.
    """


class RegistryUnavailable(_RegistryDetail, SystemFailure):
    """The registry cannot be reached, is overloaded (429) or failing (5xx).

    A ``SystemFailure`` (HTTP 500), as dockerd reports it (``errdefs.Unknown``); ``Unavailable``
    (503) means the daemon itself cannot serve (shutting down, its monitor zygote gone).
    """


class RegistryRequestError(_RegistryDetail, InvalidArgument):
    """The registry refused a push or token request as malformed (bad name, digest, manifest...)."""


class RegistryFailure(_RegistryDetail, SystemFailure):
    """A registry failure that fits no other kind: anything a pull does not call "not found"
    (moby's ``errdefs.Unknown``), and odd statuses or UNKNOWN codes elsewhere."""


class VerificationFailed(DigestMismatch):
    """Pulled content that does not match its digest, in dockerd's words.

    ``what`` names the content as moby's puller does: ``filesystem layer``, ``manifest`` or
    ``image config`` (``<what> verification failed for digest <digest>``, the digest being the one
    the content was asked for). Users see this text in ``docker pull``; the bytes are refused
    either way, whether the digest, the length or the ``Content-Length`` was wrong.
    """

    def __init__(self, what: str, expected: Digest, actual: Digest | None = None) -> None:
        super().__init__(expected, actual)
        self.message = f"{what} verification failed for digest {expected}"
        self.args = (self.message,)
        self.what = what


@dataclass(frozen=True, slots=True)
class DistributionError:
    """One entry of distribution's error envelope."""

    code: str
    message: str
    has_detail: bool = False

    @property
    def is_bare(self) -> bool:
        """Only the code: no detail, and the code's default message or none.

        ``errcode.Errors.UnmarshalJSON`` keeps such an entry as an ``ErrorCode``, which prints
        as its code in words and which ``TranslatePullError`` does not translate.
        """
        return not self.has_detail and self.message in ("", CODE_MESSAGES.get(self.code))

    def __str__(self) -> str:
        words = self.code.lower().replace("_", " ")
        if self.is_bare:
            return words
        return f"{words}: {self.message}"


def _go_quote(data: bytes) -> str:
    """Roughly Go's ``%q`` of a byte string: double quotes, backslash escapes."""
    text = data.decode("utf-8", errors="replace")
    for raw, escape in (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t")):
        text = text.replace(raw, escape)
    return f'"{text}"'


def _json_problem(body: bytes) -> str:
    """Go's ``encoding/json`` complaint about a body that is not the error envelope."""
    stripped = body.lstrip()
    if not stripped:
        return "unexpected end of JSON input"
    first = stripped[:1].decode("latin-1")
    if first not in '{["-0123456789tfn':
        return f"invalid character '{first}' looking for beginning of value"
    return "invalid JSON"


def parse_error_body(status: int, body: bytes) -> list[DistributionError] | str:
    """The errors in a 4xx body, or (as a string) why the body is not an error envelope."""
    try:
        doc = jsoncodec.loads(body)
    except ValueError:
        return f"error parsing HTTP {status} response body: {_json_problem(body)}: {_go_quote(body)}"
    if isinstance(doc, dict) and isinstance(doc.get("details"), str) and doc["details"]:
        # Old Docker Hub answers: {"details": "incorrect username or password"}.
        code = {401: "UNAUTHORIZED", 403: "DENIED", 429: "TOOMANYREQUESTS"}.get(status, "UNKNOWN")
        return [DistributionError(code, doc["details"], True)]
    items = doc.get("errors") if isinstance(doc, dict) else None
    errors = [_one_error(item) for item in items] if isinstance(items, list) else []
    if not errors:
        problem = "no error details found in HTTP response body"
        return f"error parsing HTTP {status} response body: {problem}: {_go_quote(body)}"
    return errors


def _one_error(item: object) -> DistributionError:
    if not isinstance(item, dict):
        return DistributionError("UNKNOWN", "")
    code = item.get("code")
    code = code if isinstance(code, str) and code in CODE_MESSAGES else "UNKNOWN"
    message = item.get("message")
    return DistributionError(
        code, message if isinstance(message, str) else "", item.get("detail") is not None
    )


def _challenge_error(challenges: Sequence[Challenge]) -> DistributionError | None:
    for challenge in challenges:
        if challenge.scheme != "bearer":
            continue
        code = {"invalid_token": "UNAUTHORIZED", "insufficient_scope": "DENIED"}.get(
            challenge.params.get("error", "")
        )
        if code is not None:
            description = challenge.params.get("error_description") or CODE_MESSAGES[code]
            return DistributionError(code, description, True)
    return None


def error_from_response(
    *,
    status: int,
    reason: str,
    body: bytes,
    challenges: Sequence[Challenge] = (),
    ref: Reference | None = None,
    pulling: bool = True,
) -> DockyardError:
    """The dockyard error for an unsuccessful registry response, worded as Docker words it.

    ``ref`` (as the user asked for it, tag included) names the image in pull translations;
    ``pulling`` is False for pushes and token requests, whose errors Docker shows untranslated
    and whose kinds follow the error code (see the module essay).
    """
    if not 400 <= status < 500:
        message = f"received unexpected HTTP status: {status} {reason}".rstrip()
        if status >= 500:
            return RegistryUnavailable(message, status=status)
        return RegistryFailure(message, status=status)
    parsed = parse_error_body(status, body)
    first = _challenge_error(challenges)
    if isinstance(parsed, str):
        if first is None and status == 401:
            first = DistributionError("UNAUTHORIZED", CODE_MESSAGES["UNAUTHORIZED"], True)
        if first is None:
            if status == 429:
                return RegistryUnavailable(parsed, status=status)
            if pulling:
                return RegistryFailure(parsed, status=status)
            return RegistryRequestError(parsed, status=status)
        errors = [first]
    else:
        errors = ([first] if first else []) + parsed
    return _translate(errors, status, ref, pulling)


def _translate(
    errors: list[DistributionError], status: int, ref: Reference | None, pulling: bool
) -> DockyardError:
    codes = [e.code for e in errors]
    head = errors[0]
    translating = pulling and ref is not None
    if ref is not None and translating and head.code in _PULL_NOT_FOUND_CODES:
        # moby's TranslatePullError looks at the first error only (and logs the rest).
        if not head.is_bare:
            return RegistryNotFound(_not_found_message(head, ref), status=status, codes=codes)
        if head.code != "DENIED":  # an untranslated "not found" is errdefs.Unknown: 500
            return RegistryFailure(str(head), status=status, codes=codes)
    text = str(head) if len(errors) == 1 else "errors:\n" + "".join(f"{e}\n" for e in errors)
    if head.code in _NOT_FOUND_CODES:
        return RegistryNotFound(text, status=status, codes=codes)
    if head.code in _AUTH_CODES:
        return RegistryAuthError(text, status=status, codes=codes)
    if head.code in _UNAVAILABLE_CODES:
        return RegistryUnavailable(text, status=status, codes=codes)
    if head.code == "UNKNOWN" or translating:
        return RegistryFailure(text, status=status, codes=codes)  # in a pull, errdefs.Unknown: 500
    return RegistryRequestError(text, status=status, codes=codes)


def _not_found_message(head: DistributionError, ref: Reference) -> str:
    """moby's ``notFoundError``: the pull's own words, then the registry's error."""
    if head.code == "DENIED":
        hint = "repository does not exist or may require 'docker login'"
        return f"pull access denied for {ref.familiar_name()}, {hint}: {head}"
    if head.code == "MANIFEST_UNKNOWN":
        return f"manifest for {ref.familiar_string()} not found: {head}"
    return f"repository {ref.familiar_name()} not found: {head}"
