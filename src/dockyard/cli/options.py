"""Docker's command-line grammar: pflag's flag syntax, and docker's option value parsers.

docker's CLI is built on cobra and spf13/pflag, and users' fingers know its grammar: GNU-style
long flags (``--name x``, ``--name=x``), clustered short flags (``-it``, ``-eA=1``, ``-e=A=1``),
``--`` to end flags, repeatable list flags, boolean flags that take ``--rm=false`` but never a
separate argument, and, for ``run``/``create``/``exec``, *non-interspersed* parsing: everything
after the image is the container's command, even if it looks like a flag (``run alpine ls -l``).
``argparse`` gets several of these wrong (it would swallow ``-l``), costs 9 ms to import, and
words its errors differently, so this module implements pflag's algorithm directly, with its
error messages verbatim (``unknown shorthand flag: 'z' in -z``).

Values are converted when a flag is parsed, as pflag's ``Value.Set`` does, so a bad
``--memory 12x`` fails at parse time with docker's text (``invalid argument "12x" for "-m,
--memory" flag: invalid size: '12x'``). The converters are docker's: ``RAMInBytes`` for sizes
(binary multiples: ``512m`` is 512 MiB), ``NanoCPUs`` for ``--cpus``, Go's
``time.ParseDuration``, ``ValidateEnv`` (``-e KEY`` takes KEY's value from our environment, or
passes KEY alone), env files, labels and filters.

The help text is pflag's ``FlagUsagesWrapped``: one line per flag, the usage column aligned and
wrapped to the terminal width, with pflag's slop rule that avoids short orphan words.
"""

from __future__ import annotations

import os

from dockyard.errors import InvalidArgument

__all__ = [
    "Flag",
    "FlagError",
    "Parsed",
    "check_env",
    "flag_usages",
    "parse_bytes",
    "parse_cpus",
    "parse_duration",
    "parse_filters",
    "parse_flags",
    "parse_timestamp",
    "read_env_files",
    "validate_env",
]

TYPE_CHECKING = False
if TYPE_CHECKING:
    import datetime
    from collections.abc import Callable, Iterable, Mapping, Sequence

# Kinds whose flags can be repeated; their values accumulate in a list.
_LIST_KINDS = frozenset({"list", "stringArray", "strings", "filter", "map", "ulimit", "mount", "network"})
# pflag's Value.Type() as shown in help (booleans show nothing).
_TYPE_NAMES = {"bool": "", "uint64": "uint", "stringArray": "stringArray"}


class FlagError(InvalidArgument):
    """A command line that pflag would refuse; the message is pflag's own."""


class Flag:
    """One flag: its names, kind, default and usage text, as pflag declares them.

    ``kind`` is one of: bool, string, int, uint16, uint64, list, stringArray, strings, map,
    filter, ulimit, mount, network, bytes, membytes-swap (``swap``), decimal (``--cpus``),
    duration. ``default_text`` is what help shows after "(default ...)", or None for nothing.
    ``check`` validates and converts each value as docker's ``ValidatorFctType`` does; its
    ``ValueError`` message becomes the flag error.
    """

    __slots__ = ("check", "default", "default_text", "dest", "help", "hidden", "kind", "name", "short")

    def __init__(
        self,
        name: str,
        kind: str,
        help: str,
        *,
        short: str = "",
        default: object = None,
        default_text: str | None = None,
        dest: str | None = None,
        hidden: bool = False,
        check: Callable[[str], object] | None = None,
    ) -> None:
        self.check = check
        self.name = name
        self.kind = kind
        self.help = help
        self.short = short
        self.default = default if default is not None else _zero(kind)
        self.default_text = default_text
        self.dest = dest or name
        self.hidden = hidden

    def label(self) -> str:
        """The flag as pflag names it in errors: ``-n, --last`` or ``--name``."""
        return f"-{self.short}, --{self.name}" if self.short else f"--{self.name}"


def _zero(kind: str) -> object:
    if kind == "bool":
        return False
    if kind in ("int", "uint16", "uint64", "bytes", "swap", "decimal", "duration"):
        return 0
    if kind in _LIST_KINDS:
        return []
    return ""


class Parsed:
    """The result of parsing: values by destination name, the flags given, and the arguments."""

    __slots__ = ("args", "changed", "values")

    def __init__(self, flags: Iterable[Flag]) -> None:
        self.values: dict[str, object] = {}
        for flag in flags:
            default = flag.default
            self.values.setdefault(flag.dest, list(default) if isinstance(default, list) else default)
        self.changed: set[str] = set()
        self.args: list[str] = []

    def get(self, name: str) -> object:
        return self.values[name]

    def text(self, name: str) -> str:
        """A string flag's value."""
        value = self.values[name]
        assert isinstance(value, str)
        return value

    def number(self, name: str) -> int:
        """An integer-valued flag's value (int, bytes, decimal, duration kinds)."""
        value = self.values[name]
        assert isinstance(value, int)
        return value

    def flag(self, name: str) -> bool:
        """A boolean flag's value."""
        return bool(self.values[name])

    def items(self, name: str) -> list[str]:
        """A repeatable flag's values, in the order given."""
        value = self.values[name]
        assert isinstance(value, list)
        return value


def parse_flags(flags: Sequence[Flag], argv: Sequence[str], *, interspersed: bool = True) -> Parsed:
    """Parse ``argv`` as pflag does, returning values and positional arguments.

    With ``interspersed=False`` parsing stops at the first positional argument, and everything
    from there on is an argument (docker run's IMAGE [COMMAND] [ARG...]).

    Raises:
        FlagError: unknown flag, missing value, bad syntax, or a value its kind refuses.
    """
    by_name = {f.name: f for f in flags}
    by_short = {f.short: f for f in flags if f.short}
    parsed = Parsed(flags)
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            parsed.args.extend(args[i:])
            break
        if len(arg) < 2 or not arg.startswith("-"):
            parsed.args.append(arg)
            if not interspersed:
                parsed.args.extend(args[i:])
                break
            continue
        if arg.startswith("--"):
            i = _parse_long(arg, args, i, by_name, parsed)
        else:
            i = _parse_shorts(arg, args, i, by_short, parsed)
    return parsed


def _parse_long(arg: str, args: list[str], i: int, by_name: dict[str, Flag], parsed: Parsed) -> int:
    name, has_value, value = arg[2:].partition("=")
    if not name or name.startswith("-") or name.startswith("="):
        raise FlagError(f"bad flag syntax: {arg}")
    flag = by_name.get(name)
    if flag is None:
        raise FlagError(f"unknown flag: --{name}")
    if not has_value and flag.kind != "bool":
        if i >= len(args):
            raise FlagError(f"flag needs an argument: --{name}")
        value, i = args[i], i + 1
    _set(flag, value if (has_value or flag.kind != "bool") else "true", parsed)
    return i


def _parse_shorts(arg: str, args: list[str], i: int, by_short: dict[str, Flag], parsed: Parsed) -> int:
    rest = arg[1:]
    while rest:
        char, rest = rest[0], rest[1:]
        flag = by_short.get(char)
        if flag is None:
            raise FlagError(f"unknown shorthand flag: '{char}' in -{arg[1:]}")
        if rest.startswith("="):
            _set(flag, rest[1:], parsed)
            return i
        if flag.kind == "bool":
            _set(flag, "true", parsed)
            continue
        if rest:
            _set(flag, rest, parsed)
            return i
        if i >= len(args):
            raise FlagError(f"flag needs an argument: '{char}' in -{char}")
        _set(flag, args[i], parsed)
        return i + 1
    return i


def _set(flag: Flag, raw: str, parsed: Parsed) -> None:
    try:
        value = flag.check(raw) if flag.check is not None else _convert(flag.kind, raw)
    except ValueError as exc:
        raise FlagError(f'invalid argument "{raw}" for "{flag.label()}" flag: {exc}') from None
    parsed.changed.add(flag.name)
    if flag.kind in _LIST_KINDS:
        current = parsed.values[flag.dest]
        assert isinstance(current, list)
        if flag.kind == "strings":
            current.extend(v for v in raw.split(",") if v)
        else:
            current.append(value)
    else:
        parsed.values[flag.dest] = value


def _convert(kind: str, raw: str) -> object:
    if kind == "bool":
        return _parse_go_bool(raw)
    if kind in ("int", "uint16", "uint64"):
        return _parse_go_int(raw, kind)
    if kind == "bytes":
        return parse_bytes(raw)
    if kind == "swap":
        return -1 if raw == "-1" else parse_bytes(raw)
    if kind == "decimal":
        return parse_cpus(raw)
    if kind == "duration":
        return parse_duration(raw)
    if kind == "filter":
        return _parse_filter_arg(raw)
    return raw


def _parse_go_bool(raw: str) -> bool:
    # strconv.ParseBool accepts exactly these spellings.
    if raw in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if raw in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ValueError(f'strconv.ParseBool: parsing "{raw}": invalid syntax')


def _parse_go_int(raw: str, kind: str) -> int:
    func = "ParseUint" if kind.startswith("uint") else "ParseInt"
    text = raw[1:] if raw[:1] in ("+", "-") else raw
    if not text.isdigit() or not text.isascii():
        raise ValueError(f'strconv.{func}: parsing "{raw}": invalid syntax')
    value = int(raw)
    bits = {"int": 63, "uint16": 16, "uint64": 64}[kind]
    low, high = (0, (1 << bits) - 1) if func == "ParseUint" else (-(1 << bits), (1 << bits) - 1)
    if func == "ParseUint" and raw.startswith("-"):
        raise ValueError(f'strconv.{func}: parsing "{raw}": invalid syntax')
    if not low <= value <= high:
        raise ValueError(f'strconv.{func}: parsing "{raw}": value out of range')
    return value


# --- value parsers --------------------------------------------------------------------------

_BINARY = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_bytes(text: str) -> int:
    """A size as docker's ``units.RAMInBytes`` reads it: ``512m`` = 512 MiB, ``1.5g``, ``100``.

    The grammar is ``^(\\d+(\\.\\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$``; multiples are binary.

    Raises:
        ValueError: ``invalid size: '<text>'``.
    """
    body = text
    if body[-1:] in ("b", "B"):
        body = body[:-1]
    if body[-1:] in ("i", "I"):
        body = body[:-1]
    unit = ""
    if body[-1:].lower() in ("k", "m", "g", "t", "p"):
        unit, body = body[-1].lower(), body[:-1]
    if body.endswith(" "):
        body = body[:-1]
    parts = body.split(".")
    if not body or not all(p.isdigit() and p.isascii() for p in parts):
        raise ValueError(f"invalid size: '{text}'")
    # Go parses "1.2.3" with strconv.ParseFloat after the regexp accepted it, and fails.
    if len(parts) > 2:
        raise ValueError(f"invalid size: '{text}'")
    return int(float(body) * _BINARY[unit])


def parse_cpus(text: str) -> int:
    """``--cpus`` as docker's NanoCPUs: a decimal number of CPUs, returned in billionths.

    Raises:
        ValueError: not a number, or more precise than a nano-CPU.
    """
    from fractions import Fraction

    try:
        value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"failed to parse {text} as a rational number") from None
    nano = value * 1_000_000_000
    if nano.denominator != 1:
        raise ValueError("value is too precise")
    return int(nano)


_DURATION_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}


def parse_duration(text: str) -> int:
    """Go's ``time.ParseDuration``, in nanoseconds: ``1h30m``, ``300ms``, ``-1.5h``, ``0``.

    Raises:
        ValueError: ``time: invalid duration "<text>"`` (or a missing unit).
    """
    s = text
    sign = 1
    if s[:1] in ("+", "-"):
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise ValueError(f'time: invalid duration "{text}"')
    total = 0.0
    while s:
        number, s = _leading_number(s, text)
        unit_end = 0
        while unit_end < len(s) and not (s[unit_end].isdigit() or s[unit_end] == "."):
            unit_end += 1
        unit, s = s[:unit_end], s[unit_end:]
        if not unit:
            raise ValueError(f'time: missing unit in duration "{text}"')
        if unit not in _DURATION_UNITS:
            raise ValueError(f'time: unknown unit "{unit}" in duration "{text}"')
        total += number * _DURATION_UNITS[unit]
    return sign * round(total)


def _leading_number(s: str, text: str) -> tuple[float, str]:
    end = 0
    while end < len(s) and (s[end].isdigit() or s[end] == "."):
        end += 1
    digits = s[:end]
    if not digits or digits == "." or digits.count(".") > 1:
        raise ValueError(f'time: invalid duration "{text}"')
    return float(digits), s[end:]


def parse_timestamp(value: str, now: float) -> str:
    """``--since``/``--until`` as docker's ``timetypes.GetTimestamp``: the API's seconds string.

    A Go duration counts back from ``now`` (``10m``); RFC 3339 dates and times, with or without
    a zone or fractional seconds, become ``seconds.nanoseconds``; a Unix timestamp
    (``1700000000`` or ``1700000000.5``) passes through unchanged.

    Raises:
        ValueError: none of those forms.
    """
    if value != "0":
        try:
            return str(int(now - parse_duration(value) / 1e9))
        except ValueError:
            pass
    parsed = _parse_rfc3339ish(value)
    if parsed is not None:
        seconds, nanos = parsed
        return f"{seconds}.{nanos:09d}"
    if "-" in value:
        raise ValueError(f'parsing time "{value}": cannot parse as a timestamp')
    whole, _, frac = value.partition(".")
    if whole.isdigit() and (not frac or frac.isdigit()):
        return value
    raise ValueError(f'failed to parse value as time or duration: "{value}"')


def _parse_rfc3339ish(value: str) -> tuple[int, int] | None:
    import datetime

    text = value.replace("z", "Z")
    date, _, clock = text.partition("T")
    try:
        day = datetime.date.fromisoformat(date[:10])
    except ValueError:
        return None
    zone = date[10:]
    if clock:
        for i, ch in enumerate(clock):
            if ch in "Z+-":
                clock, zone = clock[:i], clock[i:]
                break
    fraction = ""
    if "." in clock:
        clock, fraction = clock.split(".", 1)
    fields = [int(p) for p in clock.split(":")] if clock else []
    hour, minute, second = [*fields, 0, 0, 0][:3]
    moment = datetime.datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=_zone(zone))
    nanos = int((fraction + "000000000")[:9]) if fraction else 0
    return int(moment.timestamp()), nanos


def _zone(zone: str) -> datetime.tzinfo | None:
    import datetime

    if zone in ("", None):
        return None  # local time, as docker's ParseInLocation
    if zone == "Z":
        return datetime.UTC
    sign = -1 if zone[0] == "-" else 1
    hours, _, minutes = zone[1:].partition(":")
    return datetime.timezone(sign * datetime.timedelta(hours=int(hours), minutes=int(minutes or 0)))


def check_env(value: str) -> str:
    """``-e`` at parse time: the name must not be empty (``resolve_env`` fills in values later).

    Raises:
        ValueError: an empty variable name (docker's message).
    """
    if not value.partition("=")[0]:
        raise ValueError(f"invalid environment variable: {value}")
    return value


def validate_env(value: str, environ: Mapping[str, str] | None = None) -> str:
    """``-e`` as docker's ``ValidateEnv``: ``KEY=v`` as is; bare ``KEY`` takes our value if set.

    Raises:
        ValueError: an empty variable name (docker's message).
    """
    key, has_value, _ = value.partition("=")
    if not key:
        raise ValueError(f"invalid environment variable: {value}")
    if has_value:
        return value
    env = os.environ if environ is None else environ
    return f"{key}={env[key]}" if key in env else value


def read_env_files(paths: Iterable[str], environ: Mapping[str, str] | None = None) -> list[str]:
    """Variables from ``--env-file`` files, as docker's ``ParseEnvFile`` reads them.

    Lines are left-trimmed; empty lines and ``#`` comments are skipped; ``KEY=value`` passes the
    value untouched; a bare ``KEY`` takes our environment's value, and is dropped if unset.

    Raises:
        InvalidArgument: unreadable file, bad UTF-8, or a malformed variable name.
    """
    env = os.environ if environ is None else environ
    result: list[str] = []
    for path in paths:
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise InvalidArgument(f"open {path}: {exc.strerror.lower() if exc.strerror else exc}") from None
        result.extend(_env_lines(path, data.removeprefix(b"\xef\xbb\xbf"), env))
    return result


def _env_lines(path: str, data: bytes, env: Mapping[str, str]) -> list[str]:
    lines: list[str] = []
    for number, raw in enumerate(data.splitlines(), start=1):
        try:
            line = raw.decode("utf-8").lstrip()
        except UnicodeDecodeError:
            raise InvalidArgument(f"env file {path} contains invalid utf8 bytes at line {number}") from None
        if not line or line.startswith("#"):
            continue
        name, has_value, value = line.partition("=")
        name = name.lstrip(" \t")
        if any(c in name for c in " \t"):
            raise InvalidArgument(f"poorly formatted environment: variable '{name}' contains whitespaces")
        if not name:
            raise InvalidArgument(f"poorly formatted environment: no variable name on line '{line}'")
        if has_value:
            lines.append(f"{name}={value}")
        elif name in env:
            lines.append(f"{name.strip()}={env[name]}")
    return lines


def _parse_filter_arg(raw: str) -> tuple[str, str]:
    name, has_value, value = raw.partition("=")
    if not has_value:
        raise ValueError("bad format of filter (expected name=value)")
    return name.strip().lower(), value.strip()


def parse_filters(pairs: Iterable[object]) -> dict[str, dict[str, bool]]:
    """``--filter`` values as the JSON docker sends: ``{"name": {"value": true}}``."""
    result: dict[str, dict[str, bool]] = {}
    for pair in pairs:
        assert isinstance(pair, tuple)
        name, value = pair
        result.setdefault(name, {})[value] = True
    return result


# --- help -----------------------------------------------------------------------------------


def flag_usages(flags: Iterable[Flag], cols: int) -> str:
    """pflag's ``FlagUsagesWrapped(cols)``: the Options block of ``--help``, flags sorted."""
    rows: list[tuple[str, str]] = []
    for flag in sorted(flags, key=lambda f: f.name):
        if flag.hidden:
            continue
        left = f"  -{flag.short}, --{flag.name}" if flag.short else f"      --{flag.name}"
        varname, usage = _unquote_usage(flag)
        if varname:
            left += " " + varname
        if flag.default_text is not None:
            usage += f" (default {flag.default_text})"
        rows.append((left, usage))
    width = max((len(left) for left, _ in rows), default=0)
    out = []
    for left, usage in rows:
        spacing = " " * (width - len(left))
        out.append(f"{left} {spacing}  {_wrap(width + 3, cols, usage)}\n")
    return "".join(out)


def _unquote_usage(flag: Flag) -> tuple[str, str]:
    usage = flag.help
    start = usage.find("`")
    if start >= 0:
        end = usage.find("`", start + 1)
        if end > start:
            return usage[start + 1 : end], usage[:start] + usage[start + 1 : end] + usage[end + 1 :]
    return _TYPE_NAMES.get(flag.kind, "bytes" if flag.kind == "swap" else flag.kind), usage


def _wrap(indent: int, width: int, text: str) -> str:
    """pflag's ``wrap``: the first line continues the caller's; later lines are indented."""
    pad = " " * indent
    if width == 0:
        return text.replace("\n", "\n" + pad)
    room = width - indent
    result = ""
    if room < 24:
        indent = 16
        pad = " " * indent
        room = width - indent
        result += "\n" + pad
    if room < 24:
        return text.replace("\n", result)
    slop = 5
    room -= slop
    line, text = _wrap_n(room, slop, text)
    result += line.replace("\n", "\n" + pad)
    while text:
        line, text = _wrap_n(room, slop, text)
        result += "\n" + pad + line.replace("\n", "\n" + pad)
    return result


def _wrap_n(limit: int, slop: int, text: str) -> tuple[str, str]:
    """pflag's ``wrapN``: split at the last blank before ``limit``, or at an earlier newline."""
    if limit + slop > len(text):
        return text, ""
    head = text[:limit]
    cut = max(head.rfind(" "), head.rfind("\t"), head.rfind("\n"))
    if cut <= 0:
        return text, ""
    newline = head.rfind("\n")
    if 0 < newline < cut:
        return text[:newline], text[newline + 1 :]
    return text[:cut], text[cut + 1 :]
