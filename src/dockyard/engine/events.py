"""``docker events``: a bus that publishes engine events live and keeps a bounded journal.

Every state change the Engine API reports (container create/start/die/..., image
pull/tag/delete/...) is an :class:`Event`. ``publish`` appends it to the journal (a table in the
state database, so ``since``/``until`` replay survives daemon restarts) and hands it to every live
subscriber. Subscribers are asyncio queues; a subscriber that cannot keep up is dropped rather than
allowed to grow the daemon without bound (dockerd does the same: its event channel drops slow
listeners).

Filters follow dockerd's ``daemon/events/filter.go``: ``type``, ``event`` (action), ``container``
(ID or name), ``image`` (name or ID), ``label`` (``key`` or ``key=value``), plus ``scope``. Values
of one key are OR-ed; keys are AND-ed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from dockyard.errors import InvalidArgument
from dockyard.util import jsoncodec
from dockyard.util.db import Database

__all__ = ["Event", "EventBus"]

log = logging.getLogger(__name__)

JOURNAL_LIMIT = 1024
"""How many events the journal keeps (dockerd keeps the last 256 in memory; ours survive restarts)."""

_QUEUE_LIMIT = 4096
_FILTER_KEYS = frozenset(
    {"type", "event", "container", "image", "label", "scope", "network", "volume", "daemon"}
)
_TYPES = frozenset(
    {"container", "image", "network", "volume", "daemon", "plugin", "service", "node", "secret", "config"}
    | {"builder"}
)

MIGRATIONS = [
    """
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        time_nano INTEGER NOT NULL,
        record TEXT NOT NULL
    );
    CREATE INDEX events_time ON events (time_nano);
    """,
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """One ``docker events`` message.

    ``attributes`` carries what Docker puts in ``Actor.Attributes``: for containers the image and
    name and the container's labels, plus ``exitCode`` on ``die``, ``signal`` on ``kill``,
    ``execID`` on ``exec_*``; for images the ``name``. ``time_nano`` is nanoseconds since the epoch.
    """

    type: str
    action: str
    actor_id: str
    attributes: dict[str, str] = field(default_factory=dict)
    time_nano: int = 0
    scope: str = "local"

    def to_record(self) -> dict[str, object]:
        """The journal's JSON form."""
        return {
            "type": self.type,
            "action": self.action,
            "actor_id": self.actor_id,
            "attributes": self.attributes,
            "time_nano": self.time_nano,
            "scope": self.scope,
        }

    @classmethod
    def from_record(cls, data: object) -> Event:
        """Rebuild from the journal's JSON form; unknown fields are ignored."""
        if not isinstance(data, dict):
            raise ValueError("event record is not an object")
        attributes = data.get("attributes") or {}
        return cls(
            type=str(data.get("type", "")),
            action=str(data.get("action", "")),
            actor_id=str(data.get("actor_id", "")),
            attributes={str(k): str(v) for k, v in dict(attributes).items()},
            time_nano=int(data.get("time_nano", 0)),
            scope=str(data.get("scope", "local")),
        )


def check_filters(filters: dict[str, list[str]] | None) -> dict[str, list[str]]:
    """Validate an events filter map, with dockerd's message for an unknown key.

    Raises:
        InvalidArgument: a key dockerd does not accept for events, or a bad ``type`` value.
    """
    filters = filters or {}
    for key, values in filters.items():
        if key not in _FILTER_KEYS:
            raise InvalidArgument(f"invalid filter '{key}'")
        if key == "type":
            for value in values:
                if value not in _TYPES:
                    raise InvalidArgument(f"invalid filter 'type={value}'")
    return filters


def matches(event: Event, filters: dict[str, list[str]]) -> bool:
    """True when ``event`` passes every filter key (values of one key are alternatives)."""
    for key, values in filters.items():
        if not values:
            continue
        if not _FIELD_MATCHERS.get(key, _no_match)(event, values):
            return False
    return True


def _no_match(event: Event, values: list[str]) -> bool:
    return False


def _match_type(event: Event, values: list[str]) -> bool:
    return event.type in values


def _match_action(event: Event, values: list[str]) -> bool:
    # "exec_start: sh -c ..." is matched by its prefix "exec_start", as dockerd does.
    action = event.action.split(":", 1)[0]
    return event.action in values or action in values


def _match_scope(event: Event, values: list[str]) -> bool:
    return event.scope in values


def _match_actor(kind: str) -> Callable[[Event, list[str]], bool]:
    def match(event: Event, values: list[str]) -> bool:
        if event.type != kind:
            return False
        name = event.attributes.get("name", "")
        return any(event.actor_id.startswith(v) or v in (name, f"/{name}") for v in values)

    return match


def _match_image(event: Event, values: list[str]) -> bool:
    if event.type == "image":
        candidates = {event.actor_id, event.attributes.get("name", "")}
    elif event.type == "container":
        candidates = {event.attributes.get("image", "")}
    else:
        return False
    candidates.discard("")
    for value in values:
        for candidate in candidates:
            if candidate == value or candidate.split("@")[0] == value:
                return True
            bare = candidate.rsplit(":", 1)[0] if "/" not in candidate.rsplit(":", 1)[-1] else candidate
            if bare == value or candidate.removeprefix("sha256:").startswith(value.removeprefix("sha256:")):
                return True
    return False


def _match_label(event: Event, values: list[str]) -> bool:
    for value in values:
        key, sep, want = value.partition("=")
        if key not in event.attributes:
            continue
        if not sep or event.attributes[key] == want:
            return True
    return False


_FIELD_MATCHERS: dict[str, Callable[[Event, list[str]], bool]] = {
    "type": _match_type,
    "event": _match_action,
    "scope": _match_scope,
    "container": _match_actor("container"),
    "network": _match_actor("network"),
    "volume": _match_actor("volume"),
    "daemon": _match_actor("daemon"),
    "image": _match_image,
    "label": _match_label,
}


class EventBus:
    """Publishes events to live subscribers and a bounded journal in the state database."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        db.migrate("engine.events", MIGRATIONS)
        self._db = db
        self._clock = clock
        self._subscribers: set[asyncio.Queue[Event | None]] = set()
        self._published = 0

    @property
    def listener_count(self) -> int:
        """How many subscribers are live (``/info`` shows it as ``NEventsListener``)."""
        return len(self._subscribers)

    def publish(self, event: Event) -> Event:
        """Record ``event`` in the journal and deliver it to every live subscriber.

        A zero ``time_nano`` is stamped with the current time. Returns the event as published.
        Never raises for a slow subscriber: one whose queue is full is dropped.
        """
        if event.time_nano == 0:
            event = Event(
                type=event.type,
                action=event.action,
                actor_id=event.actor_id,
                attributes=event.attributes,
                time_nano=int(self._clock() * 1e9),
                scope=event.scope,
            )
        self._journal(event)
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                log.warning("events subscriber too slow; dropping it")
                self._subscribers.discard(queue)
                self._end(queue)
        return event

    def _journal(self, event: Event) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO events (time_nano, record) VALUES (?, ?)",
                (event.time_nano, jsoncodec.dumps(event.to_record())),
            )
            self._published += 1
            if self._published % 64 == 0:
                conn.execute(
                    "DELETE FROM events WHERE seq <= (SELECT MAX(seq) FROM events) - ?", (JOURNAL_LIMIT,)
                )

    @staticmethod
    def _end(queue: asyncio.Queue[Event | None]) -> None:
        try:
            queue.put_nowait(None)
        except asyncio.QueueFull:
            pass

    def replay(self, *, since: float | None, until: float | None) -> list[Event]:
        """Events from the journal with ``since <= time <= until`` (seconds since the epoch)."""
        low = int(since * 1e9) if since is not None else 0
        high = int(until * 1e9) if until is not None else 2**62
        rows = self._db.query(
            "SELECT record FROM events WHERE time_nano >= ? AND time_nano <= ? ORDER BY seq", (low, high)
        )
        events = []
        for row in rows:
            try:
                events.append(Event.from_record(jsoncodec.loads(row["record"])))
            except (ValueError, TypeError):
                continue  # a damaged journal row is skipped, never fatal
        return events

    def subscribe(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        filters: dict[str, list[str]] | None = None,
    ) -> AsyncIterator[Event]:
        """Past events from the journal (with ``since``), then live ones until ``until``.

        The subscription starts when this is called (not at the first iteration), so nothing
        published afterwards is missed. Without ``since`` only live events are delivered; with
        ``until`` in the past only the journal is replayed. The iterator ends at ``until`` (or
        when the bus closes).

        Raises:
            InvalidArgument: a filter key dockerd does not accept, or ``since`` after ``until``.
        """
        checked = check_filters(filters)
        if since is not None and until is not None and since > until:
            raise InvalidArgument("since time cannot be after until time")
        queue: asyncio.Queue[Event | None] = asyncio.Queue(_QUEUE_LIMIT)
        # Registering and reading the journal happen together, and publish() journals and
        # enqueues in one synchronous call: every event is either in the replay or in the
        # queue, never both, never neither.
        self._subscribers.add(queue)
        history = self.replay(since=since, until=until) if since is not None else []
        return self._stream(queue, history, checked, until)

    async def _stream(
        self,
        queue: asyncio.Queue[Event | None],
        history: list[Event],
        checked: dict[str, list[str]],
        until: float | None,
    ) -> AsyncIterator[Event]:
        try:
            for event in history:
                if matches(event, checked):
                    yield event
            async for event in self._live(queue, until=until):
                if matches(event, checked):
                    yield event
        finally:
            self._subscribers.discard(queue)

    async def _live(self, queue: asyncio.Queue[Event | None], *, until: float | None) -> AsyncIterator[Event]:
        while True:
            if until is not None:
                remaining = until - self._clock()
                if remaining <= 0:
                    return
                try:
                    item = await asyncio.wait_for(queue.get(), remaining)
                except TimeoutError:
                    return
            else:
                item = await queue.get()
            if item is None:
                return
            if until is not None and item.time_nano > until * 1e9:
                return
            yield item

    def close(self) -> None:
        """End every live subscription (daemon shutdown)."""
        for queue in list(self._subscribers):
            self._end(queue)
        self._subscribers.clear()
