"""The one exception hierarchy of dockyard.

Every error raised on purpose derives from :class:`DockyardError` and from exactly one *kind*
below it. The kind tells a caller what it can do about the error (retry, fix the request, give
up); the subclass tells what happened. No class here derives from a builtin such as ``KeyError``
or ``OSError``, so a stray ``except KeyError`` can never swallow a ``NoSuchContainer``.

HTTP status codes are chosen from the kind in ``api/errors.py`` and nowhere else. Messages that
Docker clients match on (docker-py reads 404 texts, Ansible matches "Unpause the container
before stopping or killing") use Docker's exact wording; compat tests pin them.

This module imports nothing but ``__future__``: the runtime and the monitor load it at every
container start, so it must stay cheap.
"""

from __future__ import annotations

__all__ = [
    "AlreadyStarted",
    "AlreadyStopped",
    "Conflict",
    "ContainerIsRunning",
    "ContainerNotRunning",
    "ContainerPaused",
    "CorruptRecord",
    "DockyardError",
    "Forbidden",
    "ImageInUse",
    "InvalidArgument",
    "MonitorLost",
    "NameInUse",
    "NoSuchContainer",
    "NoSuchExec",
    "NoSuchImage",
    "NoSuchNetwork",
    "NoSuchVolume",
    "NotFound",
    "NotModified",
    "RuntimeFailed",
    "SystemFailure",
    "Unauthorized",
    "Unavailable",
    "Unsupported",
    "VolumeInUse",
]


class DockyardError(Exception):
    """Base of every error dockyard raises on purpose.

    Subclass exactly one kind below. ``str(error)`` is the message shown to users; for errors
    that reach Docker clients it is Docker's wording.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


# --- kinds ---------------------------------------------------------------------------------


class InvalidArgument(DockyardError):
    """The request is wrong; sent again unchanged it will fail again (HTTP 400)."""


class NotFound(DockyardError):
    """The named object does not exist (HTTP 404)."""


class Conflict(DockyardError):
    """The object exists but its state forbids the operation (HTTP 409)."""


class NotModified(DockyardError):
    """The object is already in the requested state (HTTP 304, empty body)."""


class Unauthorized(DockyardError):
    """The daemon itself refuses the caller's credentials (HTTP 401, e.g. a future ``/auth``).

    A registry refusing credentials during a pull is not this kind: dockerd answers such failures
    with 500, and a 401 would make the docker CLI start an interactive login.
    """


class Forbidden(DockyardError):
    """The operation is never allowed on this object (HTTP 403)."""


class Unsupported(DockyardError):
    """An endpoint, option or API version that dockyard does not implement (HTTP 501)."""


class Unavailable(DockyardError):
    """The daemon is shutting down or cannot serve right now (HTTP 503).

    An unreachable registry is a ``SystemFailure`` (500), as dockerd reports it.
    """


class SystemFailure(DockyardError):
    """Something failed inside dockyard or below it (HTTP 500)."""


# --- not found -----------------------------------------------------------------------------


class NoSuchContainer(NotFound):
    """No container matches the given name, ID or ID prefix."""

    def __init__(self, ref: str) -> None:
        super().__init__(f"No such container: {ref}")
        self.ref = ref


class NoSuchImage(NotFound):
    """No image matches the given reference or ID."""

    def __init__(self, ref: str, message: str | None = None) -> None:
        super().__init__(message or f"No such image: {ref}")
        self.ref = ref


class NoSuchExec(NotFound):
    """No exec instance has the given ID."""

    def __init__(self, ref: str) -> None:
        super().__init__(f"No such exec instance: {ref}")
        self.ref = ref


class NoSuchNetwork(NotFound):
    """No network matches the given name or ID."""

    def __init__(self, ref: str) -> None:
        super().__init__(f"network {ref} not found")
        self.ref = ref


class NoSuchVolume(NotFound):
    """No volume has the given name."""

    def __init__(self, ref: str) -> None:
        super().__init__(f"get {ref}: no such volume")
        self.ref = ref


# --- conflicts -----------------------------------------------------------------------------


class NameInUse(Conflict):
    """A container name is already taken."""

    def __init__(self, name: str, holder_id: str) -> None:
        super().__init__(
            f'Conflict. The container name "/{name.lstrip("/")}" is already in use by container '
            f'"{holder_id}". You have to remove (or rename) that container to be able to reuse that name.'
        )
        self.name = name
        self.holder_id = holder_id


class ContainerIsRunning(Conflict):
    """An operation that needs a stopped container (rm without force) found it running."""


class ContainerNotRunning(Conflict):
    """An operation that needs a running container (exec, kill, pause) found it stopped."""


class ContainerPaused(Conflict):
    """An operation that cannot act on a paused container found it paused."""


class ImageInUse(Conflict):
    """An image cannot be removed because a container or another reference needs it."""


class VolumeInUse(Conflict):
    """A volume cannot be removed because a container uses it."""


# --- not modified --------------------------------------------------------------------------


class AlreadyStarted(NotModified):
    """``start`` on a running container: Docker answers 304."""

    def __init__(self, ref: str) -> None:
        super().__init__(f"container {ref} is already started")


class AlreadyStopped(NotModified):
    """``stop`` on a stopped container: Docker answers 304."""

    def __init__(self, ref: str) -> None:
        super().__init__(f"container {ref} is already stopped")


# --- system failures -----------------------------------------------------------------------


class RuntimeFailed(SystemFailure):
    """An OCI runtime command failed.

    ``status`` is its exit status and the message is the runtime's last error message (from its
    ``--log`` file or stderr), which Docker shows to users after "OCI runtime ... failed:".
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class MonitorLost(SystemFailure):
    """A container's monitor cannot be reached and left no exit record."""


class CorruptRecord(SystemFailure):
    """A state record on disk cannot be read: truncated, unknown version, or bad JSON."""
