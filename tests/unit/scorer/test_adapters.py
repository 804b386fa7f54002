"""Kafka client configuration, credential files, probes HTTP server, metrics names and JSON logs."""

from __future__ import annotations

import json
import logging
import re
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from scorer.http_server import HealthState, ProbeServer
from scorer.kafka_config import client_id, consumer_config, producer_config, read_credentials
from scorer.logs import JsonFormatter
from scorer.metrics import LATENCY_BUCKETS_SECONDS, BatchHistogram, ScorerMetrics
from scorer.settings import OffsetResetPolicy, ScorerSettings


def test_delivery_semantics_in_client_config() -> None:
    settings = ScorerSettings(
        bootstrap_servers="k:9092", consumer_group="g", offset_reset_policy=OffsetResetPolicy.EARLIEST
    )
    consumer = consumer_config(settings, {})
    assert consumer["enable.auto.commit"] is False
    assert consumer["enable.auto.offset.store"] is False
    assert consumer["auto.offset.reset"] == "earliest"
    assert consumer["group.id"] == "g"
    producer = producer_config(settings, {})
    assert producer["enable.idempotence"] is True
    assert producer["acks"] == "all"


def test_client_id_names_the_pod() -> None:
    settings = ScorerSettings(pod_name="scorer-7f9", pod_namespace="mail")
    assert client_id(settings) == "scorefleet-scorer-mail-scorer-7f9"


def test_credentials_from_mounted_secret(tmp_path: Path) -> None:
    (tmp_path / "security.protocol").write_text("SASL_SSL\n")
    (tmp_path / "sasl.mechanism").write_text("SCRAM-SHA-512")
    (tmp_path / "sasl.username").write_text("scorer")
    (tmp_path / "sasl.password").write_text("s3cret\n")
    (tmp_path / "ssl.ca.location").write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    (tmp_path / "group.id").write_text("hijack")  # not a security setting: ignored
    (tmp_path / "..data").mkdir()  # Kubernetes' atomic-writer bookkeeping
    credentials = read_credentials(tmp_path)
    assert credentials == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "scorer",
        "sasl.password": "s3cret",
        "ssl.ca.location": str(tmp_path / "ssl.ca.location"),
    }
    settings = ScorerSettings(consumer_group="g")
    assert consumer_config(settings, credentials)["group.id"] == "g"
    assert consumer_config(settings, credentials)["sasl.password"] == "s3cret"


@pytest.mark.parametrize(
    "directory", [pytest.param(None, id="unset"), pytest.param(Path("/nonexistent"), id="missing")]
)
def test_no_credentials(directory: Path | None) -> None:
    assert read_credentials(directory) == {}


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_probe_server_endpoints() -> None:
    registry = CollectorRegistry()
    metrics = ScorerMetrics(registry)
    health = HealthState(liveness_timeout_seconds=60)
    server = ProbeServer(host="127.0.0.1", port=0, registry=registry, health=health)
    server.start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        assert _get(f"{base}/healthz")[0] == 200
        assert _get(f"{base}/readyz")[0] == 503
        health.model_ready = True
        assert _get(f"{base}/readyz")[0] == 503  # consumer not joined yet
        health.consumer_joined = True
        assert _get(f"{base}/readyz")[0] == 200
        health.stopping = True
        assert _get(f"{base}/readyz")[0] == 503
        health.liveness_timeout_seconds = 0.0
        assert _get(f"{base}/healthz")[0] == 200  # the loop has not started: start-up is readiness's concern
        health.tick()
        assert _get(f"{base}/healthz")[0] == 503  # started, then stalled
        metrics.model_info.labels("phishing-linear", "1", "ab" * 32).set(1)
        status, body = _get(f"{base}/metrics")
        assert status == 200
        assert 'scorefleet_scorer_model_info{name="phishing-linear"' in body
        assert _get(f"{base}/other")[0] == 404
    finally:
        server.stop()


def test_metric_names_follow_conventions() -> None:
    registry = CollectorRegistry()
    ScorerMetrics(registry)
    names = {metric.name: metric.type for metric in registry.collect()}
    assert all(name.startswith("scorefleet_scorer_") for name in names)
    for name, kind in names.items():
        # prometheus-client strips _total from counter family names; other types must not carry it.
        assert not name.endswith("_total"), name
        if kind == "histogram":
            assert re.search(r"_(seconds|records)$", name), name
    assert {
        "scorefleet_scorer_records_consumed",
        "scorefleet_scorer_records_scored",
        "scorefleet_scorer_records_dead_lettered",
        "scorefleet_scorer_batch_size_records",
        "scorefleet_scorer_inference_duration_seconds",
        "scorefleet_scorer_end_to_end_latency_seconds",
        "scorefleet_scorer_consumer_lag_messages",
        "scorefleet_scorer_commit_failures",
        "scorefleet_scorer_rebalances",
        "scorefleet_scorer_model_info",
    } <= set(names)


def test_json_log_line() -> None:
    formatter = JsonFormatter({"pod": "scorer-1", "namespace": ""})
    record = logging.LogRecord("scorer.service", logging.INFO, __file__, 1, "assigned %s", ("p3",), None)
    record.partitions = [3]
    line = json.loads(formatter.format(record))
    assert line["message"] == "assigned p3"
    assert line["level"] == "info"
    assert line["pod"] == "scorer-1"
    assert "namespace" not in line  # empty static fields are left out
    assert line["partitions"] == [3]


@pytest.mark.parametrize(
    "values",
    [
        pytest.param([], id="no-observations"),
        pytest.param([0.0, 0.001, 0.0010001, 0.05, 0.3, 59.0, 61.0, 1e9], id="on-and-around-bounds"),
        pytest.param([0.02] * 1000, id="one-bucket-many-times"),
    ],
)
def test_batch_histogram_exposes_what_histogram_would(values: list[float]) -> None:
    """Same observations, same /metrics text as prometheus-client's Histogram (minus its _created series;
    _sum to rounding, as numpy adds a batch pairwise)."""
    batched, reference = CollectorRegistry(), CollectorRegistry()
    histogram = BatchHistogram("x_latency_seconds", "Latency.", buckets=LATENCY_BUCKETS_SECONDS, registry=batched)
    histogram.observe_many(np.asarray(values[: len(values) // 2], dtype=np.float64))
    histogram.observe_many(np.asarray(values[len(values) // 2 :], dtype=np.float64))
    single = Histogram("x_latency_seconds", "Latency.", buckets=LATENCY_BUCKETS_SECONDS, registry=reference)
    for value in values:
        single.observe(value)

    def exposition(registry: CollectorRegistry) -> tuple[list[str], float]:
        lines = [line for line in generate_latest(registry).decode().splitlines() if "_created" not in line]
        (total,) = [float(line.split()[-1]) for line in lines if line.startswith("x_latency_seconds_sum ")]
        return [line for line in lines if not line.startswith("x_latency_seconds_sum ")], total

    lines, total = exposition(batched)
    reference_lines, reference_total = exposition(reference)
    assert lines == reference_lines
    assert total == pytest.approx(reference_total, rel=1e-12)
