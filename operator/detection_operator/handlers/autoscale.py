"""The autoscale loop: one cancellable poll loop per DetectionPipeline, lag -> replicas.

Layer: handlers (top). Every ``spec.scaling.pollingIntervalSeconds`` a pipeline's loop:

  read the Deployment's replicas (adapters.kube) -> read lag (adapters.lag_prometheus, then
  adapters.lag_kafka when Prometheus cannot answer) -> decide (pure ``scaling.decide_replicas``)
  -> scale the Deployment as field manager ``scorefleet-autoscaler`` -> apply this loop's part of
  the status (desiredReplicas, lag, lastScaleTime, lastScaleReason, LagSourceHealthy,
  ScalingLimited) -> Events on scale changes and lag-source transitions -> metrics.

Why loops of our own rather than ``kopf.timer``/``kopf.daemon``: a kopf timer's interval is fixed
at registration, not per object; and both put a finalizer on the pipeline, so deleting a pipeline
while the operator is down would hang (the reconcile uses no finalizer for that reason). Instead a
kopf watch handler (``on.event``) starts a loop when it first sees a pipeline, hands it every
newer body, and cancels it on DELETED: deletion is never blocked, and cancelling stops a loop
mid-call (a hung Prometheus request is abandoned at once; its worker thread ends at its HTTP
timeout). Every remote call is bounded by a timeout; a failing poll is logged and retried at
the next interval, it never ends the loop.

Peering: a loop acts only while watch events for its pipeline keep arriving (status is written
when it changes and at least every HEARTBEAT_POLLS polls, with ``status.lag.observedAt``, and every
write comes back as an event). kopf stops delivering events to a replica that peering paused, so
that replica's loops stop acting within HEARTBEAT_POLLS + 2 polling intervals (plus a slack).

State carried from poll to poll (recommendation history, unknown-poll count, last activity) lives
in the loop, is passed into the pure core and returned from it; nothing is global. After an
operator restart the history is empty and the core treats the current replicas as recommended
now, so a restart never scales down.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import hashlib
import json
import logging
import random
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import kopf
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pydantic import AliasChoices, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from detection_operator.adapters.kube import (
    AUTOSCALER_FIELD_MANAGER,
    DEPLOYMENT,
    PIPELINE,
    EventType,
    Kind,
    KubeAdapter,
    KubeApiError,
    Manifest,
)
from detection_operator.adapters.lag_kafka import KafkaLagSource
from detection_operator.adapters.lag_prometheus import PrometheusLagQuery, PrometheusLagSource
from detection_operator.api.conditions import (
    Condition,
    ConditionStatus,
    ConditionType,
    parse_conditions,
    set_condition,
)
from detection_operator.api.pipeline import GROUP, PLURAL, VERSION, DetectionPipelineSpec
from detection_operator.api.scaling import LagSource, ScalingSpec
from detection_operator.render import PipelineRef, consumer_group, deployment_name
from detection_operator.scaling import (
    LagReading,
    LagUnknown,
    Observation,
    ScaleDirection,
    ScaleReason,
    ScalingDecision,
    ScalingState,
    UnknownLagReason,
    decide_replicas,
    first_known,
)

__all__ = [
    "AutoscaleMetrics",
    "AutoscaleSettings",
    "Autoscaler",
    "LoopState",
    "PollResult",
]

log = logging.getLogger(__name__)

SECRET = Kind("v1", "Secret", "secrets")
#: An unchanged status is re-written only every this many polls (a heartbeat; see Autoscaler._loop).
HEARTBEAT_POLLS = 4
_OWN_CONDITION_TYPES = frozenset({ConditionType.LAG_SOURCE_HEALTHY.value, ConditionType.SCALING_LIMITED.value})


class AutoscaleSettings(BaseSettings):
    """Operator-wide autoscaler settings, from ``SCOREFLEET_OPERATOR_AUTOSCALE__<FIELD>`` at start-up.

    ``prometheus_url`` also reads ``PROMETHEUS_URL`` (what ``scorefleet devstack env`` exports).
    """

    model_config = SettingsConfigDict(env_prefix="SCOREFLEET_OPERATOR_AUTOSCALE__", extra="ignore", frozen=True)

    prometheus_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "SCOREFLEET_OPERATOR_AUTOSCALE__PROMETHEUS_URL", "PROMETHEUS_URL", "prometheus_url"
        ),
        description="Prometheus base URL for lag queries, e.g. http://prometheus.monitoring:9090. Unset: "
        "pipelines with source prometheus read lag from the Kafka admin API (and say so in LagSourceHealthy).",
    )
    lag_timeout_seconds: float = Field(default=5.0, gt=0, le=600, description="Bound on one lag read per source.")
    kube_timeout_seconds: float = Field(default=10.0, gt=0, le=120, description="Bound on one Kubernetes call.")
    start_jitter_seconds: float = Field(
        default=15.0, ge=0, le=300, description="First poll of each pipeline at a random time within this many "
        "seconds (at most one polling interval), so a cold start with many pipelines is spread out."
    )
    watch_silence_slack_seconds: float = Field(
        default=30.0, ge=0, description=f"A pipeline's loop stops acting after {HEARTBEAT_POLLS + 2} polling "
        "intervals plus this many seconds without a watch event for it (kopf peering paused this operator, "
        "or the watch is down)."
    )


class ConditionReason(StrEnum):
    """Reasons of the autoscaler's conditions besides UnknownLagReason and LimitReason values."""

    LAG_READ = "LagRead"
    FALLBACK_SOURCE = "FallbackSource"
    WITHIN_LIMITS = "WithinLimits"


class EventReason(StrEnum):
    """Reasons of the Events the autoscaler posts on a pipeline."""

    SCALED_UP = "ScaledUp"
    SCALED_DOWN = "ScaledDown"
    LAG_UNKNOWN = "LagUnknown"
    LAG_SOURCE_RECOVERED = "LagSourceRecovered"
    FALLBACK_REPLICAS = "FallbackReplicas"


class AutoscaleMetrics:
    """The autoscaler's metrics (prefix ``scorefleet_operator_``) on the operator's registry.

    Per-pipeline gauges carry ``namespace``/``pipeline`` labels (bounded by the pipelines that
    exist; removed when a pipeline is deleted); counters carry only bounded enums.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.desired_replicas = Gauge(
            "scorefleet_operator_desired_replicas",
            "Scorer replicas the autoscaler decided on at its last poll.",
            ["namespace", "pipeline"],
            registry=registry,
        )
        self.observed_lag = Gauge(
            "scorefleet_operator_observed_lag_messages",
            "Total consumer-group lag seen at the last good poll, in messages (absent while unknown).",
            ["namespace", "pipeline"],
            registry=registry,
        )
        self.scale_events = Counter(
            "scorefleet_operator_scale_events",
            "Replica changes made by the autoscaler, by direction (up, down).",
            ["direction"],
            registry=registry,
        )
        self.lag_source_errors = Counter(
            "scorefleet_operator_lag_source_errors",
            "Lag reads that gave no usable answer, by source (prometheus, kafka) and reason.",
            ["source", "reason"],
            registry=registry,
        )
        self.poll_duration = Histogram(
            "scorefleet_operator_autoscale_poll_duration_seconds",
            "Wall time of one autoscale poll (lag reads, decision, scale, status), in seconds.",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            registry=registry,
        )

    def forget(self, namespace: str, name: str) -> None:
        """Drop a deleted pipeline's series."""
        for gauge in (self.desired_replicas, self.observed_lag):
            with contextlib.suppress(KeyError):
                gauge.remove(namespace, name)


@dataclass(frozen=True, slots=True)
class LoopState:
    """What one pipeline's loop carries between polls (seeded from its status at start)."""

    scaling: ScalingState = field(default_factory=ScalingState)
    conditions: tuple[Condition, ...] = ()
    last_scale_time: datetime | None = None
    last_scale_reason: str | None = None
    status_digest: str | None = None
    """Digest of the status last written, without observedAt (unchanged status is not re-sent)."""
    status_written_at: datetime | None = None

    @classmethod
    def from_status(cls, status: Mapping[str, Any]) -> LoopState:
        """Seed from a pipeline's ``status`` (after an operator restart): our conditions and last scale."""
        conditions = [c for c in parse_conditions(status.get("conditions") or []) if c.type in _OWN_CONDITION_TYPES]
        last_time = status.get("lastScaleTime")
        return cls(
            conditions=tuple(conditions),
            last_scale_time=datetime.fromisoformat(last_time) if isinstance(last_time, str) else None,
            last_scale_reason=status.get("lastScaleReason"),
        )


@dataclass(frozen=True, slots=True)
class PollResult:
    """The outcome of one poll (None decision: nothing to act on, e.g. no Deployment yet)."""

    state: LoopState
    decision: ScalingDecision | None = None
    current_replicas: int | None = None
    lag: LagReading | LagUnknown | None = None


class Autoscaler:
    """Runs every pipeline's poll loop. Built once by ``main`` and put in kopf's memo as ``autoscaler``.

    ``kube`` must use field manager ``scorefleet-autoscaler`` (it owns the Deployment's replicas
    and this loop's status fields). ``clock`` returns aware UTC datetimes (tests may pin it).
    """

    def __init__(
        self,
        settings: AutoscaleSettings,
        *,
        kube: KubeAdapter,
        metrics: AutoscaleMetrics,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.kube = kube
        self.metrics = metrics
        self.clock = clock
        self.prometheus = (
            PrometheusLagSource(settings.prometheus_url, timeout_seconds=settings.lag_timeout_seconds)
            if settings.prometheus_url
            else None
        )
        self._kafka: dict[tuple[str, tuple[tuple[str, str], ...]], KafkaLagSource] = {}
        self._loops: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._bodies: dict[tuple[str, str], Manifest] = {}
        self._seen_at: dict[tuple[str, str], float] = {}

    # ---- loop supervision (driven by kopf watch events) -----------------------------------------
    def observe(self, event_type: str | None, body: Manifest) -> None:
        """A pipeline was listed/added/modified (start its loop, hand it the body) or deleted (stop it)."""
        meta = body["metadata"]
        key = (meta["namespace"], meta["name"])
        if event_type == "DELETED" or meta.get("deletionTimestamp"):
            self._stop(key)
            return
        self._bodies[key] = body
        self._seen_at[key] = time.monotonic()
        task = self._loops.get(key)
        if task is None or task.done():
            self._loops[key] = asyncio.create_task(self._loop(key), name=f"autoscale-{key[0]}/{key[1]}")

    def _stop(self, key: tuple[str, str]) -> None:
        self._bodies.pop(key, None)
        self._seen_at.pop(key, None)
        task = self._loops.pop(key, None)
        if task is not None:
            task.cancel()
        self.metrics.forget(*key)

    async def stop_all(self) -> None:
        """Cancel every loop and wait for them (operator shutdown)."""
        tasks = list(self._loops.values())
        for key in list(self._loops):
            self._stop(key)
        await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def running(self) -> int:
        """Loops currently running."""
        return sum(1 for t in self._loops.values() if not t.done())

    async def _loop(self, key: tuple[str, str]) -> None:
        body = self._bodies[key]
        state = LoopState.from_status(body.get("status") or {})
        first_interval = _polling_interval(body)
        await asyncio.sleep(random.uniform(0, min(self.settings.start_jitter_seconds, first_interval)))
        paused = False
        while key in self._bodies:
            body = self._bodies[key]
            interval = _polling_interval(body)
            # Status is written at least every HEARTBEAT_POLLS polls (lag.observedAt), and each write
            # comes back as a watch event. No event for longer means kopf stopped delivering them:
            # peering paused this operator (another replica acts) or the watch is down. Do not act
            # on stale knowledge then.
            silent_seconds = time.monotonic() - self._seen_at.get(key, 0.0)
            if silent_seconds > (HEARTBEAT_POLLS + 2) * interval + self.settings.watch_silence_slack_seconds:
                if not paused:
                    log.warning("autoscale of %s/%s paused: no watch event for %.0f s (peering paused "
                                "this operator, or the watch is down)", *key, silent_seconds)
                    paused = True
                if not await self._pipeline_exists(key):
                    self._stop(key)
                    return
                await asyncio.sleep(interval)
                continue
            if paused:
                log.info("autoscale of %s/%s resumed", *key)
                paused = False
            with self.metrics.poll_duration.time():
                try:
                    state = (await self.poll(body, state=state)).state
                except (KubeApiError, TimeoutError) as exc:
                    limit = self.settings.kube_timeout_seconds
                    reason = str(exc) or f"{type(exc).__name__} (a Kubernetes call took over {limit:g} s)"
                    log.warning("autoscale poll of %s/%s failed, retrying in %d s: %s", *key, interval, reason)
                except Exception:  # a bug must not silently end autoscaling for this pipeline
                    log.exception("autoscale poll of %s/%s crashed, retrying in %d s", *key, interval)
            await asyncio.sleep(interval)

    async def _pipeline_exists(self, key: tuple[str, str]) -> bool:
        try:
            return await self._bounded(self.kube.get(PIPELINE, *key)) is not None
        except (KubeApiError, TimeoutError):
            return True  # cannot tell: keep the loop

    # ---- one poll ---------------------------------------------------------------------------------
    async def poll(self, body: Manifest, *, state: LoopState) -> PollResult:
        """Run one poll for the pipeline ``body`` (JSON as the apiserver returns it) and return the result.

        Raises KubeApiError/TimeoutError when the apiserver fails; lag-source failures are part
        of the result (unknown lag), never raised.
        """
        meta = body["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        try:
            spec = DetectionPipelineSpec.model_validate(body.get("spec") or {})
        except ValidationError as exc:
            log.info("autoscale skips %s/%s: invalid spec (%s)", namespace, name, exc.error_count())
            return PollResult(state)
        scaling = spec.scaling
        ref = PipelineRef(name=name, namespace=namespace, uid=meta.get("uid", ""))
        deployment = await self._bounded(self.kube.get(DEPLOYMENT, namespace, deployment_name(name)))
        if deployment is None:
            return PollResult(state)  # the reconcile has not created it yet
        current = int((deployment.get("spec") or {}).get("replicas", 1))
        ready = int((deployment.get("status") or {}).get("readyReplicas") or 0)

        lag = await self.read_lag(namespace, spec, group=consumer_group(ref, spec), scaling=scaling)
        now = self.clock()
        decision = decide_replicas(
            scaling, observed=Observation(current, lag, now, paused=spec.paused, ready_replicas=ready),
            state=state.scaling,
        )
        direction = decision.direction(current)
        if direction is not ScaleDirection.NONE:
            await self._bounded(self.kube.scale_deployment(namespace, deployment_name(name), decision.desired_replicas))
            self.metrics.scale_events.labels(direction=direction.value).inc()
            state = replace(state, last_scale_time=now.replace(microsecond=0), last_scale_reason=decision.message)
            event_reason = EventReason.SCALED_UP if direction is ScaleDirection.UP else EventReason.SCALED_DOWN
            await self._event(body, EventType.NORMAL, event_reason, decision.message)
            log.info("%s/%s %s", namespace, name, decision.message)

        previous = {c.type: c for c in state.conditions}
        conditions = self._conditions(
            state.conditions, lag, decision, configured=scaling.source, now=now, generation=meta.get("generation")
        )
        state = replace(state, scaling=decision.state, conditions=conditions)
        state = await self._write_status(
            namespace, name, state=state, decision=decision, lag=lag, now=now,
            heartbeat_seconds=HEARTBEAT_POLLS * scaling.polling_interval_seconds,
        )
        await self._lag_events(body, previous, conditions, decision, failure_threshold=scaling.failure_threshold)

        self.metrics.desired_replicas.labels(namespace, name).set(decision.desired_replicas)
        if isinstance(lag, LagReading):
            self.metrics.observed_lag.labels(namespace, name).set(lag.total_messages)
        else:
            with contextlib.suppress(KeyError):
                self.metrics.observed_lag.remove(namespace, name)
        return PollResult(state, decision, current, lag)

    async def read_lag(
        self, namespace: str, spec: DetectionPipelineSpec, *, group: str, scaling: ScalingSpec
    ) -> LagReading | LagUnknown:
        """Lag from the configured source, falling back from Prometheus to the Kafka admin API."""
        readings: list[LagReading | LagUnknown] = []
        topic, policy = spec.kafka.input_topic, spec.kafka.offset_reset_policy
        if scaling.source is LagSource.PROMETHEUS:
            if self.prometheus is None:
                readings.append(LagUnknown(LagSource.PROMETHEUS, UnknownLagReason.SOURCE_ERROR,
                                           "no Prometheus URL configured for the operator"))
            else:
                query = PrometheusLagQuery(
                    consumer_group=group,
                    topic=topic,
                    policy=policy,
                    max_sample_age_seconds=2 * scaling.polling_interval_seconds,
                    lag_query=scaling.lag_query,
                    partition_count_query=scaling.partition_count_query,
                )
                readings.append(await self.prometheus.read_lag(query))
        if not readings or isinstance(readings[-1], LagUnknown):
            source = await self._kafka_source(namespace, spec)
            readings.append(await source.read_lag(consumer_group=group, topic=topic, policy=policy))
        for reading in readings:
            if isinstance(reading, LagUnknown):
                self.metrics.lag_source_errors.labels(source=reading.source.value, reason=reading.reason.value).inc()
        return first_known(readings)

    async def _kafka_source(self, namespace: str, spec: DetectionPipelineSpec) -> KafkaLagSource:
        """One admin client per (cluster, credentials), shared by the pipelines that use them."""
        config: dict[str, str] = {}
        if spec.kafka.credentials_secret_ref is not None:
            secret = await self._bounded(self.kube.get(SECRET, namespace, spec.kafka.credentials_secret_ref.name))
            for key_name, value in ((secret or {}).get("data") or {}).items():
                config[key_name] = base64.b64decode(value).decode()
        key = (spec.kafka.bootstrap_servers, tuple(sorted(config.items())))
        source = self._kafka.get(key)
        if source is None:
            source = KafkaLagSource(
                spec.kafka.bootstrap_servers, config=config, timeout_seconds=self.settings.lag_timeout_seconds
            )
            self._kafka[key] = source
        return source

    # ---- status, conditions, events -------------------------------------------------------------
    def _conditions(
        self,
        previous: tuple[Condition, ...],
        lag: LagReading | LagUnknown,
        decision: ScalingDecision,
        *,
        configured: LagSource,
        now: datetime,
        generation: int | None,
    ) -> tuple[Condition, ...]:
        if isinstance(lag, LagUnknown):
            healthy = Condition(
                type=ConditionType.LAG_SOURCE_HEALTHY, status=ConditionStatus.FALSE, reason=lag.reason.value,
                message=_clip(f"lag unknown: {lag.message}; {decision.message}"), last_transition_time=now,
                observed_generation=generation,
            )
        elif lag.source is not configured:
            healthy = Condition(
                type=ConditionType.LAG_SOURCE_HEALTHY, status=ConditionStatus.TRUE,
                reason=ConditionReason.FALLBACK_SOURCE.value,
                message="lag read from the Kafka admin API (Prometheus had no usable answer)",
                last_transition_time=now, observed_generation=generation,
            )
        else:
            healthy = Condition(
                type=ConditionType.LAG_SOURCE_HEALTHY, status=ConditionStatus.TRUE,
                reason=ConditionReason.LAG_READ.value, message=f"lag read from {lag.source.value}",
                last_transition_time=now, observed_generation=generation,
            )
        conditions = set_condition(previous, healthy, now=now)
        if isinstance(lag, LagReading) and decision.reason is not ScaleReason.PAUSED:
            if decision.limited_by is not None:
                limited = Condition(
                    type=ConditionType.SCALING_LIMITED, status=ConditionStatus.TRUE,
                    reason=decision.limited_by.value, message=_clip(decision.limit_message),
                    last_transition_time=now, observed_generation=generation,
                )
            else:
                limited = Condition(
                    type=ConditionType.SCALING_LIMITED, status=ConditionStatus.FALSE,
                    reason=ConditionReason.WITHIN_LIMITS.value,
                    message="the lag recommendation is within minReplicas, maxReplicas and the partition count",
                    last_transition_time=now, observed_generation=generation,
                )
            conditions = set_condition(conditions, limited, now=now)
        return conditions

    async def _write_status(
        self,
        namespace: str,
        name: str,
        *,
        state: LoopState,
        decision: ScalingDecision,
        lag: LagReading | LagUnknown,
        now: datetime,
        heartbeat_seconds: float,
    ) -> LoopState:
        """Apply this loop's status fields when they changed, or as a heartbeat; return the new state.

        Server-side apply as scorefleet-autoscaler: every field we own is sent every time (a field
        left out would be removed), and only our two condition types (the list is keyed by type).
        """
        status: dict[str, Any] = {
            "desiredReplicas": decision.desired_replicas,
            "conditions": [c.model_dump(mode="json", exclude_none=True, by_alias=True) for c in state.conditions],
        }
        # Unknown lag is shown as no lag figures at all (never as 0), only when it was looked at;
        # the condition says why.
        status["lag"] = (
            lag.to_status().model_dump(mode="json", exclude_none=True)
            if isinstance(lag, LagReading)
            else {"observedAt": _rfc3339(now)}
        )
        if state.last_scale_time is not None:
            status["lastScaleTime"] = state.last_scale_time.strftime("%Y-%m-%dT%H:%M:%SZ")
        if state.last_scale_reason is not None:
            status["lastScaleReason"] = _clip(state.last_scale_reason)
        digest = hashlib.sha256(
            json.dumps({**status, "lag": {k: v for k, v in status["lag"].items() if k != "observedAt"}},
                       sort_keys=True).encode()
        ).hexdigest()
        fresh = state.status_written_at is not None and (now - state.status_written_at).total_seconds() < (
            heartbeat_seconds - 1
        )
        if digest == state.status_digest and fresh:
            return state
        await self._bounded(self.kube.apply_pipeline_status(namespace, name, status=status))
        return replace(state, status_digest=digest, status_written_at=now)

    async def _lag_events(
        self,
        body: Manifest,
        previous: Mapping[str, Condition],
        conditions: tuple[Condition, ...],
        decision: ScalingDecision,
        *,
        failure_threshold: int,
    ) -> None:
        now_healthy = next(c for c in conditions if c.type == ConditionType.LAG_SOURCE_HEALTHY)
        before = previous.get(ConditionType.LAG_SOURCE_HEALTHY.value)
        if now_healthy.status is ConditionStatus.FALSE and (
            before is None or before.status is not ConditionStatus.FALSE or before.reason != now_healthy.reason
        ):
            await self._event(body, EventType.WARNING, EventReason.LAG_UNKNOWN, now_healthy.message)
        elif now_healthy.status is ConditionStatus.TRUE and before and before.status is ConditionStatus.FALSE:
            await self._event(body, EventType.NORMAL, EventReason.LAG_SOURCE_RECOVERED, now_healthy.message)
        if decision.reason is ScaleReason.FALLBACK and decision.state.consecutive_unknown_polls == failure_threshold:
            await self._event(body, EventType.WARNING, EventReason.FALLBACK_REPLICAS, decision.message)

    async def _event(self, body: Manifest, type_: EventType, reason: EventReason, message: str) -> None:
        try:
            await self._bounded(
                self.kube.post_event(body, type_=type_, reason=reason.value, message=message,
                                     component=AUTOSCALER_FIELD_MANAGER)
            )
        except (KubeApiError, TimeoutError) as exc:  # an Event is informative; never fail a poll over it
            log.warning("could not post event %s on %s: %s", reason, body["metadata"]["name"], exc)

    async def _bounded(self, call: Any) -> Any:
        async with asyncio.timeout(self.settings.kube_timeout_seconds):
            return await call


def _polling_interval(body: Manifest) -> int:
    raw = ((body.get("spec") or {}).get("scaling") or {}).get("pollingIntervalSeconds")
    return int(raw) if isinstance(raw, int) and raw >= 1 else ScalingSpec().polling_interval_seconds


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _clip(message: str, limit: int = 1024) -> str:
    return message if len(message) <= limit else message[: limit - 3] + "..."


# ---- kopf wiring ----------------------------------------------------------------------------------


def autoscaler_of(memo: Any) -> Autoscaler:
    """The Autoscaler that ``main`` put into kopf's memo as ``autoscaler``."""
    autoscaler = getattr(memo, "autoscaler", None)
    if not isinstance(autoscaler, Autoscaler):
        raise TypeError("kopf memo has no Autoscaler (start the operator through detection_operator.main)")
    return autoscaler


@kopf.on.event(GROUP, VERSION, PLURAL, id="autoscale")
async def pipeline_autoscale_event(type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Start, refresh or stop the pipeline's autoscale loop (no finalizer, never blocks deletion)."""
    autoscaler_of(memo).observe(type, copy.deepcopy(dict(body)))


@kopf.on.startup()
async def start_autoscaler(memo: kopf.Memo, **_: Any) -> None:
    """Build the Autoscaler into the memo unless ``main`` did: settings from the environment (once),
    a Kubernetes client under field manager ``scorefleet-autoscaler``, metrics on the operator's registry."""
    if isinstance(getattr(memo, "autoscaler", None), Autoscaler):
        return
    from detection_operator.main import load_api_client  # the entry point's client loader; imported late

    operator_metrics = getattr(memo, "metrics", None)
    registry = getattr(operator_metrics, "registry", None)
    memo.autoscaler = Autoscaler(
        AutoscaleSettings(),
        kube=KubeAdapter(load_api_client(), field_manager=AUTOSCALER_FIELD_MANAGER),
        metrics=AutoscaleMetrics(registry if isinstance(registry, CollectorRegistry) else CollectorRegistry()),
    )
    log.info("autoscaler started (prometheus: %s)",
             _without_userinfo(memo.autoscaler.settings.prometheus_url) or "not configured")


def _without_userinfo(url: str | None) -> str | None:
    """`url` with any `user:password@` removed, for logging (never log credentials)."""
    if not url:
        return url
    parts = urllib.parse.urlsplit(url)
    if not (parts.username or parts.password):
        return url
    return parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()


@kopf.on.cleanup()
async def stop_autoscale_loops(memo: kopf.Memo, **_: Any) -> None:
    """Cancel every autoscale loop when the operator exits."""
    await autoscaler_of(memo).stop_all()

