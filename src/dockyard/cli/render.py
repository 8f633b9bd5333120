"""How docker's CLI prints things: formatted lists, tables, relative times, sizes, progress.

Each piece reproduces Go or docker's vendored libraries, because users and scripts compare
docker's output byte for byte:

- **Formatted lists** (``write_formatted``): docker's ``formatter.Context``. ``--format
  table ...`` renders a header row by running the same template over the column names (with
  ``json``, ``upper`` and the other string functions made no-ops, and errors ignored, as docker
  does), ``--format json`` is ``{{json .}}``, and the escapes ``\\t`` and ``\\n`` typed in a
  shell become tabs and newlines.
- **Tables** (``tabwrite``): Go's ``text/tabwriter`` with docker's settings (minwidth 10,
  tabwidth 1, padding 3, spaces): a column is as wide as its widest cell plus padding, but
  only across the run of consecutive lines that have a cell in it; the last cell of a line is
  never padded.
- **Units**: ``go-units``' ``HumanDuration`` ("About a minute", "3 weeks") and
  ``HumanSizeWithPrecision`` (decimal units, ``%.3g``: "5.57MB", "13.3kB"); docker's
  ``Ellipsis`` for the COMMAND column.
- **Progress** (``display_json_messages``): ``jsonmessage.DisplayJSONMessagesStream``. On a
  terminal each layer keeps its own line, redrawn in place with cursor movement
  (``ESC[<n>A``/``ESC[<n>B``, ``ESC[2K``) and a bar computed from ``progressDetail``;
  elsewhere only lines without a live counter are printed, each once.
"""

from __future__ import annotations

from dockyard.errors import SystemFailure
from dockyard.util.humantime import human_duration  # docker's HumanDuration, shared with the engine

__all__ = [
    "MessageError",
    "display_json_messages",
    "ellipsis",
    "human_duration",
    "human_size",
    "tabwrite",
    "write_formatted",
]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import TextIO

    from dockyard.cli.gofmt import TemplateObject


# --- units ----------------------------------------------------------------------------------


_DECIMAL_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")


def human_size(size: float, precision: int = 3) -> str:
    """go-units ``HumanSizeWithPrecision``: decimal units, ``%.<precision>g`` ("5.57MB")."""
    value = float(size)
    unit = 0
    while value >= 1000 and unit < len(_DECIMAL_UNITS) - 1:
        value /= 1000
        unit += 1
    return f"{value:.{precision}g}{_DECIMAL_UNITS[unit]}"


def _char_width(ch: str) -> int:
    import unicodedata

    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def ellipsis(text: str, max_width: int) -> str:
    """docker's ``formatter.Ellipsis``: cut to ``max_width`` display columns ending in ``…``."""
    if max_width <= 0:
        return ""
    if max_width == 1:
        return text[:1]
    if text.isascii():
        return text if len(text) <= max_width else text[: max_width - 1] + "…"
    widths = [_char_width(ch) for ch in text]
    if sum(widths) <= max_width:
        return text
    used = 0
    for i, width in enumerate(widths):
        if used + width > max_width - 1:
            return text[:i] + "…"
        used += width
    return text


# --- text/tabwriter -------------------------------------------------------------------------


def tabwrite(text: str, minwidth: int = 10, padding: int = 3) -> str:
    """Align tab-separated ``text`` as Go's tabwriter with docker's settings does."""
    lines = [line.split("\t") for line in text.split("\n")]
    out: list[str] = []
    _format(lines, [], 0, len(lines), out, minwidth, padding)
    return "".join(out)


def _format(
    lines: list[list[str]],
    widths: list[int],
    line0: int,
    line1: int,
    out: list[str],
    minwidth: int,
    padding: int,
) -> None:
    column = len(widths)
    this = line0
    while this < line1:
        if column >= len(lines[this]) - 1:
            this += 1
            continue
        _write_lines(lines, widths, line0, this, out)
        line0 = this
        width = minwidth
        while this < line1 and column < len(lines[this]) - 1:
            width = max(width, len(lines[this][column]) + padding)
            this += 1
        widths.append(width)
        _format(lines, widths, line0, this, out, minwidth, padding)
        widths.pop()
        line0 = this
    _write_lines(lines, widths, line0, line1, out)


def _write_lines(lines: list[list[str]], widths: list[int], line0: int, line1: int, out: list[str]) -> None:
    for i in range(line0, line1):
        for j, cell in enumerate(lines[i]):
            out.append(cell)
            if j < len(widths):
                out.append(" " * (widths[j] - len(cell)))
        if i + 1 < len(lines):
            out.append("\n")


# --- jsonmessage ----------------------------------------------------------------------------


def _progress_text(detail: dict[str, object], width: int, now: float) -> str:
    """``JSONProgress.String``: bar (wide terminals), counts, and time left."""
    current = detail.get("current") or 0
    total = detail.get("total") or 0
    units = detail.get("units") or ""
    assert isinstance(current, int | float)
    assert isinstance(total, int | float)
    if current <= 0 and total <= 0:
        return ""
    if total <= 0:
        return f"{human_size(current, 4):>8}" if not units else f"{current} {units}"
    percentage = min(int(current / total * 100) // 2, 50)
    bar = ""
    if width > 110:
        bar = "[" + "=" * percentage + ">" + " " * max(50 - percentage, 0) + "] "
    if detail.get("hidecounts"):
        numbers = ""
    elif not units:
        numbers = f"{human_size(current, 4):>8}/{human_size(total, 4)}"
        if current > total:
            numbers = f"{human_size(current, 4):>8}"
    else:
        numbers = f"{current}/{total} {units}" if current <= total else f"{current} {units}"
    left = ""
    start = detail.get("start") or 0
    assert isinstance(start, int | float)
    if current > 0 and start > 0 and percentage < 50 and width > 50:
        per_unit = (now - start) / current
        left = " " + _go_duration_seconds(int((total - current) * per_unit))
    return bar + numbers + left


def _go_duration_seconds(seconds: int) -> str:
    """``time.Duration.String`` for whole seconds: "0s", "45s", "3m5s", "1h2m3s"."""
    if seconds <= 0:
        return "0s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


class MessageError(SystemFailure):
    """A JSON message carried an error; its message is printed as docker prints it."""


def display_json_messages(
    messages: Iterable[dict[str, object]], out: TextIO, *, terminal: bool, width: int = 200
) -> None:
    """``DisplayJSONMessagesStream``: show a pull/load progress stream as docker does.

    Raises:
        MessageError: a message carried ``error``/``errorDetail``; output stops there.
    """
    import time

    lines: dict[str, int] = {}
    for message in messages:
        if "aux" in message:
            continue
        ident = str(message.get("id") or "")
        has_progress = "progressDetail" in message or bool(message.get("progress"))
        diff = 0
        if ident and has_progress and "error" not in message and "errorDetail" not in message:
            if ident not in lines:
                lines[ident] = len(lines)
                if terminal:
                    out.write("\n")
            diff = len(lines) - lines[ident]
            if terminal:
                out.write(f"\x1b[{diff}A")
        else:
            lines.clear()
        _display_one(message, out, terminal, width, time.time())
        if ident and terminal and diff:
            out.write(f"\x1b[{diff}B")
        out.flush()


def _display_one(message: dict[str, object], out: TextIO, terminal: bool, width: int, now: float) -> None:
    error = message.get("errorDetail") or message.get("error")
    if error:
        text = error.get("message") if isinstance(error, dict) else error
        raise MessageError(str(text or message.get("error") or ""))
    detail = message.get("progressDetail")
    progress = _progress_text(detail, width, now) if isinstance(detail, dict) else ""
    stream = str(message.get("stream") or "")
    end = ""
    if terminal and not stream and detail is not None:
        out.write("\x1b[2K\r")
        end = "\r"
    elif progress:
        return  # no live progress bars off a terminal
    if message.get("id"):
        out.write(f"{message['id']}: ")
    if message.get("from"):
        out.write(f"(from {message['from']}) ")
    status = str(message.get("status") or "")
    if detail is not None and terminal:
        out.write(f"{status} {progress}{end}")
    elif message.get("progress"):
        out.write(f"{status} {message['progress']}{end}")
    elif stream:
        out.write(f"{stream}{end}")
    else:
        out.write(f"{status}{end}\n")


# --- formatter.Context ----------------------------------------------------------------------


def normalize_format(fmt: str) -> tuple[str, bool]:
    """docker's ``preFormat``: strip ``table``, map ``json``, turn typed ``\\t``/``\\n`` into
    tab and newline. Returns the template text and whether it is a table."""
    table = fmt.startswith("table")
    text = fmt[len("table") :] if table else ("{{json .}}" if fmt == "json" else fmt)
    text = text.strip(" ").replace("\\t", "\t").replace("\\n", "\n")
    return text, table


def write_formatted(fmt: str, rows: Sequence[TemplateObject], header: dict[str, str], out: TextIO) -> None:
    """Render ``rows`` through ``fmt`` as docker's formatter does, table or not.

    Raises:
        TemplateError: the format does not parse or fails on a row.
    """
    from dockyard.cli import template_exec, templates
    from dockyard.cli.gofmt import HeaderMap

    text, table = normalize_format(fmt)
    template = templates.parse(text)
    body = "".join(template.execute(row) + "\n" for row in rows)
    if not table:
        out.write(body)
        return
    header_template = templates.parse(text, template_exec.HEADER_FUNCS)
    head = template_exec.execute_partial(header_template, HeaderMap(header))
    out.write(tabwrite(head + "\n" + body))
