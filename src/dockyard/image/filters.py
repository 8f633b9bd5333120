"""``GET /images/json`` filters, as dockerd's image service applies them.

Accepted keys: ``dangling``, ``label``, ``before``, ``since``, ``reference`` and ``until`` (API
1.44). The rules worth knowing, all from moby's ``daemon/images/images.go``:

- ``dangling=true`` lists images without tags (an image known only by a repo digest counts as
  dangling); ``dangling`` accepts only ``true`` and ``false``.
- ``reference`` patterns are Go ``path.Match`` globs (``*`` stops at ``/``), tried against each
  reference's familiar string (``alpine:latest``) and then its familiar name (``alpine``); an image
  shows only the references that matched, and an image with none is left out.
- ``before``/``since`` name an image (by any name or ID) and compare creation times strictly.
- without ``all``, untagged images that have child images (build intermediates) are hidden.

The result is sorted newest first.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import replace

from dockyard.errors import InvalidArgument
from dockyard.image.store import Image, parse_created

__all__ = ["ACCEPTED_FILTERS", "filter_images", "go_path_match", "parse_timestamp"]

ACCEPTED_FILTERS = frozenset({"dangling", "label", "before", "since", "reference", "until"})


def filter_images(
    images: Iterable[Image],
    *,
    all: bool,
    filters: dict[str, list[str]] | None,
    resolve: Callable[[str], Image],
    has_children: Callable[[str], bool],
    now: float | None = None,
) -> list[Image]:
    """Docker's image list: filtered, references narrowed by ``reference``, newest first.

    Raises:
        InvalidArgument: an unknown filter key, a bad ``dangling`` value, a bad glob or time.
        NoSuchImage: a ``before``/``since`` image does not exist.
    """
    filters = filters or {}
    for key in filters:
        if key not in ACCEPTED_FILTERS:
            raise InvalidArgument(f"invalid filter '{key}'")
    dangling_only = _dangling(filters)
    before = _bound(filters, "before", resolve)
    since = _bound(filters, "since", resolve)
    until = min((parse_timestamp(v, now) for v in filters.get("until", [])), default=None)
    patterns = filters.get("reference")
    result: list[Image] = []
    for image in images:
        if before is not None and image.created_at >= before:
            continue
        if since is not None and image.created_at <= since:
            continue
        if until is not None and image.created_at > until:
            continue
        if "label" in filters and not _labels_match(filters["label"], image.labels):
            continue
        shown = _narrow(image, patterns) if patterns is not None else image
        children = has_children(image.id)
        if dangling_only and children:
            continue
        if not shown.repo_tags and not shown.repo_digests:
            if not (all or not children):
                continue
            if ("dangling" in filters and not dangling_only) or patterns is not None:
                continue
        elif dangling_only and shown.repo_tags:
            continue
        result.append(shown)
    result.sort(key=lambda i: i.created_at, reverse=True)
    return result


def _dangling(filters: dict[str, list[str]]) -> bool:
    values = filters.get("dangling")
    if values is None:
        return False
    if "true" in values:
        return True
    if "false" in values:
        return False
    raise InvalidArgument(f"invalid filter 'dangling={values}'")


def _bound(filters: dict[str, list[str]], key: str, resolve: Callable[[str], Image]) -> float | None:
    values = filters.get(key)
    if not values:
        return None
    return resolve(values[-1]).created_at


def _labels_match(wanted: list[str], labels: dict[str, str]) -> bool:
    """moby's ``MatchKVList``: every ``key`` or ``key=value`` must be present."""
    if not labels:
        return False
    for item in wanted:
        key, sep, value = item.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    return True


def _narrow(image: Image, patterns: list[str]) -> Image:
    def keep(ref: str, separator: str) -> bool:
        name = ref.rsplit(separator, 1)[0] if separator in ref.rsplit("/", 1)[-1] else ref
        return any(go_path_match(p, ref) or go_path_match(p, name) for p in patterns)

    return replace(
        image,
        repo_tags=tuple(r for r in image.repo_tags if keep(r, ":")),
        repo_digests=tuple(r for r in image.repo_digests if keep(r, "@")),
    )


_PATTERN_CACHE: dict[str, re.Pattern[str]] = {}


def go_path_match(pattern: str, name: str) -> bool:
    """Go's ``path.Match``: ``*`` and ``?`` do not match ``/``; ``[...]`` classes, ``[^...]``
    negation, ``\\`` escapes.

    Raises:
        InvalidArgument: a malformed pattern ("syntax error in pattern", Go's ErrBadPattern).
    """
    compiled = _PATTERN_CACHE.get(pattern)
    if compiled is None:
        compiled = re.compile(_translate(pattern), re.DOTALL)
        if len(_PATTERN_CACHE) < 256:
            _PATTERN_CACHE[pattern] = compiled
    return compiled.fullmatch(name) is not None


def _translate(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        i += 1
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\":
            if i >= len(pattern):
                raise InvalidArgument("syntax error in pattern")
            out.append(re.escape(pattern[i]))
            i += 1
        elif c == "[":
            klass, i = _translate_class(pattern, i)
            out.append(klass)
        else:
            out.append(re.escape(c))
    return "".join(out)


def _translate_class(pattern: str, i: int) -> tuple[str, int]:
    negate = i < len(pattern) and pattern[i] == "^"
    if negate:
        i += 1
    items: list[str] = []
    while True:
        if i >= len(pattern):
            raise InvalidArgument("syntax error in pattern")
        if pattern[i] == "]" and items:
            i += 1
            break
        low, i = _class_char(pattern, i)
        if i < len(pattern) and pattern[i] == "-":
            high, i = _class_char(pattern, i + 1)
            if high < low:
                raise InvalidArgument("syntax error in pattern")
            items.append(f"{re.escape(low)}-{re.escape(high)}")
        else:
            items.append(re.escape(low))
    body = "".join(items)
    # Go's classes never match "/" either way (path.Match: "non-Separator").
    return (f"[^/{body}]" if negate else f"(?!/)[{body}]"), i


def _class_char(pattern: str, i: int) -> tuple[str, int]:
    if i >= len(pattern) or pattern[i] in "-]":
        raise InvalidArgument("syntax error in pattern")
    if pattern[i] == "\\":
        i += 1
        if i >= len(pattern):
            raise InvalidArgument("syntax error in pattern")
    return pattern[i], i + 1


_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_FORMATS = (
    "%Y-%m-%dT%H:%M:%S.%f%z",
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M%z",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%dT%H%z",
    "%Y-%m-%dT%H",
    "%Y-%m-%d%z",
    "%Y-%m-%d",
)


def parse_timestamp(value: str, now: float | None = None) -> float:
    """Docker's ``timetypes.GetTimestamp``: a Go duration ago (``10m``), a Unix time
    (``1700000000.5``), or an RFC 3339 date or time (local time when no zone is given).

    Raises:
        InvalidArgument: none of those.
    """
    now = time.time() if now is None else now
    text = value.strip()
    if _is_duration(text):
        return now - _duration_seconds(text)
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    from datetime import datetime

    for fmt in _FORMATS:
        try:
            parsed = datetime.strptime(text.replace("Z", "+0000"), fmt)
        except ValueError:
            continue
        return parsed.timestamp()
    created = parse_created(text)
    if created:
        return created
    raise InvalidArgument(f'failed to parse value as time or duration: "{value}"')


def _is_duration(text: str) -> bool:
    body = text[1:] if text[:1] in "+-" else text
    return bool(body) and _DURATION.sub("", body) == "" and _DURATION.search(body) is not None


def _duration_seconds(text: str) -> float:
    sign = -1.0 if text.startswith("-") else 1.0
    return sign * sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(text))
