"""Daemon restart: reconcile every container record with what outlived the previous daemon.

The previous daemon may have stopped cleanly or been killed at any instruction. Its containers
kept running under their monitors (docs/architecture.md section 3, "Daemon restart"). For each
record, on its own (a failure is logged and never aborts start-up, as containerd's ``loadShims``):

- **Half-created** (``creating`` still set): the create never finished; undo it.
- **Being removed**: finish the removal.
- **Running, paused or restarting** by the record:
  - the monitor answers: take the task over (running containers stay running, attachable and
    loggable);
  - the monitor is gone but left its exit record: record the exit with the right code, clean
    up, apply ``--rm`` and the restart policy;
  - neither: the monitor died before its process (it was SIGKILLed with the daemon, say). A
    process without its monitor cannot be supervised (no stdio, no exit record), so, as with the
    daemon up (``lifecycle.end_orphaned_task``, containerd's ``cleanupAfterDeadShim``), the
    runtime's ``kill --all`` and ``delete --force`` end it whatever state it is in, and the
    exit is recorded as killed (137) and cleaned up.
- **Stopped**: make sure its root filesystem is not left mounted.

Then leftovers of containers that no longer exist (bundles, monitor directories, network
namespaces) are removed, running execs are watched again, and restart policies run as dockerd's
restore does: a stopped container that has run before restarts if its policy says so, with
``always`` ignoring a manual stop and ``unless-stopped`` honouring it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from pathlib import Path

from dockyard.config import Paths
from dockyard.engine import netns
from dockyard.engine.container import Container, ContainerStatus
from dockyard.engine.container_service import ContainerService
from dockyard.engine.execs import ExecService
from dockyard.engine.restart import should_restart
from dockyard.engine.store import ContainerStore
from dockyard.errors import DockyardError, MonitorLost

__all__ = ["recover"]

log = logging.getLogger(__name__)


async def recover(
    containers: ContainerService, execs: ExecService, *, store: ContainerStore, paths: Paths
) -> None:
    """Reconcile the store with monitors, runtimes and the disk; then apply restart policies."""
    for container in store.all():
        try:
            await _recover_one(containers, container, store=store, paths=paths)
        except Exception:
            log.exception("recovery failed container=%s; it is left as recorded", container.id[:12])
    await execs.recover()
    await asyncio.to_thread(_sweep, store, paths)
    await _restart_policies(containers, store)


async def _recover_one(
    containers: ContainerService, container: Container, *, store: ContainerStore, paths: Paths
) -> None:
    notes = store.notes(container.id)
    if (
        notes.creating
        or container.state.removal_in_progress
        or container.state.status is ContainerStatus.REMOVING
    ):
        await containers.finish_removal(container)
        return
    if not container.state.status.is_active() and not notes.task_id:
        await containers.unmount_if_stopped(container)
        return
    if container.state.status is ContainerStatus.RESTARTING and not notes.task_id:
        containers.settle_restarting(container)  # between two runs: the restart policy decides
        return
    monitor_dir = paths.monitor_dir(container.id)
    try:
        monitor = await containers.monitors.connect(monitor_dir)
        state = await monitor.state()
    except MonitorLost:
        await _without_monitor(containers, container)
        return
    if state.status == "exited" and state.exit is not None:
        await containers.record_exit(container, state.exit, monitor)
        return
    if state.status == "created":
        # The daemon died between "runtime create" and "start": nobody will start this process.
        # Kill it and let its monitor record the end, as for any other exit.
        try:
            await containers.runtime_control(container).kill(container.id, "KILL", all=True)
        except DockyardError:
            pass
        await containers.record_exit(container, await monitor.wait(), monitor)
        return
    containers.adopt(container, monitor, pid=state.pid)
    log.info("recovered running container=%s pid=%d", container.id[:12], state.pid)


async def _without_monitor(containers: ContainerService, container: Container) -> None:
    log.warning("monitor lost while the daemon was down container=%s, ending its task", container.id[:12])
    record = await containers.end_orphaned_task(container, pid=container.state.pid)
    await containers.record_exit(container, record, None)


def _sweep(store: ContainerStore, paths: Paths) -> None:
    """Remove bundles, monitor directories and network namespaces nobody owns. Blocking."""
    ids = store.ids()
    prefixes = {i[:16] for i in ids}
    for entry in _entries(paths.bundles_root):
        if entry.name not in ids:
            rootfs = entry / "rootfs"
            if os.path.ismount(rootfs):
                log.warning("unmounting the leftover rootfs %s", rootfs)
                from dockyard.util import libc

                try:
                    libc.umount2(str(rootfs), libc.MNT_DETACH)
                except OSError as exc:
                    log.warning("cannot unmount %s: %s", rootfs, exc)
                    continue
            shutil.rmtree(entry, ignore_errors=True)
    for entry in _entries(paths.netns_root):
        if entry.name not in prefixes:
            netns.remove_netns(entry)
    live_execs = store.running_exec_prefixes()
    for entry in _entries(paths.monitors_root):
        if entry.name not in prefixes and entry.name not in live_execs:
            shutil.rmtree(entry, ignore_errors=True)


def _entries(directory: Path) -> list[Path]:
    try:
        return list(directory.iterdir())
    except FileNotFoundError:
        return []


async def _restart_policies(containers: ContainerService, store: ContainerStore) -> None:
    """dockerd's restore: restart stopped containers whose policy asks for it."""
    starts = []
    for container in store.all():
        notes = store.notes(container.id)
        if container.state.status is not ContainerStatus.EXITED or not notes.started_before:
            continue
        if containers.restart_manager.is_pending(container.id):
            continue
        if should_restart(
            container.host_config.restart_policy,
            exit_code=container.state.exit_code,
            manually_stopped=notes.manually_stopped,
            restart_count=container.state.restart_count,
        ):
            starts.append(containers.start(container.id))
    for result in await asyncio.gather(*starts, return_exceptions=True):
        if isinstance(result, BaseException):
            log.warning("restart at daemon start failed: %s", result)
