"""Scaling part of the DetectionPipeline API: ``spec.scaling`` and ``status.lag``.

Layer: models. Owned by autoscaling; imported by ``api.pipeline`` (the CRD's openAPIV3Schema is
generated from these models, so they stay structural: no unions other than ``Optional``, no
free-form maps). The autoscale handler validates ``spec.scaling`` into :class:`ScalingSpec`; the
pure decision that uses these values lives in ``detection_operator.scaling``.

Semantics follow KEDA's Kafka scaler where KEDA has the same knob (``lagThreshold``,
``activationLagThreshold``, ``pollingInterval``, ``cooldownPeriod``, ``fallback``) and the HPA's
``behavior.scaleDown.stabilizationWindowSeconds`` for the scale-down window.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import ConfigDict, Field, model_validator

from detection_operator.api.base import ApiModel, cel_rule, cel_rules

__all__ = [
    "DEFAULT_LAG_QUERY",
    "DEFAULT_PARTITION_COUNT_QUERY",
    "MAX_PARTITIONS_IN_STATUS",
    "LagSource",
    "LagStatus",
    "PartitionLagStatus",
    "ScalingSpec",
]

#: PromQL for per-partition lag; ``$consumer_group`` and ``$topic`` are substituted, escaped for a
#: PromQL double-quoted string. Metric and label names as served by kafka_exporter.
DEFAULT_LAG_QUERY = 'kafka_consumergroup_lag{consumergroup="$consumer_group", topic="$topic"}'
#: PromQL for the input topic's partition count (kafka_exporter's ``kafka_topic_partitions``).
DEFAULT_PARTITION_COUNT_QUERY = 'kafka_topic_partitions{topic="$topic"}'
#: ``status.lag.perPartition`` lists at most this many partitions (those with the most lag), so a
#: 1,000-partition topic cannot blow up the object's size.
MAX_PARTITIONS_IN_STATUS = 32


class LagSource(StrEnum):
    """Where consumer-group lag is read from."""

    PROMETHEUS = "prometheus"
    KAFKA = "kafka"


class ScalingSpec(ApiModel):
    """How the scorer fleet follows Kafka lag (KEDA Kafka-scaler semantics)."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            cel_rule(
                "self.minReplicas <= self.maxReplicas",
                message="minReplicas must be less than or equal to maxReplicas",
                field_path=".minReplicas",
            ),
            cel_rule(
                "!has(self.fallbackReplicas) || self.fallbackReplicas <= self.maxReplicas",
                message="fallbackReplicas must be less than or equal to maxReplicas",
                field_path=".fallbackReplicas",
            ),
        )
    )

    min_replicas: int = Field(
        default=1,
        ge=0,
        le=1000,
        description="Fewest scorer replicas. 0 allows scaling to zero when the input topic is idle "
        "(lag at or below activationLagThreshold for cooldownSeconds).",
    )
    max_replicas: int = Field(
        default=10,
        ge=1,
        le=1000,
        description="Most scorer replicas. The operator never runs more replicas than the input "
        "topic has partitions, whatever this says: extra consumers would sit idle.",
    )
    lag_threshold: int = Field(
        default=1000,
        ge=1,
        description="Target consumer-group lag per replica, in messages: desired replicas = "
        "ceil(total lag / lagThreshold), as KEDA's Kafka scaler lagThreshold.",
    )
    activation_lag_threshold: int = Field(
        default=0,
        ge=0,
        description="Lag, in messages, above which a pipeline at zero replicas is woken up "
        "(and at or below which it may go back to zero after cooldownSeconds). Only matters with "
        "minReplicas 0 (KEDA's activationLagThreshold).",
    )
    polling_interval_seconds: int = Field(
        default=15, ge=1, le=3600, description="Seconds between two lag readings (and scaling decisions)."
    )
    scale_down_stabilization_seconds: int = Field(
        default=300,
        ge=0,
        le=86400,
        description="Window, in seconds, over which scale-down follows the highest recommendation "
        "seen; scale-up is immediate (the HPA's scaleDown stabilizationWindowSeconds).",
    )
    cooldown_seconds: int = Field(
        default=300,
        ge=0,
        le=86400,
        description="Seconds the lag must stay at or below activationLagThreshold before scaling to "
        "zero (KEDA's cooldownPeriod).",
    )
    fallback_replicas: int | None = Field(
        default=None,
        ge=0,
        le=1000,
        description="Replicas to run once lag has been unknown for failureThreshold polls in a row; "
        "never lowers the current replicas because of missing data. Unset keeps the current replicas.",
    )
    failure_threshold: int = Field(
        default=3,
        ge=1,
        le=100,
        description="Consecutive unknown lag readings (source error, empty, NaN, stale or partial "
        "answer) before fallbackReplicas applies.",
    )
    even_partition_steps: bool = Field(
        default=True,
        description="Run only replica counts that lower the partitions owned by the busiest consumer, "
        "ceil(partitions / replicas), rounding a recommendation up to the next such count (48 "
        "partitions: 13 becomes 16, as 13 consumers still leave one owning 4 partitions). "
        "false runs the recommendation as is.",
    )
    source: LagSource = Field(
        default=LagSource.PROMETHEUS,
        description="Where lag is read: prometheus (kafka_exporter metrics) or kafka (admin API). "
        "prometheus falls back to kafka when Prometheus cannot answer.",
    )
    lag_query: str | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        description="PromQL override for per-partition lag: one series per partition with a "
        "'partition' label, value -1 meaning no committed offset; $consumer_group and $topic are "
        "substituted. Default: " + DEFAULT_LAG_QUERY,
    )
    partition_count_query: str | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        description="PromQL override for the input topic's partition count (one series); $topic and "
        "$consumer_group are substituted. Default: " + DEFAULT_PARTITION_COUNT_QUERY,
    )

    @model_validator(mode="after")
    def _min_not_above_max(self) -> ScalingSpec:
        # Mirrors the CEL rules above so Python callers get the same refusal as the apiserver.
        if self.min_replicas > self.max_replicas:
            raise ValueError("minReplicas must be less than or equal to maxReplicas")
        if self.fallback_replicas is not None and self.fallback_replicas > self.max_replicas:
            raise ValueError("fallbackReplicas must be less than or equal to maxReplicas")
        return self


class PartitionLagStatus(ApiModel):
    """One partition's lag in status.lag.perPartition."""

    partition: int = Field(ge=0, description="Partition number of the input topic.")
    lag_messages: int = Field(ge=0, description="Messages of this partition not yet committed by the group.")


class LagStatus(ApiModel):
    """Last lag reading of the pipeline's consumer group on its input topic."""

    total_messages: int | None = Field(
        default=None, ge=0, description="Sum over partitions of the lag, in messages; unset when unknown."
    )
    partitions: int | None = Field(
        default=None, ge=0, description="Number of partitions of the input topic."
    )
    per_partition: list[PartitionLagStatus] | None = Field(
        default=None,
        max_length=MAX_PARTITIONS_IN_STATUS,
        description=f"Lag of at most {MAX_PARTITIONS_IN_STATUS} partitions, those with the most lag "
        "first.",
    )
    source: LagSource | None = Field(default=None, description="Which source produced the reading.")
    observed_at: datetime | None = Field(default=None, description="When the reading was taken (RFC 3339).")
