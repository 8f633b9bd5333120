"""The state of a container as an OCI runtime reports it (runtime-spec ``runtime.md`` "State").

Two shapes share one class. ``<runtime> state ID`` prints runc's JSON: the OCI fields
(``ociVersion``, ``id``, ``pid``, ``status``, ``bundle``, ``annotations``) plus runc's
``rootfs``, ``created`` (RFC 3339 with nanoseconds, Go's ``RFC3339Nano``, trailing zeros
trimmed) and ``owner``. Hooks receive the OCI subset on stdin (``hook_json``).

This module is loaded by the runtime at every start and by the engine's runtime client, so it
is stdlib-only without ``json``, ``dataclasses`` or ``enum`` (docs/unwritten-rules.md).
"""

from __future__ import annotations

import time

from dockyard.errors import CorruptRecord

__all__ = ["STATUSES", "State", "rfc3339_nano"]

STATUSES = ("creating", "created", "running", "stopped", "paused")
"""runtime-spec statuses, plus runc's ``paused``."""


def rfc3339_nano(ns: int) -> str:
    """``ns`` (nanoseconds since the epoch) as Go's ``time.RFC3339Nano`` in UTC.

    Go trims trailing zeros of the fraction and drops it entirely when it is zero, so
    ``2026-11-22T13:42:31.976152Z`` and ``2026-11-22T13:42:31Z`` are both valid outputs.
    """
    seconds, frac = divmod(ns, 1_000_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    fraction = f"{frac:09d}".rstrip("0")
    return f"{stamp}.{fraction}Z" if fraction else f"{stamp}Z"


class State:
    """One container's state. ``pid`` is 0 when there is no process (stopped)."""

    __slots__ = ("annotations", "bundle", "created", "id", "oci_version", "owner", "pid", "rootfs", "status")

    def __init__(
        self,
        *,
        id: str,
        status: str,
        pid: int,
        bundle: str,
        oci_version: str = "1.2.0",
        rootfs: str = "",
        created: str = "",
        owner: str = "",
        annotations: dict[str, str] | None = None,
    ) -> None:
        self.oci_version = oci_version
        self.id = id
        self.status = status
        self.pid = pid
        self.bundle = bundle
        self.rootfs = rootfs
        self.created = created
        self.owner = owner
        self.annotations = dict(annotations or {})

    def hook_json(self) -> dict[str, object]:
        """The OCI State a hook reads on stdin (runtime-spec ``runtime.md``)."""
        out: dict[str, object] = {
            "ociVersion": self.oci_version,
            "id": self.id,
            "status": self.status,
            "pid": self.pid,
            "bundle": self.bundle,
        }
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    def to_json(self) -> dict[str, object]:
        """runc's ``state`` output, in runc's key order (``annotations`` only when set)."""
        out: dict[str, object] = {
            "ociVersion": self.oci_version,
            "id": self.id,
            "pid": self.pid,
            "status": self.status,
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "owner": self.owner,
        }
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    @classmethod
    def from_json(cls, data: object) -> State:
        """Parse ``<runtime> state`` output (runc, crun or ours); unknown fields are ignored.

        Raises:
            CorruptRecord: a required field is missing or has the wrong type.
        """
        if not isinstance(data, dict):
            raise CorruptRecord("runtime state: expected a JSON object")
        try:
            ident, status, bundle = data["id"], data["status"], data.get("bundle", "")
            pid = data.get("pid", 0)
        except KeyError as exc:
            raise CorruptRecord(f"runtime state: missing field {exc.args[0]}") from None
        if not isinstance(ident, str) or not isinstance(status, str) or not isinstance(bundle, str):
            raise CorruptRecord("runtime state: id, status and bundle must be strings")
        if isinstance(pid, bool) or not isinstance(pid, int):
            raise CorruptRecord("runtime state: pid must be an integer")
        annotations = data.get("annotations") or {}
        if not isinstance(annotations, dict):
            raise CorruptRecord("runtime state: annotations must be an object")
        return cls(
            id=ident,
            status=status,
            pid=pid,
            bundle=bundle,
            oci_version=str(data.get("ociVersion", "")),
            rootfs=str(data.get("rootfs", "")),
            created=str(data.get("created", "")),
            owner=str(data.get("owner", "")),
            annotations={str(k): str(v) for k, v in annotations.items()},
        )
