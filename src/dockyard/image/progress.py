"""Progress events of pulls, loads and imports, and the channel that carries them out of threads.

A pull runs concurrent downloads in the event loop and unpacking in worker threads; the caller
sees one ordered stream of :class:`Progress` events (the API turns each into Docker's JSON
message). :class:`ProgressChannel` is that stream: any task or thread ``emit``\\ s, the consumer
iterates, and the producer's exception (if any) is raised to the consumer after the events that
preceded it, which is how dockerd reports an error in the middle of a pull.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

__all__ = ["Progress", "ProgressChannel", "Throttle", "run_with_progress"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Progress:
    """One progress event, in Docker's vocabulary.

    ``status`` is Docker's text ("Pulling fs layer", "Downloading", "Pull complete", "Digest:
    sha256:…", "Status: Downloaded newer image for alpine:latest", "Loaded image: alpine:latest");
    ``id`` the short layer ID or the tag it is about; ``current``/``total`` the byte counts that
    Docker shows as a progress bar.
    """

    status: str
    id: str | None = None
    current: int | None = None
    total: int | None = None


_END = object()


class ProgressChannel:
    """An unbounded queue of events, safe to feed from worker threads."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[object] = asyncio.Queue()

    def emit(self, event: Progress) -> None:
        """Queue an event (from the loop's thread)."""
        self._queue.put_nowait(event)

    def emit_threadsafe(self, event: Progress) -> None:
        """Queue an event from a worker thread."""
        self._loop.call_soon_threadsafe(self._queue.put_nowait, event)

    def close(self) -> None:
        """Mark the end of the stream."""
        self._queue.put_nowait(_END)

    async def events(self) -> AsyncIterator[Progress]:
        """Every event until ``close``."""
        while True:
            item = await self._queue.get()
            if item is _END:
                return
            assert isinstance(item, Progress)
            yield item


async def run_with_progress(work: Callable[[ProgressChannel], Awaitable[None]]) -> AsyncIterator[Progress]:
    """Run ``work(channel)`` as a task and yield what it emits; re-raise its error at the end.

    If the consumer stops iterating (a client that went away), the task is cancelled.
    """
    channel = ProgressChannel()

    async def runner() -> None:
        try:
            await work(channel)
        finally:
            channel.close()

    task = asyncio.create_task(runner())
    try:
        async for event in channel.events():
            yield event
        await task
    finally:
        if not task.done():
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):  # the consumer is gone; this is the outcome
                pass


class Throttle:
    """Lets an update through every ``step`` bytes or ``interval`` seconds (Docker's progress
    readers update about every 512 KiB), and always at the end."""

    def __init__(self, total: int | None, *, step: int = 512 * 1024, interval: float = 0.1) -> None:
        self._total = total
        self._step = step
        self._interval = interval
        self._last_count = -1
        self._last_time = 0.0

    def due(self, count: int) -> bool:
        """True when an update for ``count`` bytes should be sent."""
        now = time.monotonic()
        done = self._total is not None and count >= self._total
        if done or count - self._last_count >= self._step or now - self._last_time >= self._interval:
            if count == self._last_count:
                return False
            self._last_count = count
            self._last_time = now
            return True
        return False
