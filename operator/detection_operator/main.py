"""Entry point of the operator (`scorefleet-operator`): settings -> logging -> kopf.

Layer: shell (top). Parses `OperatorSettings` once, builds the Kubernetes adapter, metrics and the
reconcile `Controller`, hands them to the handlers through kopf's memo (no globals), serves
/metrics, and runs kopf with its watch timeouts, liveness endpoint and peering set from settings.
Importing the handler modules registers them with kopf.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import json
import logging
import os
import random
import sys
from datetime import UTC, datetime

import kopf
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from prometheus_client import start_http_server

from detection_operator.adapters.kube import KubeAdapter
from detection_operator.handlers import reconcile
from detection_operator.metrics import OperatorMetrics
from detection_operator.settings import LogFormat, OperatorSettings

logger = logging.getLogger(__name__)

#: Handler modules besides `reconcile`, imported when present (autoscaling ships its own).
OPTIONAL_HANDLER_MODULES = ("detection_operator.handlers.autoscale",)


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (+ the object kopf logs about)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        k8s_ref = getattr(record, "k8s_ref", None)
        if isinstance(k8s_ref, dict):
            entry["object"] = {k: k8s_ref.get(k) for k in ("namespace", "name", "kind") if k8s_ref.get(k)}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(settings: OperatorSettings) -> None:
    """Root logging per settings: JSON lines (containers) or text (terminals)."""
    handler = logging.StreamHandler(sys.stderr)
    if settings.observability.log_format is LogFormat.JSON:
        handler.setFormatter(JsonLogFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.observability.log_level.upper())
    # The kubernetes client logs every request at DEBUG with headers (bearer token): keep it quiet.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    logging.getLogger("kubernetes").setLevel(logging.WARNING)
    if root.level > logging.DEBUG:
        # kopf logs "Handler ... succeeded" per watch event of every child and pod: noise at INFO.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
        # One access line per liveness probe is noise too.
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def load_api_client(*, max_connections: int = 16) -> k8s.ApiClient:
    """An ApiClient from the in-cluster service account, else from KUBECONFIG / ~/.kube/config."""
    configuration = k8s.Configuration()
    if os.environ.get("KUBERNETES_SERVICE_HOST") and os.path.exists(
        "/var/run/secrets/kubernetes.io/serviceaccount/token"
    ):
        k8s_config.load_incluster_config(client_configuration=configuration)
    else:
        k8s_config.load_kube_config(client_configuration=configuration)
    # One pooled connection per adapter thread.
    configuration.connection_pool_maxsize = max_connections
    return k8s.ApiClient(configuration)


def kopf_settings(settings: OperatorSettings) -> kopf.OperatorSettings:
    """kopf's settings from ours: watch timeouts (the resync), peering, event posting."""
    out = kopf.OperatorSettings()
    out.watching.server_timeout = settings.watch.server_timeout_seconds
    out.watching.client_timeout = max(settings.watch.client_timeout_seconds, settings.watch.server_timeout_seconds + 5)
    out.watching.connect_timeout = settings.watch.connect_timeout_seconds
    out.watching.reconnect_backoff = settings.watch.reconnect_backoff_seconds
    out.peering.name = settings.peering.name
    out.peering.mandatory = settings.peering.mandatory
    out.peering.standalone = settings.peering.standalone
    out.peering.clusterwide = settings.clusterwide
    out.peering.priority = (
        settings.peering.priority if settings.peering.priority is not None else random.randint(1, 2**31 - 1)
    )
    # Handler crashes become Warning Events on the object; our own Events are posted by the reconcile.
    out.posting.level = logging.WARNING
    return out


def import_handler_modules() -> list[str]:
    """Import the optional handler modules that exist; returns their names."""
    imported = []
    for name in OPTIONAL_HANDLER_MODULES:
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)
            imported.append(name)
    return imported


async def run(settings: OperatorSettings) -> None:
    """Run the operator until it is stopped (SIGINT/SIGTERM)."""
    api_client = load_api_client(max_connections=settings.reconcile.max_concurrent_requests)
    metrics = OperatorMetrics()
    obs = settings.observability
    if obs.metrics_port:
        start_http_server(obs.metrics_port, addr=obs.metrics_host, registry=metrics.registry)
    kube = KubeAdapter(api_client, max_concurrent_requests=settings.reconcile.max_concurrent_requests)
    operator_settings = kopf_settings(settings)
    controller = reconcile.Controller(
        settings, kube=kube, metrics=metrics, peering_priority=operator_settings.peering.priority
    )
    extra = import_handler_modules()
    logger.info(
        "starting: namespaces=%s handlers=%s resync=%ss",
        settings.namespaces or "all",
        ["detection_operator.handlers.reconcile", *extra],
        settings.watch.resync_interval_seconds,
    )
    liveness = f"http://{obs.liveness_host}:{obs.liveness_port}/healthz" if obs.liveness_port else None
    await kopf.operator(
        settings=operator_settings,
        clusterwide=settings.clusterwide,
        namespaces=settings.namespaces,
        liveness_endpoint=liveness,
        memo=kopf.Memo(controller=controller, kube=kube, settings=settings, metrics=metrics),
    )


def main() -> None:
    """Console script `scorefleet-operator`."""
    settings = OperatorSettings()
    configure_logging(settings)
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
