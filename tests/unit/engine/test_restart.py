from __future__ import annotations

import asyncio

import pytest

from dockyard.engine.container import RestartPolicy
from dockyard.engine.restart import RestartManager, next_delay, should_restart, validate_policy
from dockyard.errors import InvalidArgument
from tests.support.engine_fakes import FakeClock


@pytest.mark.parametrize(
    ("policy", "code", "stopped", "count", "expected"),
    [
        pytest.param(RestartPolicy(name="no"), 1, False, 0, False, id="no"),
        pytest.param(RestartPolicy(name=""), 1, False, 0, False, id="empty-is-no"),
        pytest.param(RestartPolicy(name="always"), 0, True, 9, True, id="always-even-stopped"),
        pytest.param(RestartPolicy(name="unless-stopped"), 0, False, 0, True, id="unless-stopped-running"),
        pytest.param(RestartPolicy(name="unless-stopped"), 0, True, 0, False, id="unless-stopped-stopped"),
        pytest.param(RestartPolicy(name="on-failure"), 0, False, 0, False, id="on-failure-success"),
        pytest.param(RestartPolicy(name="on-failure"), 3, True, 100, True, id="on-failure-unbounded"),
        pytest.param(
            RestartPolicy(name="on-failure", maximum_retry_count=2), 1, False, 1, True, id="under-cap"
        ),
        pytest.param(
            RestartPolicy(name="on-failure", maximum_retry_count=2), 1, False, 2, False, id="at-cap"
        ),
    ],
)
def test_policy_decisions_follow_moby(
    policy: RestartPolicy, code: int, stopped: bool, count: int, expected: bool
) -> None:
    assert should_restart(policy, exit_code=code, manually_stopped=stopped, restart_count=count) is expected


def test_backoff_doubles_from_100ms_caps_at_a_minute_and_resets_after_10s() -> None:
    delays, previous = [], 0.0
    for _ in range(12):
        previous = next_delay(previous, ran_for=0.5)
        delays.append(previous)
    assert delays[:4] == [0.1, 0.2, 0.4, 0.8]
    assert delays[-1] == 60.0
    assert next_delay(60.0, ran_for=10.0) == 0.1


@pytest.mark.parametrize(
    ("policy", "auto_remove", "message"),
    [
        pytest.param(RestartPolicy(name="always"), True,
                     "can't create 'AutoRemove' container with restart policy", id="rm-and-policy"),
        pytest.param(RestartPolicy(name="always", maximum_retry_count=3), False,
                     "invalid restart policy: maximum retry count can only be used with 'on-failure'",
                     id="count"),
        pytest.param(RestartPolicy(name="on-failure", maximum_retry_count=-1), False,
                     "invalid restart policy: maximum retry count cannot be negative", id="negative"),
        pytest.param(RestartPolicy(name="sometimes"), False,
                     "invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', "
                     "'on-failure', or 'unless-stopped'", id="unknown"),
    ],
)  # fmt: skip
def test_bad_policies_get_dockers_messages(policy: RestartPolicy, auto_remove: bool, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        validate_policy(policy, auto_remove=auto_remove)
    assert str(info.value) == message


def _manager() -> tuple[FakeClock, list[str], RestartManager]:
    """A manager whose restarts are recorded in the returned list."""
    clock, started = FakeClock(), []

    async def restart(container_id: str) -> None:
        started.append(container_id)

    return clock, started, RestartManager(clock, restart)


async def test_a_restart_happens_after_the_backoff_delay() -> None:
    clock, started, manager = _manager()
    policy = RestartPolicy(name="always")
    delay = manager.on_exit("c1", policy, exit_code=0, manually_stopped=False, restart_count=0, ran_for=1)
    assert delay == 0.1
    await clock.advance(0.05)
    assert started == []
    await clock.advance(0.06)
    assert started == ["c1"]
    delay = manager.on_exit("c1", policy, exit_code=0, manually_stopped=False, restart_count=1, ran_for=1)
    assert delay == 0.2


async def test_a_stop_cancels_a_pending_restart() -> None:
    clock, started, manager = _manager()
    manager.on_exit(
        "c1", RestartPolicy(name="always"), exit_code=1, manually_stopped=False, restart_count=0, ran_for=0
    )
    assert manager.is_pending("c1")
    assert manager.cancel("c1") is True
    await clock.advance(5)
    assert started == []
    # The episode stays cancelled until the user starts the container again.
    assert (
        manager.on_exit(
            "c1",
            RestartPolicy(name="always"),
            exit_code=1,
            manually_stopped=False,
            restart_count=0,
            ran_for=0,
        )
        is None
    )
    manager.reset("c1")
    assert (
        manager.on_exit(
            "c1",
            RestartPolicy(name="always"),
            exit_code=1,
            manually_stopped=False,
            restart_count=0,
            ran_for=0,
        )
        == 0.1
    )


async def test_close_prevents_every_restart() -> None:
    clock, started, manager = _manager()
    manager.on_exit(
        "c1", RestartPolicy(name="always"), exit_code=1, manually_stopped=False, restart_count=0, ran_for=0
    )
    manager.close()
    await clock.advance(5)
    assert started == []
    await asyncio.sleep(0)
