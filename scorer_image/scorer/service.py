"""The scoring loop (Kafka adapter): consume -> decode -> features -> model -> produce -> commit.

At-least-once, in this order for every record:

1. fetch a batch (auto-commit and offset auto-store are off);
2. decode, featurise and score it; undecodable records and records the model fails on become
   dead-letter records (original bytes, reason and source position in headers);
3. produce one output or dead-letter record per input (idempotent producer, ``acks=all``);
4. when the broker acknowledges all of a batch's records, its offsets become done in the
   ``OffsetTracker``; commits send exactly the done prefix of each partition.

Produce is pipelined: the loop fetches the next batch while acknowledgements of the previous
ones arrive (delivery callbacks run inside ``producer.poll``), and fetching pauses while more
than ``max_in_flight_messages`` are unacknowledged. A record the broker refuses makes its
partition seek back and read it again.

On revoke the loop flushes the producer, commits what is done on the revoked partitions and
drops the rest (the next owner re-reads it); lost partitions are dropped without a commit. On
stop (SIGTERM) it stops fetching, finishes the batch in hand (or, with the per-record delay
knob, abandons its unscored tail), flushes, commits and closes.

Heartbeats: librdkafka sends them from its own threads, so inference on this thread cannot
starve them; a batch is bounded by ``batch_max_messages``, far below ``max.poll.interval.ms``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from scorer.batching import BatchPolicy, commit_due
from scorer.decode import DecodeError, decode_record
from scorer.events import SCORE_ENCODER, DeadLetterReason, EmailEvent, ScoreRecord, SourcePosition, Verdict
from scorer.features import feature_matrix
from scorer.http_server import HealthState
from scorer.kafka_config import consumer_config, producer_config, read_credentials
from scorer.metrics import RebalanceKind, ScorerMetrics
from scorer.model import ScoringModel
from scorer.offsets import OffsetTracker, TopicPartitionKey
from scorer.settings import ScorerSettings
from scorer.verdicts import verdicts_for

logger = logging.getLogger(__name__)

DLQ_REASON_HEADER = "scorefleet-dlq-reason"
DLQ_DETAIL_HEADER = "scorefleet-dlq-detail"
SOURCE_TOPIC_HEADER = "scorefleet-source-topic"
SOURCE_PARTITION_HEADER = "scorefleet-source-partition"
SOURCE_OFFSET_HEADER = "scorefleet-source-offset"
COMMIT_INTERVAL_SECONDS = 0.05
LAG_INTERVAL_SECONDS = 5.0
REVOKE_FLUSH_TIMEOUT_SECONDS = 10.0


@dataclass
class BatchAck:
    """Counts the broker's acknowledgements of one batch's records; on the last one, marks offsets done."""

    tracker: OffsetTracker
    metrics: ScorerMetrics
    # (topic, partition) -> (epoch, offsets of that partition in this batch, ascending)
    groups: dict[TopicPartitionKey, tuple[int, list[int]]]
    remaining: int = 0
    failed: bool = False
    errors: list[str] = field(default_factory=list)

    def on_delivery(self, error: KafkaError | None, _message: Message) -> None:
        """confluent-kafka delivery callback (runs inside producer.poll/flush on the loop thread)."""
        if error is not None:
            self.failed = True
            self.metrics.delivery_failures.inc()
            if len(self.errors) < 3:
                self.errors.append(str(error))
        self.remaining -= 1
        if self.remaining == 0:
            self._settle()

    def _settle(self) -> None:
        for tp, (epoch, offsets) in self.groups.items():
            if self.failed:
                # Which record failed is not known here; re-read the batch's part of each partition.
                self.tracker.fail(tp, offsets[0], epoch=epoch)
            else:
                self.tracker.acknowledge(tp, offsets, epoch=epoch)
        if self.failed:
            logger.error("output not acknowledged; partitions will be re-read", extra={"errors": self.errors})


@dataclass
class TakenBatch:
    """Records taken on together (from ``take_on``): they share one acknowledgement counter."""

    messages: list[Message]
    # Where each of ``messages`` was read from (same order): the ``source`` of its score record.
    positions: list[SourcePosition]
    ack: BatchAck


class ScorerService:
    """One scorer process's consumer loop. Construct, then ``run(stop)`` on the main thread.

    ``model`` must already be loaded and warmed; ``health`` is shared with the probe server.
    """

    def __init__(
        self, settings: ScorerSettings, *, model: ScoringModel, metrics: ScorerMetrics, health: HealthState
    ) -> None:
        self._settings = settings
        self._model = model
        self._metrics = metrics
        self._health = health
        self._tracker = OffsetTracker()
        self._policy = BatchPolicy(
            max_messages=settings.batch_max_messages,
            max_bytes=settings.batch_max_bytes,
            max_wait_ms=settings.batch_max_wait_ms,
            max_in_flight_messages=settings.max_in_flight_messages,
        )
        credentials = read_credentials(settings.kafka_credentials_dir)
        self._consumer = Consumer({**consumer_config(settings, credentials), "on_commit": self._on_commit})
        self._producer = Producer(producer_config(settings, credentials))
        self._dead_letter_topic = settings.dead_letter_topic_name
        self._last_commit = 0.0
        self._last_lag = 0.0
        self._commit_failed = False
        self._stop: threading.Event | None = None
        self._mean_record_bytes = 0.0  # of the last batch taken on; sizes the next fetch

    # -- rebalance callbacks (run inside consumer.consume on the loop thread) --

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._tracker.assign((tp.topic, tp.partition) for tp in partitions)
        self._metrics.rebalances.labels(kind=RebalanceKind.ASSIGN.value).inc()
        self._metrics.assigned_partitions.set(len(self._tracker.owned()))
        self._health.consumer_joined = True
        logger.info(
            "partitions assigned",
            extra={"partitions": [tp.partition for tp in partitions], "owned": len(self._tracker.owned())},
        )

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._metrics.rebalances.labels(kind=RebalanceKind.REVOKE.value).inc()
        # Acknowledgements of produced records settle what is done; then commit exactly that.
        not_flushed = self._producer.flush(REVOKE_FLUSH_TIMEOUT_SECONDS)
        commits = self._tracker.revoke((tp.topic, tp.partition) for tp in partitions)
        if commits:
            self._commit_sync(consumer, commits)
        self._forget_partitions(partitions)
        logger.info(
            "partitions revoked",
            extra={
                "partitions": [tp.partition for tp in partitions],
                "committed": {f"{t}/{p}": o for (t, p), o in commits.items()},
                "unacknowledged": not_flushed,
            },
        )

    def _on_lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._metrics.rebalances.labels(kind=RebalanceKind.LOST.value).inc()
        self._tracker.revoke((tp.topic, tp.partition) for tp in partitions)  # no commit: not ours any more
        self._forget_partitions(partitions)
        logger.warning("partitions lost", extra={"partitions": [tp.partition for tp in partitions]})

    def _forget_partitions(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            with contextlib.suppress(KeyError):
                self._metrics.consumer_lag.remove(tp.topic, str(tp.partition))
        self._metrics.assigned_partitions.set(len(self._tracker.owned()))

    def _on_commit(self, error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        if error is None:
            error = next((tp.error for tp in partitions or [] if tp.error is not None), None)
        if error is not None and error.code() != KafkaError._NO_OFFSET:
            self._metrics.commit_failures.inc()
            self._commit_failed = True
            logger.warning("offset commit failed", extra={"error": str(error)})

    # -- commits --

    def _commit_sync(self, consumer: Consumer, commits: dict[TopicPartitionKey, int]) -> bool:
        offsets = [TopicPartition(topic, partition, offset) for (topic, partition), offset in commits.items()]
        try:
            consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as error:
            self._metrics.commit_failures.inc()
            logger.error("offset commit failed", extra={"error": str(error)})
            return False
        self._metrics.commits.inc()
        return True

    def commit(self, *, force: bool = False) -> None:
        """Commit the done prefix of each owned partition: asynchronously at most every 50 ms, or now and
        synchronously with ``force`` (shutdown). Only offsets whose records are acknowledged are sent."""
        if self._commit_failed:
            self._commit_failed = False
            self._tracker.forget_commits()
        commits = self._tracker.committable()
        now = time.monotonic()
        if not force and not commit_due(
            now_seconds=now,
            last_commit_seconds=self._last_commit,
            interval_seconds=COMMIT_INTERVAL_SECONDS,
            has_work=bool(commits),
        ):
            return
        if not commits:
            return
        self._last_commit = now
        if force:
            if self._commit_sync(self._consumer, commits):
                self._tracker.committed(commits)
            return
        offsets = [TopicPartition(topic, partition, offset) for (topic, partition), offset in commits.items()]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=True)
        except KafkaException as error:
            self._metrics.commit_failures.inc()
            logger.warning("offset commit failed", extra={"error": str(error)})
            return
        self._metrics.commits.inc()
        self._tracker.committed(commits)

    def _seek_failed(self) -> None:
        for (topic, partition), offset in self._tracker.take_failures().items():
            logger.warning(
                "re-reading partition after undelivered output",
                extra={"topic": topic, "partition": partition, "offset": offset},
            )
            try:
                self._consumer.seek(TopicPartition(topic, partition, offset))
            except KafkaException as error:
                logger.error("seek failed", extra={"error": str(error), "partition": partition})

    def _update_lag(self) -> None:
        try:
            assignment = self._consumer.assignment()
            positions = self._consumer.position(assignment)
        except KafkaException:
            return
        for tp in positions:
            if tp.offset < 0:
                continue
            try:
                _low, high = self._consumer.get_watermark_offsets(tp, cached=True)
            except KafkaException:
                continue
            if high >= 0:
                self._metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(max(0, high - tp.offset))

    # -- the batch --

    def _dead_letter(self, message: Message, reason: DeadLetterReason, detail: str, ack: BatchAck) -> None:
        headers = list(message.headers() or [])
        headers += [
            (DLQ_REASON_HEADER, reason.value.encode()),
            (DLQ_DETAIL_HEADER, detail[:500].encode("utf-8", "replace")),
            (SOURCE_TOPIC_HEADER, str(message.topic()).encode()),
            (SOURCE_PARTITION_HEADER, str(message.partition()).encode()),
            (SOURCE_OFFSET_HEADER, str(message.offset()).encode()),
        ]
        self._produce(self._dead_letter_topic, message.value(), message.key(), headers, ack)
        self._metrics.records_dead_lettered.labels(reason=reason.value).inc()

    def _produce(self, topic: str, value: bytes | None, key: bytes | None, headers: Any, ack: BatchAck) -> None:
        while True:
            try:
                self._producer.produce(topic, value, key, headers=headers, on_delivery=ack.on_delivery)
                return
            except BufferError:
                self._producer.poll(0.01)  # the local queue is full: serve acknowledgements, then retry

    def _delay_records(self, messages: list[Message]) -> list[Message]:
        """The SCORER_PER_RECORD_DELAY_MS test knob: a slow scorer. Stops early (abandoning the tail) on stop."""
        delay = self._settings.per_record_delay_ms / 1000.0
        for index in range(len(messages)):
            self._health.tick()  # a slow batch is still progress
            if self._stop is not None and self._stop.wait(delay):
                logger.info(
                    "stop during batch: abandoning unscored records", extra={"abandoned": len(messages) - index}
                )
                return messages[:index]
        return messages

    def _score(self, features: np.ndarray) -> tuple[np.ndarray, list[str | None]]:
        """Scores for a feature matrix, with a per-row fallback that isolates rows the model fails on.

        Returns (scores shape (n,), errors: None or the failure text per row).
        """
        started = time.perf_counter()
        try:
            scores = np.asarray(self._model.predict_scores(features), dtype=np.float64)
            if scores.shape == (len(features),) and np.all(np.isfinite(scores)):
                self._metrics.inference_duration.observe(time.perf_counter() - started)
                return scores, [None] * len(features)
        except Exception as error:  # the model is third-party code: isolate whatever it raises
            logger.warning("batch prediction failed, scoring rows one by one", extra={"error": str(error)})
        scores = np.zeros(len(features), dtype=np.float64)
        errors: list[str | None] = []
        for row in range(len(features)):
            try:
                value = float(np.asarray(self._model.predict_scores(features[row : row + 1]))[0])
                if not 0.0 <= value <= 1.0:
                    raise ValueError(f"score {value} outside [0, 1]")
                scores[row] = value
                errors.append(None)
            except Exception as error:  # one bad row must not stop the batch
                errors.append(f"{type(error).__name__}: {error}")
        self._metrics.inference_duration.observe(time.perf_counter() - started)
        return scores, errors

    def take_on(self, messages: list[Message]) -> TakenBatch | None:
        """Register fetched records as in flight (the first step of ``process_batch``); None if none are ours.

        Records with a consume error and records of partitions this consumer no longer owns are
        skipped (their next owner reads them from the committed offset).
        """
        groups: dict[TopicPartitionKey, tuple[int, list[int]]] = {}
        taken: list[Message] = []
        positions: list[SourcePosition] = []
        skipped: set[TopicPartitionKey] = set()
        for message in messages:
            if message.error() is not None:
                logger.warning("consume error", extra={"error": str(message.error())})
                continue
            topic, partition, offset = message.topic(), message.partition(), message.offset()
            if topic is None or partition is None or offset is None:
                continue
            tp = (topic, partition)
            group = groups.get(tp)
            if group is None:
                if tp in skipped:
                    continue
                epoch = self._tracker.epoch(tp)
                if epoch is None:
                    skipped.add(tp)
                    continue
                group = groups[tp] = (epoch, [])
            group[1].append(offset)
            taken.append(message)
            positions.append(SourcePosition(topic=topic, partition=partition, offset=offset))
        if not taken:
            return None
        self._mean_record_bytes = sum(map(len, taken)) / len(taken)  # len(Message): its value's size
        for tp, (_epoch, offsets) in groups.items():
            self._tracker.fetched(tp, offsets)
        self._metrics.records_consumed.labels(topic=self._settings.input_topic).inc(len(taken))
        self._metrics.batch_size.observe(len(taken))
        ack = BatchAck(tracker=self._tracker, metrics=self._metrics, groups=groups, remaining=len(taken))
        return TakenBatch(messages=taken, positions=positions, ack=ack)

    def score_and_produce(self, batch: TakenBatch) -> None:
        """Decode, featurise and score a taken-on batch; produce one output or dead-letter record per input.

        Returns once every record is handed to the producer; the offsets become committable when
        the broker acknowledges all of them (delivery callbacks inside ``producer.poll``/``flush``).
        """
        ack = batch.ack
        events: list[EmailEvent] = []
        # (record, where it was read from, its Kafka timestamp in ms since the epoch) per decoded event
        scored: list[tuple[Message, SourcePosition, int]] = []
        for message, position in zip(batch.messages, batch.positions, strict=True):
            timestamp_ms = message.timestamp()[1]
            try:
                event = decode_record(
                    message.value(), headers=message.headers(), key=message.key(), timestamp_ms=timestamp_ms
                )
            except DecodeError as error:
                self._dead_letter(message, error.reason, error.detail, ack)
                continue
            events.append(event)
            scored.append((message, position, timestamp_ms))
        if not events:
            return
        scores, errors = self._score(feature_matrix(events))
        verdicts = verdicts_for(scores, self._settings.verdict_thresholds)
        scored_at = datetime.now(UTC)
        settings = self._settings
        output_topic = settings.output_topic
        encode = SCORE_ENCODER.encode
        verdict_counts = dict.fromkeys(Verdict, 0)
        produced_timestamps_ms: list[int] = []
        for event, (message, position, timestamp_ms), score, verdict, error_text in zip(
            events, scored, scores.tolist(), verdicts, errors, strict=True
        ):
            if error_text is not None:
                self._dead_letter(message, DeadLetterReason.MODEL_ERROR, error_text, ack)
                continue
            record = ScoreRecord(
                message_id=event.message_id,
                tenant_id=event.tenant_id,
                model_name=settings.model_name,
                model_version=settings.model_version,
                score=score,
                verdict=verdict,
                scored_at=scored_at,
                source=position,
            )
            self._produce(output_topic, encode(record), event.message_id.encode(), None, ack)
            verdict_counts[verdict] += 1
            produced_timestamps_ms.append(timestamp_ms)
        for verdict, count in verdict_counts.items():
            if count:
                self._metrics.records_scored.labels(verdict=verdict.value).inc(count)
        stamps_ms = np.asarray(produced_timestamps_ms, dtype=np.float64)
        latencies_ms = scored_at.timestamp() * 1000.0 - stamps_ms[stamps_ms > 0]  # 0/-1: no timestamp on the record
        self._metrics.end_to_end_latency.observe_many(np.maximum(latencies_ms, 0.0) / 1000.0)

    def process_batch(self, messages: list[Message]) -> int:
        """Take on, score and produce one fetched batch; returns how many records were taken on."""
        started = time.perf_counter()
        if self._settings.per_record_delay_ms:
            messages = self._delay_records(messages)
        batch = self.take_on(messages)
        if batch is None:
            return 0
        self.score_and_produce(batch)
        self._producer.poll(0)
        self._metrics.batch_duration.observe(time.perf_counter() - started)
        return len(batch.messages)

    # -- the loop --

    def subscribe(self) -> None:
        """Join the consumer group on the input topic (assignment arrives during the next fetch)."""
        self._consumer.subscribe(
            [self._settings.input_topic], on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost
        )
        logger.info("consuming", extra={"topic": self._settings.input_topic, "group": self._settings.consumer_group})

    def fetch_batch(self) -> list[Message]:
        """One fetch as the batch policy allows (empty while back-pressure pauses fetching).

        Rebalance callbacks run inside this call.
        """
        request = self._policy.next_fetch(
            in_flight_messages=len(self._producer), mean_record_bytes=self._mean_record_bytes
        )
        if request is None:
            self._producer.poll(0.05)
            return []
        return self._consumer.consume(request.max_messages, request.timeout_seconds)

    def owned_partitions(self) -> list[TopicPartitionKey]:
        """The (topic, partition) pairs this scorer owns now."""
        return self._tracker.owned()

    def step(self) -> int:
        """One loop iteration: serve acknowledgements, re-read failed partitions, commit, fetch, process.

        Returns the number of records taken on.
        """
        self._health.tick()
        self._metrics.ready.set(1 if self._health.ready() else 0)
        self._producer.poll(0)
        self._seek_failed()
        self.commit()
        messages = self.fetch_batch()
        taken = self.process_batch(messages) if messages else 0
        now = time.monotonic()
        if now - self._last_lag >= LAG_INTERVAL_SECONDS:
            self._last_lag = now
            self._update_lag()
        return taken

    def flush(self, timeout_seconds: float) -> int:
        """Wait up to ``timeout_seconds`` for acknowledgements of everything produced; returns how many are missing."""
        return int(self._producer.flush(timeout_seconds))

    def run(self, stop: threading.Event) -> None:
        """Consume, score and produce until ``stop`` is set; then flush, commit and close the clients."""
        self._stop = stop
        self.subscribe()
        try:
            while not stop.is_set():
                self.step()
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        """Flush produced records, commit what is done, leave the group (its revoke commits again, harmlessly)."""
        self._health.stopping = True
        self._metrics.ready.set(0)
        remaining = self._producer.flush(self._settings.shutdown_timeout_seconds)
        if remaining:
            logger.error(
                "records not acknowledged at shutdown; their offsets stay uncommitted",
                extra={"unacknowledged": remaining},
            )
        self.commit(force=True)
        self._consumer.close()
        logger.info("scorer stopped")
