"""Offset bookkeeping: what may be committed after fetches, acknowledgements, revokes and failures."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from scorer.offsets import OffsetTracker

P3 = ("mail.inbound", 3)
P4 = ("mail.inbound", 4)


@dataclass(frozen=True)
class Fetch:
    tp: tuple[str, int]
    first: int
    last: int


@dataclass(frozen=True)
class Ack:
    tp: tuple[str, int]
    first: int
    last: int
    fetch_index: int = -1  # the epoch of which fetch (index into the fetches so far); -1 = the latest


def _run(steps: list[object]) -> tuple[OffsetTracker, dict[tuple[str, int], int]]:
    tracker = OffsetTracker()
    tracker.assign([P3, P4])
    epochs: list[int] = []
    for step in steps:
        if isinstance(step, Fetch):
            epoch = tracker.fetched(step.tp, range(step.first, step.last + 1))
            assert epoch is not None
            epochs.append(epoch)
        elif isinstance(step, Ack):
            tracker.acknowledge(step.tp, range(step.first, step.last + 1), epoch=epochs[step.fetch_index])
    return tracker, tracker.committable()


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        pytest.param([], {}, id="nothing-fetched-nothing-to-commit"),
        pytest.param([Fetch(P3, 0, 9)], {}, id="fetched-not-acknowledged"),
        pytest.param([Fetch(P3, 0, 9), Ack(P3, 0, 9)], {P3: 10}, id="all-acknowledged-commit-next-offset"),
        pytest.param([Fetch(P3, 0, 9), Ack(P3, 0, 4)], {P3: 5}, id="prefix-acknowledged"),
        pytest.param([Fetch(P3, 0, 9), Ack(P3, 5, 9)], {}, id="gap-at-start-blocks-commit"),
        pytest.param(
            [Fetch(P3, 0, 9), Fetch(P3, 10, 19), Ack(P3, 10, 19), Ack(P3, 0, 9, fetch_index=0)],
            {P3: 20},
            id="acknowledged-out-of-order",
        ),
        pytest.param([Fetch(P3, 100, 149), Ack(P3, 100, 119)], {P3: 120}, id="resume-point-after-partial-batch"),
        pytest.param(
            [Fetch(P3, 0, 4), Fetch(P4, 7, 8), Ack(P3, 0, 4, fetch_index=0), Ack(P4, 7, 8)],
            {P3: 5, P4: 9},
            id="partitions-independent",
        ),
        pytest.param(
            [Fetch(P3, 5, 5), Fetch(P3, 9, 9), Ack(P3, 5, 5, 0), Ack(P3, 9, 9)],
            {P3: 10},
            id="compacted-offsets-with-holes",
        ),
    ],
)
def test_committable(steps: list[object], expected: dict[tuple[str, int], int]) -> None:
    _, committable = _run(steps)
    assert committable == expected


def test_rebalance_commits_done_work_not_fetched_work() -> None:
    """Issue case: read p3 0-499 uncommitted, lose p3, get it back at 0, do 0-9, commit: 10, not 500."""
    tracker = OffsetTracker()
    tracker.assign([P3])
    old_epoch = tracker.fetched(P3, range(500))
    assert old_epoch is not None
    assert tracker.revoke([P3]) == {}  # nothing was done: nothing to commit, the rest is dropped

    tracker.assign([P3])  # back at the committed offset 0
    new_epoch = tracker.fetched(P3, range(10))
    assert new_epoch is not None and new_epoch != old_epoch
    tracker.acknowledge(P3, range(500), epoch=old_epoch)  # late acks of the old assignment are ignored
    assert tracker.committable() == {}
    tracker.acknowledge(P3, range(10), epoch=new_epoch)
    assert tracker.committable() == {P3: 10}


@pytest.mark.parametrize(
    ("acknowledged_last", "expected_commit"),
    [
        pytest.param(None, {}, id="nothing-done-nothing-committed"),
        pytest.param(9, {P3: 10}, id="done-prefix-committed"),
        pytest.param(49, {P3: 50}, id="everything-done"),
    ],
)
def test_revoke_returns_commit_of_done_work(acknowledged_last: int | None, expected_commit: dict) -> None:
    tracker = OffsetTracker()
    tracker.assign([P3, P4])
    epoch = tracker.fetched(P3, range(50))
    assert epoch is not None
    if acknowledged_last is not None:
        tracker.acknowledge(P3, range(acknowledged_last + 1), epoch=epoch)
    assert tracker.revoke([P3]) == expected_commit
    assert tracker.owned() == [P4]
    assert tracker.fetched(P3, [50]) is None  # not owned: records already queued are not taken on


def test_committed_offsets_are_not_offered_again_until_progress() -> None:
    tracker = OffsetTracker()
    tracker.assign([P3])
    epoch = tracker.fetched(P3, range(10))
    assert epoch is not None
    tracker.acknowledge(P3, range(10), epoch=epoch)
    tracker.committed(tracker.committable())
    assert tracker.committable() == {}
    assert tracker.revoke([P3]) == {}  # already committed
    tracker.assign([P3])
    epoch = tracker.fetched(P3, range(10, 12))
    assert epoch is not None
    tracker.acknowledge(P3, [10, 11], epoch=epoch)
    assert tracker.committable() == {P3: 12}
    tracker.committed({P3: 12})
    tracker.forget_commits()  # an asynchronous commit failed: offer it again
    assert tracker.committable() == {P3: 12}


@pytest.mark.parametrize(
    ("acknowledged_before_failure", "failed_offset", "expected_seek", "expected_commit"),
    [
        pytest.param(0, 0, 0, {}, id="first-batch-failed"),
        pytest.param(10, 10, 10, {P3: 10}, id="failure-after-done-prefix"),
        pytest.param(10, 15, 15, {P3: 15}, id="failure-inside-later-batch"),
    ],
)
def test_failed_delivery_seeks_back(
    acknowledged_before_failure: int, failed_offset: int, expected_seek: int, expected_commit: dict
) -> None:
    tracker = OffsetTracker()
    tracker.assign([P3])
    epoch = tracker.fetched(P3, range(30))
    assert epoch is not None
    tracker.acknowledge(P3, range(acknowledged_before_failure), epoch=epoch)
    tracker.acknowledge(P3, range(acknowledged_before_failure, failed_offset), epoch=epoch)
    tracker.fail(P3, failed_offset, epoch=epoch)
    assert tracker.take_failures() == {P3: expected_seek}
    assert tracker.take_failures() == {}
    tracker.acknowledge(P3, range(30), epoch=epoch)  # the abandoned epoch cannot advance the commit
    assert tracker.committable() == expected_commit
    assert tracker.pending_count() == 0


def test_pending_count() -> None:
    tracker = OffsetTracker()
    tracker.assign([P3, P4])
    e3 = tracker.fetched(P3, range(5))
    e4 = tracker.fetched(P4, range(3))
    assert e3 is not None and e4 is not None
    tracker.acknowledge(P3, [0, 1], epoch=e3)
    assert tracker.pending_count() == 6
