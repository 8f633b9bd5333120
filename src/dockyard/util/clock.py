"""Time as a seam: services take a ``Clock`` so tests can drive timeouts and backoff.

``SystemClock`` is the real thing; ``tests/support/fakes.py`` has a ``FakeClock`` that advances
only when told to (trio's MockClock).
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

__all__ = ["Clock", "SystemClock"]


class Clock(Protocol):
    """Wall time for records, monotonic time for durations, and sleeping."""

    def now(self) -> float:
        """Seconds since the epoch (for Created, StartedAt, FinishedAt)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps (for timeouts)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...


class SystemClock:
    """The machine's clocks."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
