"""Reads of the container store: ``ps`` with its filters, ``inspect``'s derived fields, ``top``.

All of it works on one snapshot of immutable records (``ContainerStore.all``), so a list never
waits on a container's lock. The rules are dockerd's (``daemon/list.go``): running containers
only unless ``all`` (a ``status`` filter or a ``limit`` implies all), newest first, filters
AND-ed across keys and OR-ed within one, regular expressions for ``name`` and ``id``, and the
messages ``invalid filter 'key'`` / ``invalid filter 'key=value'``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

from dockyard.config import Paths
from dockyard.engine.container import Container, ContainerStatus
from dockyard.engine.details import (
    ContainerDetails,
    ContainerListing,
    EndpointInfo,
    MountPoint,
    NetworkSettings,
    status_text,
)
from dockyard.engine.seams import ImageSource
from dockyard.engine.store import ContainerStore
from dockyard.engine.timestamps import parse_time
from dockyard.errors import InvalidArgument, NotFound, SystemFailure
from dockyard.util import proc

__all__ = ["details", "list_containers", "parse_ps_output", "prunable", "top"]

_FILTERS = frozenset(
    {"ancestor", "before", "exited", "expose", "health", "id", "label", "name", "network", "publish"}
    | {"since", "status", "volume", "is-task"}
)
_STATUSES = frozenset(s.value for s in ContainerStatus)
_HEALTH = frozenset({"starting", "healthy", "unhealthy", "none"})


def _invalid(key: str, value: str | None = None) -> InvalidArgument:
    return InvalidArgument(f"invalid filter '{key}'" if value is None else f"invalid filter '{key}={value}'")


def _check_filters(filters: dict[str, list[str]]) -> None:
    for key, values in filters.items():
        if key not in _FILTERS:
            raise _invalid(key)
        for value in values:
            if key == "status" and value not in _STATUSES:
                raise _invalid(key, value)
            if key == "health" and value not in _HEALTH:
                raise _invalid(key, value)
            if key == "exited" and not value.lstrip("-").isdigit():
                raise _invalid(key, value)
            if key in ("name", "id"):
                try:
                    re.compile(value)
                except re.error:
                    raise _invalid(key, value) from None


def _label_match(labels: dict[str, str], values: list[str]) -> bool:
    for value in values:
        key, sep, want = value.partition("=")
        if key not in labels or (sep and labels[key] != want):
            return False
    return True


def _networks(container: Container) -> list[str]:
    return [container.host_config.network_mode or "bridge"]


def _matcher(
    filters: dict[str, list[str]], ordered: list[Container], images: _MemoImages
) -> Callable[[Container], bool]:
    """One predicate for every filter, resolving before/since/ancestor once."""
    position = {c.id: i for i, c in enumerate(ordered)}  # newest first
    before = _reference_positions(filters.get("before", []), ordered)
    since = _reference_positions(filters.get("since", []), ordered)
    ancestors = {images.image_id_for(v) or v for v in filters.get("ancestor", [])}

    def match(c: Container) -> bool:
        checks: tuple[tuple[str, Callable[[list[str]], bool]], ...] = (
            ("id", lambda vs: any(re.search(v, c.id) for v in vs)),
            ("name", lambda vs: any(re.search(v, f"/{c.name}") for v in vs)),
            ("status", lambda vs: c.state.status.value in vs),
            ("exited", lambda vs: c.state.status is ContainerStatus.EXITED and str(c.state.exit_code) in vs),
            ("label", lambda vs: _label_match(c.config.labels, vs)),
            ("ancestor", lambda vs: c.image_id in ancestors or c.config.image in ancestors),
            ("network", lambda vs: any(v in _networks(c) for v in vs)),
            ("health", lambda vs: (c.state.health.status if c.state.health else "none") in vs),
            (
                "expose",
                lambda vs: any(
                    v in c.config.exposed_ports or f"{v}/tcp" in c.config.exposed_ports for v in vs
                ),
            ),
            ("publish", lambda vs: False),
            ("volume", lambda vs: any(v in _mount_names(c) for v in vs)),
            ("is-task", lambda vs: "false" in vs),
        )
        for key, check in checks:
            values = filters.get(key)
            if values and not check(values):
                return False
        if before is not None and position[c.id] <= before:
            return False
        return since is None or position[c.id] < since

    return match


def _reference_positions(refs: list[str], ordered: list[Container]) -> int | None:
    """Index (newest first) of the container a before/since filter names."""
    if not refs:
        return None
    for i, c in enumerate(ordered):
        if refs[-1] in (c.id, c.name, f"/{c.name}") or (len(refs[-1]) >= 1 and c.id.startswith(refs[-1])):
            return i
    raise NotFound(f"No such container: {refs[-1]}")


def _mount_names(c: Container) -> list[str]:
    return [m.destination for m in mounts_of(c)] + [m.source for m in mounts_of(c)]


def list_containers(
    containers: list[Container],
    *,
    all: bool,
    limit: int,
    size: bool,
    filters: dict[str, list[str]] | None,
    images: ImageSource,
    paths: Paths,
    now: float,
    store: ContainerStore,
) -> list[ContainerListing]:
    """``GET /containers/json``.

    Raises:
        InvalidArgument: an unknown filter key or a bad value.
        NotFound: a before/since filter names no container.
    """
    filters = {k: v for k, v in (filters or {}).items() if v}
    _check_filters(filters)
    show_all = all or limit > 0 or "status" in filters or "exited" in filters
    ordered = sorted(containers, key=lambda c: parse_time(c.created), reverse=True)
    memo = _MemoImages(images)  # one lookup per image name per list, not per container
    match = _matcher(filters, ordered, memo)
    rows = []
    for container in ordered:
        if not show_all and not container.state.status.is_active():
            continue
        if not match(container):
            continue
        rows.append(_listing(container, images=memo, now=now, size=size, store=store))
        if 0 < limit <= len(rows):
            break
    return rows


class _MemoImages:
    """An ImageSource whose ``image_id_for`` answers each name once (for the length of a list)."""

    def __init__(self, images: ImageSource) -> None:
        self._images = images
        self._ids: dict[str, str | None] = {}

    def image_id_for(self, name: str) -> str | None:
        if name not in self._ids:
            self._ids[name] = self._images.image_id_for(name)
        return self._ids[name]

    def rootfs_usage(self, container_id: str) -> tuple[int, int]:
        return self._images.rootfs_usage(container_id)


def command_text(container: Container) -> str:
    """The COMMAND column: path and args, args with spaces single-quoted (moby list.go)."""
    if not container.args:
        return container.path
    args = [f"'{a}'" if " " in a else a for a in container.args]
    return f"{container.path} {' '.join(args)}"


def _image_column(container: Container, images: _MemoImages) -> str:
    name = container.config.image
    if name == container.image_id:
        return name
    try:
        current = images.image_id_for(name)
    except Exception:
        current = None
    return name if current == container.image_id else container.image_id


def _listing(
    container: Container, *, images: _MemoImages, now: float, size: bool, store: ContainerStore
) -> ContainerListing:
    state = container.state
    size_rw = size_root = None
    if size:
        size_rw, size_root = images.rootfs_usage(container.id)
    return ContainerListing(
        container=container,
        status=status_text(
            state, now, started=parse_time(state.started_at), finished=parse_time(state.finished_at)
        ),
        image=_image_column(container, images),
        command=command_text(container),
        mounts=mounts_of(container),
        network_settings=NetworkSettings(networks={n: EndpointInfo() for n in _networks(container)}),
        size_rw=size_rw,
        size_root_fs=size_root,
    )


def mounts_of(container: Container) -> tuple[MountPoint, ...]:
    """Inspect's ``Mounts``: binds and tmpfs mounts, in request order."""
    points = []
    hc = container.host_config
    for bind in hc.binds:
        parts = bind.split(":")
        if len(parts) < 2:
            continue
        mode = parts[2] if len(parts) > 2 else ""
        options = mode.split(",") if mode else []
        propagation = next((o for o in options if o.endswith(("private", "shared", "slave"))), "rprivate")
        points.append(
            MountPoint(
                type="bind",
                source=parts[0],
                destination=parts[1],
                mode=mode,
                rw="ro" not in options,
                propagation=propagation,
            )
        )
    for spec in hc.mounts:
        propagation = str(
            (spec.bind_options or {}).get("Propagation", "") or ("rprivate" if spec.type == "bind" else "")
        )
        points.append(
            MountPoint(
                type=spec.type,
                source=spec.source,
                destination=spec.target,
                rw=not spec.read_only,
                propagation=propagation,
            )
        )
    for destination in hc.tmpfs:
        points.append(MountPoint(type="tmpfs", destination=destination))
    return tuple(points)


def details(
    container: Container, *, images: ImageSource, paths: Paths, store: ContainerStore, size: bool
) -> ContainerDetails:
    """``GET /containers/{id}/json``: the record and what the daemon derives now."""
    directory = paths.container_dir(container.id)
    notes = store.notes(container.id)
    sandbox_key = notes.netns if container.state.status.is_active() and notes.netns else ""
    settings = NetworkSettings(
        sandbox_id=container.id if sandbox_key else "",
        sandbox_key=sandbox_key,
        networks={n: EndpointInfo() for n in _networks(container)},
    )
    size_rw = size_root = None
    if size:
        size_rw, size_root = images.rootfs_usage(container.id)
    return ContainerDetails(
        container=container,
        resolv_conf_path=str(directory / "resolv.conf"),
        hostname_path=str(directory / "hostname"),
        hosts_path=str(directory / "hosts"),
        log_path=str(paths.container_log(container.id))
        if container.host_config.log_config.type != "none"
        else "",
        mounts=mounts_of(container),
        network_settings=settings,
        graph_driver=images.graph_driver(container.id),
        size_rw=size_rw,
        size_root_fs=size_root,
    )


def _parse_until(value: str, now: float) -> float:
    """A prune ``until``: a Unix timestamp, an RFC 3339 time, or a Go duration ago ("10m", "1h")."""
    try:
        return float(value)
    except ValueError:
        pass
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)", value)
    if match:
        scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}[match.group(2)]
        return now - float(match.group(1)) * scale
    seconds = parse_time(value)
    if seconds == 0.0:
        raise InvalidArgument(f'failed to parse value as time or duration: "{value}"')
    return seconds


def prunable(
    containers: list[Container], filters: dict[str, list[str]] | None, *, now: float
) -> list[Container]:
    """The stopped containers ``container prune`` removes (filters: until, label, label!).

    Raises:
        InvalidArgument: an unknown filter, or a bad ``until``.
    """
    filters = {k: v for k, v in (filters or {}).items() if v}
    for key in filters:
        if key not in ("until", "label", "label!"):
            raise InvalidArgument(f"invalid filter '{key}'")
    untils = [_parse_until(v, now) for v in filters.get("until", [])]
    chosen = []
    for c in containers:
        if c.state.status.is_active() or c.state.removal_in_progress:
            continue
        if untils and not parse_time(c.created) < min(untils):
            continue
        if filters.get("label") and not _label_match(c.config.labels, filters["label"]):
            continue
        if filters.get("label!") and _label_match(c.config.labels, filters["label!"]):
            continue
        chosen.append(c)
    return chosen


def _check_ps_args(ps_args: str) -> None:
    """moby ``validatePSArgs``: only ``pid=`` may rename the PID column."""
    for key, value in re.findall(r"\s+([^\s]*)=\s*(PID[^\s]*)", " " + ps_args):
        if key != "pid":
            raise InvalidArgument(f'specifying "{key}={value}" is not allowed')


def parse_ps_output(output: str, pids: list[int]) -> tuple[list[str], list[list[str]]]:
    """moby ``parsePSOutput``: the rows of ``ps`` whose PID is one of ``pids``.

    Raises:
        SystemFailure: ps printed no PID column, or a PID that is not a number.
    """
    lines = output.split("\n")
    titles = lines[0].split()
    if "PID" not in titles:
        raise SystemFailure("Couldn't find PID field in ps output")
    pid_index = titles.index("PID")
    wanted = set(pids)
    rows: list[list[str]] = []
    previous_matched = False
    for line in lines[1:]:
        fields = line.split()
        if not fields:
            continue
        if fields[pid_index] == "-":  # a thread line (ps -m): belongs to the process above
            if previous_matched:
                rows.append(_fit(fields, len(titles)))
            continue
        try:
            pid = int(fields[pid_index])
        except ValueError:
            raise SystemFailure(f"Unexpected pid '{fields[pid_index]}'") from None
        previous_matched = pid in wanted
        if previous_matched:
            rows.append(_fit(fields, len(titles)))
    return titles, rows


def _fit(fields: list[str], width: int) -> list[str]:
    """Merge the overhanging fields (the command's words) into the last column."""
    return [*fields[: width - 1], " ".join(fields[width - 1 :])]


async def top(pids: list[int], ps_args: str | None) -> tuple[list[str], list[list[str]]]:
    """Run the host's ``ps`` and keep the container's processes, as dockerd does.

    Raises:
        InvalidArgument: forbidden ps arguments. SystemFailure: ps failed.
    """
    args = ps_args or "-ef"
    _check_ps_args(args)
    argv = ["ps", *[a for a in args.split(" ") if a]]
    status, out, err = await proc.run_async(
        argv, timeout=30.0, check=False, env={"LC_ALL": "C", "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    )
    if status != 0:
        raise SystemFailure(f"ps: {err.decode(errors='replace').strip() or f'exit status {status}'}")
    return parse_ps_output(out.decode(errors="replace"), pids)
