"""Lag arithmetic: Kafka offsets and Prometheus samples -> per-partition lag, or unknown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from detection_operator.api.scaling import LagSource
from detection_operator.scaling import (
    LagReading,
    LagUnknown,
    OffsetResetPolicy,
    PartitionLag,
    PartitionOffsets,
    PrometheusSample,
    UnknownLagReason,
    first_known,
    lag_from_offsets,
    lag_from_prometheus,
    partition_lag_messages,
)

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
LATEST, EARLIEST = OffsetResetPolicy.LATEST, OffsetResetPolicy.EARLIEST


def offsets(partition: int, *, end: int, start: int = 0, committed: int | None = None) -> PartitionOffsets:
    return PartitionOffsets(partition, end_offset=end, start_offset=start, committed_offset=committed)


@pytest.mark.parametrize(
    ("partition", "policy", "lag"),
    [
        pytest.param(offsets(0, end=1000, committed=1000), LATEST, 0, id="fully-committed"),
        pytest.param(offsets(0, end=1000, committed=400), LATEST, 600, id="committed-behind-end"),
        pytest.param(offsets(0, end=800), LATEST, 0, id="no-commit-latest-is-0"),
        pytest.param(offsets(0, end=800, committed=-1), LATEST, 0, id="kafka-minus-1-marker-latest"),
        pytest.param(offsets(0, end=800, committed=-1001), LATEST, 0, id="librdkafka-offset-invalid-latest"),
        pytest.param(offsets(0, end=10_000, start=9_500), EARLIEST, 500, id="no-commit-earliest-from-start"),
        pytest.param(offsets(0, end=10_000, start=9_500, committed=-1), EARLIEST, 500,
                     id="minus-1-marker-earliest-never-in-sum"),
        pytest.param(offsets(0, end=500, committed=900), EARLIEST, 0, id="committed-past-end-never-negative"),
        pytest.param(offsets(0, end=10_000, start=9_000, committed=100), EARLIEST, 1_000,
                     id="commit-deleted-by-retention-earliest-counts-from-start"),
        pytest.param(offsets(0, end=10_000, start=9_000, committed=100), LATEST, 0,
                     id="commit-deleted-by-retention-latest-jumps-to-end"),
        pytest.param(offsets(0, end=10_000, start=9_000, committed=9_000), EARLIEST, 1_000,
                     id="commit-at-start-offset"),
        pytest.param(offsets(0, end=0), EARLIEST, 0, id="empty-partition"),
    ],
)
def test_partition_lag(partition: PartitionOffsets, policy: OffsetResetPolicy, lag: int) -> None:
    assert partition_lag_messages(partition, policy=policy) == lag


def test_issue_case_latest_uncommitted_partitions_are_zero() -> None:
    """4 partitions; p0/p1 committed at end 1,000; p2/p3 end 800, no commit; latest -> lag 0."""
    answer = [
        offsets(0, end=1000, committed=1000),
        offsets(1, end=1000, committed=1000),
        offsets(2, end=800),
        offsets(3, end=800, committed=-1),
    ]
    reading = lag_from_offsets(answer, partition_count=4, policy=LATEST, observed_at=NOW)
    assert isinstance(reading, LagReading)
    assert reading.total_messages == 0
    assert reading.partition_count == 4


def test_issue_case_earliest_counts_from_start_offset() -> None:
    """6 partitions; p0 start 9,500 end 10,000, no commit; others committed; earliest -> 500."""
    answer = [offsets(0, start=9_500, end=10_000)] + [
        offsets(p, start=0, end=10_000, committed=10_000) for p in range(1, 6)
    ]
    reading = lag_from_offsets(answer, partition_count=6, policy=EARLIEST, observed_at=NOW)
    assert isinstance(reading, LagReading)
    assert reading.partitions[0] == PartitionLag(0, 500)
    assert reading.total_messages == 500


@pytest.mark.parametrize(
    ("answer", "partition_count", "reason"),
    [
        pytest.param([offsets(0, end=5, committed=1)], 2, UnknownLagReason.PARTIAL_RESULT,
                     id="partition-missing-from-answer-is-not-zero"),
        pytest.param([], 3, UnknownLagReason.PARTIAL_RESULT, id="empty-answer"),
        pytest.param([offsets(0, end=5), offsets(0, end=5)], 1, UnknownLagReason.PARTIAL_RESULT,
                     id="duplicate-partition"),
        pytest.param([offsets(0, end=5), offsets(1, end=-1)], 2, UnknownLagReason.PARTIAL_RESULT,
                     id="end-offset-unknown"),
        pytest.param([offsets(0, end=5), offsets(1, end=5)], 1, UnknownLagReason.PARTIAL_RESULT,
                     id="partition-beyond-metadata-count"),
        pytest.param([], 0, UnknownLagReason.NO_PARTITIONS, id="topic-missing"),
    ],
)
def test_offsets_unknown(answer: list[PartitionOffsets], partition_count: int, reason: UnknownLagReason) -> None:
    reading = lag_from_offsets(answer, partition_count=partition_count, policy=LATEST, observed_at=NOW)
    assert isinstance(reading, LagUnknown)
    assert reading.reason is reason
    assert reading.source is LagSource.KAFKA


def sample(value: float, *, partition: int | str | None = None, age_seconds: float = 5.0) -> PrometheusSample:
    labels = {"consumergroup": "g", "topic": "t"}
    if partition is not None:
        labels["partition"] = str(partition)
    return PrometheusSample(labels, value, (NOW - timedelta(seconds=age_seconds)).timestamp())


def prom(lags: list[PrometheusSample], count: list[PrometheusSample], policy: OffsetResetPolicy = LATEST,
         ends: tuple[PrometheusSample, ...] = (), starts: tuple[PrometheusSample, ...] = ()
         ) -> LagReading | LagUnknown:
    return lag_from_prometheus(lags, partition_count_samples=count, end_offset_samples=ends,
                               start_offset_samples=starts, policy=policy, now=NOW, max_sample_age_seconds=30)


@pytest.mark.parametrize(
    ("lags", "count", "policy", "ends", "starts", "per_partition"),
    [
        pytest.param([sample(10, partition=0), sample(20, partition=1)], [sample(2)], LATEST, (), (), [10, 20],
                     id="two-partitions"),
        pytest.param([sample(0, partition=0), sample(0, partition=1), sample(-1, partition=2),
                      sample(-1, partition=3)], [sample(4)], LATEST, (), (), [0, 0, 0, 0],
                     id="issue-case-minus-1-marker-latest-is-0"),
        pytest.param([sample(-1, partition=0)] + [sample(0, partition=p) for p in range(1, 6)], [sample(6)],
                     EARLIEST, (sample(10_000, partition=0),), (sample(9_500, partition=0),),
                     [500, 0, 0, 0, 0, 0], id="issue-case-minus-1-marker-earliest-from-start"),
        pytest.param([sample(7, partition=0, age_seconds=20), sample(9, partition=0, age_seconds=2)], [sample(1)],
                     LATEST, (), (), [9], id="duplicate-series-freshest-wins"),
        pytest.param([sample(2.2, partition=0)], [sample(1)], LATEST, (), (), [3],
                     id="fractional-override-rounds-up"),
        pytest.param([sample(5, partition=1), sample(4, partition=0)], [sample(2)], LATEST, (), (), [4, 5],
                     id="series-out-of-order"),
    ],
)
def test_prometheus_known(
    lags: list[PrometheusSample], count: list[PrometheusSample], policy: OffsetResetPolicy,
    ends: tuple[PrometheusSample, ...], starts: tuple[PrometheusSample, ...], per_partition: list[int],
) -> None:
    reading = prom(lags, count, policy, ends, starts)
    assert isinstance(reading, LagReading), reading
    assert [p.lag_messages for p in reading.partitions] == per_partition
    assert reading.source is LagSource.PROMETHEUS
    assert reading.total_messages == sum(per_partition)


@pytest.mark.parametrize(
    ("lags", "count", "policy", "reason"),
    [
        pytest.param([], [sample(4)], LATEST, UnknownLagReason.EMPTY_RESULT, id="empty-result-is-not-zero"),
        pytest.param([sample(1, partition=0)], [], LATEST, UnknownLagReason.EMPTY_RESULT, id="no-partition-count"),
        pytest.param([sample(float("nan"), partition=0)], [sample(1)], LATEST, UnknownLagReason.NOT_A_NUMBER,
                     id="nan-lag"),
        pytest.param([sample(float("inf"), partition=0)], [sample(1)], LATEST, UnknownLagReason.NOT_A_NUMBER,
                     id="infinite-lag"),
        pytest.param([sample(1, partition=0)], [sample(float("nan"))], LATEST, UnknownLagReason.NOT_A_NUMBER,
                     id="nan-partition-count"),
        pytest.param([sample(1, partition=0, age_seconds=600)], [sample(1)], LATEST, UnknownLagReason.STALE_SAMPLE,
                     id="ten-minute-old-sample"),
        pytest.param([sample(1, partition=0, age_seconds=31)], [sample(1)], LATEST, UnknownLagReason.STALE_SAMPLE,
                     id="just-over-two-polls-old"),
        pytest.param([sample(1, partition=0)], [sample(1, age_seconds=600)], LATEST, UnknownLagReason.STALE_SAMPLE,
                     id="stale-partition-count"),
        pytest.param([sample(1, partition=0), sample(1, partition=1)], [sample(3)], LATEST,
                     UnknownLagReason.PARTIAL_RESULT, id="partial-some-partitions-missing"),
        pytest.param([sample(1, partition=0), sample(1, partition=5)], [sample(2)], LATEST,
                     UnknownLagReason.PARTIAL_RESULT, id="partition-beyond-count"),
        pytest.param([sample(1)], [sample(1)], LATEST, UnknownLagReason.PARTIAL_RESULT,
                     id="aggregated-series-without-partition-label"),
        pytest.param([sample(1, partition="x")], [sample(1)], LATEST, UnknownLagReason.PARTIAL_RESULT,
                     id="non-integer-partition-label"),
        pytest.param([sample(-1, partition=0)], [sample(1)], EARLIEST, UnknownLagReason.PARTIAL_RESULT,
                     id="minus-1-earliest-without-offsets"),
        pytest.param([sample(0, partition=0)], [sample(0)], LATEST, UnknownLagReason.NO_PARTITIONS,
                     id="zero-partitions"),
    ],
)
def test_prometheus_unknown(
    lags: list[PrometheusSample], count: list[PrometheusSample], policy: OffsetResetPolicy, reason: UnknownLagReason
) -> None:
    reading = prom(lags, count, policy)
    assert isinstance(reading, LagUnknown), reading
    assert reading.reason is reason
    assert reading.source is LagSource.PROMETHEUS


def test_status_lists_busiest_partitions_bounded() -> None:
    reading = LagReading(tuple(PartitionLag(p, p) for p in range(100)), LagSource.KAFKA, NOW)
    status = reading.to_status()
    assert status.total_messages == sum(range(100))
    assert status.partitions == 100
    assert status.per_partition is not None
    assert len(status.per_partition) == 32
    assert status.per_partition[0].partition == 99


def test_first_known_falls_back_and_names_every_failure() -> None:
    prom_unknown = LagUnknown(LagSource.PROMETHEUS, UnknownLagReason.EMPTY_RESULT, "no lag series")
    kafka_unknown = LagUnknown(LagSource.KAFKA, UnknownLagReason.SOURCE_ERROR, "timed out")
    kafka_known = LagReading((PartitionLag(0, 5),), LagSource.KAFKA, NOW)
    assert first_known([prom_unknown, kafka_known]) is kafka_known
    both = first_known([prom_unknown, kafka_unknown])
    assert isinstance(both, LagUnknown)
    assert both.reason is UnknownLagReason.EMPTY_RESULT
    assert both.message == "prometheus: no lag series; kafka: timed out"
