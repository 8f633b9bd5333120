"""Engine API versions: which we speak, how a request picks one, and what changes between them.

Docker clients negotiate: they call ``/_ping``, read the ``Api-Version`` header (the newest
version the daemon speaks) and from then on prefix every path with ``/v<min(theirs, ours)>/``.
A path without a prefix means the newest version. dockerd checks the prefix against its range
(moby ``api/server/middleware/version.go``) and answers 400 with the messages below, which
clients show verbatim.

We advertise 1.45: docker-py 7's default, and the newest version whose shapes we implement
(the 1.46+ additions: image ``create`` events, ``manifests`` on image lists, platform
selectors on history/load/save, are not implemented). The docker 28 CLI asks for 1.50 on
``/_ping`` and negotiates down; Debian's 20.10 CLI speaks 1.41. The minimum is 1.24, docker-py's
minimum (moby's own default minimum is 1.40 since v29, but older clients cost us nothing).

Behaviour that changed between versions is decided here, by name, so a handler reads
``if versions.has_stop_signal(request.version)`` rather than comparing numbers inline; the
changelog (moby ``api/docs/CHANGELOG.md``) is the reference for each switch.
"""

from __future__ import annotations

from typing import Final

from dockyard.errors import InvalidArgument

__all__ = [
    "MAX_VERSION",
    "MIN_VERSION",
    "ApiVersion",
    "UnsupportedVersion",
    "check_version",
    "parse_version",
]

ApiVersion = tuple[int, int]
"""``(1, 45)``: comparable with ``<``; printed with :func:`format_version`."""

MAX_VERSION: Final[ApiVersion] = (1, 45)
"""The newest API version we speak, sent as ``Api-Version`` and ``ApiVersion``."""

MIN_VERSION: Final[ApiVersion] = (1, 24)
"""The oldest API version we accept (``MinAPIVersion``)."""


class UnsupportedVersion(InvalidArgument):
    """A ``/vX.Y/`` prefix outside our range; dockerd's wording, HTTP 400."""


def format_version(version: ApiVersion) -> str:
    """``(1, 45)`` -> ``"1.45"``."""
    return f"{version[0]}.{version[1]}"


def parse_version(text: str) -> ApiVersion | None:
    """``"1.41"`` -> ``(1, 41)``; ``"1"`` -> ``(1, 0)``; None when it is not ``digits[.digits]``.

    Docker compares versions field by field as integers (``versions.compare``), so ``1.5`` is
    older than ``1.24``; extra fields (``1.41.0``) are ignored, as they compare equal there.
    """
    parts = text.split(".")
    if not parts or not all(p.isdigit() and p.isascii() for p in parts) or len(text) > 16:
        return None
    major = int(parts[0])
    minor = int(parts[1]) if len(parts) > 1 else 0
    return (major, minor)


def check_version(text: str | None) -> ApiVersion:
    """The version a request speaks: its ``/vX.Y/`` prefix, or the newest when it has none.

    Raises:
        UnsupportedVersion: the prefix is older than :data:`MIN_VERSION` or newer than
            :data:`MAX_VERSION` (messages as dockerd words them).
    """
    if text is None or text == "":
        return MAX_VERSION
    version = parse_version(text)
    if version is None:
        # dockerd's router only matches digits and dots; anything else never reaches a handler.
        raise UnsupportedVersion(f"client version {text} is invalid")
    if version < MIN_VERSION:
        raise UnsupportedVersion(
            f"client version {text} is too old. Minimum supported API version is "
            f"{format_version(MIN_VERSION)}, please upgrade your client to a newer version"
        )
    if version > MAX_VERSION:
        newest = format_version(MAX_VERSION)
        raise UnsupportedVersion(
            f"client version {text} is too new. Maximum supported API version is {newest}"
        )
    return version


# --- behaviour switches (moby api/docs/CHANGELOG.md) -----------------------------------------


def has_stop_signal(version: ApiVersion) -> bool:
    """1.42: ``POST /containers/{id}/stop`` and ``/restart`` accept ``signal``."""
    return version >= (1, 42)


def has_wait_condition(version: ApiVersion) -> bool:
    """1.30: ``/wait`` reads ``condition`` (an unknown one is a 400); older versions ignore it.

    The changelog records the 400 under 1.42, but moby validates it for every version from 1.30
    (``postContainersWait``), and clients see moby's behaviour.
    """
    return version >= (1, 30)


def has_multiplexed_media_type(version: ApiVersion) -> bool:
    """1.42: non-tty attach/exec/logs say ``application/vnd.docker.multiplexed-stream``."""
    return version >= (1, 42)


def has_console_size(version: ApiVersion) -> bool:
    """1.42: ``ConsoleSize`` on create (HostConfig) and exec is honoured."""
    return version >= (1, 42)


def emits_none_repo_tags(version: ApiVersion) -> bool:
    """Before 1.43, untagged images list ``<none>:<none>`` and ``<none>@<none>``."""
    return version < (1, 43)


def has_virtual_size(version: ApiVersion) -> bool:
    """``VirtualSize`` on image list and inspect was removed in 1.44."""
    return version < (1, 44)


def has_annotations(version: ApiVersion) -> bool:
    """1.43: ``HostConfig.Annotations``."""
    return version >= (1, 43)


def has_health_start_interval(version: ApiVersion) -> bool:
    """1.44: ``Healthcheck.StartInterval``."""
    return version >= (1, 44)


def allows_multiple_networks(version: ApiVersion) -> bool:
    """1.44: create may name several ``EndpointsConfig`` entries."""
    return version >= (1, 44)


def has_image_container_config(version: ApiVersion) -> bool:
    """1.45 dropped ``Container`` and ``ContainerConfig`` from image inspect."""
    return version < (1, 45)


def has_platform_on_create(version: ApiVersion) -> bool:
    """1.41: ``platform`` on container create."""
    return version >= (1, 41)


def has_auto_remove(version: ApiVersion) -> bool:
    """1.25: ``HostConfig.AutoRemove`` is the daemon's job (before, the client removed)."""
    return version >= (1, 25)


def has_shared_size(version: ApiVersion) -> bool:
    """1.42: ``shared-size`` on ``GET /images/json``."""
    return version >= (1, 42)
