"""Both lag sources against the dev stack's real Kafka and Prometheus (kafka_exporter metric names).

Each test makes real lag: it produces records to a fresh topic and commits offsets for a fresh
consumer group through the admin API, then reads the lag back through the adapters. Waits are
deadline loops on a condition (Prometheus scrapes every 5 s), never bare sleeps.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from detection_operator.adapters.lag_kafka import KafkaLagSource
from detection_operator.adapters.lag_prometheus import PrometheusLagQuery, PrometheusLagSource
from detection_operator.api.pipeline import OffsetResetPolicy
from detection_operator.api.scaling import LagSource
from detection_operator.scaling import LagReading, LagUnknown, UnknownLagReason

from tests.integration.scaling.hanging import hanging_server

LATEST, EARLIEST = OffsetResetPolicy.LATEST, OffsetResetPolicy.EARLIEST
#: Prometheus scrapes the exporter every 5 s; allow a few scrapes plus exporter latency.
PROMETHEUS_DEADLINE_SECONDS = 45.0


def produce(bootstrap_servers: str, topic: str, counts: Sequence[int]) -> None:
    """Produce ``counts[p]`` small records to partition ``p`` and wait for every ack."""
    producer = Producer({"bootstrap.servers": bootstrap_servers, "linger.ms": 5})
    for partition, count in enumerate(counts):
        for i in range(count):
            producer.produce(topic, value=b"m%d" % i, partition=partition)
            if i % 10_000 == 0:
                producer.poll(0)
    assert producer.flush(30) == 0


def commit(admin: AdminClient, group: str, topic: str, offsets: dict[int, int]) -> None:
    """Commit ``offsets`` (partition -> next offset to read) for ``group``, as a consumer would."""
    request = [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p, o) for p, o in offsets.items()])]
    admin.alter_consumer_group_offsets(request)[group].result(30)


def new_group() -> str:
    return f"g-{uuid.uuid4().hex[:10]}"


async def eventually(read: Callable[[], Awaitable[LagReading | LagUnknown]],
                     accept: Callable[[LagReading | LagUnknown], bool],
                     *, deadline_seconds: float = PROMETHEUS_DEADLINE_SECONDS,
                     poll_seconds: float = 1.0) -> LagReading | LagUnknown:
    """Call ``read`` until ``accept`` holds or the deadline passes; return the last reading."""
    deadline = time.monotonic() + deadline_seconds
    while True:
        reading = await read()
        if accept(reading) or time.monotonic() > deadline:
            return reading
        await asyncio.sleep(poll_seconds)  # pacing between polls of a condition, not a wait for time


def per_partition(reading: LagReading | LagUnknown) -> list[int] | None:
    return [p.lag_messages for p in reading.partitions] if isinstance(reading, LagReading) else None


@pytest.fixture
def admin(kafka_bootstrap_servers: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": kafka_bootstrap_servers})


@pytest.fixture
async def kafka_source(kafka_bootstrap_servers: str) -> AsyncIterator[KafkaLagSource]:
    yield KafkaLagSource(kafka_bootstrap_servers, timeout_seconds=10)


@pytest.fixture
def prometheus_source(stack: object) -> PrometheusLagSource:
    return PrometheusLagSource(stack.prometheus_url, timeout_seconds=10)  # type: ignore[attr-defined]


async def test_both_sources_give_the_same_per_partition_lag(
    kafka_bootstrap_servers: str, topic_factory: Callable[..., str], admin: AdminClient,
    kafka_source: KafkaLagSource, prometheus_source: PrometheusLagSource,
) -> None:
    topic, group = topic_factory(partitions=4, prefix="lag"), new_group()
    produce(kafka_bootstrap_servers, topic, [10, 20, 5, 7])
    commit(admin, group, topic, {0: 4, 1: 20, 2: 1, 3: 0})
    expected = [6, 0, 4, 7]

    from_kafka = await kafka_source.read_lag(consumer_group=group, topic=topic, policy=LATEST)
    assert per_partition(from_kafka) == expected
    assert isinstance(from_kafka, LagReading) and from_kafka.source is LagSource.KAFKA

    query = PrometheusLagQuery(group, topic, LATEST, max_sample_age_seconds=30)
    from_prometheus = await eventually(lambda: prometheus_source.read_lag(query),
                                       lambda r: per_partition(r) == expected)
    assert per_partition(from_prometheus) == expected, from_prometheus
    assert isinstance(from_prometheus, LagReading) and from_prometheus.source is LagSource.PROMETHEUS

    # Lag follows new commits: the consumer catches up on partition 0.
    commit(admin, group, topic, {0: 10})
    assert per_partition(await kafka_source.read_lag(consumer_group=group, topic=topic, policy=LATEST)) == [0, 0, 4, 7]
    caught_up = await eventually(lambda: prometheus_source.read_lag(query), lambda r: per_partition(r) == [0, 0, 4, 7])
    assert per_partition(caught_up) == [0, 0, 4, 7]


async def test_issue_case_latest_uncommitted_partitions_count_zero(
    kafka_bootstrap_servers: str, topic_factory: Callable[..., str], admin: AdminClient,
    kafka_source: KafkaLagSource, prometheus_source: PrometheusLagSource,
) -> None:
    """4 partitions; p0/p1 committed at their end (1,000); p2/p3 end at 800, never committed."""
    topic, group = topic_factory(partitions=4, prefix="lag"), new_group()
    produce(kafka_bootstrap_servers, topic, [1000, 1000, 800, 800])
    commit(admin, group, topic, {0: 1000, 1: 1000})

    latest = await kafka_source.read_lag(consumer_group=group, topic=topic, policy=LATEST)
    assert per_partition(latest) == [0, 0, 0, 0]
    earliest = await kafka_source.read_lag(consumer_group=group, topic=topic, policy=EARLIEST)
    assert per_partition(earliest) == [0, 0, 800, 800]

    # The exporter (like kafka_exporter) has no lag series for never-committed partitions: Prometheus
    # alone cannot tell, so its answer is partial -> unknown (and the handler asks the admin API).
    query = PrometheusLagQuery(group, topic, LATEST, max_sample_age_seconds=30)
    partial = await eventually(
        lambda: prometheus_source.read_lag(query),
        lambda r: isinstance(r, LagUnknown) and r.reason is UnknownLagReason.PARTIAL_RESULT,
    )
    assert isinstance(partial, LagUnknown) and partial.reason is UnknownLagReason.PARTIAL_RESULT, partial
    assert "2 of 4 partitions missing (2-3)" in partial.message


async def test_issue_case_earliest_counts_from_start_offset_after_retention(
    kafka_bootstrap_servers: str, topic_factory: Callable[..., str], admin: AdminClient,
    kafka_source: KafkaLagSource, prometheus_source: PrometheusLagSource,
) -> None:
    """6 partitions; p0 start 9,500 (records before it deleted), end 10,000, no commit -> lag 500."""
    topic, group = topic_factory(partitions=6, prefix="lag"), new_group()
    produce(kafka_bootstrap_servers, topic, [10_000, 3, 3, 3, 3, 3])
    admin.delete_records([TopicPartition(topic, 0, 9_500)])[TopicPartition(topic, 0, 9_500)].result(30)
    commit(admin, group, topic, {p: 3 for p in range(1, 6)})

    reading = await kafka_source.read_lag(consumer_group=group, topic=topic, policy=EARLIEST)
    assert per_partition(reading) == [500, 0, 0, 0, 0, 0]
    # A commit that retention overtook counts from the start offset too, not from the commit.
    commit(admin, group, topic, {0: 100})
    assert per_partition(await kafka_source.read_lag(consumer_group=group, topic=topic, policy=EARLIEST)) == [
        500, 0, 0, 0, 0, 0]
    # kafka_exporter's lag is end - commit (9,900) here; Prometheus reports what the exporter says.
    query = PrometheusLagQuery(group, topic, EARLIEST, max_sample_age_seconds=30)
    seen = await eventually(lambda: prometheus_source.read_lag(query), lambda r: isinstance(r, LagReading))
    assert per_partition(seen) == [9_900, 0, 0, 0, 0, 0], seen


async def test_unknown_group_and_missing_topic(
    kafka_bootstrap_servers: str, topic_factory: Callable[..., str],
    kafka_source: KafkaLagSource, prometheus_source: PrometheusLagSource,
) -> None:
    topic, group = topic_factory(partitions=3, prefix="lag"), new_group()
    produce(kafka_bootstrap_servers, topic, [5, 0, 2])

    # A group that never committed: no lag under latest, everything retained under earliest.
    assert per_partition(await kafka_source.read_lag(consumer_group=group, topic=topic, policy=LATEST)) == [0, 0, 0]
    assert per_partition(await kafka_source.read_lag(consumer_group=group, topic=topic, policy=EARLIEST)) == [5, 0, 2]
    empty = await prometheus_source.read_lag(PrometheusLagQuery(group, topic, LATEST, max_sample_age_seconds=30))
    assert isinstance(empty, LagUnknown) and empty.reason is UnknownLagReason.EMPTY_RESULT, empty

    missing = f"missing-{uuid.uuid4().hex[:8]}"
    gone = await kafka_source.read_lag(consumer_group=group, topic=missing, policy=LATEST)
    assert isinstance(gone, LagUnknown) and gone.reason is UnknownLagReason.NO_PARTITIONS
    gone = await prometheus_source.read_lag(PrometheusLagQuery(group, missing, LATEST, max_sample_age_seconds=30))
    assert isinstance(gone, LagUnknown) and gone.reason is UnknownLagReason.EMPTY_RESULT


async def test_unreachable_sources_are_unknown_within_their_timeout() -> None:
    """Nothing listens on port 1: connection refused is a real fault, reported as SourceError."""
    started = time.monotonic()
    prometheus = await PrometheusLagSource("http://127.0.0.1:1", timeout_seconds=2).read_lag(
        PrometheusLagQuery("g", "t", LATEST, max_sample_age_seconds=30))
    assert isinstance(prometheus, LagUnknown) and prometheus.reason is UnknownLagReason.SOURCE_ERROR
    kafka = await KafkaLagSource("127.0.0.1:1", timeout_seconds=2).read_lag(
        consumer_group="g", topic="t", policy=LATEST)
    assert isinstance(kafka, LagUnknown) and kafka.reason is UnknownLagReason.SOURCE_ERROR
    # Bounded, not fast: both 2 s timeouts were honoured (a generous bound for a loaded machine).
    assert time.monotonic() - started < 20


async def test_hanging_prometheus_is_bounded_and_cancellable() -> None:
    """A real TCP server that accepts and never answers (a Prometheus stuck for minutes)."""
    async with hanging_server() as (url, accepted):
        source = PrometheusLagSource(url, timeout_seconds=1.5)
        query = PrometheusLagQuery("g", "t", LATEST, max_sample_age_seconds=30)
        started = time.monotonic()
        reading = await source.read_lag(query)
        assert isinstance(reading, LagUnknown) and reading.reason is UnknownLagReason.SOURCE_ERROR
        assert "within 1.5 s" in reading.message
        assert time.monotonic() - started < 15, "the 1.5 s timeout was not honoured"

        # Cancelled mid-call (the pipeline was deleted): returns at once, not after the timeout.
        slow = PrometheusLagSource(url, timeout_seconds=120)
        connections_before = len(accepted)
        task = asyncio.create_task(slow.read_lag(query))
        async def request_arrived() -> None:
            # This request's own connection: cancelling before it is accepted would leave it to be
            # accepted after the clean-up below, an unclosed transport found by a later test's GC.
            while len(accepted) == connections_before:
                await asyncio.sleep(0.05)

        await asyncio.wait_for(request_arrived(), timeout=30)  # the request reached the hanging server
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # Deleting a pipeline mid-call must finish within about 10 s (issue 5), not after 120 s.
        assert time.monotonic() - started < 10
