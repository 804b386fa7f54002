"""Scorer settings, parsed once at start-up from the environment (prefix ``SCORER_``).

The names are the operator <-> scorer contract: the operator renders exactly these variables
into the scorer's Deployment, so renaming one is a breaking change for both sides.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

SHA256_PATTERN = r"^[0-9a-f]{64}$"


class OffsetResetPolicy(StrEnum):
    """Where a consumer group starts on a partition with no committed offset (Kafka's auto.offset.reset)."""

    LATEST = "latest"
    EARLIEST = "earliest"


class LogFormat(StrEnum):
    """Log line format: one JSON object per line (containers) or human text (a terminal)."""

    JSON = "json"
    TEXT = "text"


class VerdictThresholds(BaseModel):
    """Score cut-offs for verdicts: ``score >= malicious`` is malicious, ``>= suspicious`` suspicious.

    Both are probabilities in [0, 1] and ``suspicious <= malicious``.
    """

    suspicious: float = Field(default=0.5, ge=0.0, le=1.0, description="Lowest score that is suspicious.")
    malicious: float = Field(default=0.85, ge=0.0, le=1.0, description="Lowest score that is malicious.")

    @model_validator(mode="after")
    def _ordered(self) -> VerdictThresholds:
        if self.suspicious > self.malicious:
            raise ValueError(
                f"SCORER_VERDICT_THRESHOLDS: suspicious={self.suspicious} must not exceed "
                f"malicious={self.malicious}; e.g. 'suspicious=0.5,malicious=0.85'"
            )
        return self

    @classmethod
    def parse(cls, text: str) -> VerdictThresholds:
        """Parse ``"suspicious=0.5,malicious=0.85"`` (either key may be left out to keep its default).

        Raises ValueError naming the variable and the expected form on an unknown key or a bad number.
        """
        values: dict[str, float] = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            key, sep, raw = item.partition("=")
            key = key.strip()
            if not sep or key not in cls.model_fields:
                raise ValueError(
                    f"SCORER_VERDICT_THRESHOLDS: cannot read {item!r}; expected 'suspicious=<0..1>,malicious=<0..1>'"
                )
            try:
                values[key] = float(raw)
            except ValueError:
                raise ValueError(f"SCORER_VERDICT_THRESHOLDS: {key}={raw!r} is not a number") from None
        return cls(**values)


class ScorerSettings(BaseSettings):
    """Everything the scorer reads from its environment; defaults are safe in production."""

    model_config = SettingsConfigDict(env_prefix="SCORER_", extra="ignore", populate_by_name=True)

    bootstrap_servers: str = Field(default="localhost:9092", description="Kafka bootstrap servers, host:port[,...].")
    input_topic: str = Field(default="mail.inbound", description="Topic of email events to score.")
    output_topic: str = Field(default="mail.scores", description="Topic of score records (key = message id).")
    dead_letter_topic: str = Field(default="", description="Topic of undecodable/failed records; '' = <output>.dlq.")
    consumer_group: str = Field(default="scorefleet", description="Kafka consumer group id, one per pipeline.")
    offset_reset_policy: OffsetResetPolicy = Field(
        default=OffsetResetPolicy.LATEST, description="Start of a partition with no committed offset."
    )

    model_name: str = Field(default="", description="Model name, copied into every score record.")
    model_version: str = Field(default="", description="Model version, copied into every score record.")
    model_uri: str = Field(default="", description="Artifact location: file://, http:// or https://.")
    model_sha256: str = Field(default="", description="Expected sha256 (64 lowercase hex) of the artifact.")
    model_cache_dir: Path = Field(
        default=Path("/var/cache/scorefleet/models"), description="Where fetched artifacts are kept."
    )

    batch_max_messages: int = Field(default=500, ge=1, le=100_000, description="Most records scored at once.")
    batch_max_wait_ms: int = Field(default=20, ge=0, le=60_000, description="Longest wait to fill a batch.")
    batch_max_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        le=1 << 30,
        description="Most record bytes scored at once (estimated from the previous batch's mean record size): "
        "bounds a batch of ~20 KB raw mails as batch_max_messages bounds one of ~1 KB JSON events.",
    )

    http_host: str = Field(default="0.0.0.0", description="Bind address of /metrics /healthz /readyz.")
    http_port: int = Field(default=9102, ge=0, le=65535, description="Port of /metrics /healthz /readyz.")

    kafka_credentials_dir: Path | None = Field(
        default=None, description="Directory of librdkafka keys as files (mounted Secret); optional."
    )
    per_record_delay_ms: int = Field(default=0, ge=0, description="Test knob: extra time per record (slow scorer).")
    log_format: LogFormat = Field(default=LogFormat.JSON, description="json (containers) or text (terminal).")
    verdict_thresholds: Annotated[VerdictThresholds, NoDecode] = Field(
        default_factory=VerdictThresholds, description="e.g. 'suspicious=0.5,malicious=0.85'."
    )

    shutdown_timeout_seconds: float = Field(
        default=20.0, gt=0, description="Budget after SIGTERM to flush and commit; below the pod's grace period."
    )
    max_in_flight_messages: int = Field(
        default=20_000, ge=1, description="Produced but unacknowledged records before fetching pauses."
    )
    termination_log_path: Path = Field(
        default=Path("/dev/termination-log"), description="Where the reason of a failed exit is written."
    )

    pod_name: str = Field(default="", validation_alias=AliasChoices("POD_NAME"), description="Downward API pod name.")
    pod_namespace: str = Field(
        default="", validation_alias=AliasChoices("POD_NAMESPACE"), description="Downward API pod namespace."
    )

    @field_validator("verdict_thresholds", mode="before")
    @classmethod
    def _parse_thresholds(cls, value: object) -> object:
        return VerdictThresholds.parse(value) if isinstance(value, str) else value

    @field_validator("model_sha256")
    @classmethod
    def _sha256_format(cls, value: str) -> str:
        value = value.strip().lower()
        if value and not re.match(SHA256_PATTERN, value):
            raise ValueError("SCORER_MODEL_SHA256 must be 64 hexadecimal characters (sha256sum of the artifact)")
        return value

    @property
    def dead_letter_topic_name(self) -> str:
        """The dead-letter topic: the configured one, else ``<output_topic>.dlq`` as in the pipeline's default."""
        return self.dead_letter_topic or f"{self.output_topic}.dlq"

    def missing_for_serving(self) -> list[str]:
        """Environment variables that serving needs but are empty (model identity and artifact)."""
        required = {
            "SCORER_MODEL_NAME": self.model_name,
            "SCORER_MODEL_VERSION": self.model_version,
            "SCORER_MODEL_URI": self.model_uri,
            "SCORER_MODEL_SHA256": self.model_sha256,
        }
        return [name for name, value in required.items() if not value]
