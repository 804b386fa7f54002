"""Consumer lag arithmetic: raw offsets or Prometheus samples in, per-partition lag (or unknown) out.

Layer: pure core. The lag adapters (``adapters.lag_kafka``, ``adapters.lag_prometheus``) fetch raw
numbers and hand them here; the decision (``scaling.decision``) takes the :class:`LagReading` or
:class:`LagUnknown` this module returns. No I/O, no clocks: ``now`` is passed in.

Kafka semantics used throughout:

- The *end offset* (high watermark) is the offset the next produced record will get; the *start
  offset* (log start) is the earliest offset still retained. Both are per partition.
- The *committed offset* of a group is the next offset it will read. Kafka reports "no committed
  offset" as -1 (librdkafka: ``OFFSET_INVALID`` = -1001); kafka_exporter reports the lag of such a
  partition as -1 or leaves it out. Any negative value is that marker and never enters a sum.
- A consumer with no committed offset, or one outside ``[start, end]`` (retention deleted the
  records it pointed at), starts where ``auto.offset.reset`` says: ``latest`` → the end offset (no
  lag), ``earliest`` → the start offset (lag = end - start; deleted records are not lag).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from detection_operator.api.pipeline import OffsetResetPolicy
from detection_operator.api.scaling import MAX_PARTITIONS_IN_STATUS, LagSource, LagStatus, PartitionLagStatus

__all__ = [
    "LagReading",
    "LagUnknown",
    "OffsetResetPolicy",
    "PartitionLag",
    "PartitionOffsets",
    "PrometheusSample",
    "UnknownLagReason",
    "first_known",
    "lag_from_offsets",
    "lag_from_prometheus",
    "partition_lag_messages",
]


class UnknownLagReason(StrEnum):
    """Why a lag reading is unknown. Each is a reason for ``LagSourceHealthy=False``."""

    SOURCE_ERROR = "SourceError"
    """The source could not be asked (connection refused, timeout, HTTP/Kafka error)."""
    EMPTY_RESULT = "EmptyResult"
    """The source answered, but with no data (no series; group or topic unknown to it)."""
    NOT_A_NUMBER = "NotANumber"
    """A sample was NaN or infinite."""
    STALE_SAMPLE = "StaleSample"
    """A sample is older than the allowed age (two polling intervals)."""
    PARTIAL_RESULT = "PartialResult"
    """Some partitions of the topic are missing from the answer, or unexpected ones are in it."""
    NO_PARTITIONS = "NoPartitions"
    """The topic's partition count is unknown or zero (topic missing or not yet created)."""


@dataclass(frozen=True, slots=True)
class PartitionOffsets:
    """Raw offsets of one partition, as the Kafka admin API reports them.

    ``committed_offset`` is None or negative when the group has no committed offset there.
    """

    partition: int
    end_offset: int
    start_offset: int
    committed_offset: int | None


@dataclass(frozen=True, slots=True)
class PartitionLag:
    """Lag of one partition, in messages (never negative)."""

    partition: int
    lag_messages: int


@dataclass(frozen=True, slots=True)
class LagReading:
    """A known lag: one entry per partition of the topic, ordered by partition number.

    ``end_offsets_total`` (sum of the partitions' end offsets) lets the decision measure the input
    rate between polls; None when the source did not give every end offset.
    """

    partitions: tuple[PartitionLag, ...]
    source: LagSource
    observed_at: datetime
    end_offsets_total: int | None = None

    @property
    def total_messages(self) -> int:
        """Sum of the per-partition lag, in messages."""
        return sum(p.lag_messages for p in self.partitions)

    @property
    def partition_count(self) -> int:
        """Partitions of the topic (every one is in ``partitions``)."""
        return len(self.partitions)

    def to_status(self) -> LagStatus:
        """``status.lag`` for this reading, listing the partitions with the most lag (bounded)."""
        busiest = sorted(self.partitions, key=lambda p: (-p.lag_messages, p.partition))
        return LagStatus(
            total_messages=self.total_messages,
            partitions=self.partition_count,
            per_partition=[
                PartitionLagStatus(partition=p.partition, lag_messages=p.lag_messages)
                for p in busiest[:MAX_PARTITIONS_IN_STATUS]
            ],
            source=self.source,
            observed_at=self.observed_at,
        )


@dataclass(frozen=True, slots=True)
class LagUnknown:
    """No usable lag: why, from which source, and a message in words for conditions and Events."""

    source: LagSource
    reason: UnknownLagReason
    message: str


@dataclass(frozen=True, slots=True)
class PrometheusSample:
    """One sample of an instant-vector answer: the series labels, value and sample time.

    ``timestamp_seconds`` is the sample's own time (Unix seconds), not the evaluation time.
    """

    labels: Mapping[str, str]
    value: float
    timestamp_seconds: float


def partition_lag_messages(offsets: PartitionOffsets, *, policy: OffsetResetPolicy) -> int:
    """Return the lag of one partition in messages: end - position, never below 0.

    The position is the committed offset when there is one inside ``[start, end]``; otherwise it is
    where the consumer will start under ``policy`` (``latest``: the end offset, so 0 lag, as KEDA
    with ``offsetResetPolicy: latest``; ``earliest``: the start offset, so records already removed
    by retention are not counted — KEDA counted from offset 0 and over-scaled). A committed offset
    past the end (topic recreated, truncated log) is 0 lag, never negative.
    """
    end, start, committed = offsets.end_offset, max(offsets.start_offset, 0), offsets.committed_offset
    if committed is None or committed < 0 or committed < start:
        position = end if policy is OffsetResetPolicy.LATEST else start
    else:
        position = committed
    return max(end - position, 0)


def lag_from_offsets(
    offsets: Sequence[PartitionOffsets],
    *,
    partition_count: int,
    policy: OffsetResetPolicy,
    observed_at: datetime,
) -> LagReading | LagUnknown:
    """Turn admin-API offsets of every partition into a :class:`LagReading` (source ``kafka``).

    ``partition_count`` is the topic's partition count from metadata; every partition
    ``0 .. partition_count-1`` must be in ``offsets`` exactly once with a non-negative end offset,
    else the answer is partial and the result is :class:`LagUnknown` (a missing partition is never
    read as 0 lag: KEDA did, and scaled down while a coordinator moved).
    """
    source = LagSource.KAFKA
    if partition_count <= 0:
        return LagUnknown(source, UnknownLagReason.NO_PARTITIONS, "the input topic has no partitions (missing?)")
    by_partition = {o.partition: o for o in offsets}
    bad_end = sorted(o.partition for o in offsets if o.end_offset < 0)
    if bad_end:
        return LagUnknown(
            source, UnknownLagReason.PARTIAL_RESULT, f"no end offset for partitions {_ranges(bad_end)}"
        )
    problem = _partition_set_problem(by_partition.keys(), partition_count, answered=len(offsets))
    if problem:
        return LagUnknown(source, UnknownLagReason.PARTIAL_RESULT, f"Kafka admin API: {problem}")
    lags = tuple(
        PartitionLag(p, partition_lag_messages(by_partition[p], policy=policy)) for p in range(partition_count)
    )
    end_total = sum(by_partition[p].end_offset for p in range(partition_count))
    return LagReading(lags, source, observed_at, end_offsets_total=end_total)


def lag_from_prometheus(
    lag_samples: Sequence[PrometheusSample],
    *,
    partition_count_samples: Sequence[PrometheusSample],
    end_offset_samples: Sequence[PrometheusSample] = (),
    start_offset_samples: Sequence[PrometheusSample] = (),
    policy: OffsetResetPolicy,
    now: datetime,
    max_sample_age_seconds: float,
) -> LagReading | LagUnknown:
    """Turn PromQL answers into a :class:`LagReading` (source ``prometheus``), or say why not.

    Inputs are instant-vector answers: per-partition lag series (label ``partition``; value -1 or
    any negative = no committed offset, kafka_exporter's marker), the topic's partition count (one
    series), per-partition end offsets (for the input rate, and with start offsets for the no-commit
    case under ``earliest``).
    Unknown is not zero: an empty answer, NaN/Inf, a sample older than ``max_sample_age_seconds``
    (two polling intervals), a partition missing or a partition beyond the count is
    :class:`LagUnknown`. Several series for one partition (e.g. two exporter replicas): the
    freshest wins. A fractional value (an averaging override query) is rounded up.
    """
    source = LagSource.PROMETHEUS
    now_seconds = now.timestamp()
    if not partition_count_samples:
        return LagUnknown(source, UnknownLagReason.EMPTY_RESULT, "no partition count for the input topic")
    count_sample = max(partition_count_samples, key=lambda s: s.timestamp_seconds)
    problem = _sample_problem(count_sample, now_seconds, max_sample_age_seconds, what="partition count")
    if problem:
        return LagUnknown(source, *problem)
    if count_sample.value < 1:
        return LagUnknown(source, UnknownLagReason.NO_PARTITIONS, "the input topic has no partitions (missing?)")
    partition_count = int(count_sample.value)
    if not lag_samples:
        return LagUnknown(source, UnknownLagReason.EMPTY_RESULT, "no lag series for the consumer group and topic")

    freshest: dict[int, PrometheusSample] = {}
    for sample in lag_samples:
        partition = _partition_label(sample)
        if partition is None:
            return LagUnknown(
                source,
                UnknownLagReason.PARTIAL_RESULT,
                f"a lag series has no integer partition label: {dict(sample.labels)}",
            )
        held = freshest.get(partition)
        if held is None or sample.timestamp_seconds > held.timestamp_seconds:
            freshest[partition] = sample
    for partition, sample in sorted(freshest.items()):
        problem = _sample_problem(sample, now_seconds, max_sample_age_seconds, what=f"lag of partition {partition}")
        if problem:
            return LagUnknown(source, *problem)
    set_problem = _partition_set_problem(freshest.keys(), partition_count, answered=len(freshest))
    if set_problem:
        return LagUnknown(source, UnknownLagReason.PARTIAL_RESULT, f"Prometheus: {set_problem}")

    ends = _offsets_by_partition(end_offset_samples)
    starts = _offsets_by_partition(start_offset_samples)
    lags: list[PartitionLag] = []
    for partition in range(partition_count):
        value = freshest[partition].value
        if value >= 0:
            lags.append(PartitionLag(partition, math.ceil(value)))
            continue
        # The no-offset marker: the lag is what the reset policy makes it, never -1 in a sum.
        if policy is OffsetResetPolicy.LATEST:
            lags.append(PartitionLag(partition, 0))
            continue
        end, start = ends.get(partition), starts.get(partition)
        if end is None or start is None:
            return LagUnknown(
                source,
                UnknownLagReason.PARTIAL_RESULT,
                f"partition {partition} has no committed offset and its start/end offsets are unknown",
            )
        lags.append(
            PartitionLag(
                partition,
                partition_lag_messages(
                    PartitionOffsets(partition, end_offset=end, start_offset=start, committed_offset=None),
                    policy=policy,
                ),
            )
        )
    end_total = sum(ends[p] for p in range(partition_count)) if all(p in ends for p in range(partition_count)) else None
    return LagReading(tuple(lags), source, now.astimezone(UTC), end_offsets_total=end_total)


def _partition_label(sample: PrometheusSample) -> int | None:
    raw = sample.labels.get("partition")
    if raw is None or not raw.isdigit():
        return None
    return int(raw)


def _sample_problem(
    sample: PrometheusSample, now_seconds: float, max_age_seconds: float, *, what: str
) -> tuple[UnknownLagReason, str] | None:
    if not math.isfinite(sample.value):
        return UnknownLagReason.NOT_A_NUMBER, f"{what} is {sample.value}"
    age = now_seconds - sample.timestamp_seconds
    if age > max_age_seconds:
        return UnknownLagReason.STALE_SAMPLE, f"{what} is {age:.0f} s old (allowed {max_age_seconds:.0f} s)"
    return None


def _offsets_by_partition(samples: Iterable[PrometheusSample]) -> dict[int, int]:
    out: dict[int, int] = {}
    for sample in samples:
        partition = _partition_label(sample)
        if partition is not None and math.isfinite(sample.value) and sample.value >= 0:
            out[partition] = int(sample.value)
    return out


def _partition_set_problem(present: Iterable[int], partition_count: int, *, answered: int) -> str | None:
    have = set(present)
    if answered != len(have):
        return "a partition is listed more than once"
    missing = sorted(set(range(partition_count)) - have)
    extra = sorted(have - set(range(partition_count)))
    if missing:
        return f"{len(missing)} of {partition_count} partitions missing ({_ranges(missing)})"
    if extra:
        return f"partitions {_ranges(extra)} beyond the topic's {partition_count}"
    return None


def _ranges(numbers: Sequence[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``"0-2, 5"``, so a message about 1,000 partitions stays short."""
    spans: list[str] = []
    start = prev = numbers[0]
    for n in [*numbers[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        spans.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ", ".join(spans[:8]) + (", ..." if len(spans) > 8 else "")


def first_known(readings: Sequence[LagReading | LagUnknown]) -> LagReading | LagUnknown:
    """Return the first known reading, else one :class:`LagUnknown` that names every failure.

    The unknown's message is ``"<source>: <message>; <source>: <message>"``, ready for a condition.
    Used for "prometheus falls back to kafka": ``[prometheus_reading, kafka_reading]``. The
    combined unknown keeps the first source's reason (the one the user configured).
    Raises ValueError on an empty sequence.
    """
    if not readings:
        raise ValueError("first_known needs at least one reading")
    for reading in readings:
        if isinstance(reading, LagReading):
            return reading
    unknowns = [r for r in readings if isinstance(r, LagUnknown)]
    first = unknowns[0]
    return LagUnknown(first.source, first.reason, "; ".join(f"{u.source}: {u.message}" for u in unknowns))
