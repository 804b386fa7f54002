"""Prometheus metrics of the scorer (prefix ``scorefleet_scorer_``), on a registry passed in.

Conventions: base units (seconds), ``_total`` only on counters, bounded label values (verdict,
reason, topic, partition number; never offsets or message ids).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from enum import StrEnum

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from scorer.events import DeadLetterReason, Verdict

LATENCY_BUCKETS_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
INFERENCE_BUCKETS_SECONDS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
BATCH_SIZE_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000)


class RebalanceKind(StrEnum):
    """Label `kind` of `scorefleet_scorer_rebalances_total`: what a consumer-group rebalance did to us."""

    ASSIGN = "assign"
    REVOKE = "revoke"
    LOST = "lost"


class BatchHistogram(Collector):
    """A histogram observed a batch at a time, exposed exactly like prometheus-client's ``Histogram``.

    ``Histogram.observe`` takes one value per call (a lock and a bucket search each, ~1 us); the
    scorer observes one end-to-end latency per record, tens of thousands per second, so it hands
    over each batch's latencies as one array instead. Bucket semantics are Prometheus': a value
    counts in every bucket whose upper bound ``le`` is >= the value (cumulative), plus ``+Inf``.
    """

    def __init__(self, name: str, documentation: str, *, buckets: Sequence[float], registry: CollectorRegistry) -> None:
        self._name = name
        self._documentation = documentation
        self._upper_bounds = np.asarray(buckets, dtype=np.float64)
        self._counts = np.zeros(len(buckets) + 1, dtype=np.int64)  # per bucket, not cumulative; last = +Inf
        self._sum = 0.0
        self._lock = threading.Lock()
        registry.register(self)

    def observe_many(self, values: np.ndarray) -> None:
        """Add observations: a 1-D float array in the metric's unit (seconds here)."""
        if not len(values):
            return
        counts = np.bincount(np.searchsorted(self._upper_bounds, values, side="left"), minlength=len(self._counts))
        total = float(values.sum())
        with self._lock:
            self._counts += counts
            self._sum += total

    def describe(self) -> Iterator[HistogramMetricFamily]:
        """The metric family without samples (lets the registry check names at registration)."""
        yield HistogramMetricFamily(self._name, self._documentation)

    def collect(self) -> Iterator[HistogramMetricFamily]:
        """One consistent snapshot: cumulative ``_bucket`` counts, ``_count`` and ``_sum``."""
        with self._lock:
            cumulative = np.cumsum(self._counts).tolist()
            total = self._sum
        bounds = [floatToGoString(bound) for bound in self._upper_bounds.tolist()]
        yield HistogramMetricFamily(
            self._name,
            self._documentation,
            buckets=[*zip(bounds, cumulative, strict=False), ("+Inf", cumulative[-1])],
            sum_value=total,
        )


class ScorerMetrics:
    """All scorer metrics, registered on ``registry`` (one registry per scorer; tests make their own)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        prefix = "scorefleet_scorer"
        self.records_consumed = Counter(
            f"{prefix}_records_consumed", "Input records fetched from Kafka.", ["topic"], registry=registry
        )
        self.records_scored = Counter(
            f"{prefix}_records_scored", "Records scored, by verdict.", ["verdict"], registry=registry
        )
        self.records_dead_lettered = Counter(
            f"{prefix}_records_dead_lettered",
            "Records sent to the dead-letter topic, by reason.",
            ["reason"],
            registry=registry,
        )
        self.batch_size = Histogram(
            f"{prefix}_batch_size_records", "Records per scored batch.", buckets=BATCH_SIZE_BUCKETS, registry=registry
        )
        self.inference_duration = Histogram(
            f"{prefix}_inference_duration_seconds",
            "Time of one batch prediction (features excluded).",
            buckets=INFERENCE_BUCKETS_SECONDS,
            registry=registry,
        )
        self.batch_duration = Histogram(
            f"{prefix}_batch_duration_seconds",
            "Time to decode, featurise, score and produce one batch.",
            buckets=LATENCY_BUCKETS_SECONDS,
            registry=registry,
        )
        self.end_to_end_latency = BatchHistogram(
            f"{prefix}_end_to_end_latency_seconds",
            "Scored-at time minus the input record's Kafka timestamp.",
            buckets=LATENCY_BUCKETS_SECONDS,
            registry=registry,
        )
        self.consumer_lag = Gauge(
            f"{prefix}_consumer_lag_messages",
            "High watermark minus position, per assigned partition.",
            ["topic", "partition"],
            registry=registry,
        )
        self.commits = Counter(f"{prefix}_commits", "Offset commits sent.", registry=registry)
        self.commit_failures = Counter(f"{prefix}_commit_failures", "Offset commits that failed.", registry=registry)
        self.delivery_failures = Counter(
            f"{prefix}_delivery_failures",
            "Output or dead-letter records the broker did not acknowledge.",
            registry=registry,
        )
        self.rebalances = Counter(
            f"{prefix}_rebalances",
            "Partition assignment changes, by kind (assign, revoke, lost).",
            ["kind"],
            registry=registry,
        )
        self.assigned_partitions = Gauge(
            f"{prefix}_assigned_partitions", "Partitions currently assigned to this scorer.", registry=registry
        )
        self.model_info = Gauge(
            f"{prefix}_model_info", "The loaded model (value 1).", ["name", "version", "sha256"], registry=registry
        )
        self.ready = Gauge(f"{prefix}_ready", "1 when the model is warmed and the consumer joined.", registry=registry)
        # Pre-create label sets so every series exists from the first scrape (rate() needs a zero).
        for verdict in Verdict:
            self.records_scored.labels(verdict=verdict.value)
        for reason in DeadLetterReason:
            self.records_dead_lettered.labels(reason=reason.value)
        for kind in RebalanceKind:
            self.rebalances.labels(kind=kind.value)
