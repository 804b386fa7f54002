"""Pure batching decisions: how much to fetch next, and when to commit.

The consume loop asks ``next_fetch`` before each fetch. A full batch is the best case for
throughput (one model call per ``max_messages``); the wait bounds latency at low rates; a byte
budget keeps batches of large records (raw mail, ~20 KB each) as short in time as batches of
small JSON events, so a record does not wait behind hundreds of slow neighbours; and fetching
pauses while too many produced records await acknowledgement, so a slow broker applies
back-pressure instead of growing memory.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FetchRequest:
    """One fetch: up to ``max_messages`` records, waiting at most ``timeout_seconds`` to fill it."""

    max_messages: int
    timeout_seconds: float


@dataclass(frozen=True)
class BatchPolicy:
    """Batch limits from settings (SCORER_BATCH_MAX_MESSAGES, SCORER_BATCH_MAX_BYTES, SCORER_BATCH_MAX_WAIT_MS)."""

    max_messages: int
    max_bytes: int
    max_wait_ms: int
    max_in_flight_messages: int

    def next_fetch(self, *, in_flight_messages: int, mean_record_bytes: float) -> FetchRequest | None:
        """The next fetch given how many produced records are unacknowledged; None = do not fetch now.

        ``mean_record_bytes``: mean value size of the previous batch (0 = not known yet, no byte
        bound). Kafka fetches count records, not bytes, so the byte budget becomes a record count:
        ``max_bytes / mean_record_bytes``. Fetches never make ``in_flight_messages`` exceed
        ``max_in_flight_messages`` by more than one batch, and never ask for fewer than one record.
        """
        room = self.max_in_flight_messages - in_flight_messages
        if room <= 0:
            return None
        by_bytes = int(self.max_bytes / mean_record_bytes) if mean_record_bytes > 0 else self.max_messages
        return FetchRequest(
            max_messages=max(1, min(self.max_messages, by_bytes, room)),
            timeout_seconds=self.max_wait_ms / 1000.0,
        )


def commit_due(*, now_seconds: float, last_commit_seconds: float, interval_seconds: float, has_work: bool) -> bool:
    """Whether to send an (asynchronous) commit now: something advanced and the interval has passed.

    Committing after every batch costs a broker round trip each time; at high rates a short
    interval (tens of ms) commits the same offsets with far fewer requests.
    """
    return has_work and (now_seconds - last_commit_seconds) >= interval_seconds
