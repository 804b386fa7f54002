"""Benchmark: cold-start reconcile of N DetectionPipelines by a real operator process.

Creates N pipelines (minReplicas 0, so no pod starts) in a fresh namespace while no operator
runs, starts `scorefleet-operator` (cold: empty caches) watching that namespace, and measures
the time until every pipeline is reconciled: its five children exist and
`status.observedGeneration == metadata.generation`. Samples the operator's RSS meanwhile (peak
= VmHWM from /proc). Targets (DESIGN.md): 500 pipelines in < 60 s, RSS < 300 MB.

Needs the dev stack (`scorefleet devstack up`): uses its admin kubeconfig and installs the CRD.
The last line printed is a JSON object with the figures.

    .venv/bin/python bench/operator_scale.py [--count 500] [--workers 8] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

from detection_operator import crdgen
from detection_operator.api.pipeline import GROUP, PLURAL, VERSION
from kubernetes import client as k8s
from kubernetes import config as k8s_config

REPO = Path(__file__).resolve().parents[1]
OPERATOR_BIN = REPO / ".venv" / "bin" / "scorefleet-operator"
APPLY = "application/apply-patch+yaml"
SHA = "0" * 64


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int, field: str) -> int:
    """VmRSS or VmHWM (peak) of `pid`, in KiB; 0 if unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


def pipeline(name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "DetectionPipeline",
        "metadata": {"name": name},
        "spec": {
            "kafka": {"bootstrapServers": "127.0.0.1:19092", "inputTopic": f"in-{name}", "outputTopic": f"out-{name}"},
            "model": {"name": "bench", "version": "1", "uri": "http://127.0.0.1:18080/bench.onnx", "sha256": SHA},
            "scaling": {"minReplicas": 0, "maxReplicas": 4},
        },
    }


def metric(port: int, name: str) -> float:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return float("nan")
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=500, help="pipelines to create (default 500)")
    parser.add_argument("--workers", type=int, default=16, help="operator reconcile workers")
    parser.add_argument("--timeout", type=float, default=600.0, help="give up after this many seconds")
    parser.add_argument("--kubeconfig", default=str(REPO / ".devstack" / "kubeconfig"))
    parser.add_argument("--keep", action="store_true", help="keep the namespace afterwards")
    parser.add_argument("--profile", metavar="FILE", help="run the operator under cProfile, stats to FILE")
    parser.add_argument("--reconcile-only", action="store_true",
                        help="run without the optional handler modules (autoscale), to isolate the reconcile")
    args = parser.parse_args()

    api = k8s_config.new_client_from_config(config_file=args.kubeconfig)
    core, apps, custom = k8s.CoreV1Api(api), k8s.AppsV1Api(api), k8s.CustomObjectsApi(api)
    k8s.ApiextensionsV1Api(api).patch_custom_resource_definition(
        crdgen.CRD_NAME, crdgen.crd(), field_manager="scorefleet-bench", force=True, _content_type=APPLY
    )
    namespace = f"bench-op-{uuid.uuid4().hex[:8]}"
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=namespace)))
    names = [f"p{i:04d}" for i in range(args.count)]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda n: custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL,
                                                                       pipeline(n)), names))
    create_seconds = time.monotonic() - started
    print(f"created {args.count} pipelines in {create_seconds:.1f}s (operator down)", file=sys.stderr)

    metrics_port, liveness_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBERNETES_", "SCOREFLEET_"))}
    env.update(
        KUBECONFIG=args.kubeconfig,
        SCOREFLEET_OPERATOR_NAMESPACES=namespace,
        SCOREFLEET_OPERATOR_PEERING__STANDALONE="true",
        SCOREFLEET_OPERATOR_RECONCILE__WORKERS=str(args.workers),
        SCOREFLEET_OPERATOR_OBSERVABILITY__METRICS_HOST="127.0.0.1",
        SCOREFLEET_OPERATOR_OBSERVABILITY__METRICS_PORT=str(metrics_port),
        SCOREFLEET_OPERATOR_OBSERVABILITY__LIVENESS_HOST="127.0.0.1",
        SCOREFLEET_OPERATOR_OBSERVABILITY__LIVENESS_PORT=str(liveness_port),
        SCOREFLEET_OPERATOR_OBSERVABILITY__LOG_LEVEL="WARNING",
    )
    log_path = Path(f"/tmp/{namespace}-operator.log")
    with log_path.open("wb") as log:
        command = [str(OPERATOR_BIN)]
        if args.reconcile_only:
            command = [sys.executable, "-c", "import detection_operator.main as m; "
                       "m.OPTIONAL_HANDLER_MODULES = (); m.main()"]
        if args.profile:
            script = Path(f"/tmp/{namespace}-run-operator.py")
            script.write_text(command[-1] if args.reconcile_only else "import detection_operator.main as m; m.main()")
            command = [sys.executable, "-m", "cProfile", "-o", args.profile, str(script)]
        operator = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    cold_start = time.monotonic()
    peak_rss_kib = 0
    done = 0
    reconciled_seconds: float | None = None
    try:
        while time.monotonic() - cold_start < args.timeout:
            if operator.poll() is not None:
                raise SystemExit(f"operator exited with {operator.returncode}; log: {log_path}")
            peak_rss_kib = max(peak_rss_kib, rss_kib(operator.pid, "VmHWM"))
            items = cast(dict[str, Any], custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL))
            done = sum(
                1 for p in items["items"]
                if (p.get("status") or {}).get("observedGeneration") == p["metadata"]["generation"]
            )
            if done == args.count:
                deployments = len(apps.list_namespaced_deployment(namespace).items)
                if deployments >= args.count:
                    reconciled_seconds = time.monotonic() - cold_start
                    break
                print(f"all reconciled but {deployments} Deployments", file=sys.stderr)
            time.sleep(0.5)
        time.sleep(2)  # a last RSS sample after the burst settles
        peak_rss_kib = max(peak_rss_kib, rss_kib(operator.pid, "VmHWM"))
        steady_rss_kib = rss_kib(operator.pid, "VmRSS")
        reconciles = metric(metrics_port, "scorefleet_operator_reconciles_total")
        duration_sum = metric(metrics_port, "scorefleet_operator_reconcile_duration_seconds_sum")
    finally:
        operator.send_signal(signal.SIGTERM)
        try:
            operator.wait(timeout=30)
        except subprocess.TimeoutExpired:
            operator.kill()
        if not args.keep:
            core.delete_namespace(namespace, propagation_policy="Background")
    result = {
        "benchmark": "operator_scale",
        "pipelines": args.count,
        "reconciled": done,
        "cold_start_to_all_reconciled_seconds": None if reconciled_seconds is None else round(reconciled_seconds, 2),
        "target_seconds": 60,
        "peak_rss_mb": round(peak_rss_kib / 1024, 1),
        "steady_rss_mb": round(steady_rss_kib / 1024, 1),
        "target_rss_mb": 300,
        "reconciles": reconciles,
        "mean_reconcile_seconds": round(duration_sum / reconciles, 4) if reconciles else None,
        "workers": args.workers,
        "handlers": "reconcile only" if args.reconcile_only else "all",
        "load_average_1m": os.getloadavg()[0],
    }
    print(json.dumps(result))
    return 0 if reconciled_seconds is not None else 1


if __name__ == "__main__":
    raise SystemExit(main())
