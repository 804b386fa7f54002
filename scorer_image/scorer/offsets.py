"""Pure offset bookkeeping: which input offsets may be committed, per partition.

The rule (at-least-once): an offset may be committed only when it and every offset fetched
before it on the same partition have an acknowledged output or dead-letter record. The offset
committed is the *next* one to read (Kafka's convention): after 0..9 are done, commit 10.

Every assignment of a partition starts a new *epoch*. Acknowledgements carry the epoch their
records were fetched in, and acknowledgements of an older epoch are ignored: after a partition
is revoked and assigned again, work fetched before the revoke can never advance the new
assignment's commit point (the "commit 500 after re-reading from 0" bug). As aiokafka's docs
warn for manual commits: commit what is done in the revoke callback, drop the rest.

No Kafka here: partitions are ``(topic, partition)`` tuples and the caller turns the returned
``{(topic, partition): offset}`` into a commit request.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

TopicPartitionKey = tuple[str, int]


@dataclass
class _PartitionState:
    epoch: int
    # Fetched offsets in fetch order, each [offset, done]; the left end is the oldest not committed.
    pending: deque[list[int]] = field(default_factory=deque)
    index: dict[int, list[int]] = field(default_factory=dict)
    # Next offset to commit once everything before it is done; None until something is done.
    done_up_to: int | None = None
    committed: int | None = None
    failed_offset: int | None = None


class OffsetTracker:
    """Tracks fetched and acknowledged offsets of the partitions this consumer owns.

    Not thread-safe: call it from the one thread that runs the consume loop (delivery
    callbacks of confluent-kafka run inside ``poll``/``flush`` on that thread).
    """

    def __init__(self) -> None:
        self._partitions: dict[TopicPartitionKey, _PartitionState] = {}
        self._next_epoch = 1

    def assign(self, partitions: Iterable[TopicPartitionKey]) -> None:
        """Start owning ``partitions`` with a fresh epoch and nothing pending (after an assignment)."""
        for tp in partitions:
            self._partitions[tp] = _PartitionState(epoch=self._next_epoch)
        self._next_epoch += 1

    def revoke(self, partitions: Iterable[TopicPartitionKey]) -> dict[TopicPartitionKey, int]:
        """Stop owning ``partitions``; return the commit that covers the work done on them.

        Returns ``{tp: next_offset}`` for the revoked partitions whose done offsets advanced past
        the last commit; pending (not acknowledged) work is dropped and will be re-read by the
        next owner from the committed offset.
        """
        commits: dict[TopicPartitionKey, int] = {}
        for tp in partitions:
            state = self._partitions.pop(tp, None)
            if state is None:
                continue
            self._advance(state)
            if state.done_up_to is not None and state.done_up_to != state.committed:
                commits[tp] = state.done_up_to
        return commits

    def owned(self) -> list[TopicPartitionKey]:
        """The partitions currently owned, in assignment order."""
        return list(self._partitions)

    def epoch(self, tp: TopicPartitionKey) -> int | None:
        """The current epoch of ``tp``, or None when it is not owned."""
        state = self._partitions.get(tp)
        return None if state is None else state.epoch

    def fetched(self, tp: TopicPartitionKey, offsets: Iterable[int]) -> int | None:
        """Record offsets read from ``tp`` (ascending); returns the epoch to acknowledge them with.

        Returns None (and records nothing) when ``tp`` is not owned, e.g. a record that was
        already in the client's queue when its partition was revoked.
        """
        state = self._partitions.get(tp)
        if state is None:
            return None
        for offset in offsets:
            entry = [offset, 0]
            state.pending.append(entry)
            state.index[offset] = entry
        return state.epoch

    def acknowledge(self, tp: TopicPartitionKey, offsets: Iterable[int], *, epoch: int) -> None:
        """Mark offsets of ``tp`` as done (their output/DLQ records are acknowledged by the broker).

        Ignored when ``tp`` is no longer owned or ``epoch`` is not its current epoch.
        """
        state = self._partitions.get(tp)
        if state is None or state.epoch != epoch:
            return
        for offset in offsets:
            entry = state.index.get(offset)
            if entry is not None:
                entry[1] = 1

    def fail(self, tp: TopicPartitionKey, offset: int, *, epoch: int) -> None:
        """Record that the output of ``offset`` could not be delivered: it must be read again.

        The caller asks ``take_failures`` for the offsets to seek back to.
        """
        state = self._partitions.get(tp)
        if state is None or state.epoch != epoch:
            return
        if state.failed_offset is None or offset < state.failed_offset:
            state.failed_offset = offset

    def take_failures(self) -> dict[TopicPartitionKey, int]:
        """Partitions with an undeliverable record -> the offset to seek back to; resets those partitions.

        The done work before the failed offset stays committable: the reset keeps ``done_up_to``
        and starts a new epoch, so acknowledgements in flight for the abandoned records are ignored.
        """
        failures: dict[TopicPartitionKey, int] = {}
        for tp, state in self._partitions.items():
            if state.failed_offset is None:
                continue
            self._advance(state)
            seek_to = state.failed_offset
            if state.done_up_to is not None:
                seek_to = max(seek_to, state.done_up_to)
            failures[tp] = seek_to
            fresh = _PartitionState(epoch=self._next_epoch, done_up_to=state.done_up_to, committed=state.committed)
            self._next_epoch += 1
            self._partitions[tp] = fresh
        return failures

    def committable(self) -> dict[TopicPartitionKey, int]:
        """``{tp: next_offset}`` for owned partitions whose done prefix advanced past the last commit."""
        commits: dict[TopicPartitionKey, int] = {}
        for tp, state in self._partitions.items():
            self._advance(state)
            if state.done_up_to is not None and state.done_up_to != state.committed:
                commits[tp] = state.done_up_to
        return commits

    def committed(self, commits: Mapping[TopicPartitionKey, int]) -> None:
        """Record that ``commits`` (as returned by ``committable``) were sent to the broker."""
        for tp, offset in commits.items():
            state = self._partitions.get(tp)
            if state is not None and (state.committed is None or offset > state.committed):
                state.committed = offset

    def forget_commits(self) -> None:
        """Forget what was sent (after a failed asynchronous commit), so ``committable`` offers it again."""
        for state in self._partitions.values():
            state.committed = None

    def pending_count(self) -> int:
        """How many fetched offsets are not yet acknowledged, over all owned partitions (O(pending))."""
        return sum(sum(1 for entry in state.pending if not entry[1]) for state in self._partitions.values())

    @staticmethod
    def _advance(state: _PartitionState) -> None:
        pending = state.pending
        while pending and pending[0][1]:
            offset = pending.popleft()[0]
            del state.index[offset]
            state.done_up_to = offset + 1
