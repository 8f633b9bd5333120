"""``inspect`` output, as docker's ``cli/command/inspect`` produces it.

Three inspectors, chosen by ``--format``:

- none: the raw JSON of every object, in one array, re-indented with four spaces by Go's
  ``json.Indent``, which only moves whitespace: keys keep the daemon's order and strings are
  copied byte for byte (``re_indent``);
- ``json``: the same array compacted onto one line;
- a template: executed once per object, each result followed by a newline.

Errors do not stop the others: every object that can be shown is shown, then the errors are
printed one per line and the status is 1. A template that does not parse fails at once with
status 64, as docker's does.
"""

from __future__ import annotations

from dockyard.cli.commands.base import Cli, StatusError
from dockyard.errors import DockyardError

__all__ = ["compact", "inspect", "re_indent"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

_SPACE = b" \t\r\n"


def _string_end(data: bytes, start: int) -> int:
    """Index just past the JSON string literal that opens at ``start``."""
    i = start + 1
    while i < len(data):
        byte = data[i]
        if byte == 0x5C:  # backslash
            i += 2
            continue
        if byte == 0x22:  # quote
            return i + 1
        i += 1
    return len(data)


def re_indent(data: bytes, indent: str = "    ") -> str:
    """Go's ``json.Indent(dst, src, "", indent)``: whitespace only; empty ``{}``/``[]`` stay."""
    out: list[bytes] = []
    depth = 0
    pending = False  # an opening bracket waits to see whether its container is empty
    unit = indent.encode()
    i = 0
    while i < len(data):
        byte = data[i]
        if byte in _SPACE:
            i += 1
            continue
        if pending and byte not in b"]}":
            out.append(b"\n" + unit * depth)
        pending_before, pending = pending, False
        if byte == 0x22:
            end = _string_end(data, i)
            out.append(data[i:end])
            i = end
            continue
        if byte in b"{[":
            depth += 1
            pending = True
            out.append(bytes([byte]))
        elif byte in b"}]":
            depth -= 1
            if not pending_before:
                out.append(b"\n" + unit * depth)
            out.append(bytes([byte]))
        elif byte == 0x2C:
            out.append(b",\n" + unit * depth)
        elif byte == 0x3A:
            out.append(b": ")
        else:
            out.append(bytes([byte]))
        i += 1
    return b"".join(out).decode("utf-8", "replace")


def compact(data: bytes) -> str:
    """Go's ``json.Compact``: every insignificant blank removed, strings untouched."""
    out: list[bytes] = []
    i = 0
    while i < len(data):
        byte = data[i]
        if byte == 0x22:
            end = _string_end(data, i)
            out.append(data[i:end])
            i = end
            continue
        if byte not in _SPACE:
            out.append(bytes([byte]))
        i += 1
    return b"".join(out).decode("utf-8", "replace")


def inspect(cli: Cli, refs: Sequence[str], fmt: str, fetch: Callable[[str], bytes]) -> int:
    """Show each object ``fetch`` returns, formatted per ``fmt``; errors collected to the end.

    Raises:
        StatusError: 64 for a template that does not parse; 1 after printing if any failed.
    """
    template = None
    if fmt not in ("", "json"):
        from dockyard.cli import templates

        try:
            template = templates.parse(fmt)
        except DockyardError as exc:
            raise StatusError(64, str(exc)) from None
    errors: list[str] = []
    raws: list[bytes] = []
    lines: list[str] = []
    for ref in refs:
        try:
            raw = fetch(ref)
        except DockyardError as exc:
            errors.append(str(exc))
            continue
        if template is None:
            raws.append(raw.strip())
            continue
        try:
            lines.append(_execute(template, raw) + "\n")
        except DockyardError as exc:
            errors.append(str(exc))
    if template is None:
        joined = b"[" + b",".join(raws) + b"]"
        text = "[]" if not raws else (compact(joined) if fmt == "json" else re_indent(joined))
        cli.out.write(text + "\n")
    else:
        cli.out.write("".join(lines) or "\n")
    if errors:
        raise StatusError(1, "\n".join(errors))
    return 0


def _execute(template: object, raw: bytes) -> str:
    from dockyard.cli.gofmt import to_go
    from dockyard.cli.templates import Template
    from dockyard.errors import SystemFailure
    from dockyard.util import jsoncodec

    assert isinstance(template, Template)
    try:
        value = jsoncodec.loads(raw)
    except jsoncodec.JSONDecodeError as exc:
        raise SystemFailure(f"unable to read inspect data: {exc}") from None
    return template.execute(to_go(value))
