"""Produce generated events to a Kafka topic (adapter over ``generator``), for the demo and benchmarks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from confluent_kafka import Producer

from scorer.decode import CONTENT_TYPE_HEADER, RFC822_CONTENT_TYPE, TENANT_HEADER
from scorer.generator import generate_events, render_rfc822


def encode_event(event: dict[str, Any], *, raw: bool) -> tuple[bytes, list[tuple[str, str | bytes | None]] | None]:
    """The Kafka value and headers of one generated event: JSON, or RFC 5322 with ``content-type: message/rfc822``."""
    if raw:
        headers: list[tuple[str, str | bytes | None]] = [
            (CONTENT_TYPE_HEADER, RFC822_CONTENT_TYPE.encode()),
            (TENANT_HEADER, event["tenant_id"].encode()),
        ]
        return render_rfc822(event), headers
    return orjson.dumps(event), None


def produce_generated(
    *,
    bootstrap_servers: str,
    topic: str,
    count: int,
    seed: int = 7,
    raw: bool = False,
    on_produced: Callable[[str], None] | None = None,
) -> int:
    """Produce ``count`` generated events (keyed by message id) to ``topic`` and wait for the acks.

    Returns the number acknowledged. ``on_produced(message_id)`` is called as each is handed to the
    client (benchmarks note send times with it). Raises RuntimeError when some were not acknowledged.
    """
    producer = Producer(
        {
            "bootstrap.servers": bootstrap_servers,
            "linger.ms": 10,
            "batch.size": 1_000_000,
            "enable.idempotence": True,
            "acks": "all",
            "compression.type": "lz4",
        }
    )
    failures: list[str] = []

    def delivered(error: Any, _message: Any) -> None:
        if error is not None:
            failures.append(str(error))

    for labelled in generate_events(count, seed=seed):
        value, headers = encode_event(labelled.event, raw=raw)
        message_id = labelled.event["message_id"]
        while True:
            try:
                producer.produce(topic, value, message_id.encode(), headers=headers, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.05)
        if on_produced is not None:
            on_produced(message_id)
        producer.poll(0)
    if producer.flush(60) or failures:
        raise RuntimeError(f"{len(failures)} generated events not acknowledged: {failures[:3]}")
    return count
