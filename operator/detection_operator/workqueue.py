"""A de-duplicating, rate-limited work queue of keys (client-go's workqueue, in asyncio).

Layer: shell plumbing (no Kubernetes). Watch events only *enqueue* a pipeline key; workers take
keys out and reconcile them. A key is never processed by two workers at once: adding a key that
is being processed marks it dirty and it is re-queued when `done`. Failures back off
exponentially per key until `forget`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    """Keys waiting to be processed, each at most once in the queue and once in flight."""

    def __init__(self, *, retry_initial_seconds: float = 1.0, retry_max_seconds: float = 120.0) -> None:
        self._queue: asyncio.Queue[K] = asyncio.Queue()
        self._queued: set[K] = set()
        self._processing: set[K] = set()
        self._dirty: set[K] = set()
        self._failures: dict[K, int] = {}
        self._timers: dict[K, asyncio.TimerHandle] = {}
        self._retry_initial_seconds = retry_initial_seconds
        self._retry_max_seconds = retry_max_seconds

    def __len__(self) -> int:
        return len(self._queued)

    def add(self, key: K) -> None:
        """Queue `key` unless it is already queued; if it is in flight, re-queue it when done."""
        if key in self._processing:
            self._dirty.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)

    def add_after(self, key: K, delay_seconds: float) -> None:
        """Queue `key` after `delay_seconds` (an earlier pending delayed add is replaced)."""
        if (timer := self._timers.pop(key, None)) is not None:
            timer.cancel()
        self._timers[key] = asyncio.get_running_loop().call_later(delay_seconds, self._fire, key)

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.add(key)

    async def get(self) -> K:
        """Wait for a key and mark it in flight; call `done(key)` when finished."""
        key = await self._queue.get()
        self._queued.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: K) -> None:
        """Mark `key` finished; re-queue it if it was added meanwhile."""
        self._processing.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)

    def retry(self, key: K) -> float:
        """Schedule `key` again after an exponential backoff; returns the delay in seconds."""
        failures = self._failures.get(key, 0) + 1
        self._failures[key] = failures
        delay = min(self._retry_max_seconds, self._retry_initial_seconds * 2 ** (failures - 1))
        self.add_after(key, delay)
        return delay

    def forget(self, key: K) -> None:
        """Reset `key`'s failure count (after a success) and drop its pending delayed add."""
        self._failures.pop(key, None)
        if (timer := self._timers.pop(key, None)) is not None:
            timer.cancel()

    def close(self) -> None:
        """Cancel every delayed add."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
