"""Helpers of the scorer's integration tests: settings for fresh topics, a scorer run in a thread or as
a real process, producers, and readers of outputs and committed offsets.

Everything talks to the dev stack's Kafka (fixtures `kafka_bootstrap_servers`, `topic_factory`).
Waits poll a condition with a deadline; nothing sleeps blindly.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer, Message, Producer, TopicPartition
from prometheus_client import CollectorRegistry
from scorer.http_server import HealthState
from scorer.metrics import ScorerMetrics
from scorer.model import ScoringModel, load_model
from scorer.service import ScorerService
from scorer.settings import OffsetResetPolicy, ScorerSettings
from scorer.training import TrainingReport

REPO = Path(__file__).resolve().parents[3]
SCORER_BIN = REPO / ".venv" / "bin" / "scorefleet-scorer"


@dataclass(frozen=True)
class Topics:
    """The input, output and dead-letter topics of one test."""

    input: str
    output: str
    dead_letter: str
    partitions: int


def scorer_settings(bootstrap: str, topics: Topics, model: TrainingReport, **overrides: Any) -> ScorerSettings:
    """Settings of a scorer on ``topics`` with a fresh consumer group (unless overridden)."""
    values: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "input_topic": topics.input,
        "output_topic": topics.output,
        "dead_letter_topic": topics.dead_letter,
        "consumer_group": f"scorer-test-{uuid.uuid4().hex[:8]}",
        "offset_reset_policy": OffsetResetPolicy.EARLIEST,
        "model_name": model.name,
        "model_version": model.version,
        "model_uri": model.path.as_uri(),
        "model_sha256": model.sha256,
        "batch_max_messages": 100,
        "batch_max_wait_ms": 20,
        "http_host": "127.0.0.1",
        "http_port": 0,
        **overrides,
    }
    return ScorerSettings(**values)


def settings_env(settings: ScorerSettings, tmp_path: Path) -> dict[str, str]:
    """The SCORER_* environment (as the operator renders it) of ``settings``, for a scorer process."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("SCORER_")}
    env.update(
        {
            "SCORER_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
            "SCORER_INPUT_TOPIC": settings.input_topic,
            "SCORER_OUTPUT_TOPIC": settings.output_topic,
            "SCORER_DEAD_LETTER_TOPIC": settings.dead_letter_topic,
            "SCORER_CONSUMER_GROUP": settings.consumer_group,
            "SCORER_OFFSET_RESET_POLICY": settings.offset_reset_policy.value,
            "SCORER_MODEL_NAME": settings.model_name,
            "SCORER_MODEL_VERSION": settings.model_version,
            "SCORER_MODEL_URI": settings.model_uri,
            "SCORER_MODEL_SHA256": settings.model_sha256,
            "SCORER_MODEL_CACHE_DIR": str(tmp_path / "model-cache"),
            "SCORER_BATCH_MAX_MESSAGES": str(settings.batch_max_messages),
            "SCORER_BATCH_MAX_WAIT_MS": str(settings.batch_max_wait_ms),
            "SCORER_HTTP_HOST": settings.http_host,
            "SCORER_HTTP_PORT": str(settings.http_port),
            "SCORER_PER_RECORD_DELAY_MS": str(settings.per_record_delay_ms),
            "SCORER_TERMINATION_LOG_PATH": str(tmp_path / "termination-log"),
            "SCORER_LOG_FORMAT": "json",
        }
    )
    return env


@contextmanager
def scorer_process(settings: ScorerSettings, tmp_path: Path, name: str) -> Iterator[subprocess.Popen[bytes]]:
    """The real ``scorefleet-scorer`` console script as a child process; killed if still running after the block."""
    log = (tmp_path / f"{name}.log").open("wb")
    process = subprocess.Popen([str(SCORER_BIN)], env=settings_env(settings, tmp_path), stdout=log, stderr=log)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)
        log.close()


@contextmanager
def scorer_thread(settings: ScorerSettings, model: TrainingReport) -> Iterator[tuple[ScorerService, threading.Event]]:
    """A ScorerService running ``run(stop)`` in a thread; stopped (drain, commit, close) after the block."""
    health = HealthState()
    service = ScorerService(
        settings, model=load_model(model.path), metrics=ScorerMetrics(CollectorRegistry()), health=health
    )
    stop = threading.Event()
    thread = threading.Thread(target=service.run, args=(stop,), name="scorer-under-test", daemon=True)
    thread.start()
    try:
        yield service, stop
    finally:
        stop.set()
        thread.join(60)
        assert not thread.is_alive(), "scorer thread did not stop within 60 s"


def make_service(settings: ScorerSettings, model: ScoringModel) -> ScorerService:
    """A ScorerService driven step by step by the test (no thread)."""
    return ScorerService(settings, model=model, metrics=ScorerMetrics(CollectorRegistry()), health=HealthState())


KafkaRecord = tuple[bytes | None, bytes | None, list[tuple[str, str | bytes | None]] | None]


def produce(
    bootstrap: str,
    topic: str,
    records: list[KafkaRecord],
    *,
    partition: int | None = None,
) -> None:
    """Produce (key, value, headers) records in order and wait for every acknowledgement."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True})
    errors: list[str] = []

    def delivered(error: Any, _message: Any) -> None:
        if error is not None:
            errors.append(str(error))

    for key, value, headers in records:
        kwargs: dict[str, Any] = {"key": key, "value": value, "headers": headers, "on_delivery": delivered}
        if partition is not None:
            kwargs["partition"] = partition
        producer.produce(topic, **kwargs)
        producer.poll(0)
    assert producer.flush(30) == 0 and not errors, errors


def read_topic(bootstrap: str, topic: str, *, partitions: int = 1, timeout_seconds: float = 5.0) -> list[Message]:
    """Every record now in ``topic`` (read from the start by an unsubscribed consumer, up to the end offsets)."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False}
    )
    try:
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)}
        wanted = {p: end for p, end in ends.items() if end > 0}
        if not wanted:
            return []
        consumer.assign([TopicPartition(topic, p, 0) for p in wanted])
        records: list[Message] = []
        positions = dict.fromkeys(wanted, 0)
        deadline = time.monotonic() + timeout_seconds + 30
        while any(positions[p] < wanted[p] for p in wanted):
            assert time.monotonic() < deadline, f"could not read {topic} to its end"
            for message in consumer.consume(1000, 0.5):
                partition, offset = message.partition(), message.offset()
                if message.error() is None and partition is not None and offset is not None:
                    records.append(message)
                    positions[partition] = offset + 1
        return records
    finally:
        consumer.close()


def value_of(message: Message) -> bytes:
    """A record's value (these tests never produce tombstones)."""
    value = message.value()
    assert value is not None
    return value


def key_of(message: Message) -> str:
    """A record's key as text."""
    key = message.key()
    assert key is not None
    return key.decode()


def headers_of(message: Message) -> dict[str, str]:
    """A record's headers as text (first value of each name)."""
    headers: dict[str, str] = {}
    raw = message.headers() or []
    pairs = list(raw.items()) if isinstance(raw, dict) else raw
    for name, data in pairs:
        if isinstance(data, bytes):
            headers.setdefault(name, data.decode())
    return headers


def output_records(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Decoded score records of the output topic."""
    return [orjson.loads(value_of(message)) for message in read_topic(bootstrap, topic)]


def committed_offsets(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    """The group's committed offset per partition (-1001 = none)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        committed = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return {tp.partition: tp.offset for tp in committed}
    finally:
        consumer.close()


def end_offsets(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    """The high watermark of each partition."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"ends-{uuid.uuid4().hex[:8]}"})
    try:
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)}
    finally:
        consumer.close()


def commit_offsets(bootstrap: str, group: str, offsets: dict[tuple[str, int], int]) -> None:
    """Commit offsets for ``group`` as if a previous member had processed up to them."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()], asynchronous=False)
    finally:
        consumer.close()


def json_records(
    events: list[dict[str, Any]],
) -> list[KafkaRecord]:
    """(key, value, headers) of JSON events keyed by message id."""
    return [(event["message_id"].encode(), orjson.dumps(event), None) for event in events]
