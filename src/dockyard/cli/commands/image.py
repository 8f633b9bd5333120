"""Image commands: pull, images, rmi, tag, history, save, load, import, image inspect.

The shapes are docker's (``docker/cli cli/command/image``). Names are normalised before they
are sent (``pull alpine`` asks for ``fromImage=docker.io/library/alpine&tag=latest``) and shown
in their familiar form. ``images`` prints one row per repository and tag, ``<none>`` for
dangling images, and its default table without the template engine. Progress streams (pull,
load, import) go through docker's JSON-message display (:mod:`dockyard.cli.render`), live on
a terminal and line by line elsewhere.
"""

from __future__ import annotations

import contextlib
import os

from dockyard.cli import options
from dockyard.cli.commands.base import INSPECT_FORMAT_HELP, Cli, Spec, StatusError
from dockyard.cli.commands.reference import parse_normalized
from dockyard.errors import DockyardError, InvalidArgument, NotFound

__all__ = ["SPECS", "display_stream", "pull_image", "registry_auth"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

F = options.Flag


def registry_auth(cli: Cli, domain: str) -> str:
    """The ``X-Registry-Auth`` header docker sends: base64url JSON credentials, or ``e30=``.

    Credentials come from ``auths`` in config.json (the key is the registry's host, or
    ``https://index.docker.io/v1/`` for Docker Hub). Credential helpers are not consulted.
    """
    import base64

    from dockyard.util import jsoncodec

    server = "https://index.docker.io/v1/" if domain == "docker.io" else domain
    auths = cli.config().get("auths")
    entry = auths.get(server) or auths.get(f"https://{server}") if isinstance(auths, dict) else None
    config: dict[str, str] = {}
    if isinstance(entry, dict) and isinstance(entry.get("auth"), str):
        try:
            user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            config = {"username": user, "password": password, "serveraddress": server}
        except ValueError:
            config = {}
    return base64.urlsafe_b64encode(jsoncodec.dumps(config).encode()).decode()


def display_stream(cli: Cli, chunks: Iterable[bytes], *, quiet: bool = False, to_err: bool = False) -> None:
    """Show a JSON-message stream as docker does (or just consume it when quiet).

    Raises:
        MessageError: a message in the stream carried an error.
    """
    from dockyard.cli import render
    from dockyard.cli.wire import json_messages

    stream = cli.err if to_err else cli.out
    messages = json_messages(chunks)
    if quiet:
        for message in messages:
            if message.get("error") or message.get("errorDetail"):
                render.display_json_messages([message], stream, terminal=False)
        return
    fd = _fileno(stream)
    terminal = fd >= 0 and os.isatty(fd)
    width = os.get_terminal_size(fd).columns if terminal else 200
    render.display_json_messages(messages, stream, terminal=terminal, width=width)


def _fileno(stream: object) -> int:
    try:
        return int(stream.fileno())  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return -1


def pull_image(
    cli: Cli, image: str, *, platform: str = "", quiet: bool = False, to_err: bool = False
) -> None:
    """Pull ``image`` (tag defaulted to latest) showing docker's progress output.

    Raises:
        DockyardError: the daemon refused, or the stream reported an error.
    """
    ref = parse_normalized(image).with_default_tag()
    query: dict[str, object] = {"fromImage": ref.name, "tag": ref.digest or ref.tag}
    if platform:
        query["platform"] = platform.lower()
    headers = {"X-Registry-Auth": registry_auth(cli, ref.domain)}
    response = cli.client.request("POST", "/images/create", query=query, headers=headers)
    try:
        display_stream(cli, response.chunks(), quiet=quiet, to_err=to_err)
    finally:
        cli.client.release(response)


def run_pull(cli: Cli, parsed: options.Parsed) -> int:
    """``pull``: ``POST /images/create`` with docker's progress, then the full reference."""
    ref = parse_normalized(parsed.args[0])
    quiet = parsed.flag("quiet")
    if parsed.flag("all-tags") and not ref.is_name_only():
        raise InvalidArgument("tag can't be used with --all-tags/-a")
    if not parsed.flag("all-tags") and ref.is_name_only():
        ref = ref.with_default_tag()
        if not quiet:
            cli.print(f"Using default tag: {ref.tag}")
            cli.out.flush()
    query: dict[str, object] = {"fromImage": ref.name}
    if not parsed.flag("all-tags"):
        query["tag"] = ref.digest or ref.tag
    if parsed.text("platform"):
        query["platform"] = parsed.text("platform").lower()
    headers = {"X-Registry-Auth": registry_auth(cli, ref.domain)}
    response = cli.client.request("POST", "/images/create", query=query, headers=headers)
    try:
        display_stream(cli, response.chunks(), quiet=quiet)
    finally:
        cli.client.release(response)
    cli.print(str(ref))
    return 0


# --- rmi, tag -------------------------------------------------------------------------------


def run_rmi(cli: Cli, parsed: options.Parsed) -> int:
    """``rmi``: ``DELETE /images/{name}``; prints Untagged/Deleted lines; ``-f`` forgives missing ones."""
    query = {k: "1" for k, flag in (("force", "force"), ("noprune", "no-prune")) if parsed.flag(flag)}
    errors: list[str] = []
    fatal = False
    for image in parsed.args:
        try:
            deleted = cli.client.call("DELETE", f"/images/{image}", query=query)
        except DockyardError as exc:
            fatal = fatal or not isinstance(exc, NotFound)
            errors.append(str(exc))
            continue
        for item in deleted or []:  # type: ignore[attr-defined]
            if item.get("Deleted"):
                cli.print(f"Deleted: {item['Deleted']}")
            else:
                cli.print(f"Untagged: {item.get('Untagged', '')}")
    if errors:
        if not parsed.flag("force") or fatal:
            raise StatusError(1, "\n".join(errors))
        cli.err.write("\n".join(errors) + "\n")
    return 0


def run_tag(cli: Cli, parsed: options.Parsed) -> int:
    """``tag``: ``POST /images/{source}/tag`` with the target normalised (``repo``, ``tag``)."""
    source, target = parsed.args
    try:
        parse_normalized(source) if not _is_id(source) else None
    except InvalidArgument as exc:
        raise InvalidArgument(
            f'Error parsing reference: "{source}" is not a valid repository/tag: {exc}'
        ) from None
    ref = parse_normalized(target)
    if ref.digest:
        raise InvalidArgument("refusing to create a tag with a digest reference")
    ref = ref.with_default_tag()
    cli.client.call("POST", f"/images/{source}/tag", query={"repo": ref.name, "tag": ref.tag})
    return 0


def _is_id(text: str) -> bool:
    body = text.removeprefix("sha256:")
    return len(body) == 64 and all(c in "0123456789abcdef" for c in body)


# --- save, load, import ---------------------------------------------------------------------


def run_save(cli: Cli, parsed: options.Parsed) -> int:
    """``save``: ``GET /images/get`` to stdout (never a terminal) or ``-o`` (written then renamed)."""
    output = parsed.text("output")
    if not output and cli.out_is_terminal():
        raise InvalidArgument("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    query: dict[str, object] = {"names": list(parsed.args)}
    if parsed.text("platform"):
        query["platform"] = parsed.text("platform")
    response = cli.client.request("GET", "/images/get", query=query)
    try:
        if not output:
            sink = cli.out_bytes
            for chunk in response.chunks():
                sink.write(chunk)
            sink.flush()
            return 0
        try:
            _copy_to_file(output, response.chunks())
        except OSError as exc:
            raise InvalidArgument(f"failed to save image: {exc}") from None
        return 0
    finally:
        cli.client.release(response)


def _copy_to_file(path: str, chunks: Iterable[bytes]) -> None:
    """docker's ``CopyToFile``: stream into a temporary file beside ``path``, then rename it."""
    import tempfile

    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix=".docker_temp_", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise


def _read_in_chunks(handle: object) -> Iterable[bytes]:
    while chunk := handle.read(1 << 20):  # type: ignore[attr-defined]
        yield chunk


def _open_input(stack: contextlib.ExitStack, cli: Cli, path: str) -> object:
    """The archive to send: the named file, or our stdin for "" and "-"."""
    if not path or path == "-":
        return cli.stdin.buffer
    try:
        return stack.enter_context(open(path, "rb"))
    except OSError as exc:
        raise InvalidArgument(f"open {path}: {(exc.strerror or str(exc)).lower()}") from None


def run_load(cli: Cli, parsed: options.Parsed) -> int:
    """``load``: ``POST /images/load`` with the archive streamed from ``-i`` or stdin."""
    path = parsed.text("input")
    if not path and cli.in_is_terminal():
        raise InvalidArgument("requested load from stdin, but stdin is empty")
    quiet = parsed.flag("quiet") or not cli.out_is_terminal()
    query = {"quiet": "1"} if quiet else {}
    if parsed.text("platform"):
        query["platform"] = parsed.text("platform")
    with contextlib.ExitStack() as stack:
        source = _open_input(stack, cli, path)
        headers = {"Content-Type": "application/x-tar"}
        response = cli.client.request(
            "POST", "/images/load", query=query, body=_read_in_chunks(source), headers=headers
        )
        try:
            if "json" in response.headers.get("content-type", ""):
                display_stream(cli, response.chunks())
            else:
                sink = cli.out_bytes
                for chunk in response.chunks():
                    sink.write(chunk)
                sink.flush()
        finally:
            cli.client.release(response)
    return 0


def run_import(cli: Cli, parsed: options.Parsed) -> int:
    """``import``: ``POST /images/create?fromSrc=`` with a file, stdin or a URL."""
    source = parsed.args[0]
    repo = parsed.args[1] if len(parsed.args) > 1 else ""
    if repo:
        parse_normalized(repo)
    remote = source.startswith(("http://", "https://"))
    query: dict[str, object] = {"fromSrc": source if remote else "-"}
    for key, value in (("repo", repo), ("message", parsed.text("message"))):
        if value:
            query[key] = value
    if parsed.items("change"):
        query["changes"] = parsed.items("change")
    if parsed.text("platform"):
        query["platform"] = parsed.text("platform")
    with contextlib.ExitStack() as stack:
        body = None if remote else _read_in_chunks(_open_input(stack, cli, source))
        headers = {"Content-Type": "text/plain"} if body is not None else None
        response = cli.client.request("POST", "/images/create", query=query, body=body, headers=headers)
        try:
            display_stream(cli, response.chunks())
        finally:
            cli.client.release(response)
    return 0


# --- image inspect --------------------------------------------------------------------------


def run_image_inspect(cli: Cli, parsed: options.Parsed) -> int:
    """``image inspect``: ``GET /images/{name}/json`` through docker's inspectors."""
    from dockyard.cli.commands.inspection import inspect

    query = {"platform": parsed.text("platform")} if parsed.text("platform") else None

    def fetch(ref: str) -> bytes:
        response = cli.client.request("GET", f"/images/{ref}/json", query=query)
        data = response.read()
        cli.client.release(response)
        return data

    return inspect(cli, parsed.args, parsed.text("format"), fetch)


# --- the specs ------------------------------------------------------------------------------

_VARIANT = 'only the given platform variant. Formatted as "os[/arch[/variant]]" (e.g., "linux/amd64")'
_PLATFORM = "Set platform if server is multi-platform capable"

SPECS = {
    "pull": Spec(
        "pull [OPTIONS] NAME[:TAG|@DIGEST]",
        [
            F("all-tags", "bool", "Download all tagged images in the repository", short="a"),
            F("disable-content-trust", "bool", "Skip image verification", default=True, default_text="true"),
            F("platform", "string", _PLATFORM, default=os.environ.get("DOCKER_DEFAULT_PLATFORM", "")),
            F("quiet", "bool", "Suppress verbose output", short="q"),
        ],
        run_pull,
        args=("exact", 1),
        aliases="image pull,pull",
    ),
    "rmi": Spec(
        "rmi [OPTIONS] IMAGE [IMAGE...]",
        [
            F("force", "bool", "Force removal of the image", short="f"),
            F("no-prune", "bool", "Do not delete untagged parents"),
        ],
        run_rmi,
        args=("min", 1),
        aliases="image rm,image remove,rmi",
    ),
    "tag": Spec(
        "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]", [], run_tag, args=("exact", 2), aliases="image tag,tag"
    ),
    "save": Spec(
        "save [OPTIONS] IMAGE [IMAGE...]",
        [
            F("output", "string", "Write to a file, instead of STDOUT", short="o"),
            F(
                "platform",
                "string",
                f"Save {_VARIANT}",
            ),
        ],
        run_save,
        args=("min", 1),
        aliases="image save,save",
    ),
    "load": Spec(
        "load [OPTIONS]",
        [
            F("input", "string", "Read from tar archive file, instead of STDIN", short="i"),
            F(
                "platform",
                "string",
                f"Load {_VARIANT}",
            ),
            F("quiet", "bool", "Suppress the load output", short="q"),
        ],
        run_load,
        aliases="image load,load",
    ),
    "import": Spec(
        "import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
        [
            F("change", "list", "Apply Dockerfile instruction to the created image", short="c"),
            F("message", "string", "Set commit message for imported image", short="m"),
            F("platform", "string", _PLATFORM),
        ],
        run_import,
        args=("range", 1, 2),
        aliases="image import,import",
    ),
    "inspect": Spec(
        "inspect [OPTIONS] IMAGE [IMAGE...]",
        [
            F("format", "string", INSPECT_FORMAT_HELP, short="f"),
            F(
                "platform",
                "string",
                "Inspect a specific platform of the multi-platform image.\nIf the image or the server is not "
                "multi-platform capable, the command will error out if the platform does not match.\n"
                "'os[/arch[/variant]]': Explicit platform (eg. linux/amd64)",
            ),
        ],
        run_image_inspect,
        args=("min", 1),
    ),
}
