"""Scaling part of the DetectionPipeline API: `spec.scaling` and `status.lag`.

Layer: models. Owned by autoscaling; imported by `api.pipeline`. The pure decision that uses these
values lives in `detection_operator.scaling`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import ConfigDict, Field, model_validator

from detection_operator.api.base import ApiModel, cel_rule, cel_rules


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
        description="Fewest scorer replicas. 0 allows scaling to zero when the input topic is idle.",
    )
    max_replicas: int = Field(
        default=10,
        ge=1,
        le=1000,
        description="Most scorer replicas. The operator never runs more replicas than the input "
        "topic has partitions, whatever this says.",
    )
    lag_threshold: int = Field(
        default=1000,
        ge=1,
        description="Target consumer-group lag per replica, in messages: desired replicas = "
        "ceil(total lag / lagThreshold).",
    )
    activation_lag_threshold: int = Field(
        default=0,
        ge=0,
        description="Lag, in messages, above which a pipeline at zero replicas is woken up "
        "(and at or below which it may go back to zero).",
    )
    polling_interval_seconds: int = Field(
        default=15, ge=1, le=3600, description="Seconds between two lag readings."
    )
    scale_down_stabilization_seconds: int = Field(
        default=300,
        ge=0,
        le=86400,
        description="Window, in seconds, over which scale-down follows the highest recommendation "
        "seen; scale-up is immediate.",
    )
    cooldown_seconds: int = Field(
        default=300,
        ge=0,
        le=86400,
        description="Seconds the lag must stay at or below activationLagThreshold before scaling to zero.",
    )
    fallback_replicas: int | None = Field(
        default=None,
        ge=0,
        le=1000,
        description="Replicas to run once lag has been unknown for failureThreshold polls in a row; "
        "unset keeps the current replicas.",
    )
    failure_threshold: int = Field(
        default=3,
        ge=1,
        le=100,
        description="Consecutive failed lag readings before fallbackReplicas applies.",
    )
    source: LagSource = Field(
        default=LagSource.PROMETHEUS,
        description="Where lag is read: prometheus (kafka_exporter metrics) or kafka (admin API). "
        "prometheus falls back to kafka when Prometheus cannot answer.",
    )

    @model_validator(mode="after")
    def _min_not_above_max(self) -> ScalingSpec:
        # Mirrors the CEL rule above so Python callers get the same refusal as the apiserver.
        if self.min_replicas > self.max_replicas:
            raise ValueError("minReplicas must be less than or equal to maxReplicas")
        if self.fallback_replicas is not None and self.fallback_replicas > self.max_replicas:
            raise ValueError("fallbackReplicas must be less than or equal to maxReplicas")
        return self


class LagStatus(ApiModel):
    """Last lag reading of the pipeline's consumer group on its input topic."""

    total_messages: int | None = Field(
        default=None, ge=0, description="Sum over partitions of the lag, in messages; unset when unknown."
    )
    partitions: int | None = Field(
        default=None, ge=0, description="Number of partitions of the input topic."
    )
    source: LagSource | None = Field(default=None, description="Which source produced the reading.")
    observed_at: datetime | None = Field(default=None, description="When the reading was taken (RFC 3339).")
