"""Operator settings: parsed once at start-up from the environment into typed groups.

Layer: shell (entry point). `main` builds `OperatorSettings()` and passes the groups explicitly to
the handlers (through kopf's memo) and to kopf's own settings; nothing reads the environment later.
Environment names are ``SCOREFLEET_OPERATOR_<FIELD>``, nested groups with ``__``, e.g.
``SCOREFLEET_OPERATOR_WATCH__CLIENT_TIMEOUT_SECONDS=330``.
"""

from __future__ import annotations

import fnmatch
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_SCORER_IMAGE = "ghcr.io/scorefleet/scorefleet-scorer:0.1.0"


class LogFormat(StrEnum):
    """Log line format: JSON for containers (one object per line), text for a terminal."""

    JSON = "json"
    TEXT = "text"


class ScorerDefaults(BaseModel):
    """Values used for scorer pods where a pipeline's spec leaves them unset."""

    image: str = Field(default=DEFAULT_SCORER_IMAGE, description="Scorer image when spec.scorer.image is unset.")
    log_format: LogFormat = Field(default=LogFormat.JSON, description="SCORER_LOG_FORMAT given to every scorer.")


class WatchSettings(BaseModel):
    """Kubernetes watch streams (kopf `settings.watching`) and the periodic resync.

    The apiserver ends every stream after `server_timeout_seconds` and kopf re-opens it from the
    last resourceVersion; `client_timeout_seconds` ends a stream that went silent (a dead TCP
    connection) so it is re-established instead of silencing the operator. Independently, every
    `resync_interval_seconds` each known pipeline is reconciled again (an informer's resync: the
    safety net for anything a watch missed).
    """

    resync_interval_seconds: float = Field(
        default=300, gt=0, description="Seconds between two reconciles of every known pipeline."
    )
    server_timeout_seconds: int = Field(
        default=300, ge=1, description="timeoutSeconds asked of the apiserver for each watch request."
    )
    client_timeout_seconds: float = Field(
        default=360.0, gt=0, description="Seconds after which the client abandons a watch request."
    )
    connect_timeout_seconds: float = Field(default=30.0, gt=0, description="TCP/TLS connect timeout.")
    reconnect_backoff_seconds: float = Field(default=1.0, ge=0, description="Pause before re-opening a stream.")


class ReconcileSettings(BaseModel):
    """The reconcile work queue."""

    workers: int = Field(default=16, ge=1, le=128, description="Pipelines reconciled concurrently.")
    max_concurrent_requests: int = Field(
        default=32, ge=1, le=256, description="Kubernetes API requests in flight at once (thread pool size)."
    )
    retry_initial_seconds: float = Field(default=1.0, gt=0, description="First retry delay after a failure.")
    retry_max_seconds: float = Field(default=120.0, gt=0, description="Cap of the exponential retry delay.")


class PeeringSettings(BaseModel):
    """High availability: kopf peering, so only one operator replica acts at a time.

    Replicas with the highest priority act; the others pause. Each replica picks a random priority
    unless one is given (equal priorities make kopf pause everyone). With `mandatory` false and no
    peering CRDs installed, kopf falls back to standalone (single-replica) mode.
    """

    name: str = Field(default="scorefleet", description="Name of the (Cluster)KopfPeering object.")
    priority: int | None = Field(default=None, description="This replica's priority; random when unset.")
    mandatory: bool = Field(default=False, description="Refuse to run without the peering CRDs.")
    standalone: bool = Field(default=False, description="Disable peering (exactly one replica).")


class ObservabilitySettings(BaseModel):
    """Logging, metrics and health endpoints."""

    log_format: LogFormat = Field(default=LogFormat.JSON, description="Operator log format.")
    log_level: str = Field(default="INFO", description="Root log level name (DEBUG, INFO, WARNING, ...).")
    metrics_host: str = Field(default="0.0.0.0", description="Bind address of /metrics.")
    metrics_port: int = Field(default=9103, ge=0, le=65535, description="Port of /metrics; 0 disables it.")
    liveness_host: str = Field(default="0.0.0.0", description="Bind address of kopf's liveness endpoint.")
    liveness_port: int = Field(default=8080, ge=0, le=65535, description="Port of /healthz; 0 disables it.")


class OperatorSettings(BaseSettings):
    """Everything the operator is configured with."""

    model_config = SettingsConfigDict(
        env_prefix="SCOREFLEET_OPERATOR_", env_nested_delimiter="__", extra="ignore", frozen=True
    )

    namespaces: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Namespaces to watch; empty = all. In the environment: space-separated kopf patterns, "
        "each a name or globs with exclusions, e.g. `team-a team-b` or `*,!kube-*,!opit-*`.",
    )
    scorer: ScorerDefaults = Field(default_factory=ScorerDefaults, description="Scorer defaults.")
    watch: WatchSettings = Field(default_factory=WatchSettings, description="Watch streams and resync.")
    reconcile: ReconcileSettings = Field(default_factory=ReconcileSettings, description="Work queue.")
    peering: PeeringSettings = Field(default_factory=PeeringSettings, description="HA peering.")
    observability: ObservabilitySettings = Field(
        default_factory=ObservabilitySettings, description="Logs, metrics, liveness."
    )

    @field_validator("namespaces", mode="before")
    @classmethod
    def _split_namespaces(cls, value: Any) -> Any:
        if isinstance(value, str):
            return value.split()
        return value

    @property
    def clusterwide(self) -> bool:
        """True when every namespace is watched."""
        return not self.namespaces

    @property
    def exact_namespaces(self) -> list[str] | None:
        """The namespaces when all are plain names (no globs), else None."""
        if any(set(pattern) & set("*?!,") for pattern in self.namespaces) or not self.namespaces:
            return None
        return list(self.namespaces)


def namespace_selected(name: str, patterns: list[str]) -> bool:
    """True when namespace `name` is selected by kopf-style `patterns` (empty = all).

    Same rules as kopf: a pattern is comma-separated globs; `!glob` excludes; a leading exclusion
    implies a preceding `*`; a later inclusive glob only re-admits what the first one matched.
    A namespace is selected when any pattern matches it.
    """
    if not patterns:
        return True
    for pattern in patterns:
        globs = [glob.strip() for glob in pattern.split(",")]
        if not globs or globs[0].startswith("!"):
            globs.insert(0, "*")
        matches = first = fnmatch.fnmatch(name, globs[0])
        for glob in globs[1:]:
            if glob.startswith("!"):
                matches = matches and not fnmatch.fnmatch(name, glob[1:])
            else:
                matches = matches or (first and fnmatch.fnmatch(name, glob))
        if matches:
            return True
    return False
