"""``version``, ``info`` and the generic ``inspect``, printed as docker prints them.

``version`` is docker's version template run through a tabwriter (minwidth 20, padding 1): a
Client block about this program (its API version marked "downgraded" when the daemon is older)
and a Server block built from ``/version``'s components. ``info`` is docker's
``prettyPrintInfo``: a Client block, then the daemon's ``/info`` line by line. Both accept
``--format`` templates over the same data, and ``json``.

``inspect`` without ``--type`` tries each kind of object in docker's order (container, image,
network, volume) and reports ``Error: No such object: <name>`` when none has the name.
"""

from __future__ import annotations

import platform
import sys

from dockyard.cli import options
from dockyard.cli.commands.base import INSPECT_FORMAT_HELP, Cli, Spec, StatusError
from dockyard.cli.gofmt import GoMap, GoStruct, to_go
from dockyard.errors import DockyardError, NotFound

__all__ = ["SPECS"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

F = options.Flag

VERSION_TEMPLATE = """{{with .Client -}}
Client:{{if ne .Platform nil}}{{if ne .Platform.Name ""}} {{.Platform.Name}}{{end}}{{end}}
 Version:\t{{.Version}}
 API version:\t{{.APIVersion}}
{{- if ne .APIVersion .DefaultAPIVersion}} (downgraded from {{.DefaultAPIVersion}}){{end}}
 Go version:\t{{.GoVersion}}
 Git commit:\t{{.GitCommit}}
 Built:\t{{.BuildTime}}
 OS/Arch:\t{{.Os}}/{{.Arch}}
 Context:\t{{.Context}}
{{- end}}

{{- if ne .Server nil}}{{with .Server}}

Server:{{if ne .Platform.Name ""}} {{.Platform.Name}}{{end}}
 {{- range $component := .Components}}
 {{$component.Name}}:
  {{- if eq $component.Name "Engine" }}
  Version:\t{{.Version}}
  API version:\t{{index .Details "ApiVersion"}} (minimum version {{index .Details "MinAPIVersion"}})
  Go version:\t{{index .Details "GoVersion"}}
  Git commit:\t{{index .Details "GitCommit"}}
  Built:\t{{index .Details "BuildTime"}}
  OS/Arch:\t{{index .Details "Os"}}/{{index .Details "Arch"}}
  Experimental:\t{{index .Details "Experimental"}}
  {{- else }}
  Version:\t{{$component.Version}}
  {{- range $key := detailsOrder $component}}
  {{$key}}:\t{{index $component.Details $key}}
   {{- end}}
  {{- end}}
 {{- end}}
 {{- end}}{{- end}}"""


def _client_version(cli: Cli, api_version: str) -> GoStruct:
    from dockyard.cli.client import MAX_API
    from dockyard.cli.main import VERSION

    machine = platform.machine()
    return GoStruct(
        Platform=GoStruct(Name="dockyard"),
        Version=VERSION,
        ApiVersion=api_version,  # JSON names as docker's clientVersion marshals them
        DefaultAPIVersion=MAX_API,
        GoVersion=f"python{platform.python_version()}",  # the runtime's version, as dockyardd reports
        GitCommit="",
        BuildTime="",
        Os=sys.platform,
        Arch={"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine),
        Context="default",
    )


def _ansic(stamp: object) -> object:
    """docker's ``reformatDate``: an RFC 3339 build time as ANSIC, ``Mon Jan  2 15:04:05 2006``."""
    import datetime

    if not isinstance(stamp, str):
        return stamp
    text = stamp.replace("Z", "+00:00")
    if "." in text:  # fromisoformat takes at most microseconds; Go writes nanoseconds
        head, _, rest = text.partition(".")
        text = head + rest.lstrip("0123456789")
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        return stamp
    return f"{moment:%a %b} {moment.day:2d} {moment:%H:%M:%S %Y}"


def _server_version(raw: object) -> GoStruct | None:
    server = to_go(raw)
    if not isinstance(server, GoStruct):
        return None
    components = [c for c in server.get("Components") or [] if isinstance(c, GoStruct)]  # type: ignore[attr-defined]
    engine = next((c for c in components if c.get("Name") == "Engine"), None)
    if engine is None:
        engine = GoStruct(
            Name="Engine",
            Version=server.get("Version", ""),
            Details=GoMap(
                {
                    "ApiVersion": server.get("ApiVersion", ""),
                    "MinAPIVersion": server.get("MinAPIVersion", ""),
                    "GitCommit": server.get("GitCommit", ""),
                    "GoVersion": server.get("GoVersion", ""),
                    "Os": server.get("Os", ""),
                    "Arch": server.get("Arch", ""),
                    "BuildTime": server.get("BuildTime", ""),
                    "Experimental": str(bool(server.get("Experimental"))).lower(),
                }
            ),
        )
        components.append(engine)
    details = engine.get("Details")
    if isinstance(details, GoMap) and "BuildTime" in details:
        details["BuildTime"] = _ansic(details["BuildTime"])
    server["Components"] = components
    server.setdefault("Platform", GoStruct(Name=""))
    return server


def run_version(cli: Cli, parsed: options.Parsed) -> int:
    """``version``: docker's version template over the client and ``/version``."""
    from dockyard.cli import template_exec, templates
    from dockyard.cli.render import normalize_format, tabwrite

    fmt = parsed.text("format")
    text = VERSION_TEMPLATE if not fmt else normalize_format(fmt)[0]
    funcs: dict[str, Callable[..., object]] = {"detailsOrder": lambda c: sorted(c.get("Details") or {})}
    try:
        template = templates.parse(text, funcs)
    except DockyardError as exc:
        raise StatusError(64, str(exc)) from None
    error: DockyardError | None = None
    server = None
    try:
        server = _server_version(cli.client.call("GET", "/version"))
        api_version = cli.client.api_version or ""
    except DockyardError as exc:
        error, api_version = exc, ""
    data = GoStruct(Client=_client_version(cli, api_version), Server=server)
    rendered = template_exec.execute_partial(template, data) if error else template.execute(data)
    cli.out.write(tabwrite(rendered + "\n", minwidth=20, padding=1))
    if error is not None:
        raise error
    return 0


# --- info -----------------------------------------------------------------------------------


def _bytes_size(size: float) -> str:
    """go-units ``BytesSize``: binary units with ``%.4g`` ("23.47GiB")."""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")
    index = 0
    while size >= 1024 and index < len(units) - 1:
        size /= 1024
        index += 1
    return f"{size:.4g}{units[index]}"


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def _go(value: object) -> str:
    from dockyard.cli.gofmt import go_str

    return go_str(value)


def _info_lines(info: dict[str, object]) -> list[str]:
    def g(key: str, default: object = "") -> object:
        return info.get(key, default) if info.get(key) is not None else default

    def line(label: str, value: object) -> str:
        return f"{label} {_go(value)}"

    out = [
        line(" Containers:", g("Containers", 0)),
        line("  Running:", g("ContainersRunning", 0)),
        line("  Paused:", g("ContainersPaused", 0)),
        line("  Stopped:", g("ContainersStopped", 0)),
        line(" Images:", g("Images", 0)),
    ]
    out += [
        line(label, g(key))
        for label, key in ((" Server Version:", "ServerVersion"), (" Storage Driver:", "Driver"))
        if g(key)
    ]
    out += [f"  {pair[0]}: {pair[1]}" for pair in g("DriverStatus", []) or []]  # type: ignore[attr-defined]
    out += [f" {pair[0]}: {pair[1]}" for pair in g("SystemStatus", []) or []]  # type: ignore[attr-defined]
    out += [
        line(label, g(key))
        for label, key in (
            (" Logging Driver:", "LoggingDriver"),
            (" Cgroup Driver:", "CgroupDriver"),
            (" Cgroup Version:", "CgroupVersion"),
        )
        if g(key)
    ]
    out += _plugin_lines(g("Plugins", {}))
    swarm = g("Swarm", {})
    out.append(line(" Swarm:", swarm.get("LocalNodeState", "") if isinstance(swarm, dict) else ""))
    out += _runtime_lines(info)
    out += _identity_lines(info)
    return out


def _plugin_lines(plugins: object) -> list[str]:
    plugins = plugins if isinstance(plugins, dict) else {}
    out = [" Plugins:"]
    for label, key in (
        ("  Volume:", "Volume"),
        ("  Network:", "Network"),
        ("  Authorization:", "Authorization"),
        ("  Log:", "Log"),
    ):
        names = plugins.get(key) or []
        if key != "Authorization" or names:
            out.append(f"{label} {' '.join(names)}")
    return out


def _runtime_lines(info: dict[str, object]) -> list[str]:
    out: list[str] = []
    runtimes = info.get("Runtimes") or {}
    assert isinstance(runtimes, dict)
    if runtimes:
        out.append(f" Runtimes: {' '.join(sorted(runtimes))}")
        out.append(f" Default Runtime: {info.get('DefaultRuntime', '')}")
    if info.get("OSType") == "linux":
        out.append(f" Init Binary: {info.get('InitBinary', '')}")
        for label, key in (
            ("containerd", "ContainerdCommit"),
            ("runc", "RuncCommit"),
            ("init", "InitCommit"),
        ):
            commit = info.get(key) or {}
            out.append(f" {label} version: {commit.get('ID', '') if isinstance(commit, dict) else ''}")
        options_list = info.get("SecurityOptions") or []
        if options_list:
            out.append(" Security Options:")
            for option in options_list:  # type: ignore[attr-defined]
                fields = dict(kv.partition("=")[::2] for kv in str(option).split(","))
                out.append(f"  {fields.get('name', '')}")
                if "profile" in fields:
                    out.append(f"   Profile: {fields['profile']}")
    return out


def _identity_lines(info: dict[str, object]) -> list[str]:
    out = [
        f"{label} {info[key]}"
        for label, key in (
            (" Kernel Version:", "KernelVersion"),
            (" Operating System:", "OperatingSystem"),
            (" OSType:", "OSType"),
            (" Architecture:", "Architecture"),
        )
        if info.get(key)
    ]
    out += [
        f" CPUs: {info.get('NCPU', 0)}",
        f" Total Memory: {_bytes_size(_number(info.get('MemTotal')))}",
    ]
    out += [f"{label} {info[key]}" for label, key in ((" Name:", "Name"), (" ID:", "ID")) if info.get(key)]
    out += [
        f" Docker Root Dir: {info.get('DockerRootDir', '')}",
        f" Debug Mode: {_go(bool(info.get('Debug')))}",
    ]
    out += [
        f"{label} {info[key]}"
        for label, key in (
            (" HTTP Proxy:", "HttpProxy"),
            (" HTTPS Proxy:", "HttpsProxy"),
            (" No Proxy:", "NoProxy"),
        )
        if info.get(key)
    ]
    labels = info.get("Labels") or []
    if labels:
        out.append(" Labels:")
        out += [f"  {label}" for label in labels]  # type: ignore[attr-defined]
    out.append(f" Experimental: {_go(bool(info.get('ExperimentalBuild')))}")
    out += _registry_lines(info.get("RegistryConfig"))
    out.append(f" Live Restore Enabled: {_go(bool(info.get('LiveRestoreEnabled')))}")
    if info.get("ProductLicense"):
        out.append(f" Product License: {info['ProductLicense']}")
    return out


def _registry_lines(config: object) -> list[str]:
    if not isinstance(config, dict):
        return []
    out: list[str] = []
    indexes = config.get("IndexConfigs") or {}
    cidrs = config.get("InsecureRegistryCIDRs") or []
    if indexes or cidrs:
        out.append(" Insecure Registries:")
        out += [f"  {name}" for name, entry in sorted(indexes.items()) if not entry.get("Secure")]
        out += [f"  {cidr}" for cidr in cidrs]
    mirrors = config.get("Mirrors") or []
    if mirrors:
        out.append(" Registry Mirrors:")
        out += [f"  {mirror}" for mirror in mirrors]
    return out


def run_info(cli: Cli, parsed: options.Parsed) -> int:
    """``info``: docker's info layout (or a template) over ``/info``."""
    from dockyard.cli.main import VERSION

    fmt = parsed.text("format")
    error: DockyardError | None = None
    info: object = None
    try:
        info = cli.client.call("GET", "/info")
    except DockyardError as exc:
        error = exc
    if fmt:
        return _format_info(cli, fmt, info, error)
    cli.print("Client: dockyard")
    cli.print(f" Version:    {VERSION}\n Context:    default\n Debug Mode: false")
    cli.print()
    cli.print("Server:")
    if error is not None:
        cli.err.write(f"ERROR: {error}\n")
        raise StatusError(1, "errors pretty printing info")
    assert isinstance(info, dict)
    cli.out.write("\n".join(_info_lines(info)) + "\n\n")
    for warning in info.get("Warnings") or []:
        cli.warn(str(warning))
    return 0


def _format_info(cli: Cli, fmt: str, info: object, error: DockyardError | None) -> int:
    from dockyard.cli import templates
    from dockyard.cli.main import VERSION

    data = to_go(info) if isinstance(info, dict) else GoStruct()
    assert isinstance(data, GoStruct)
    data["ClientInfo"] = GoStruct(Debug=False, Version=VERSION, Context="default", Plugins=[], Warnings=None)
    if error is not None:
        data["ServerErrors"] = [str(error)]
        cli.err.write(f"{error}\n")
    text = "{{json .}}" if fmt == "json" else fmt
    try:
        template = templates.parse(text)
    except DockyardError as exc:
        raise StatusError(64, str(exc)) from None
    cli.print(template.execute(data))
    return 0


# --- inspect --------------------------------------------------------------------------------

_KINDS = {
    "container": "/containers/{}/json",
    "image": "/images/{}/json",
    "network": "/networks/{}",
    "volume": "/volumes/{}",
}


def run_inspect(cli: Cli, parsed: options.Parsed) -> int:
    """``inspect``: any kind of object (``--type`` narrows it), docker's inspect output."""
    from dockyard.cli.commands.inspection import inspect

    kind = parsed.text("type")
    if kind and kind not in _KINDS:
        raise StatusError(1, f'"{kind}" is not a valid value for --type')
    kinds = [kind] if kind else list(_KINDS)

    def fetch(ref: str) -> bytes:
        for each in kinds:
            query = {"size": "1"} if each == "container" and parsed.flag("size") else None
            try:
                response = cli.client.request("GET", _KINDS[each].format(ref), query=query)
            except NotFound:
                if kind:
                    raise
                continue
            data = response.read()
            cli.client.release(response)
            return data
        raise NotFound(f"Error: No such object: {ref}")

    return inspect(cli, parsed.args, parsed.text("format"), fetch)


SPECS = {
    "version": Spec(
        "version [OPTIONS]", [F("format", "string", INSPECT_FORMAT_HELP, short="f")], run_version
    ),
    "info": Spec(
        "info [OPTIONS]",
        [F("format", "string", INSPECT_FORMAT_HELP, short="f")],
        run_info,
        aliases="system info,info",
    ),
    "inspect": Spec(
        "inspect [OPTIONS] NAME|ID [NAME|ID...]",
        [
            F("format", "string", INSPECT_FORMAT_HELP, short="f"),
            F("size", "bool", "Display total file sizes if the type is container", short="s"),
            F("type", "string", "Only inspect objects of the given type"),
        ],
        run_inspect,
        args=("min", 1),
    ),
}
