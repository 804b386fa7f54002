"""Pure: settings (+ credential files) -> librdkafka configuration of the consumer and the producer.

Delivery semantics live here: auto-commit and offset auto-store off (the loop commits exactly
the offsets whose outputs are acknowledged), an idempotent producer with ``acks=all``, and
cooperative-sticky assignment so two scorers hand partitions over without stopping the world.
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Any

from scorer.settings import ScorerSettings

logger = logging.getLogger(__name__)

# Keys a credentials Secret may set; anything else in the directory is ignored (and named in a log).
CREDENTIAL_KEY_PREFIXES = ("security.", "sasl.", "ssl.", "ssl_")
FETCH_QUEUE_BACKOFF_MS = 20


def read_credentials(directory: Path | None) -> dict[str, str]:
    """librdkafka settings from a mounted Secret: one file per key, the file's content is the value.

    Kubernetes' ``..data`` bookkeeping entries are skipped. For ``*.location`` keys whose file
    holds PEM content rather than a path, the file's own path is the location (a Secret key
    ``ssl.ca.location`` usually carries the CA certificate itself). Values are never logged.
    """
    if directory is None or not directory.is_dir():
        return {}
    settings: dict[str, str] = {}
    for entry in sorted(directory.iterdir()):
        name = entry.name
        if name.startswith(".") or not entry.is_file():
            continue
        if not name.startswith(CREDENTIAL_KEY_PREFIXES):
            logger.warning("ignoring credentials file that is not a security setting", extra={"key": name})
            continue
        value = entry.read_text().strip()
        if name.endswith(".location") and value.startswith("-----BEGIN"):
            value = str(entry)
        settings[name] = value
    return settings


def client_id(settings: ScorerSettings) -> str:
    """The Kafka client.id: ``scorefleet-scorer-<namespace>-<pod>`` (hostname when not in a pod)."""
    pod = settings.pod_name or socket.gethostname()
    return "-".join(part for part in ("scorefleet-scorer", settings.pod_namespace, pod) if part)


def consumer_config(settings: ScorerSettings, credentials: dict[str, str]) -> dict[str, Any]:
    """librdkafka consumer settings: manual commits of acknowledged offsets only."""
    return {
        "bootstrap.servers": settings.bootstrap_servers,
        "group.id": settings.consumer_group,
        "client.id": client_id(settings),
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": settings.offset_reset_policy.value,
        "partition.assignment.strategy": "cooperative-sticky",
        "session.timeout.ms": 45_000,
        "max.poll.interval.ms": 300_000,
        "fetch.wait.max.ms": max(1, min(settings.batch_max_wait_ms, 100)),
        "queued.min.messages": max(10_000, settings.batch_max_messages * 4),
        # When the prefetch queue is above queued.min.messages (or queued.max.messages.kbytes: ~3,000
        # raw mails), librdkafka postpones that partition's next fetch by this much (default 1,000 ms),
        # long enough for a busy scorer to drain the queue and then sit idle: measured, half of the
        # scorer's time went to empty consume() calls (bench/scorer_throughput.py). 20 ms keeps it fed.
        "fetch.queue.backoff.ms": FETCH_QUEUE_BACKOFF_MS,
        "enable.partition.eof": False,
        **credentials,
    }


def producer_config(settings: ScorerSettings, credentials: dict[str, str]) -> dict[str, Any]:
    """librdkafka producer settings: idempotent, ``acks=all``, small linger for batching at low latency."""
    return {
        "bootstrap.servers": settings.bootstrap_servers,
        "client.id": client_id(settings),
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "batch.size": 1_000_000,
        "compression.type": "lz4",
        "queue.buffering.max.messages": max(100_000, settings.max_in_flight_messages * 2),
        **credentials,
    }
