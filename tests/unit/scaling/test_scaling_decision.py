"""The replica decision: the issue's cases with their values, and KEDA's bug history as edge cases."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from detection_operator.api.scaling import LagSource, ScalingSpec
from detection_operator.scaling import (
    LagReading,
    LagUnknown,
    LimitReason,
    Observation,
    PartitionLag,
    ScaleDirection,
    ScaleReason,
    ScalingDecision,
    ScalingState,
    UnknownLagReason,
    decide_replicas,
    first_known,
)

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def spec(**fields: Any) -> ScalingSpec:
    return ScalingSpec(**fields)


def lag(total: int, *, partitions: int = 24) -> LagReading:
    """A reading of ``total`` messages spread over ``partitions`` (remainder on partition 0)."""
    each, rest = divmod(total, partitions)
    return LagReading(
        tuple(PartitionLag(p, each + (rest if p == 0 else 0)) for p in range(partitions)), LagSource.KAFKA, T0
    )


UNKNOWN = LagUnknown(LagSource.KAFKA, UnknownLagReason.SOURCE_ERROR, "coordinator moved")
PROM_EMPTY = LagUnknown(LagSource.PROMETHEUS, UnknownLagReason.EMPTY_RESULT, "no lag series")
PROM_STALE = LagUnknown(LagSource.PROMETHEUS, UnknownLagReason.STALE_SAMPLE, "sample 600 s old")


def decide(s: ScalingSpec, reading: LagReading | LagUnknown, *, current: int,
           state: ScalingState | None = None, at: float = 0, paused: bool = False) -> ScalingDecision:
    return decide_replicas(
        s,
        observed=Observation(current, reading, T0 + timedelta(seconds=at), paused=paused),
        state=state or ScalingState(),
    )


@dataclass(frozen=True)
class Poll:
    """One poll of a scenario: seconds since start, the lag seen, and the replicas expected after it."""

    at: float
    reading: LagReading | LagUnknown
    expect: int


def run(s: ScalingSpec, polls: Sequence[Poll], *, start_replicas: int) -> list[ScalingDecision]:
    """Feed polls in order, applying each decision, as the handler does; check every expectation."""
    replicas, state, decisions = start_replicas, ScalingState(), []
    for i, poll in enumerate(polls):
        decision = decide(s, poll.reading, current=replicas, state=state, at=poll.at)
        assert decision.desired_replicas == poll.expect, f"poll {i} at {poll.at}s: {decision.message}"
        replicas, state = decision.desired_replicas, decision.state
        decisions.append(decision)
    return decisions


@pytest.mark.parametrize(
    ("scaling", "reading", "current", "desired", "limited_by"),
    [
        pytest.param(spec(lag_threshold=100, min_replicas=1, max_replicas=4), lag(0, partitions=4), 1, 1, None,
                     id="issue-latest-uncommitted-lag-0-gives-1"),
        pytest.param(spec(lag_threshold=1000, max_replicas=6), lag(500, partitions=6), 1, 1, None,
                     id="issue-earliest-500-gives-1-not-6"),
        pytest.param(spec(max_replicas=20), lag(1_000_000, partitions=8), 1, 8, LimitReason.PARTITION_COUNT,
                     id="issue-8-partitions-caps-at-8"),
        pytest.param(spec(max_replicas=4), lag(40_000, partitions=8), 3, 4, LimitReason.MAX_REPLICAS,
                     id="max-replicas-caps"),
        pytest.param(spec(max_replicas=8), lag(1_000_000, partitions=8), 1, 8, LimitReason.MAX_REPLICAS,
                     id="max-equals-partitions-names-max"),
        pytest.param(spec(lag_threshold=1000), lag(4_000), 1, 4, None, id="exact-multiple-not-rounded-up"),
        pytest.param(spec(lag_threshold=1000), lag(4_001), 1, 5, None, id="one-over-rounds-up"),
        pytest.param(spec(min_replicas=2), lag(0), 2, 2, None, id="min-replicas-floor"),
        pytest.param(spec(min_replicas=1, activation_lag_threshold=100), lag(50), 1, 1, None,
                     id="activation-ignored-with-min-1"),
        pytest.param(spec(min_replicas=10, max_replicas=20), lag(0, partitions=6), 6, 6,
                     LimitReason.PARTITION_COUNT, id="min-above-partitions-partition-cap-wins"),
        pytest.param(spec(lag_threshold=1000, max_replicas=48), lag(13_000, partitions=48), 1, 16, None,
                     id="even-steps-13-of-48-runs-16"),
        pytest.param(spec(lag_threshold=1000, max_replicas=48, even_partition_steps=False),
                     lag(13_000, partitions=48), 1, 13, None, id="even-steps-off-runs-13"),
        pytest.param(spec(lag_threshold=1000, max_replicas=48), lag(30_000, partitions=48), 1, 48, None,
                     id="even-steps-25-to-47-jump-to-48"),
        pytest.param(spec(lag_threshold=1000, max_replicas=30), lag(25_000, partitions=48), 1, 24,
                     LimitReason.MAX_REPLICAS, id="even-steps-capped-snaps-down-to-24"),
        pytest.param(spec(lag_threshold=1000, max_replicas=30, even_partition_steps=False),
                     lag(25_000, partitions=48), 1, 25, None, id="even-steps-off-25"),
        pytest.param(spec(lag_threshold=1, max_replicas=1000), lag(10**15, partitions=1000), 3, 1000,
                     LimitReason.MAX_REPLICAS, id="huge-lag-no-overflow"),
    ],
)
def test_single_poll(scaling: ScalingSpec, reading: LagReading, current: int, desired: int,
                     limited_by: LimitReason | None) -> None:
    decision = decide(scaling, reading, current=current)
    assert decision.desired_replicas == desired, decision.message
    assert decision.limited_by is limited_by
    assert decision.desired_replicas <= reading.partition_count


@pytest.mark.parametrize(
    ("scaling", "polls", "start"),
    [
        pytest.param(
            spec(min_replicas=0, activation_lag_threshold=5, lag_threshold=100),
            [Poll(0, lag(3), 0), Poll(15, lag(5), 0), Poll(30, lag(6), 1)],
            0, id="issue-activation-lag-3-stays-0-lag-6-wakes-1"),
        pytest.param(
            spec(min_replicas=0, activation_lag_threshold=5, lag_threshold=100, cooldown_seconds=60,
                 scale_down_stabilization_seconds=0),
            [Poll(0, lag(600), 6), Poll(15, lag(6), 1), Poll(45, lag(0), 1), Poll(74, lag(5), 1),
             Poll(75, lag(0), 0), Poll(90, lag(4), 0)],
            0, id="cooldown-to-zero-counts-from-last-activity"),
        pytest.param(
            spec(min_replicas=0, cooldown_seconds=300, scale_down_stabilization_seconds=0),
            [Poll(0, lag(0), 1), Poll(299, lag(0), 1), Poll(300, lag(0), 0)],
            2, id="restart-without-history-starts-cooldown-now"),
        pytest.param(
            spec(min_replicas=0, cooldown_seconds=0, scale_down_stabilization_seconds=0),
            [Poll(0, lag(0), 0), Poll(15, lag(1), 1), Poll(30, lag(0), 0)],
            0, id="activation-0-any-lag-wakes"),
        pytest.param(
            spec(lag_threshold=1000, max_replicas=24, scale_down_stabilization_seconds=300),
            [Poll(0, lag(0), 1), Poll(15, lag(12_400), 24), Poll(30, lag(0), 24), Poll(300, lag(0), 24),
             Poll(316, lag(0), 1)],
            1, id="issue-burst-then-quiet-up-at-once-down-after-window"),
        pytest.param(
            spec(lag_threshold=1000, max_replicas=24, scale_down_stabilization_seconds=60,
                 even_partition_steps=False),
            [Poll(0, lag(9_000), 9), Poll(15, lag(5_000), 9), Poll(30, lag(7_000), 9), Poll(61, lag(1_000), 7),
             Poll(91, lag(1_000), 1)],
            1, id="scale-down-follows-window-maximum"),
        pytest.param(
            spec(scale_down_stabilization_seconds=0),
            [Poll(0, lag(5_000), 5), Poll(15, lag(0), 1)],
            1, id="zero-window-scales-down-at-once"),
        pytest.param(
            spec(scale_down_stabilization_seconds=300),
            [Poll(0, lag(0), 5), Poll(299, lag(0), 5), Poll(301, lag(0), 1)],
            5, id="operator-restart-does-not-scale-down-at-once"),
        pytest.param(
            spec(max_replicas=4, fallback_replicas=2, lag_threshold=1000),
            [Poll(0, UNKNOWN, 3), Poll(15, UNKNOWN, 3), Poll(30, UNKNOWN, 3), Poll(45, lag(40_000), 4)],
            3, id="issue-fetch-fails-3-polls-never-below-3-then-resumes"),
        pytest.param(
            spec(max_replicas=4, fallback_replicas=2, lag_threshold=1000),
            [Poll(0, UNKNOWN, 1), Poll(15, UNKNOWN, 1), Poll(30, UNKNOWN, 2), Poll(45, UNKNOWN, 2),
             Poll(60, lag(0), 2)],
            1, id="fallback-raises-after-threshold-polls"),
        pytest.param(
            spec(max_replicas=24),
            [Poll(15 * i, first_known([PROM_EMPTY, UNKNOWN]), 8) for i in range(5)]
            + [Poll(75, first_known([PROM_EMPTY, lag(12_000)]), 12)],
            8, id="issue-prometheus-empty-5-polls-stays-8-then-admin-api"),
        pytest.param(
            spec(max_replicas=24, fallback_replicas=4, scale_down_stabilization_seconds=0),
            [Poll(15 * i, first_known([PROM_STALE, UNKNOWN]), 8) for i in range(5)],
            8, id="issue-stale-sample-same-as-empty-fallback-never-lowers"),
        pytest.param(
            spec(min_replicas=0, fallback_replicas=None),
            [Poll(15 * i, UNKNOWN, 0) for i in range(4)],
            0, id="unknown-at-zero-without-fallback-stays-0"),
        pytest.param(
            spec(min_replicas=0, fallback_replicas=1, failure_threshold=2),
            [Poll(0, UNKNOWN, 0), Poll(15, UNKNOWN, 1), Poll(30, lag(0), 1)],
            0, id="unknown-at-zero-fallback-wakes"),
    ],
)
def test_scenarios(scaling: ScalingSpec, polls: list[Poll], start: int) -> None:
    run(scaling, polls, start_replicas=start)


def test_unknown_polls_report_lag_source_unhealthy_and_reset_on_good_poll() -> None:
    s = spec(max_replicas=4, fallback_replicas=2, lag_threshold=1000)
    decisions = run(s, [Poll(0, UNKNOWN, 3), Poll(15, UNKNOWN, 3), Poll(30, UNKNOWN, 3), Poll(45, lag(40_000), 4)],
                    start_replicas=3)
    assert [d.reason for d in decisions] == [ScaleReason.LAG_UNKNOWN, ScaleReason.LAG_UNKNOWN,
                                             ScaleReason.FALLBACK, ScaleReason.LAG]
    assert [d.state.consecutive_unknown_polls for d in decisions] == [1, 2, 3, 0]
    assert "coordinator moved" in decisions[0].message
    assert "never lowers" in decisions[2].message


def test_paused_freezes_replicas_and_state() -> None:
    state = ScalingState(consecutive_unknown_polls=2)
    decision = decide(spec(), lag(1_000_000), current=3, state=state, paused=True)
    assert decision.desired_replicas == 3
    assert decision.reason is ScaleReason.PAUSED
    assert decision.state is state


@pytest.mark.parametrize(
    ("current", "reading", "reason", "direction", "words"),
    [
        pytest.param(4, lag(12_400), ScaleReason.LAG, ScaleDirection.UP,
                     "scaled 4 → 13: lag 12,400 over 4 replicas × 1,000 wants 13", id="up-in-words"),  # noqa: RUF001
        pytest.param(0, lag(5), ScaleReason.ACTIVATED, ScaleDirection.UP, "scaled 0 → 1", id="activated"),
        pytest.param(6, lag(0), ScaleReason.STABILIZING, ScaleDirection.NONE,
                     "scale-down held at 6 by the 300 s stabilization window", id="held-by-window"),
    ],
)
def test_reason_in_words(current: int, reading: LagReading, reason: ScaleReason, direction: ScaleDirection,
                         words: str) -> None:
    decision = decide(spec(min_replicas=0, max_replicas=24, even_partition_steps=False), reading, current=current)
    assert decision.reason is reason
    assert decision.direction(current) is direction
    assert words in decision.message


def test_window_history_stays_bounded() -> None:
    s = spec(max_replicas=24, scale_down_stabilization_seconds=86400)
    state, replicas = ScalingState(), 1
    for i in range(2000):
        decision = decide(s, lag((i * 7919) % 30_000), current=replicas, state=state, at=i)
        state, replicas = decision.state, decision.desired_replicas
    assert len(state.recommendations) <= s.max_replicas + 1


def test_never_more_replicas_than_partitions_for_any_lag() -> None:
    for partitions in (1, 3, 6, 48):
        for total in (0, 1, 999, 1000, 1001, 10**6):
            for steps in (True, False):
                s = spec(max_replicas=100, min_replicas=1, even_partition_steps=steps)
                d = decide(s, lag(total, partitions=partitions), current=1)
                assert 1 <= d.desired_replicas <= partitions


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        pytest.param({"minReplicas": 5, "maxReplicas": 4}, "minReplicas", id="min-above-max"),
        pytest.param({"fallbackReplicas": 50, "maxReplicas": 4}, "fallbackReplicas", id="fallback-above-max"),
        pytest.param({"lagThreshold": -1}, "lagThreshold", id="negative-lag-threshold"),
        pytest.param({"lagThreshold": 0}, "lagThreshold", id="zero-lag-threshold"),
        pytest.param({"failureThreshold": 0}, "failureThreshold", id="zero-failure-threshold"),
        pytest.param({"source": "zookeeper"}, "source", id="unknown-source"),
        pytest.param({"maxReplica": 3}, "maxReplica", id="unknown-field"),
    ],
)
def test_spec_refuses_mistakes_naming_the_field(fields: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ScalingSpec.model_validate(fields)


def test_spec_reads_crd_names() -> None:
    s = ScalingSpec.model_validate({"minReplicas": 0, "failureThreshold": 5, "evenPartitionSteps": False,
                                    "source": "kafka", "lagQuery": "sum by (partition) (x)"})
    assert (s.min_replicas, s.failure_threshold, s.even_partition_steps, s.source) == (0, 5, False, LagSource.KAFKA)
    assert s.model_dump(mode="json", exclude_none=True)["lagQuery"] == "sum by (partition) (x)"
