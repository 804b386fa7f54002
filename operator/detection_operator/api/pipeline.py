"""The DetectionPipeline resource (scorefleet.io/v1alpha1): spec and status models.

Layer: models (bottom). These classes are the API: `detection_operator.crdgen` turns them into
the CRD's openAPIV3Schema, and the reconcile validates every object's spec through them.
Rules that Kubernetes enforces as CEL are mirrored by Python validators so both refuse the
same objects with the same words.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from detection_operator.api.base import ApiModel, cel_rule, cel_rules
from detection_operator.api.conditions import Condition
from detection_operator.api.scaling import LagStatus, ScalingSpec

GROUP = "scorefleet.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "DetectionPipeline"
PLURAL = "detectionpipelines"
SINGULAR = "detectionpipeline"
SHORT_NAMES = ("dp",)

#: Kafka's own rule for topic names (kafka.common.internals.Topic): 1-249 of [a-zA-Z0-9._-], not "." or "..".
TOPIC_NAME_PATTERN = r"^[a-zA-Z0-9._-]+$"
TOPIC_NAME_MAX_LENGTH = 249
SHA256_PATTERN = r"^[0-9a-f]{64}$"
MODEL_URI_SCHEMES = ("file://", "http://", "https://")


def _check_topic_name(value: str) -> str:
    if not re.match(TOPIC_NAME_PATTERN, value) or value in (".", ".."):
        raise ValueError(
            f"{value!r} is not a valid Kafka topic name: use 1-249 of a-z A-Z 0-9 . _ -, not '.' or '..'"
        )
    return value


def _check_sha256(value: str) -> str:
    if not re.match(SHA256_PATTERN, value):
        raise ValueError("sha256 must be 64 lowercase hexadecimal characters (the artifact's SHA-256 digest)")
    return value


def _check_model_uri(value: str) -> str:
    if not value.startswith(MODEL_URI_SCHEMES):
        raise ValueError("uri must start with file://, http:// or https://")
    return value


KafkaTopicName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=TOPIC_NAME_MAX_LENGTH,
        json_schema_extra=cel_rules(
            cel_rule(
                f"self.matches('{TOPIC_NAME_PATTERN}') && self != '.' && self != '..'",
                message="must be a valid Kafka topic name: 1-249 of a-z A-Z 0-9 . _ -, not '.' or '..'",
            )
        ),
    ),
    AfterValidator(_check_topic_name),
]

Sha256Digest = Annotated[
    str,
    Field(
        max_length=64,
        json_schema_extra=cel_rules(
            cel_rule(
                f"self.matches('{SHA256_PATTERN}')",
                message="sha256 must be 64 lowercase hexadecimal characters (the artifact's SHA-256 digest)",
            )
        ),
    ),
    AfterValidator(_check_sha256),
]

ModelUri = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2048,
        json_schema_extra=cel_rules(
            cel_rule(
                " || ".join(f"self.startsWith('{scheme}')" for scheme in MODEL_URI_SCHEMES),
                message="uri must start with file://, http:// or https://",
            )
        ),
    ),
    AfterValidator(_check_model_uri),
]

#: Kubernetes' resource.Quantity syntax (as controller-gen emits it for quantity fields).
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
#: A resource quantity as Kubernetes accepts it: an integer or a string such as "500m" or "512Mi".
Quantity = int | Annotated[str, Field(max_length=64, pattern=QUANTITY_PATTERN)]


class OffsetResetPolicy(StrEnum):
    """Where a consumer group without a committed offset starts (Kafka auto.offset.reset)."""

    LATEST = "latest"
    EARLIEST = "earliest"


class RolloutStrategy(StrEnum):
    """How a new model version reaches production."""

    ROLLING_UPDATE = "RollingUpdate"


class PipelinePhase(StrEnum):
    """Summary of the pipeline's state for humans (`kubectl get dp`); conditions carry the detail."""

    PENDING = "Pending"
    PROGRESSING = "Progressing"
    READY = "Ready"
    SCALED_TO_ZERO = "ScaledToZero"
    DEGRADED = "Degraded"


class SecretReference(ApiModel):
    """Reference to a Secret in the pipeline's namespace."""

    name: str = Field(min_length=1, max_length=253, description="Name of the Secret.")


class KafkaSpec(ApiModel):
    """Where the scorers read from and write to."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            cel_rule(
                "self.outputTopic != self.inputTopic",
                message="outputTopic must differ from inputTopic (the scorers would score their own output)",
                field_path=".outputTopic",
            ),
            cel_rule(
                "!has(self.deadLetterTopic) || self.deadLetterTopic != self.inputTopic",
                message="deadLetterTopic must differ from inputTopic",
                field_path=".deadLetterTopic",
            ),
        )
    )

    bootstrap_servers: str = Field(
        min_length=1,
        max_length=2048,
        description="Comma-separated host:port list of Kafka brokers, e.g. kafka:9092.",
    )
    input_topic: KafkaTopicName = Field(description="Topic of messages to score.")
    output_topic: KafkaTopicName = Field(description="Topic the score records are written to, keyed by message id.")
    dead_letter_topic: KafkaTopicName | None = Field(
        default=None,
        description="Topic for messages that could not be decoded or scored, with the reason. "
        "Default: <outputTopic>.dlq.",
    )
    consumer_group: str | None = Field(
        default=None,
        min_length=1,
        max_length=249,
        description="Kafka consumer group of the scorers. Default: scorefleet.<namespace>.<name>.",
    )
    offset_reset_policy: OffsetResetPolicy = Field(
        default=OffsetResetPolicy.LATEST,
        description="Where a consumer group with no committed offset starts: latest or earliest.",
    )
    credentials_secret_ref: SecretReference | None = Field(
        default=None,
        description="Secret whose keys are librdkafka settings (security.protocol, sasl.mechanism, "
        "sasl.username, sasl.password, ssl.ca.location, ...); mounted into the scorers, never put in the spec.",
    )

    @model_validator(mode="after")
    def _topics_distinct(self) -> KafkaSpec:
        if self.output_topic == self.input_topic:
            raise ValueError("outputTopic must differ from inputTopic (the scorers would score their own output)")
        if self.dead_letter_topic is not None and self.dead_letter_topic == self.input_topic:
            raise ValueError("deadLetterTopic must differ from inputTopic")
        return self


class ModelSpec(ApiModel):
    """The model artifact the scorers load."""

    name: str = Field(
        min_length=1,
        max_length=63,
        pattern=r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$",
        description="Model name, e.g. phishing-linear (a label value: 63 characters at most).",
    )
    version: str = Field(
        min_length=1,
        max_length=63,
        pattern=r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$",
        description="Model version, e.g. 2026.11.1; changing it rolls the scorers out.",
    )
    uri: ModelUri = Field(description="Where the artifact is fetched from: file://, http:// or https://.")
    sha256: Sha256Digest = Field(
        description="SHA-256 digest of the artifact, 64 lowercase hex characters; the scorer refuses "
        "an artifact that does not match."
    )


class ResourceRequirements(ApiModel):
    """Compute resources of the scorer container, as in a Pod spec."""

    requests: dict[str, Quantity] | None = Field(
        default=None, description="Minimum resources, e.g. {cpu: 500m, memory: 512Mi}."
    )
    limits: dict[str, Quantity] | None = Field(default=None, description="Maximum resources, e.g. {memory: 1Gi}.")


class EnvVar(ApiModel):
    """An extra environment variable for the scorer container."""

    name: str = Field(min_length=1, max_length=256, description="Variable name, e.g. SCORER_LOG_FORMAT.")
    value: str = Field(default="", max_length=4096, description="Variable value.")


class ScorerSpec(ApiModel):
    """The scorer pods."""

    image: str | None = Field(
        default=None,
        min_length=1,
        max_length=512,
        description="Scorer container image. Default: the operator's configured scorer image.",
    )
    resources: ResourceRequirements = Field(
        default_factory=ResourceRequirements,
        json_schema_extra={"default": {}},
        description="Requests and limits of the scorer container.",
    )
    batch_max_messages: int = Field(
        default=500, ge=1, le=100_000, description="Most messages scored in one model call."
    )
    batch_max_wait_ms: int = Field(
        default=20, ge=0, le=60_000, description="Longest wait, in milliseconds, to fill a batch."
    )
    termination_grace_period_seconds: int = Field(
        default=60,
        ge=5,
        le=3600,
        description="Seconds a scorer gets after SIGTERM to finish its batch, flush and commit offsets.",
    )
    env: list[EnvVar] = Field(
        default_factory=list,
        max_length=64,
        description="Extra environment variables for the scorer container (e.g. SCORER_VERDICT_THRESHOLDS).",
    )


class RolloutSpec(ApiModel):
    """How model changes are rolled out."""

    strategy: RolloutStrategy = Field(
        default=RolloutStrategy.ROLLING_UPDATE,
        description="RollingUpdate replaces scorers one by one without dropping capacity.",
    )


class DetectionPipelineSpec(ApiModel):
    """Desired state of a scoring pipeline: Kafka topics, model, scorers, scaling, rollout."""

    kafka: KafkaSpec = Field(description="Kafka connection and topics.")
    model: ModelSpec = Field(description="The model artifact to serve.")
    scorer: ScorerSpec = Field(
        default_factory=ScorerSpec,
        json_schema_extra={"default": {}},
        description="Scorer pod settings.",
    )
    scaling: ScalingSpec = Field(
        default_factory=ScalingSpec,
        json_schema_extra={"default": {}},
        description="Lag-based autoscaling of the scorers.",
    )
    rollout: RolloutSpec = Field(
        default_factory=RolloutSpec,
        json_schema_extra={"default": {}},
        description="Rollout of model changes.",
    )
    paused: bool = Field(
        default=False,
        description="Stop scaling and rollout decisions and keep what runs (the Deployment is paused).",
    )


class ModelStatus(ApiModel):
    """The model actually serving: set once every scorer runs it."""

    name: str = Field(max_length=63, description="Model name.")
    version: str = Field(max_length=63, description="Model version.")
    sha256: str = Field(max_length=64, description="Artifact digest.")


class DetectionPipelineStatus(ApiModel):
    """Observed state of the pipeline."""

    observed_generation: int | None = Field(
        default=None, ge=0, description="metadata.generation this status was computed from."
    )
    phase: PipelinePhase | None = Field(default=None, description="Summary: Pending, Progressing, Ready, "
                                        "ScaledToZero or Degraded.")
    replicas: int | None = Field(default=None, ge=0, description="Scorer pods that exist.")
    ready_replicas: int | None = Field(default=None, ge=0, description="Scorer pods that are ready.")
    desired_replicas: int | None = Field(default=None, ge=0, description="Replicas the scaling decision asks for.")
    lag: LagStatus | None = Field(default=None, description="Last consumer-group lag reading.")
    model: ModelStatus | None = Field(default=None, description="The model actually serving.")
    last_scale_time: datetime | None = Field(default=None, description="When replicas were last changed.")
    last_scale_reason: str | None = Field(
        default=None, max_length=1024, description="Why replicas were last changed."
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
        description="Ready, Progressing, Degraded (reconcile) and LagSourceHealthy, ScalingLimited (autoscaler).",
    )
