"""Operator metrics (prefix `scorefleet_operator_`), on a registry owned by the running operator.

Layer: shell. `main` creates one `OperatorMetrics` and serves its registry on the metrics port;
handlers receive it explicitly. Label values are bounded (results, kinds, actions), never names.
"""

from __future__ import annotations

from enum import StrEnum

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class ReconcileResult(StrEnum):
    """Outcome label of `scorefleet_operator_reconciles_total`."""

    SUCCESS = "success"
    INVALID = "invalid"
    ERROR = "error"


class ResyncOutcome(StrEnum):
    """Outcome label of `scorefleet_operator_resyncs_total`."""

    DONE = "done"
    SKIPPED = "skipped"  # another replica leads (kopf peering)


class ChildAction(StrEnum):
    """What an apply did to a child object."""

    CREATED = "created"
    UPDATED = "updated"


class OperatorMetrics:
    """The operator's Prometheus metrics on their own `registry`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.reconciles = Counter(
            "scorefleet_operator_reconciles",
            "Pipeline reconciles, by result (success, invalid spec, error).",
            ["result"],
            registry=self.registry,
        )
        self.reconcile_duration = Histogram(
            "scorefleet_operator_reconcile_duration_seconds",
            "Wall time of one pipeline reconcile, in seconds.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            registry=self.registry,
        )
        self.pipelines = Gauge(
            "scorefleet_operator_pipelines_managed",
            "DetectionPipelines this operator currently manages.",
            registry=self.registry,
        )
        self.child_changes = Counter(
            "scorefleet_operator_child_changes",
            "Child objects created or changed by a reconcile (drift repairs included), by kind and action.",
            ["kind", "action"],
            registry=self.registry,
        )
        self.watch_events = Counter(
            "scorefleet_operator_watch_events",
            "Watch events received, by kind and type (LISTED = re-delivered by a re-list, i.e. a resync).",
            ["kind", "type"],
            registry=self.registry,
        )
        self.resyncs = Counter(
            "scorefleet_operator_resyncs",
            "Periodic resyncs, by outcome (done, or skipped while another replica leads).",
            ["outcome"],
            registry=self.registry,
        )
        self.pipeline_condition = Gauge(
            "scorefleet_operator_pipeline_condition",
            "1 while a pipeline's condition (Ready, Progressing, Degraded) is True, else 0; "
            "the series go when the pipeline does.",
            ["namespace", "pipeline", "type"],
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "scorefleet_operator_reconcile_queue_depth",
            "Pipelines waiting to be reconciled.",
            registry=self.registry,
        )
        for result in ReconcileResult:
            self.reconciles.labels(result=result.value)
