"""Consumer lag from the Kafka admin API (confluent-kafka): the fallback, or the primary source.

Layer: adapter. Fetches raw offsets — the topic's partitions, the group's committed offsets, and
each partition's end (``OffsetSpec.latest``) and start (``OffsetSpec.earliest``) offsets — and
hands them to the pure ``scaling.lag.lag_from_offsets``. Called by ``handlers.autoscale``.

As KEDA's Kafka scaler: list partitions, then fetch committed and end offsets concurrently. Unlike
it, we also fetch start offsets (so retention-deleted records are not lag under ``earliest``) and
treat a partition missing from any answer as unknown, never as 0.

Every admin call carries ``request_timeout`` and every wait a deadline, so a dead broker costs at
most ``timeout_seconds`` per poll. Errors never escape :meth:`KafkaLagSource.read_lag`: they
become :class:`~detection_operator.scaling.lag.LagUnknown` with reason ``SourceError``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, KafkaException, TopicCollection, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from detection_operator.api.pipeline import OffsetResetPolicy
from detection_operator.api.scaling import LagSource
from detection_operator.scaling.lag import (
    LagReading,
    LagUnknown,
    PartitionOffsets,
    UnknownLagReason,
    lag_from_offsets,
)

__all__ = ["KafkaLagSource"]

log = logging.getLogger(__name__)


class KafkaLagSource:
    """Reads one cluster's consumer-group lag through an AdminClient (one per cluster + credentials).

    ``config`` holds extra librdkafka settings (``security.protocol``, ``sasl.*``, ``ssl.*``) read
    from the pipeline's credentials Secret; it is never logged. ``timeout_seconds`` bounds one
    :meth:`read_lag` in total.
    """

    def __init__(
        self, bootstrap_servers: str, *, config: Mapping[str, str] | None = None, timeout_seconds: float = 5.0
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.timeout_seconds = timeout_seconds
        settings: dict[str, Any] = {
            **(config or {}),
            "bootstrap.servers": bootstrap_servers,
            "client.id": "scorefleet-operator-lag",
            "socket.timeout.ms": int(timeout_seconds * 1000),
            # librdkafka logs through Python logging (not raw stderr), once per broker outage.
            "logger": logging.getLogger(f"{__name__}.librdkafka"),
            "log.connection.close": False,
        }
        self._admin = AdminClient(settings)

    async def read_lag(
        self, *, consumer_group: str, topic: str, policy: OffsetResetPolicy, now: datetime | None = None
    ) -> LagReading | LagUnknown:
        """Return the per-partition lag of ``consumer_group`` on ``topic``, or why it is unknown.

        ``policy`` is the group's ``auto.offset.reset`` (what a partition without a committed
        offset counts as). Cancellable; never raises for Kafka errors or timeouts.
        """
        observed_at = now or datetime.now(UTC)
        try:
            async with asyncio.timeout(self.timeout_seconds):
                partition_count = await self._partition_count(topic)
                if partition_count is None:
                    return LagUnknown(
                        LagSource.KAFKA, UnknownLagReason.NO_PARTITIONS, f"topic {topic} does not exist"
                    )
                partitions = range(partition_count)
                committed, ends, starts = await asyncio.gather(
                    self._committed(consumer_group, topic, partitions),
                    self._offsets(topic, partitions, OffsetSpec.latest()),
                    self._offsets(topic, partitions, OffsetSpec.earliest()),
                )
        except TimeoutError:
            return self._error(f"no answer within {self.timeout_seconds:g} s")
        except KafkaException as exc:
            return self._error(_kafka_error_text(exc))
        offsets = [
            PartitionOffsets(p, end_offset=ends[p], start_offset=starts[p], committed_offset=committed.get(p))
            for p in partitions
            if p in ends and p in starts
        ]
        return lag_from_offsets(offsets, partition_count=partition_count, policy=policy, observed_at=observed_at)

    def _error(self, message: str) -> LagUnknown:
        log.warning("kafka lag source %s: %s", self.bootstrap_servers, message)
        return LagUnknown(LagSource.KAFKA, UnknownLagReason.SOURCE_ERROR, message)

    async def _partition_count(self, topic: str) -> int | None:
        """Partitions of ``topic`` from a DescribeTopics request (never auto-creates the topic)."""
        futures = self._admin.describe_topics(
            TopicCollection([topic]), request_timeout=self.timeout_seconds
        )
        try:
            description = await _wait(futures[topic])
        except KafkaException as exc:
            if _error_code(exc) == KafkaError.UNKNOWN_TOPIC_OR_PART:
                return None
            raise
        return len(description.partitions)

    async def _committed(self, group: str, topic: str, partitions: range) -> dict[int, int]:
        """Committed offsets of ``group`` (negative = none), by partition; partitions in error left out."""
        request = [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in partitions])]
        futures = self._admin.list_consumer_group_offsets(request, request_timeout=self.timeout_seconds)
        answer = await _wait(futures[group])
        return {
            tp.partition: tp.offset
            for tp in answer.topic_partitions
            if tp.topic == topic and tp.error is None
        }

    async def _offsets(self, topic: str, partitions: range, spec: OffsetSpec) -> dict[int, int]:
        """End (``latest``) or start (``earliest``) offsets by partition; failed partitions left out."""
        futures = self._admin.list_offsets(
            {TopicPartition(topic, p): spec for p in partitions}, request_timeout=self.timeout_seconds
        )
        answers = await asyncio.gather(*(_wait(f) for f in futures.values()), return_exceptions=True)
        out: dict[int, int] = {}
        for tp, answer in zip(futures.keys(), answers, strict=True):
            if isinstance(answer, BaseException):
                if not isinstance(answer, KafkaException):
                    raise answer
                log.info("list_offsets %s[%d]: %s", topic, tp.partition, _kafka_error_text(answer))
                continue
            out[tp.partition] = answer.offset
        return out


async def _wait(future: Future[Any]) -> Any:
    """Await a confluent-kafka future; cancelling the await cancels our interest, not the request."""
    return await asyncio.wrap_future(future)


def _error_code(exc: KafkaException) -> int | None:
    err = exc.args[0] if exc.args else None
    return err.code() if isinstance(err, KafkaError) else None


def _kafka_error_text(exc: KafkaException) -> str:
    err = exc.args[0] if exc.args else None
    if isinstance(err, KafkaError):
        return f"{err.name()}: {err.str()}"
    return str(exc)
