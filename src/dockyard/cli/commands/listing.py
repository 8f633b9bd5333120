"""``dockyard ps`` / ``container ls``: the container list, formatted as docker formats it.

The daemon sends ``/containers/json`` entries; every column is computed here, client-side,
exactly as docker's ``formatter.ContainerContext`` computes it: the 12-digit ID, the image as
the user named it (a bare ID shortened, a digest dropped), the command quoted Go-style and cut
to 20 display columns with ``…``, CREATED relative to our clock, STATUS as the daemon wrote
it, ports grouped into ranges with published ones last, and the first name that is not a
legacy link. ``--format`` templates see the same object; ``{{json .}}`` marshals all of its
fields, sorted, HTML-escaped as Go's ``json.Marshal`` does.

This module is the one ``dockyard ps`` imports, so it pulls in the template engine only when a
custom ``--format`` is given: the default table is built directly.
"""

from __future__ import annotations

import time

from dockyard.cli import options
from dockyard.cli.commands.base import FORMAT_HELP, Cli, Spec
from dockyard.cli.gofmt import TemplateObject
from dockyard.cli.render import ellipsis, human_duration, human_size, tabwrite

__all__ = ["SPECS", "ContainerRow", "displayable_ports", "truncate_id"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

HEADERS = {
    "ID": "CONTAINER ID",
    "Names": "NAMES",
    "Image": "IMAGE",
    "Command": "COMMAND",
    "CreatedAt": "CREATED AT",
    "RunningFor": "CREATED",
    "Ports": "PORTS",
    "State": "STATE",
    "Status": "STATUS",
    "Size": "SIZE",
    "Labels": "LABELS",
    "Mounts": "MOUNTS",
    "LocalVolumes": "LOCAL VOLUMES",
    "Networks": "NETWORKS",
    "Platform": "PLATFORM",
}
DEFAULT_TABLE = (
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
)


def truncate_id(value: str) -> str:
    """docker's ``TruncateID``: drop an ``algorithm:`` prefix, keep 12 characters."""
    return value.partition(":")[2][:12] if ":" in value else value[:12]


def go_time_string(seconds: float) -> str:
    """Go's ``time.Unix(s, 0).String()`` in local time: ``2024-01-02 15:04:05 +0000 UTC``."""
    import datetime

    moment = datetime.datetime.fromtimestamp(int(seconds)).astimezone()
    return f"{moment:%Y-%m-%d %H:%M:%S %z} {moment.tzname()}"


class ContainerRow(TemplateObject):
    """One ``/containers/json`` entry as docker's ``ContainerContext`` presents it."""

    json_fields = (
        "Command",
        "CreatedAt",
        "ID",
        "Image",
        "Labels",
        "LocalVolumes",
        "Mounts",
        "Names",
        "Networks",
        "Platform",
        "Ports",
        "RunningFor",
        "Size",
        "State",
        "Status",
    )

    def __init__(self, entry: dict[str, object], trunc: bool, now: float) -> None:
        self.c = entry
        self.trunc = trunc
        self.now = now

    def _str(self, key: str) -> str:
        value = self.c.get(key)
        return value if isinstance(value, str) else ""

    def ID(self) -> str:
        return truncate_id(self._str("Id")) if self.trunc else self._str("Id")

    def Names(self) -> str:
        names = [str(n).removeprefix("/") for n in self.c.get("Names") or []]  # type: ignore[attr-defined]
        if self.trunc:
            return next((n for n in names if "/" not in n), "")
        return ",".join(names)

    def Image(self) -> str:
        image = self._str("Image")
        if not image:
            return "<no image>"
        if not self.trunc:
            return image
        short = truncate_id(self._str("ImageID"))
        if short == truncate_id(image):
            return short
        from dockyard.cli.commands.reference import parse_normalized
        from dockyard.errors import InvalidArgument

        try:
            ref = parse_normalized(image)
        except InvalidArgument:
            return image
        ref.digest = ""
        return ref.familiar()

    def Command(self) -> str:
        from dockyard.cli.gofmt import go_quote

        command = self._str("Command")
        return go_quote(ellipsis(command, 20) if self.trunc else command)

    def CreatedAt(self) -> str:
        return go_time_string(float(self.c.get("Created") or 0))  # type: ignore[arg-type]

    def RunningFor(self) -> str:
        return human_duration(self.now - float(self.c.get("Created") or 0)) + " ago"  # type: ignore[arg-type]

    def Ports(self) -> str:
        ports = self.c.get("Ports") or []
        return displayable_ports(ports)  # type: ignore[arg-type]

    def State(self) -> str:
        return self._str("State")

    def Status(self) -> str:
        return self._str("Status")

    def Size(self) -> str:
        size_rw = int(self.c.get("SizeRw") or 0)  # type: ignore[call-overload]
        size_root = int(self.c.get("SizeRootFs") or 0)  # type: ignore[call-overload]
        text = human_size(size_rw)
        return f"{text} (virtual {human_size(size_root)})" if size_root > 0 else text

    def Labels(self) -> str:
        labels = self.c.get("Labels") or {}
        assert isinstance(labels, dict)
        return ",".join(sorted(f"{k}={v}" for k, v in labels.items()))

    def Label(self, name: str) -> str:
        labels = self.c.get("Labels") or {}
        assert isinstance(labels, dict)
        return str(labels.get(name, ""))

    def Mounts(self) -> str:
        names = []
        for mount in self.c.get("Mounts") or []:  # type: ignore[attr-defined]
            name = mount.get("Name") or mount.get("Source") or ""
            names.append(ellipsis(name, 15) if self.trunc else name)
        return ",".join(names)

    def LocalVolumes(self) -> str:
        mounts = self.c.get("Mounts") or []
        return str(len([m for m in mounts if m.get("Driver") == "local"]))  # type: ignore[attr-defined]

    def Networks(self) -> str:
        settings = self.c.get("NetworkSettings") or {}
        networks = settings.get("Networks") or {} if isinstance(settings, dict) else {}
        return ",".join(sorted(networks))

    def Platform(self) -> object:
        descriptor = self.c.get("ImageManifestDescriptor")
        platform = descriptor.get("platform") if isinstance(descriptor, dict) else None
        return platform or None


def _ip_key(ip: str) -> tuple[int, tuple[int, ...]]:
    """netip.Addr ordering: invalid first, then IPv4, then IPv6, each numerically."""
    if not ip:
        return (0, ())
    if ":" in ip:
        import ipaddress

        try:
            return (2, tuple(ipaddress.IPv6Address(ip).packed))
        except ValueError:
            return (3, tuple(ip.encode()))
    try:
        return (1, tuple(int(p) for p in ip.split(".")))
    except ValueError:
        return (3, tuple(ip.encode()))


def _join_host_port(ip: str, port: str) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def displayable_ports(ports: Sequence[dict[str, object]]) -> str:
    """docker's ``DisplayablePorts``: ``443/tcp, 0.0.0.0:32769->80/tcp, [::]:32769->80/tcp``."""

    def sort_key(p: dict[str, object]) -> tuple[object, ...]:
        return (
            p.get("PrivatePort") or 0,
            _ip_key(str(p.get("IP") or "")),
            p.get("PublicPort") or 0,
            p.get("Type"),
        )

    groups: dict[str, list[int]] = {}
    result: list[str] = []
    mappings: list[str] = []
    for port in sorted(ports, key=sort_key):
        private = int(port.get("PrivatePort") or 0)  # type: ignore[call-overload]
        public = int(port.get("PublicPort") or 0)  # type: ignore[call-overload]
        kind, ip = str(port.get("Type") or ""), str(port.get("IP") or "")
        key = kind
        if ip:
            if public != private:
                mappings.append(f"{_join_host_port(ip, str(public))}->{private}/{kind}")
                continue
            key = f"{ip}/{kind}"
        group = groups.get(key)
        if group is None:
            groups[key] = [private, private]
        elif private == group[1] + 1:
            group[1] = private
        else:
            result.append(_form_group(key, group))
            groups[key] = [private, private]
    result += [_form_group(key, group) for key, group in groups.items()]
    return ", ".join(result + mappings)


def _form_group(key: str, group: list[int]) -> str:
    ip, _, kind = key.rpartition("/")
    text = str(group[0]) if group[0] == group[1] else f"{group[0]}-{group[1]}"
    if ip:
        text = f"{_join_host_port(ip, text)}->{text}"
    return f"{text}/{kind}"


# --- the command ----------------------------------------------------------------------------

F = options.Flag
PS_FLAGS = [
    F("all", "bool", "Show all containers (default shows just running)", short="a"),
    F("filter", "filter", "Filter output based on conditions provided", short="f"),
    F("format", "string", FORMAT_HELP),
    F(
        "last",
        "int",
        "Show n last created containers (includes all states)",
        short="n",
        default=-1,
        default_text="-1",
    ),
    F("latest", "bool", "Show the latest created container (includes all states)", short="l"),
    F("no-trunc", "bool", "Don't truncate output"),
    F("quiet", "bool", "Only display container IDs", short="q"),
    F("size", "bool", "Display total file sizes", short="s"),
]


def _choose_format(cli: Cli, parsed: options.Parsed) -> str:
    fmt = parsed.text("format")
    if not fmt:
        config_format = cli.config().get("psFormat")
        fmt = (
            config_format
            if isinstance(config_format, str) and config_format and not parsed.flag("quiet")
            else ""
        )
    if parsed.flag("quiet") and fmt in ("", "table"):
        return "{{.ID}}"
    if fmt in ("", "table"):
        return DEFAULT_TABLE + ("\t{{.Size}}" if parsed.flag("size") else "")
    return fmt


def run_ps(cli: Cli, parsed: options.Parsed) -> int:
    """``ps``: ``GET /containers/json`` (``all``, ``limit``, ``size``, ``filters``) as docker's table."""
    fmt = _choose_format(cli, parsed)
    limit = parsed.number("last")
    if parsed.flag("latest") and limit == -1:
        limit = 1
    size = parsed.flag("size")
    if not size and "size" not in parsed.changed and not parsed.flag("quiet") and ".Size" in fmt:
        size = True  # docker requests sizes when the template uses them
    query: dict[str, object] = {}
    if parsed.flag("all"):
        query["all"] = "1"
    if limit > 0:
        query["limit"] = str(limit)
    if size:
        query["size"] = "1"
    if parsed.items("filter"):
        from dockyard.util import jsoncodec

        query["filters"] = jsoncodec.dumps(options.parse_filters(parsed.items("filter")))
    entries = cli.client.call("GET", "/containers/json", query=query)
    assert isinstance(entries, list)
    now = time.time()
    rows = [ContainerRow(e, not parsed.flag("no-trunc"), now) for e in entries]
    _write(cli, fmt, rows)
    return 0


def _write(cli: Cli, fmt: str, rows: list[ContainerRow]) -> None:
    if fmt == "{{.ID}}":
        cli.out.write("".join(r.ID() + "\n" for r in rows))
    elif fmt.startswith(DEFAULT_TABLE) and fmt[len(DEFAULT_TABLE) :] in ("", "\t{{.Size}}"):
        # The default table, without running the template engine.
        sized = fmt != DEFAULT_TABLE
        head = "CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tPORTS\tNAMES" + ("\tSIZE" if sized else "")
        lines = [head]
        for r in rows:
            cells = [r.ID(), r.Image(), r.Command(), r.RunningFor(), r.Status(), r.Ports(), r.Names()]
            lines.append("\t".join(cells + ([r.Size()] if sized else [])))
        cli.out.write(tabwrite("\n".join(lines) + "\n"))
    else:
        from dockyard.cli.render import write_formatted

        write_formatted(fmt, rows, HEADERS, cli.out)


SPECS = {
    "ps": Spec("ps [OPTIONS]", PS_FLAGS, run_ps, aliases="container ls,container list,container ps,ps"),
}
