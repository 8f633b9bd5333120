"""Route matching: ``(method, path)`` to a handler and its path captures.

Patterns are written as the Engine API documents them: ``/containers/{id}/json``. A capture
matches one path segment, except ``{name*}``, which matches the rest of the path greedily up to
the fixed suffix: image names contain slashes (``/images/localhost:5000/team/app/json``), and
dockerd's router uses ``{name:.*}`` for them. Routes are tried in table order, so fixed paths
(``/images/json``) come before patterns that could swallow them (``/images/{name*}``). A path
that matches no route, or matches one with another method, answers 404 ``page not found``, as
dockerd's mux does for both.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import unquote

from dockyard.api.request import Request
from dockyard.api.response import AnyResponse

if TYPE_CHECKING:
    from dockyard.engine import Engine

__all__ = ["Body", "Handler", "Route", "Router"]

Handler = Callable[[Request, "Engine"], Awaitable[AnyResponse]]


class Body(enum.Enum):
    """How the server reads a route's request body."""

    BUFFERED = "buffered"
    """Read whole, up to the JSON body limit (413 beyond it), before the handler runs."""
    STREAMED = "streamed"
    """Handed to the handler as ``request.body_stream``, unbounded (load, import)."""


_CAPTURE = re.compile(r"\{(\w+)(\*?)\}")


@dataclass(frozen=True, slots=True)
class Route:
    """One endpoint: method, documented path pattern, handler, and how its body is read."""

    method: str
    pattern: str
    handler: Handler
    body: Body = Body.BUFFERED
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts: list[str] = []
        last = 0
        for m in _CAPTURE.finditer(self.pattern):
            parts.append(re.escape(self.pattern[last : m.start()]))
            parts.append(f"(?P<{m.group(1)}>.+)" if m.group(2) else f"(?P<{m.group(1)}>[^/]+)")
            last = m.end()
        parts.append(re.escape(self.pattern[last:]))
        object.__setattr__(self, "regex", re.compile("".join(parts) + r"/?\Z"))


class Router:
    """The route table, with a fast path for patterns without captures."""

    def __init__(self, routes: Sequence[Route]) -> None:
        self._routes = tuple(routes)
        self._fixed: dict[tuple[str, str], Route] = {}
        for route in self._routes:
            if "{" not in route.pattern:
                self._fixed.setdefault((route.method, route.pattern), route)

    @property
    def routes(self) -> tuple[Route, ...]:
        """Every route, in matching order."""
        return self._routes

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """The first route for ``method`` whose pattern matches ``path``, with its captures.

        Captures are percent-decoded. Returns None when nothing matches (dockerd: 404).
        """
        fixed = self._fixed.get((method, path.rstrip("/") or "/"))
        if fixed is not None:
            return fixed, {}
        for route in self._routes:
            if route.method != method or "{" not in route.pattern:
                continue
            m = route.regex.match(path)
            if m is not None:
                return route, {k: unquote(v) for k, v in m.groupdict().items()}
        return None
