"""The OCI runtimes this daemon can use, by name, and what each of them accepts.

Built in: ``dockyard-runtime`` (ours, from the same installation as the daemon), ``runc`` and
``crun`` when installed; ``--add-runtime name=path`` adds or replaces entries. Each runtime gets
its own state root (``config.Paths.runtime_root``), so two runtimes never see each other's
containers, and one ``OciRuntime`` client for the engine's control calls.

Runtimes differ in the namespaces they accept: runc 1.1 refuses ``time``. ``<runtime> features``
(runtime-spec ``features.md``) says which; it is asked once per runtime, lazily, and a runtime
that cannot answer is assumed not to support anything optional.
"""

from __future__ import annotations

import logging
import shutil

from dockyard.config import DaemonConfig, RuntimeEntry, find_program
from dockyard.engine.seams import RuntimeControl
from dockyard.errors import DockyardError, InvalidArgument
from dockyard.oci.runtime_cli import OciRuntime
from dockyard.util import jsoncodec, proc

__all__ = ["Runtimes"]

log = logging.getLogger(__name__)


def _builtin() -> list[RuntimeEntry]:
    entries = []
    ours = find_program("dockyard-runtime")
    if ours:
        entries.append(RuntimeEntry(name="dockyard-runtime", path=ours))
    for name in ("runc", "crun"):
        path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
        if path:
            entries.append(RuntimeEntry(name=name, path=path))
    return entries


class Runtimes:
    """Runtime entries by name, with a control client and a feature probe for each."""

    def __init__(
        self,
        config: DaemonConfig,
        *,
        entries: list[RuntimeEntry] | None = None,
        controls: dict[str, RuntimeControl] | None = None,
    ) -> None:
        """``entries`` replaces the built-in table and ``controls`` the control clients (tests)."""
        table = {e.name: e for e in (entries if entries is not None else _builtin())}
        table.update({e.name: e for e in config.runtimes})
        self._entries = table
        self._paths = config.paths
        self.default = config.default_runtime
        self._clients: dict[str, RuntimeControl] = dict(controls or {})
        self._time_ns: dict[str, bool] = {}

    def names(self) -> tuple[str, ...]:
        """Every runtime name, sorted."""
        return tuple(sorted(self._entries))

    def entry(self, name: str) -> RuntimeEntry:
        """The entry for ``name``.

        Raises:
            InvalidArgument: Docker's "Unknown runtime specified <name>".
        """
        try:
            return self._entries[name]
        except KeyError:
            raise InvalidArgument(f"Unknown runtime specified {name}") from None

    def root(self, name: str) -> str:
        """The runtime's ``--root``."""
        return str(self._paths.runtime_root(name))

    def control(self, name: str) -> RuntimeControl:
        """The control client (kill, pause, state, ...) for runtime ``name``."""
        client = self._clients.get(name)
        if client is None:
            entry = self.entry(name)
            client = OciRuntime(entry.path, root=self.root(name), args=entry.args, timeout=30.0)
            self._clients[name] = client
        return client

    async def supports_time_namespace(self, name: str) -> bool:
        """Whether ``<runtime> features`` lists the time namespace (cached)."""
        if name not in self._time_ns:
            self._time_ns[name] = "time" in await self._namespaces(name)
        return self._time_ns[name]

    async def _namespaces(self, name: str) -> list[str]:
        entry = self.entry(name)
        try:
            _, out, _ = await proc.run_async([entry.path, *entry.args, "features"], timeout=10.0)
            features = jsoncodec.loads(out)
        except (DockyardError, jsoncodec.JSONDecodeError, UnicodeDecodeError):
            log.info("runtime %s cannot describe its features; assuming the basic namespaces", name)
            return []
        linux = features.get("linux") if isinstance(features, dict) else None
        names = linux.get("namespaces") if isinstance(linux, dict) else None
        return [str(n) for n in names] if isinstance(names, list) else []
