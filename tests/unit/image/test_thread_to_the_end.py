"""A cancelled caller of in_thread_to_the_end returns only once its thread has ended."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from dockyard.image.streams import in_thread_to_the_end


def test_a_cancelled_caller_waits_for_its_thread() -> None:
    started, release = threading.Event(), threading.Event()
    finished: list[float] = []

    def work() -> str:
        started.set()
        release.wait(5)
        time.sleep(0.05)  # still "writing" after the cancellation
        finished.append(time.monotonic())
        return "done"

    async def scenario() -> float:
        task = asyncio.create_task(in_thread_to_the_end(work))
        await asyncio.to_thread(started.wait, 5)
        task.cancel()
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic()

    returned = asyncio.run(scenario())
    assert finished, "the thread's work did not finish before the caller returned"
    assert finished[0] <= returned


def test_the_result_and_errors_pass_through() -> None:
    async def scenario() -> str:
        return await in_thread_to_the_end(lambda: "value")

    def boom() -> None:
        raise ValueError("from the thread")

    assert asyncio.run(scenario()) == "value"
    with pytest.raises(ValueError, match="from the thread"):
        asyncio.run(in_thread_to_the_end(boom))
