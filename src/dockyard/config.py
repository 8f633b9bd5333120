"""The daemon's configuration and every on-disk location it uses.

``Paths`` is the only place that joins directory names: a room that needs a file asks ``Paths``
for it (containerd's ``blobPath`` habit), so the layout can be read, changed and tested here.

Two roots, as in dockerd:

- ``data_root`` (default ``/var/lib/dockyard``) persists across reboots: the state database,
  blobs, unpacked layers, container directories (logs, hosts files) and volumes.
- ``exec_root`` (default ``/run/dockyard``) lives for one boot: bundles and their mounted root
  filesystems, monitor sockets and exit records, and the OCI runtimes' state directories.

Unix socket paths are limited to 107 bytes. Monitor sockets therefore live under a short
per-container directory name (the first 16 hex digits of the ID are unique in practice, and the
engine checks for collisions when it creates a container).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DEFAULT_HOST", "DaemonConfig", "Paths", "RuntimeEntry", "find_program"]

DEFAULT_HOST = "unix:///run/dockyard.sock"
"""Where ``dockyardd`` listens and ``dockyard`` connects when nothing else is configured."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Paths:
    """Every file and directory of one daemon, derived from its two roots."""

    data_root: Path
    exec_root: Path

    # --- data root -------------------------------------------------------------------------
    @property
    def state_db(self) -> Path:
        """The SQLite database (WAL) holding every state record."""
        return self.data_root / "state.db"

    @property
    def content_root(self) -> Path:
        """The content store: ``blobs/sha256/<hex>`` and ``ingest/``."""
        return self.data_root / "content"

    @property
    def blobs_root(self) -> Path:
        """Committed blobs: one directory per digest algorithm."""
        return self.content_root / "blobs"

    def blob_dir(self, algorithm: str) -> Path:
        """Committed blobs of one digest algorithm."""
        return self.blobs_root / algorithm

    def blob(self, algorithm: str, hex_digest: str) -> Path:
        """A committed blob."""
        return self.blob_dir(algorithm) / hex_digest

    @property
    def ingest_root(self) -> Path:
        """Blobs being written; nothing here is trusted until committed."""
        return self.content_root / "ingest"

    @property
    def snapshots_root(self) -> Path:
        """Unpacked layers and containers' writable layers (overlay upper/work dirs)."""
        return self.data_root / "snapshots"

    @property
    def daemon_lock(self) -> Path:
        """Held (flock) by the one daemon that owns this data root."""
        return self.data_root / "dockyardd.lock"

    @property
    def engine_id(self) -> Path:
        """The engine's persistent ID (``docker info``'s ID)."""
        return self.data_root / "engine-id"

    @property
    def containers_root(self) -> Path:
        """Parent of every container directory."""
        return self.data_root / "containers"

    def container_dir(self, container_id: str) -> Path:
        """Per-container files that persist: hostname, hosts, resolv.conf, the json-file log."""
        return self.containers_root / container_id

    def container_log(self, container_id: str) -> Path:
        """The json-file log, named as Docker names it."""
        return self.container_dir(container_id) / f"{container_id}-json.log"

    @property
    def volumes_root(self) -> Path:
        """Named volumes of the local driver: ``<name>/_data``."""
        return self.data_root / "volumes"

    @property
    def tmp_root(self) -> Path:
        """Scratch space on the data root's filesystem (so renames into place are atomic)."""
        return self.data_root / "tmp"

    # --- exec root -------------------------------------------------------------------------
    @property
    def default_pidfile(self) -> Path:
        """Where ``dockyardd`` writes its pid unless ``--pidfile`` says otherwise."""
        return self.exec_root / "dockyardd.pid"

    @property
    def bundles_root(self) -> Path:
        """Parent of every bundle."""
        return self.exec_root / "bundles"

    def bundle(self, container_id: str) -> Path:
        """The OCI bundle handed to the runtime: ``config.json`` and the ``rootfs`` mount point."""
        return self.bundles_root / container_id

    @property
    def monitors_root(self) -> Path:
        """Parent of every monitor directory."""
        return self.exec_root / "m"

    def monitor_dir(self, task_id: str) -> Path:
        """A monitor's directory: attach socket, pid file, exit record, exec process.json.

        ``task_id`` is a container ID or an exec ID; only its first 16 hex digits are used so the
        socket path stays under the 107-byte limit of ``sun_path``.
        """
        return self.monitors_root / task_id[:16]

    @property
    def runtimes_root(self) -> Path:
        """Parent of the OCI runtimes' state directories."""
        return self.exec_root / "runtime"

    def runtime_root(self, runtime_name: str) -> Path:
        """The ``--root`` state directory passed to an OCI runtime."""
        return self.runtimes_root / runtime_name

    @property
    def netns_root(self) -> Path:
        """Parent of the containers' network namespace files."""
        return self.exec_root / "netns"

    def netns(self, container_id: str) -> Path:
        """A container's network namespace, bind-mounted so it outlives its processes."""
        return self.netns_root / container_id[:16]


@dataclass(frozen=True, slots=True, kw_only=True)
class RuntimeEntry:
    """An OCI runtime the daemon may use: ``--add-runtime name=path`` or a built-in one."""

    name: str
    path: str
    args: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class DaemonConfig:
    """What ``dockyardd`` was asked to do, after its flags were parsed and checked."""

    hosts: tuple[str, ...] = (DEFAULT_HOST,)
    data_root: Path = Path("/var/lib/dockyard")
    exec_root: Path = Path("/run/dockyard")
    pidfile: Path | None = None
    default_runtime: str = "dockyard-runtime"
    runtimes: tuple[RuntimeEntry, ...] = ()
    insecure_registries: tuple[str, ...] = ()
    registry_mirrors: tuple[str, ...] = ()
    cgroup_parent: str = "/dockyard"
    log_level: str = "info"
    socket_group: str = "docker"
    shutdown_timeout: float = 15.0
    default_stop_timeout: int = 10
    tls: bool = False
    tls_verify: bool = False
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    labels: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def paths(self) -> Paths:
        """The on-disk layout for this daemon's roots."""
        return Paths(data_root=self.data_root, exec_root=self.exec_root)


def find_program(name: str) -> str | None:
    """Locate one of our own programs, preferring the installation this Python runs from.

    The daemon spawns ``dockyard-monitor`` and ``dockyard-runtime``; they must come from the same
    installation as the daemon (a venv), not whatever is first on ``PATH``.
    """
    import shutil
    import sys

    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)
