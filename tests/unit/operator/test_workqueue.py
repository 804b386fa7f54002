"""WorkQueue: one copy of a key queued, never two in flight, failures back off."""

from __future__ import annotations

import asyncio

from detection_operator.workqueue import WorkQueue


async def test_duplicates_collapse_and_in_flight_keys_requeue_once() -> None:
    queue: WorkQueue[str] = WorkQueue()
    for key in ("a", "b", "a", "a"):
        queue.add(key)
    assert len(queue) == 2
    first = await queue.get()
    assert first == "a"
    queue.add("a")  # changed while being processed
    queue.add("a")
    assert len(queue) == 1, "an in-flight key is not queued twice"
    queue.done("a")
    assert len(queue) == 2, "it comes back once, after done"
    assert await queue.get() == "b"
    assert await queue.get() == "a"


async def test_retry_backs_off_exponentially_and_forget_resets() -> None:
    queue: WorkQueue[str] = WorkQueue(retry_initial_seconds=0.01, retry_max_seconds=0.04)
    delays = [queue.retry("k") for _ in range(4)]
    assert delays == [0.01, 0.02, 0.04, 0.04]
    assert await asyncio.wait_for(queue.get(), timeout=1) == "k"
    queue.done("k")
    queue.forget("k")
    assert queue.retry("k") == 0.01
    queue.close()
