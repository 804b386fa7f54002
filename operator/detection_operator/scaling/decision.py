"""The scaling decision: spec + observed lag + carried state in, desired replicas + new state out.

Layer: pure core. The autoscale handler calls :func:`decide_replicas` once per poll with what the
lag adapters observed (through ``scaling.lag``) and the :class:`ScalingState` it got back from the
previous poll; it applies ``desired_replicas`` and writes ``reason``/``message`` to status.

Rules, in the order they apply (sources in brackets):

1. ``paused``: keep the current replicas, change nothing (DESIGN "paused").
2. Unknown lag is not zero: keep the current replicas; once ``failureThreshold`` polls in a row were
   unknown, run ``max(current, fallbackReplicas)`` — missing data never lowers replicas (KEDA's
   ``fallback``, minus its habit of scaling down to the fallback).
3. Activation, only with ``minReplicas: 0``: from 0, wake up only when total lag >
   ``activationLagThreshold``; to 0, only after the lag stayed at or below it for
   ``cooldownSeconds`` (KEDA's activation and ``cooldownPeriod``).
4. Recommendation = ceil(total lag / lagThreshold) (KEDA/HPA AverageValue target), raised to what
   the measured input rate needs once per-consumer capacity is known (``scaling.throughput``: a
   lag target alone cuts a fleet that keeps up under steady load), rounded up to an
   even partition step when enabled (``scaling.partition_steps``), clamped to
   [max(minReplicas, 1), min(maxReplicas, partitions)] — the partition cap wins even over
   minReplicas, since consumers beyond the partition count sit idle (KEDA caps lag at
   partitions x threshold to the same effect).
5. Stabilization (the HPA's): scale up at once; scale down only to the highest recommendation
   recorded during ``scaleDownStabilizationSeconds``. With no history (operator restart) the
   current replicas count as a recommendation made now, so a restart never causes a scale-down.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from detection_operator.api.scaling import ScalingSpec
from detection_operator.scaling.lag import LagReading, LagUnknown
from detection_operator.scaling.partition_steps import step_down, step_up
from detection_operator.scaling.throughput import (
    RATE_HEADROOM,
    OffsetTotals,
    Throughput,
    rate_floor_replicas,
    update_throughput,
)

__all__ = [
    "LimitReason",
    "Observation",
    "Recommendation",
    "ScaleDirection",
    "ScaleReason",
    "ScalingDecision",
    "ScalingState",
    "decide_replicas",
]


class ScaleReason(StrEnum):
    """Why the decision is what it is (CamelCase, for status and Events)."""

    LAG = "Lag"
    """Replicas follow the lag recommendation (up, down, or already right)."""
    ACTIVATED = "Activated"
    """Woken from zero: lag above activationLagThreshold."""
    IDLE = "Idle"
    """At zero and the lag is at or below activationLagThreshold."""
    COOLDOWN_ELAPSED = "CooldownElapsed"
    """Scaled to zero after cooldownSeconds at or below activationLagThreshold."""
    STABILIZING = "ScaleDownStabilizing"
    """A scale-down is held (wholly or in part) by the stabilization window."""
    LAG_UNKNOWN = "LagUnknown"
    """Lag is unknown; the current replicas are kept."""
    FALLBACK = "Fallback"
    """Lag unknown for failureThreshold polls; fallbackReplicas applies (never lowering)."""
    PAUSED = "Paused"
    """spec.paused: replicas frozen."""


class LimitReason(StrEnum):
    """Which cap bound the recommendation (reason of ``ScalingLimited=True``)."""

    MAX_REPLICAS = "MaxReplicas"
    PARTITION_COUNT = "PartitionCount"


class ScaleDirection(StrEnum):
    """Direction of a replica change (metric label)."""

    UP = "up"
    DOWN = "down"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Recommendation:
    """A replica count recommended at a point in time (for the stabilization window)."""

    at: datetime
    replicas: int


@dataclass(frozen=True, slots=True)
class ScalingState:
    """What one poll hands to the next. Start with ``ScalingState()``; keep it per pipeline.

    ``recommendations`` holds, oldest first, only entries that can still be the window's maximum
    (each strictly higher than every later one), so it stays at most maxReplicas + 1 long.
    """

    recommendations: tuple[Recommendation, ...] = ()
    consecutive_unknown_polls: int = 0
    last_active_at: datetime | None = None
    """Last time lag was above activationLagThreshold (cooldown to zero counts from here)."""
    throughput: Throughput = field(default_factory=Throughput)
    """Input rate and per-consumer capacity measured so far (``scaling.throughput``)."""


@dataclass(frozen=True, slots=True)
class Observation:
    """What the handler saw this poll: the Deployment's replicas (spec and ready), the lag, the
    clock, spec.paused. ``ready_replicas`` None: taken to equal ``current_replicas``."""

    current_replicas: int
    lag: LagReading | LagUnknown
    now: datetime
    paused: bool = False
    ready_replicas: int | None = None


@dataclass(frozen=True, slots=True)
class ScalingDecision:
    """The outcome of one poll.

    ``desired_replicas`` is what to run (after partition steps, caps and stabilization);
    ``recommended_replicas`` is ceil(lag / lagThreshold) before any of that (None when lag is
    unknown or paused). ``limited_by``/``limit_message`` feed ``ScalingLimited``.
    """

    desired_replicas: int
    reason: ScaleReason
    message: str
    state: ScalingState
    recommended_replicas: int | None = None
    limited_by: LimitReason | None = None
    limit_message: str = ""
    notes: tuple[str, ...] = field(default=())

    def direction(self, current_replicas: int) -> ScaleDirection:
        """Whether applying this decision to ``current_replicas`` scales up, down or not at all."""
        if self.desired_replicas > current_replicas:
            return ScaleDirection.UP
        if self.desired_replicas < current_replicas:
            return ScaleDirection.DOWN
        return ScaleDirection.NONE


def decide_replicas(spec: ScalingSpec, *, observed: Observation, state: ScalingState) -> ScalingDecision:
    """Return the replicas to run for one pipeline this poll, with the reason and the next state.

    ``observed.current_replicas`` is the Deployment's ``spec.replicas`` (>= 0); times are
    timezone-aware. Never raises for any valid ``spec``; the rules and their sources are in the
    module docstring.
    """
    current = observed.current_replicas
    if observed.paused:
        return ScalingDecision(current, ScaleReason.PAUSED, f"paused: keeping {current} replicas", state)
    if isinstance(observed.lag, LagUnknown):
        return _decide_unknown(spec, observed.lag, current=current, state=state)
    consumers = current if observed.ready_replicas is None else observed.ready_replicas
    return _decide_known(spec, observed.lag, current=current, consumers=consumers, now=observed.now, state=state)


def _decide_unknown(spec: ScalingSpec, lag: LagUnknown, *, current: int, state: ScalingState) -> ScalingDecision:
    failures = state.consecutive_unknown_polls + 1
    next_state = replace(state, consecutive_unknown_polls=failures)
    unknown = f"lag unknown ({lag.message}) for {failures} poll{'s' if failures > 1 else ''}"
    fallback = spec.fallback_replicas
    if fallback is not None and failures >= spec.failure_threshold:
        if fallback > current:
            message = f"{unknown}: fallbackReplicas {fallback}"
        else:
            message = f"{unknown}: keeping {current} replicas (fallbackReplicas {fallback} never lowers)"
        return ScalingDecision(max(current, fallback), ScaleReason.FALLBACK, message, next_state)
    return ScalingDecision(current, ScaleReason.LAG_UNKNOWN, f"{unknown}: keeping {current} replicas", next_state)


def _decide_known(
    spec: ScalingSpec, lag: LagReading, *, current: int, consumers: int, now: datetime, state: ScalingState
) -> ScalingDecision:
    total, partitions, threshold = lag.total_messages, lag.partition_count, spec.lag_threshold
    recommended = math.ceil(total / threshold)
    active = total > spec.activation_lag_threshold
    last_active_at = now if active else (state.last_active_at or now)
    throughput = state.throughput
    if lag.end_offsets_total is not None:
        throughput = update_throughput(
            throughput, OffsetTotals(now, lag.end_offsets_total, total), consumers=consumers, lag_threshold=threshold
        )
    state = replace(state, consecutive_unknown_polls=0, last_active_at=last_active_at, throughput=throughput)
    lag_words = f"lag {total:,} over {current} replicas × {threshold:,}"  # noqa: RUF001 (as in status text)
    rate_floor = rate_floor_replicas(throughput)
    rate_words = ""
    if rate_floor is not None and rate_floor > recommended:
        rate_words = (
            f"; input {throughput.input_rate_per_second or 0:,.0f} msg/s at "
            f"{throughput.capacity_per_consumer_per_second or 0:,.0f} msg/s per consumer "
            f"(+{round((RATE_HEADROOM - 1) * 100)}%) needs {rate_floor}"
        )
        recommended = rate_floor

    if spec.min_replicas == 0 and not active:
        idle_seconds = (now - last_active_at).total_seconds()
        quiet = f"lag {total:,} at or below activationLagThreshold {spec.activation_lag_threshold:,}"
        if current == 0:
            return ScalingDecision(0, ScaleReason.IDLE, f"{quiet}: staying at 0", _record(state, now, 0, spec),
                                   recommended_replicas=recommended)
        if idle_seconds >= spec.cooldown_seconds:
            return ScalingDecision(
                0,
                ScaleReason.COOLDOWN_ELAPSED,
                f"scaled {current} → 0: {quiet} for {idle_seconds:.0f} s (cooldownSeconds {spec.cooldown_seconds})",
                _record(state, now, 0, spec),
                recommended_replicas=recommended,
            )

    notes: list[str] = []
    replicas = recommended
    if spec.even_partition_steps and 1 <= replicas <= partitions:
        stepped = step_up(replicas, partitions)
        if stepped != replicas:
            notes.append(f"{replicas} rounded up to {stepped} (even partition steps of {partitions} partitions)")
            replicas = stepped
    upper = min(spec.max_replicas, partitions)
    limited_by: LimitReason | None = None
    limit_message = ""
    if replicas > upper:
        limited_by, limit_message = _cap(spec, partitions=partitions, wanted=replicas)
        replicas = upper
        if spec.even_partition_steps:
            replicas = step_down(replicas, partitions)
        notes.append(f"capped at {replicas}: {limit_message}")
    floor = max(spec.min_replicas, 1)
    if replicas < floor:
        replicas = floor
        notes.append(f"raised to {'minReplicas ' + str(floor) if spec.min_replicas else 1}")
    if replicas > upper:
        # minReplicas above the partition count: the partition cap wins (idle consumers help no one).
        replicas = upper
        limited_by = LimitReason.PARTITION_COUNT
        limit_message = (
            f"minReplicas {spec.min_replicas} is above the topic's {partitions} partitions; running {upper}"
        )
        notes.append(limit_message)

    state = _record(state, now, replicas, spec, seed=current)
    window_max = max(r.replicas for r in state.recommendations)
    if current < replicas:
        desired = replicas
    elif current > window_max:
        desired = window_max
    else:
        desired = current
    if desired > replicas:
        notes.append(
            f"scale-down held at {desired} by the {spec.scale_down_stabilization_seconds} s stabilization window"
        )
    reason = ScaleReason.LAG
    if current == 0 and desired > 0:
        reason = ScaleReason.ACTIVATED
        notes.insert(0, f"lag above activationLagThreshold {spec.activation_lag_threshold:,}")
    elif desired > replicas:
        reason = ScaleReason.STABILIZING
    verb = f"scaled {current} → {desired}" if desired != current else f"keeping {desired}"
    message = f"{verb}: {lag_words} wants {math.ceil(total / threshold)}{rate_words}" + "".join(
        f"; {n}" for n in notes
    )
    return ScalingDecision(
        desired,
        reason,
        message,
        state,
        recommended_replicas=recommended,
        limited_by=limited_by,
        limit_message=limit_message,
        notes=tuple(notes),
    )


def _cap(spec: ScalingSpec, *, partitions: int, wanted: int) -> tuple[LimitReason, str]:
    if partitions < spec.max_replicas:
        return LimitReason.PARTITION_COUNT, f"{wanted} wanted, the topic has {partitions} partitions"
    return LimitReason.MAX_REPLICAS, f"{wanted} wanted, maxReplicas is {spec.max_replicas}"


def _record(
    state: ScalingState, now: datetime, replicas: int, spec: ScalingSpec, *, seed: int | None = None
) -> ScalingState:
    """Add a recommendation, drop those that left the window or can no longer be its maximum."""
    history = list(state.recommendations)
    if not history and seed is not None:
        # No history (first poll after an operator start): what runs now counts as recommended now.
        history.append(Recommendation(now, seed))
    horizon = now - timedelta(seconds=spec.scale_down_stabilization_seconds)
    history = [r for r in history if r.at > horizon and r.replicas > replicas]
    history.append(Recommendation(now, replicas))
    return replace(state, recommendations=tuple(history))
