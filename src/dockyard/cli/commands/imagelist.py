"""``images`` / ``image ls`` and ``history``: image lists, formatted as docker formats them.

``images`` prints one row per repository and tag (docker's ``imageFormat``): an image tagged
twice appears twice with the same ID, a dangling image as ``<none> <none>``, and with
``--digests`` one row per digest of each tag, then digest-only repositories. ``history`` shows
the build steps, ``<missing>`` for layers without an image of their own. Both build their
default table without the template engine and run custom ``--format`` templates on objects
with docker's field names (``.Repository``, ``.CreatedSince``, ``.CreatedBy``...).
"""

from __future__ import annotations

import time

from dockyard.cli import options
from dockyard.cli.commands.base import FORMAT_HELP, Cli, Spec
from dockyard.cli.commands.reference import parse_normalized
from dockyard.cli.gofmt import TemplateObject
from dockyard.cli.render import ellipsis, human_duration, human_size
from dockyard.errors import InvalidArgument

__all__ = ["SPECS", "HistoryRow", "ImageRow", "image_rows"]

F = options.Flag


# --- images ---------------------------------------------------------------------------------

IMAGE_HEADERS = {
    "ID": "IMAGE ID",
    "Repository": "REPOSITORY",
    "Tag": "TAG",
    "Digest": "DIGEST",
    "CreatedSince": "CREATED",
    "CreatedAt": "CREATED AT",
    "Size": "SIZE",
    "Containers": "CONTAINERS",
    "VirtualSize": "SIZE",
    "SharedSize": "SHARED SIZE",
    "UniqueSize": "UNIQUE SIZE",
}
_CREATED = "{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}"
DEFAULT_IMAGES = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t" + _CREATED + "\t{{.Size}}"
DIGEST_IMAGES = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t" + _CREATED + "\t{{.Size}}"


class ImageRow(TemplateObject):
    """One row of ``images``: an image under one repository and tag (docker's imageContext)."""

    json_fields = (
        "Containers",
        "CreatedAt",
        "CreatedSince",
        "Digest",
        "ID",
        "Repository",
        "SharedSize",
        "Size",
        "Tag",
        "UniqueSize",
        "VirtualSize",
    )

    def __init__(
        self, entry: dict[str, object], repo: str, tag: str, digest: str, trunc: bool, now: float
    ) -> None:
        self.i, self.repo, self.tag, self.digest, self.trunc, self.now = entry, repo, tag, digest, trunc, now

    def _int(self, key: str) -> int:
        value = self.i.get(key)
        return value if isinstance(value, int) else 0

    def ID(self) -> str:
        from dockyard.cli.commands.listing import truncate_id

        ident = str(self.i.get("Id") or "")
        return truncate_id(ident) if self.trunc else ident

    def Repository(self) -> str:
        return self.repo

    def Tag(self) -> str:
        return self.tag

    def Digest(self) -> str:
        return self.digest

    def CreatedSince(self) -> str:
        return human_duration(self.now - self._int("Created")) + " ago"

    def CreatedAt(self) -> str:
        from dockyard.cli.commands.listing import go_time_string

        return go_time_string(self._int("Created"))

    def Size(self) -> str:
        return human_size(self._int("Size"))

    def Containers(self) -> str:
        count = self.i.get("Containers", 0)  # absent decodes as Go's zero
        return "N/A" if count == -1 or not isinstance(count, int) else str(count)

    def VirtualSize(self) -> str:
        return human_size(self._int("Size"), 4)

    def SharedSize(self) -> str:
        shared = self.i.get("SharedSize", 0)
        return "N/A" if shared == -1 or not isinstance(shared, int) else human_size(shared, 4)

    def UniqueSize(self) -> str:
        shared = self.i.get("SharedSize", 0)
        if shared == -1 or not isinstance(shared, int) or self._int("Size") == -1:
            return "N/A"
        return human_size(self._int("Size") - shared, 4)


def _is_dangling(entry: dict[str, object]) -> bool:
    tags = list(entry.get("RepoTags") or [])  # type: ignore[call-overload]
    digests = list(entry.get("RepoDigests") or [])  # type: ignore[call-overload]
    if not tags and not digests:
        return True
    return bool(tags == ["<none>:<none>"] and digests == ["<none>@<none>"])


def image_rows(entries: list[dict[str, object]], *, trunc: bool, digests: bool, now: float) -> list[ImageRow]:
    """docker's ``imageFormat``: a row per repo:tag, digests per tag when shown, then
    digest-only repositories, and one ``<none> <none>`` row for a dangling image."""
    rows: list[ImageRow] = []
    for entry in entries:
        if _is_dangling(entry):
            rows.append(ImageRow(entry, "<none>", "<none>", "<none>", trunc, now))
            continue
        tags: dict[str, list[str]] = {}
        by_digest: dict[str, list[str]] = {}
        for text in entry.get("RepoTags") or []:  # type: ignore[attr-defined]
            try:
                ref = parse_normalized(str(text))
            except InvalidArgument:
                continue
            if ref.tag:
                tags.setdefault(ref.familiar_name(), []).append(ref.tag)
        for text in entry.get("RepoDigests") or []:  # type: ignore[attr-defined]
            try:
                ref = parse_normalized(str(text))
            except InvalidArgument:
                continue
            if ref.digest:
                by_digest.setdefault(ref.familiar_name(), []).append(ref.digest)
        for repo, repo_tags in tags.items():
            repo_digests = by_digest.pop(repo, []) if digests else (by_digest.pop(repo, None) and [])
            for tag in repo_tags:
                for digest in repo_digests or ["<none>"]:
                    rows.append(ImageRow(entry, repo, tag, digest, trunc, now))
        for repo, repo_digests in by_digest.items():
            for digest in repo_digests if digests else [""]:
                rows.append(ImageRow(entry, repo, "<none>", digest, trunc, now))
    return rows


def _images_format(cli: Cli, parsed: options.Parsed) -> str:
    fmt = parsed.text("format")
    configured = cli.config().get("imagesFormat")
    if not fmt and isinstance(configured, str) and configured and not parsed.flag("quiet"):
        fmt = configured
    fmt = fmt or "table"
    if fmt == "table":
        if parsed.flag("quiet"):
            return "{{.ID}}"
        return DIGEST_IMAGES if parsed.flag("digests") else DEFAULT_IMAGES
    if fmt.startswith("table") and parsed.flag("digests") and "{{.Digest}}" not in fmt:
        fmt += "\t{{.Digest}}"
    return fmt


def run_images(cli: Cli, parsed: options.Parsed) -> int:
    """``images``: ``GET /images/json`` (``all``, ``filters`` with ``reference``) as docker's table."""
    from dockyard.util import jsoncodec

    filters = options.parse_filters(parsed.items("filter"))
    if parsed.args:
        filters.setdefault("reference", {})[parsed.args[0]] = True
    query: dict[str, object] = {}
    if parsed.flag("all"):
        query["all"] = "1"
    if filters:
        query["filters"] = jsoncodec.dumps(filters)
    entries = cli.client.call("GET", "/images/json", query=query)
    assert isinstance(entries, list)
    fmt = _images_format(cli, parsed)
    show_digests = parsed.flag("digests") or "{{.Digest}}" in fmt
    rows = image_rows(entries, trunc=not parsed.flag("no-trunc"), digests=show_digests, now=time.time())
    _write_images(cli, fmt, rows)
    return 0


def _write_images(cli: Cli, fmt: str, rows: list[ImageRow]) -> None:
    from dockyard.cli.render import tabwrite, write_formatted

    if fmt == "{{.ID}}":
        cli.out.write("".join(r.ID() + "\n" for r in rows))
    elif fmt in (DEFAULT_IMAGES, DIGEST_IMAGES):
        digest = fmt == DIGEST_IMAGES
        head = ["REPOSITORY", "TAG", *(["DIGEST"] if digest else []), "IMAGE ID", "CREATED", "SIZE"]
        lines = ["\t".join(head)]
        for r in rows:
            cells = [r.Repository(), r.Tag(), *([r.Digest()] if digest else []), r.ID()]
            lines.append("\t".join([*cells, r.CreatedSince() or "N/A", r.Size()]))
        cli.out.write(tabwrite("\n".join(lines) + "\n"))
    else:
        write_formatted(fmt, rows, IMAGE_HEADERS, cli.out)


# --- history --------------------------------------------------------------------------------

HISTORY_HEADERS = {
    "ID": "IMAGE",
    "CreatedSince": "CREATED",
    "CreatedAt": "CREATED AT",
    "CreatedBy": "CREATED BY",
    "Size": "SIZE",
    "Comment": "COMMENT",
}
_EPOCH_2000 = 946684800


class HistoryRow(TemplateObject):
    """One ``history`` entry, as docker's historyContext presents it."""

    json_fields = ("Comment", "CreatedAt", "CreatedBy", "CreatedSince", "ID", "Size")

    def __init__(self, entry: dict[str, object], trunc: bool, human: bool, now: float) -> None:
        self.h, self.trunc, self.human, self.now = entry, trunc, human, now

    def _created(self) -> int:
        value = self.h.get("Created")
        return value if isinstance(value, int) else 0

    def ID(self) -> str:
        from dockyard.cli.commands.listing import truncate_id

        ident = str(self.h.get("Id") or "")
        return truncate_id(ident) if self.trunc else ident

    def CreatedAt(self) -> str:
        import datetime

        moment = datetime.datetime.fromtimestamp(self._created()).astimezone()
        text = moment.isoformat(timespec="seconds")
        return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text

    def CreatedSince(self) -> str:
        if not self.human:
            return self.CreatedAt()
        if self._created() <= _EPOCH_2000:
            return ""
        return human_duration(self.now - self._created()) + " ago"

    def CreatedBy(self) -> str:
        text = str(self.h.get("CreatedBy") or "").replace("\t", " ")
        return ellipsis(text, 45) if self.trunc else text

    def Size(self) -> str:
        size = self.h.get("Size")
        size = size if isinstance(size, int) else 0
        return human_size(size) if self.human else str(size)

    def Comment(self) -> str:
        return str(self.h.get("Comment") or "")


def run_history(cli: Cli, parsed: options.Parsed) -> int:
    """``history``: ``GET /images/{name}/history`` as docker's table or a template."""
    from dockyard.cli.render import write_formatted

    entries = cli.client.call("GET", f"/images/{parsed.args[0]}/history")
    assert isinstance(entries, list)
    human = parsed.flag("human")
    fmt = parsed.text("format") or "table"
    if fmt == "table":
        column = "{{.CreatedSince}}" if human else "{{.CreatedAt}}"
        fmt = (
            "{{.ID}}"
            if parsed.flag("quiet")
            else f"table {{{{.ID}}}}\t{column}\t{{{{.CreatedBy}}}}\t{{{{.Size}}}}\t{{{{.Comment}}}}"
        )
    rows = [HistoryRow(e, not parsed.flag("no-trunc"), human, time.time()) for e in entries]
    write_formatted(fmt, rows, HISTORY_HEADERS, cli.out)
    return 0


SPECS = {
    "images": Spec(
        "images [OPTIONS] [REPOSITORY[:TAG]]",
        [
            F("all", "bool", "Show all images (default hides intermediate images)", short="a"),
            F("digests", "bool", "Show digests"),
            F("filter", "filter", "Filter output based on conditions provided", short="f"),
            F("format", "string", FORMAT_HELP),
            F("no-trunc", "bool", "Don't truncate output"),
            F("quiet", "bool", "Only show image IDs", short="q"),
        ],
        run_images,
        args=("max", 1),
        aliases="image ls,image list,images",
    ),
    "history": Spec(
        "history [OPTIONS] IMAGE",
        [
            F("format", "string", FORMAT_HELP),
            F(
                "human",
                "bool",
                "Print sizes and dates in human readable format",
                short="H",
                default=True,
                default_text="true",
            ),
            F("no-trunc", "bool", "Don't truncate output"),
            F("quiet", "bool", "Only show image IDs", short="q"),
        ],
        run_history,
        args=("exact", 1),
        aliases="image history,history",
    ),
}
