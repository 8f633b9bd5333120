from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dockyard.engine.events import Event, EventBus, matches
from dockyard.errors import InvalidArgument
from dockyard.util.db import Database
from tests.support.engine_fakes import FakeClock


def _event(kind: str = "container", action: str = "start", actor: str = "a" * 64, **attributes: str) -> Event:
    return Event(type=kind, action=action, actor_id=actor, attributes=attributes)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        pytest.param({"type": ["container"]}, True, id="type"),
        pytest.param({"type": ["image"]}, False, id="other-type"),
        pytest.param({"event": ["start", "die"]}, True, id="event-or"),
        pytest.param({"event": ["stop"]}, False, id="other-event"),
        pytest.param({"container": ["web"]}, True, id="container-by-name"),
        pytest.param({"container": ["aaaa"]}, True, id="container-by-prefix"),
        pytest.param({"container": ["db"]}, False, id="other-container"),
        pytest.param({"image": ["busybox"]}, True, id="image-of-container"),
        pytest.param({"label": ["tier"]}, True, id="label-key"),
        pytest.param({"label": ["tier=web"]}, True, id="label-value"),
        pytest.param({"label": ["tier=db"]}, False, id="other-label-value"),
        pytest.param({"type": ["container"], "event": ["stop"]}, False, id="keys-and"),
    ],
)
def test_filters_follow_dockerd(filters: dict[str, list[str]], expected: bool) -> None:
    event = _event(name="web", image="busybox:latest", tier="web")
    assert matches(event, filters) is expected


def test_exec_actions_match_their_prefix() -> None:
    assert matches(_event(action="exec_start: sh -c ls"), {"event": ["exec_start"]})


async def test_subscribers_get_live_events_and_since_replays_the_journal(tmp_path: Path) -> None:
    clock = FakeClock()
    bus = EventBus(Database(tmp_path / "db"), clock=clock.now)
    bus.publish(_event(action="create"))
    live = bus.subscribe(filters={"event": ["die"]})
    replay = bus.subscribe(since=clock.now() - 1)
    first = asyncio.ensure_future(anext(live))
    assert (await anext(replay)).action == "create"
    bus.publish(_event(action="start"))
    bus.publish(_event(action="die"))
    assert (await first).action == "die"
    assert (await anext(replay)).action == "start"
    bus.close()


async def test_until_in_the_past_replays_only(tmp_path: Path) -> None:
    clock = FakeClock()
    bus = EventBus(Database(tmp_path / "db"), clock=clock.now)
    bus.publish(_event(action="create"))
    events = [e.action async for e in bus.subscribe(since=0, until=clock.now())]
    assert events == ["create"]


def test_bad_filters_and_times_are_refused(tmp_path: Path) -> None:
    bus = EventBus(Database(tmp_path / "db"))
    with pytest.raises(InvalidArgument, match="invalid filter 'colour'"):
        bus.subscribe(filters={"colour": ["red"]})
    with pytest.raises(InvalidArgument):
        bus.subscribe(since=10, until=5)


def test_the_journal_is_bounded(tmp_path: Path) -> None:
    bus = EventBus(Database(tmp_path / "db"))
    for i in range(1500):
        bus.publish(_event(action=f"a{i}"))
    kept = bus.replay(since=0, until=None)
    assert len(kept) <= 1024 + 64
    assert kept[-1].action == "a1499"
