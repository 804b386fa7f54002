"""Acknowledgement counting of a batch: offsets become done only when every record of the batch is acknowledged."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError
from prometheus_client import CollectorRegistry
from scorer.metrics import ScorerMetrics
from scorer.offsets import OffsetTracker
from scorer.service import BatchAck

P0 = ("in", 0)
P1 = ("in", 1)


@pytest.mark.parametrize(
    ("outcomes", "expected_commit", "expected_seek"),
    [
        pytest.param([None] * 5, {P0: 3, P1: 12}, {}, id="all-acknowledged"),
        pytest.param([None] * 4, {}, {}, id="one-outstanding"),
        pytest.param(
            [None, KafkaError(KafkaError._MSG_TIMED_OUT), None, None, None],
            {},
            {P0: 0, P1: 10},
            id="one-failed-rereads-the-batch",
        ),
    ],
)
def test_batch_ack(outcomes: list[KafkaError | None], expected_commit: dict, expected_seek: dict) -> None:
    tracker = OffsetTracker()
    tracker.assign([P0, P1])
    e0 = tracker.fetched(P0, [0, 1, 2])
    e1 = tracker.fetched(P1, [10, 11])
    assert e0 is not None and e1 is not None
    registry = CollectorRegistry()
    metrics = ScorerMetrics(registry)
    ack = BatchAck(tracker=tracker, metrics=metrics, groups={P0: (e0, [0, 1, 2]), P1: (e1, [10, 11])}, remaining=5)
    for outcome in outcomes:
        ack.on_delivery(outcome, None)  # type: ignore[arg-type]
    assert tracker.committable() == expected_commit
    assert tracker.take_failures() == expected_seek
    failures = sum(outcome is not None for outcome in outcomes)
    assert registry.get_sample_value("scorefleet_scorer_delivery_failures_total") == failures
