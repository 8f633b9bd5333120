"""Restart policies: whether a container that exited runs again, and after how long.

The rules are moby's ``restartmanager`` (runtime-defaults.md section 14):

- ``no`` never; ``always`` always; ``unless-stopped`` unless the user stopped it;
  ``on-failure[:N]`` when the exit code is not 0 and fewer than N restarts happened (0 = no cap).
- A ``stop`` (or ``rm``, or daemon shutdown) cancels the policy for the running episode: the
  container is not restarted now, even with ``always``. A later ``start`` resets the count.
- Backoff: the first delay is 100 ms and doubles on each restart, capped at one minute; a run of
  at least 10 s resets it to 100 ms. During the delay the container shows ``restarting``.

Time comes from a ``Clock`` so tests drive the delays without sleeping. Restarts themselves are a
callback (the container service's start), so this module holds no engine state but the timers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from dockyard.engine.container import RestartPolicy
from dockyard.errors import InvalidArgument
from dockyard.util.clock import Clock

__all__ = ["RestartManager", "next_delay", "should_restart", "validate_policy"]

log = logging.getLogger(__name__)

FIRST_DELAY = 0.1
MAX_DELAY = 60.0
RESET_AFTER = 10.0


def validate_policy(policy: RestartPolicy, *, auto_remove: bool) -> None:
    """Check a policy at create time: moby's ``ValidateRestartPolicy`` and its messages.

    Raises:
        InvalidArgument: an unknown policy name, a retry count on a policy other than
            ``on-failure``, a negative count, or a restart policy together with ``--rm``.
    """
    name, count = policy.name, policy.maximum_retry_count
    if auto_remove and name not in ("", "no"):
        raise InvalidArgument("can't create 'AutoRemove' container with restart policy")
    if name in ("always", "unless-stopped", "no"):
        if count != 0:
            suffix = " and cannot be negative" if count < 0 else ""
            raise InvalidArgument(
                f"invalid restart policy: maximum retry count can only be used with 'on-failure'{suffix}"
            )
    elif name == "on-failure":
        if count < 0:
            raise InvalidArgument("invalid restart policy: maximum retry count cannot be negative")
    elif name != "":  # "" is what engines before v25 stored for "no"
        raise InvalidArgument(
            f"invalid restart policy: unknown policy '{name}'; use one of 'no', 'always', "
            "'on-failure', or 'unless-stopped'"
        )


def should_restart(
    policy: RestartPolicy, *, exit_code: int, manually_stopped: bool, restart_count: int
) -> bool:
    """moby's ``ShouldRestart`` decision, without the timers."""
    name = policy.name or "no"
    if name == "always":
        return True
    if name == "unless-stopped":
        return not manually_stopped
    if name == "on-failure":
        cap = policy.maximum_retry_count
        return exit_code != 0 and (cap == 0 or restart_count < cap)
    return False


def next_delay(previous: float, *, ran_for: float) -> float:
    """The backoff after a run of ``ran_for`` seconds, given the previous delay (0 for none)."""
    if ran_for >= RESET_AFTER:
        previous = 0.0
    if previous == 0.0:
        return FIRST_DELAY
    return min(previous * 2, MAX_DELAY)


@dataclass(slots=True)
class _Episode:
    delay: float = 0.0
    canceled: bool = False
    task: asyncio.Task[None] | None = None


class RestartManager:
    """Schedules restarts after exits, and cancels them on stop, rm and shutdown."""

    def __init__(self, clock: Clock, restart: Callable[[str], Awaitable[None]]) -> None:
        """``restart(container_id)`` starts the container again (it is called after the delay)."""
        self._clock = clock
        self._restart = restart
        self._episodes: dict[str, _Episode] = {}
        self._closed = False

    def on_exit(
        self,
        container_id: str,
        policy: RestartPolicy,
        *,
        exit_code: int,
        manually_stopped: bool,
        restart_count: int,
        ran_for: float,
    ) -> float | None:
        """Decide after an exit; returns the delay when a restart is scheduled, else None."""
        episode = self._episodes.setdefault(container_id, _Episode())
        if self._closed or episode.canceled:
            return None
        if not should_restart(
            policy, exit_code=exit_code, manually_stopped=manually_stopped, restart_count=restart_count
        ):
            return None
        episode.delay = next_delay(episode.delay, ran_for=ran_for)
        episode.task = asyncio.get_running_loop().create_task(self._later(container_id, episode.delay))
        return episode.delay

    async def _later(self, container_id: str, delay: float) -> None:
        await self._clock.sleep(delay)
        episode = self._episodes.get(container_id)
        if episode is None or episode.canceled or self._closed:
            return
        episode.task = None
        try:
            await self._restart(container_id)
        except Exception:
            log.exception("restart failed container=%s", container_id[:12])

    def is_pending(self, container_id: str) -> bool:
        """A restart is scheduled and has not run yet."""
        episode = self._episodes.get(container_id)
        return episode is not None and episode.task is not None and not episode.task.done()

    def cancel(self, container_id: str) -> bool:
        """Cancel the policy for this episode (stop, kill by the user, rm); True if a restart was
        pending."""
        episode = self._episodes.setdefault(container_id, _Episode())
        episode.canceled = True
        pending = episode.task is not None and not episode.task.done()
        if episode.task is not None:
            episode.task.cancel()
            episode.task = None
        return pending

    def reset(self, container_id: str) -> None:
        """A user ``start``: a fresh episode, backoff and cancellation forgotten."""
        self.cancel(container_id)
        self._episodes[container_id] = _Episode()

    def forget(self, container_id: str) -> None:
        """The container is gone."""
        self.cancel(container_id)
        self._episodes.pop(container_id, None)

    def close(self) -> None:
        """Daemon shutdown: no restart happens any more."""
        self._closed = True
        for container_id in list(self._episodes):
            self.cancel(container_id)
