"""Consumer lag from Prometheus (prometheus-api-client): kafka_exporter's per-partition metrics.

Layer: adapter. Runs the pipeline's PromQL (``spec.scaling.lagQuery`` / ``partitionCountQuery``
or the kafka_exporter defaults in ``api.scaling``) as instant queries, together with
``timestamp(<query>)`` so each sample's own age is known, and hands the samples to the pure
``scaling.lag.lag_from_prometheus``, which decides known vs. unknown (empty, NaN, stale, partial).
It also reads ``kafka_topic_partition_current_offset`` (end offsets: their total gives the input
rate) and, under ``earliest``, ``..._oldest_offset``, which the no-committed-offset marker (-1) needs.

prometheus-api-client is synchronous (requests); every query runs in a worker thread with an HTTP
timeout, and the whole read is bounded by ``timeout_seconds``. Cancelling :meth:`read_lag`
returns at once; a hung request's thread ends at its HTTP timeout. Errors never escape: they
become ``LagUnknown(reason=SourceError)``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from string import Template
from typing import Any

import requests
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from urllib3.util.retry import Retry

from detection_operator.api.pipeline import OffsetResetPolicy
from detection_operator.api.scaling import DEFAULT_LAG_QUERY, DEFAULT_PARTITION_COUNT_QUERY, LagSource
from detection_operator.scaling.lag import (
    LagReading,
    LagUnknown,
    PrometheusSample,
    UnknownLagReason,
    lag_from_prometheus,
)

__all__ = ["PrometheusLagQuery", "PrometheusLagSource", "promql_string"]

log = logging.getLogger(__name__)

END_OFFSET_QUERY = 'kafka_topic_partition_current_offset{topic="$topic"}'
START_OFFSET_QUERY = 'kafka_topic_partition_oldest_offset{topic="$topic"}'


@dataclass(frozen=True, slots=True)
class PrometheusLagQuery:
    """What to ask Prometheus for one pipeline.

    ``lag_query``/``partition_count_query`` are the spec's overrides (None: the defaults);
    ``max_sample_age_seconds`` is two polling intervals (older samples are unknown).
    """

    consumer_group: str
    topic: str
    policy: OffsetResetPolicy
    max_sample_age_seconds: float
    lag_query: str | None = None
    partition_count_query: str | None = None


def promql_string(value: str) -> str:
    """Escape ``value`` for the inside of a PromQL double-quoted string (backslash and quote)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class PrometheusLagSource:
    """Reads lag from one Prometheus server (``url``, e.g. ``http://127.0.0.1:19090``).

    ``timeout_seconds`` bounds one :meth:`read_lag` in total and each HTTP request. One HTTP
    retry on connection errors only; the poll loop is the retry.
    """

    def __init__(self, url: str, *, timeout_seconds: float = 5.0, headers: Mapping[str, str] | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout_seconds = timeout_seconds
        self._client = PrometheusConnect(
            url=self.url,
            headers=dict(headers) if headers else None,
            retry=Retry(total=1, connect=1, read=0, status=0, backoff_factor=0.1),
            timeout=timeout_seconds,  # type: ignore[arg-type]  # annotated int, used as requests' timeout
        )

    async def read_lag(self, query: PrometheusLagQuery, *, now: datetime | None = None) -> LagReading | LagUnknown:
        """Return the per-partition lag for ``query``, or why it is unknown. Never raises on errors."""
        values = {"consumer_group": promql_string(query.consumer_group), "topic": promql_string(query.topic)}
        try:
            lag_promql = Template(query.lag_query or DEFAULT_LAG_QUERY).substitute(values)
            count_promql = Template(query.partition_count_query or DEFAULT_PARTITION_COUNT_QUERY).substitute(values)
        except (KeyError, ValueError) as exc:
            return LagUnknown(
                LagSource.PROMETHEUS,
                UnknownLagReason.SOURCE_ERROR,
                f"spec.scaling query has an unknown placeholder {exc}; use $consumer_group and $topic",
            )
        # Lag and partition count with their sample times (staleness decides known vs unknown); end
        # offsets always (their total gives the input rate) and start offsets where the no-commit
        # marker needs them (earliest), without: they only refine a known answer.
        wanted = [(lag_promql, True), (count_promql, True), (Template(END_OFFSET_QUERY).substitute(values), False)]
        if query.policy is OffsetResetPolicy.EARLIEST:
            wanted.append((Template(START_OFFSET_QUERY).substitute(values), False))
        try:
            async with asyncio.timeout(self.timeout_seconds):
                answers = await asyncio.gather(*(self._samples(q, with_sample_time=t) for q, t in wanted))
        except TimeoutError:
            return self._error(f"no answer from {self.url} within {self.timeout_seconds:g} s")
        except (requests.RequestException, PrometheusApiClientException, ValueError, KeyError, TypeError) as exc:
            return self._error(f"{type(exc).__name__}: {_short(exc)}")
        lag, count, ends, *rest = answers
        starts = rest[0] if rest else []
        return lag_from_prometheus(
            lag,
            partition_count_samples=count,
            end_offset_samples=ends,
            start_offset_samples=starts,
            policy=query.policy,
            now=now or datetime.now(UTC),
            max_sample_age_seconds=query.max_sample_age_seconds,
        )

    async def _samples(self, promql: str, *, with_sample_time: bool) -> list[PrometheusSample]:
        """Run ``promql`` (and ``timestamp(promql)`` when ``with_sample_time``) into samples.

        Without the sample time a sample carries the evaluation time (it never looks stale).
        """
        values, stamps = await asyncio.gather(
            asyncio.to_thread(self._client.custom_query, promql),
            asyncio.to_thread(self._client.custom_query, f"timestamp({promql})") if with_sample_time else _no_rows(),
        )
        # timestamp() drops the metric name; join on the remaining labels.
        sample_time = {_label_key(r["metric"]): float(r["value"][1]) for r in stamps}
        samples: list[PrometheusSample] = []
        for result in values:
            labels: dict[str, str] = {k: v for k, v in result["metric"].items() if k != "__name__"}
            evaluated_at, raw = result["value"]
            samples.append(
                PrometheusSample(labels, float(raw), sample_time.get(_label_key(labels), float(evaluated_at)))
            )
        return samples

    def _error(self, message: str) -> LagUnknown:
        log.warning("prometheus lag source %s: %s", self.url, message)
        return LagUnknown(LagSource.PROMETHEUS, UnknownLagReason.SOURCE_ERROR, message)


async def _no_rows() -> list[dict[str, Any]]:
    return []


def _label_key(labels: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, str(v)) for k, v in labels.items() if k != "__name__"))


def _short(exc: BaseException, limit: int = 300) -> str:
    text = str(exc)
    return text if len(text) <= limit else text[:limit] + "..."


