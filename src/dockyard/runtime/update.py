"""``update``'s input: ``--resources FILE`` (runtime-spec ``LinuxResources`` JSON) and the flags.

Kept out of the create path's import closure: none of this runs when a container starts.
"""

from __future__ import annotations

import sys

from dockyard.errors import InvalidArgument
from dockyard.oci import runtime_spec
from dockyard.util import jsoncodec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.runtime.cli import Parsed

__all__ = ["resources_from"]

_SIZE_SUFFIX = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def _size(text: str, flag: str) -> int:
    """runc's RAMInBytes: ``512m``, ``1g``, ``-1``; plain numbers are bytes."""
    value = text.strip().lower().removesuffix("b")
    multiplier = _SIZE_SUFFIX.get(value[-1:], 1) if value else 1
    digits = value[:-1] if multiplier != 1 else value
    try:
        return int(digits) * multiplier
    except ValueError:
        raise InvalidArgument(f"invalid value for {flag}: {text}") from None


def _int(text: str, flag: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidArgument(f"invalid value for {flag}: {text}") from None


def resources_from(parsed: Parsed) -> runtime_spec.LinuxResources:
    """``update``'s resources: ``--resources FILE`` (``-`` for stdin) and/or the flags.

    Raises:
        InvalidArgument: unreadable or malformed JSON, or a bad flag value.
    """
    data: dict[str, object] = {}
    path = parsed.flag("resources")
    if path is not None:
        try:
            if path == "-":
                text = sys.stdin.read()
            else:
                with open(path) as f:
                    text = f.read()
            loaded = jsoncodec.loads(text)
        except (OSError, jsoncodec.JSONDecodeError) as exc:
            raise InvalidArgument(f"update --resources {path}: {exc}") from None
        if not isinstance(loaded, dict):
            raise InvalidArgument(f"update --resources {path}: expected a JSON object")
        data = loaded
    memory = dict(data.get("memory") or {})  # type: ignore[call-overload]
    cpu = dict(data.get("cpu") or {})  # type: ignore[call-overload]
    for flag, key in (("memory", "limit"), ("memory-swap", "swap"), ("memory-reservation", "reservation")):
        if parsed.flag(flag) is not None:
            memory[key] = _size(str(parsed.flag(flag)), flag)
    for flag, key in (("cpu-quota", "quota"), ("cpu-period", "period"), ("cpu-shares", "shares")):
        if parsed.flag(flag) is not None:
            cpu[key] = _int(str(parsed.flag(flag)), flag)
    for flag, key in (("cpuset-cpus", "cpus"), ("cpuset-mems", "mems")):
        if parsed.flag(flag) is not None:
            cpu[key] = parsed.flag(flag)
    if memory:
        data["memory"] = memory
    if cpu:
        data["cpu"] = cpu
    if parsed.flag("pids-limit") is not None:
        data["pids"] = {"limit": _int(str(parsed.flag("pids-limit")), "pids-limit")}
    if parsed.flag("blkio-weight") is not None:
        data["blockIO"] = {"weight": _int(str(parsed.flag("blkio-weight")), "blkio-weight")}
    resources = runtime_spec.LinuxResources.from_json(data, "resources")
    assert isinstance(resources, runtime_spec.LinuxResources)
    return resources
