"""Throughput estimate (input rate, per-consumer capacity) and the rate floor it puts under scale-down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from detection_operator.api.scaling import LagSource, ScalingSpec
from detection_operator.scaling import LagReading, Observation, PartitionLag, ScalingState, decide_replicas
from detection_operator.scaling.throughput import (
    OffsetTotals,
    Throughput,
    rate_floor_replicas,
    update_throughput,
)

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def totals(at: float, end: int, lag: int) -> OffsetTotals:
    return OffsetTotals(T0 + timedelta(seconds=at), end, lag)


@pytest.mark.parametrize(
    ("previous", "now", "consumers", "rate", "capacity"),
    [
        pytest.param(Throughput(), totals(0, 100, 0), 1, None, None, id="first-sample-measures-nothing"),
        pytest.param(Throughput(last=totals(0, 0, 1_000)), totals(5, 2_000, 1_500), 1, 400.0, 300.0,
                     id="saturated-interval-learns-capacity"),
        pytest.param(Throughput(last=totals(0, 0, 0)), totals(5, 2_000, 100), 6, 400.0, None,
                     id="no-backlog-learns-no-capacity"),
        pytest.param(Throughput(last=totals(0, 0, 1_000), capacity_per_consumer_per_second=100.0),
                     totals(5, 2_000, 1_000), 4, 400.0, 100.0, id="moving-average-of-capacity"),
        pytest.param(Throughput(last=totals(0, 0, 1_000)), totals(5, 3_000, 2_000), 0, 600.0, None,
                     id="no-ready-consumers-learns-nothing"),
        pytest.param(Throughput(last=totals(0, 5_000, 0), input_rate_per_second=9.0,
                                capacity_per_consumer_per_second=50.0),
                     totals(5, 10, 0), 1, None, 50.0, id="topic-recreated-restarts-measurement"),
        pytest.param(Throughput(last=totals(0, 0, 0), input_rate_per_second=7.0), totals(0.5, 1_000, 0), 1, 7.0,
                     None, id="interval-too-short-keeps-previous"),
    ],
)
def test_update_throughput(previous: Throughput, now: OffsetTotals, consumers: int, rate: float | None,
                           capacity: float | None) -> None:
    result = update_throughput(previous, now, consumers=consumers, lag_threshold=500)
    assert result.input_rate_per_second == rate
    assert result.capacity_per_consumer_per_second == capacity


@pytest.mark.parametrize(
    ("throughput", "floor"),
    [
        pytest.param(Throughput(input_rate_per_second=400, capacity_per_consumer_per_second=100), 5,
                     id="400-at-100-with-headroom-needs-5"),
        pytest.param(Throughput(input_rate_per_second=0, capacity_per_consumer_per_second=100), 0, id="idle"),
        pytest.param(Throughput(input_rate_per_second=400), None, id="capacity-unknown"),
        pytest.param(Throughput(capacity_per_consumer_per_second=100), None, id="rate-unknown"),
    ],
)
def test_rate_floor(throughput: Throughput, floor: int | None) -> None:
    assert rate_floor_replicas(throughput) == floor


def reading(lag: int, end_total: int, partitions: int = 6) -> LagReading:
    each, rest = divmod(lag, partitions)
    return LagReading(tuple(PartitionLag(p, each + (rest if p == 0 else 0)) for p in range(partitions)),
                      LagSource.KAFKA, T0, end_offsets_total=end_total)


def test_steady_high_input_keeps_the_fleet_that_keeps_up_then_low_input_scales_down() -> None:
    """The bench's sawtooth, in miniature: 400 msg/s, slow consumers of ~100 msg/s, window 30 s.

    Lag alone would fall to minReplicas 30 s after the backlog drained although the input is still
    400 msg/s; with the rate floor the fleet stays, and shrinks only once the input drops.
    """
    spec = ScalingSpec(min_replicas=1, max_replicas=6, lag_threshold=500, scale_down_stabilization_seconds=30)
    # (seconds, end offsets total, lag, ready consumers) -> expected replicas
    polls = [
        (0, 0, 0, 1, 1),
        (5, 2_000, 1_500, 1, 3),         # step to 400/s; one consumer drains 100/s
        (10, 4_000, 3_000, 1, 6),        # backlog both ends: capacity 100/consumer learnt
        (15, 6_000, 2_000, 6, 6),
        (20, 8_000, 1_000, 6, 6),
        (25, 10_000, 100, 6, 6),         # drained; steady 400/s from here
        *((t, 10_000 + (t - 25) * 400, 100, 6, 6) for t in range(30, 125, 5)),
        *((t, 48_000 + (t - 120) * 50, 10, 6, 6) for t in range(125, 150, 5)),  # input down to 50/s
        *((t, 48_000 + (t - 120) * 50, 10, 6, 1) for t in range(155, 165, 5)),  # the window has passed
    ]
    state, replicas = ScalingState(), 1
    for at, end_total, lag, ready, expected in polls:
        decision = decide_replicas(
            spec, observed=Observation(replicas, reading(lag, end_total), T0 + timedelta(seconds=at),
                                       ready_replicas=min(ready, replicas)), state=state)
        assert decision.desired_replicas == expected, f"at {at}s: {decision.message}"
        state, replicas = decision.state, decision.desired_replicas
    assert state.throughput.capacity_per_consumer_per_second == pytest.approx(100, rel=0.35)


def test_without_end_offsets_the_decision_is_keda_lag_only() -> None:
    spec = ScalingSpec(min_replicas=1, max_replicas=6, lag_threshold=500, scale_down_stabilization_seconds=0)
    lag_only = LagReading(tuple(PartitionLag(p, 10) for p in range(6)), LagSource.PROMETHEUS, T0)
    decision = decide_replicas(spec, observed=Observation(6, lag_only, T0), state=ScalingState())
    assert decision.desired_replicas == 1
