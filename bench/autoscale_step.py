"""Step response of lag-based autoscaling on the dev stack: input rate low -> high -> low.

Runs the real thing: an operator process (watching one fresh namespace only), a DetectionPipeline
whose scorers are slowed by SCORER_PER_RECORD_DELAY_MS (so a few hundred messages/s need several
replicas), node-agent pods, Kafka and Prometheus. Samples once a second and writes the trajectory
(time, input rate, lag, replicas, ready and desired replicas) to CSV and a PNG plot, then prints a
final JSON line with:

- ``seconds_step_to_lag_under_target``: from the step up until total lag is back at or under the
  target (lagThreshold x ready replicas) and stays there for two polls (DESIGN's autoscaling target:
  within 2 polling intervals plus pod start time);
- ``scale_changes`` (and those during the steady high phase), ``peak_replicas``.

    .venv/bin/python bench/autoscale_step.py                      # defaults: 50 -> 400 -> 50 msg/s
    .venv/bin/python bench/autoscale_step.py --high-rate 600 --high-seconds 120
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import yaml
from confluent_kafka.admin import AdminClient, NewTopic
from detection_operator.api.pipeline import GROUP, PLURAL, VERSION
from detection_operator.render import deployment_name
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException
from scorefleet_devstack import demo
from scorefleet_devstack import stack as devstack
from scorefleet_devstack.config import REPO_ROOT, StackSettings

CRD_FILE = REPO_ROOT / "crds" / "detectionpipelines.scorefleet.io.yaml"


@dataclass
class Row:
    """One sample of the trajectory."""

    t_seconds: float
    phase: str
    input_rate_per_second: float
    produced_total: int
    lag_messages: int
    replicas: int
    ready_replicas: int
    desired_replicas: int | None


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--low-rate", type=float, default=50.0, help="messages/s before and after the step")
    parser.add_argument("--high-rate", type=float, default=400.0, help="messages/s during the step")
    parser.add_argument("--before-seconds", type=float, default=30.0)
    parser.add_argument("--high-seconds", type=float, default=90.0)
    parser.add_argument("--after-seconds", type=float, default=90.0)
    parser.add_argument("--per-record-delay-ms", type=int, default=10, help="scorer slowness (test knob)")
    parser.add_argument("--lag-threshold", type=int, default=500)
    parser.add_argument("--polling-interval-seconds", type=int, default=5)
    parser.add_argument("--stabilization-seconds", type=int, default=30)
    parser.add_argument("--max-replicas", type=int, default=6)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "out" / "bench")
    return parser.parse_args()


def ensure_crd(api_client: k8s.ApiClient) -> None:
    api: Any = cast(Any, k8s.ApiextensionsV1Api(api_client))
    manifest = yaml.safe_load(CRD_FILE.read_text())
    try:
        current = api.read_custom_resource_definition(manifest["metadata"]["name"])
        manifest["metadata"]["resourceVersion"] = current.metadata.resource_version
        api.replace_custom_resource_definition(manifest["metadata"]["name"], manifest)
    except ApiException as exc:
        if exc.status != 404:
            raise
        api.create_custom_resource_definition(manifest)


def start_operator(endpoints: devstack.Endpoints, namespace: str, log_path: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "KUBECONFIG": str(endpoints.kubeconfig),
        "SCOREFLEET_OPERATOR_NAMESPACES": namespace,
        "SCOREFLEET_OPERATOR_PEERING__STANDALONE": "true",
        "SCOREFLEET_OPERATOR_OBSERVABILITY__METRICS_PORT": "0",
        "SCOREFLEET_OPERATOR_OBSERVABILITY__LIVENESS_PORT": "0",
        "SCOREFLEET_OPERATOR_OBSERVABILITY__LOG_FORMAT": "text",
        "SCOREFLEET_OPERATOR_AUTOSCALE__PROMETHEUS_URL": endpoints.prometheus_url,
        "SCOREFLEET_OPERATOR_AUTOSCALE__START_JITTER_SECONDS": "0",
    }
    with log_path.open("wb") as log_file:
        return subprocess.Popen([str(Path(sys.executable).parent / "scorefleet-operator")], env=env,
                                stdout=log_file, stderr=subprocess.STDOUT)


def wait_for(check: Any, *, timeout_seconds: float, what: str) -> None:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except ApiException:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"timed out after {timeout_seconds:.0f} s waiting for {what}")


def seconds_to_under_target(rows: list[Row], *, step_at: float, step_end: float, lag_threshold: int,
                            hold_seconds: float) -> float | None:
    """From the step until lag <= lagThreshold x ready replicas and stays so for ``hold_seconds``."""
    window = [r for r in rows if step_at <= r.t_seconds <= step_end]
    for i, row in enumerate(window):
        if row.lag_messages > lag_threshold * max(row.ready_replicas, 1):
            continue
        later = [r for r in window[i:] if r.t_seconds <= row.t_seconds + hold_seconds]
        if later and later[-1].t_seconds >= row.t_seconds + hold_seconds - 1 and all(
                r.lag_messages <= lag_threshold * max(r.ready_replicas, 1) for r in later):
            return round(row.t_seconds - step_at, 1)
    return None


def write_plot(rows: list[Row], path: Path, *, step_at: float, step_end: float, lag_threshold: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [r.t_seconds for r in rows]
    fig, (ax_rate, ax_lag, ax_rep) = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
    ax_rate.plot(t, [r.input_rate_per_second for r in rows], color="tab:blue")
    ax_rate.set_ylabel("input msg/s")
    ax_lag.plot(t, [r.lag_messages for r in rows], color="tab:red", label="lag")
    ax_lag.plot(t, [lag_threshold * max(r.ready_replicas, 1) for r in rows], color="tab:gray", linestyle="--",
                label="target (lagThreshold x ready)")
    ax_lag.set_ylabel("lag (messages)")
    ax_lag.legend(loc="upper right")
    ax_rep.step(t, [r.replicas for r in rows], where="post", label="replicas (spec)")
    ax_rep.step(t, [r.ready_replicas for r in rows], where="post", label="ready")
    ax_rep.set_ylabel("replicas")
    ax_rep.set_xlabel("seconds")
    ax_rep.legend(loc="upper right")
    for ax in (ax_rate, ax_lag, ax_rep):
        ax.axvspan(step_at, step_end, color="tab:orange", alpha=0.08)
    fig.suptitle("scorefleet autoscaling: step in input rate")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    args = parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    settings = StackSettings()
    endpoints = devstack.up(settings, say=lambda line: print(line, file=sys.stderr))
    api_client = demo.kube_client(endpoints)
    core: Any = cast(Any, k8s.CoreV1Api(api_client))
    apps: Any = cast(Any, k8s.AppsV1Api(api_client))
    custom: Any = cast(Any, k8s.CustomObjectsApi(api_client))
    ensure_crd(api_client)

    run_id = uuid.uuid4().hex[:8]
    namespace = f"bench-as-{run_id}"
    core.create_namespace({"metadata": {"name": namespace}})
    wait_for(lambda: any(sa.metadata.name == "default" for sa in core.list_namespaced_service_account(namespace).items),
             timeout_seconds=30, what="the namespace's default ServiceAccount")
    admin = AdminClient({"bootstrap.servers": endpoints.kafka_bootstrap_servers})
    input_topic, output_topic = f"as-step-in-{run_id}", f"as-step-out-{run_id}"
    for future in admin.create_topics([NewTopic(input_topic, args.partitions, 1), NewTopic(output_topic, 1, 1),
                                       NewTopic(f"{output_topic}.dlq", 1, 1)]).values():
        future.result(30)
    model = demo.ensure_model(endpoints, say=lambda line: print(line, file=sys.stderr))
    operator = start_operator(endpoints, namespace, args.out / "autoscale_step.operator.log")
    producer = None
    try:
        name = "step"
        manifest = demo.pipeline_manifest(
            namespace=namespace, name=name, input_topic=input_topic, output_topic=output_topic,
            bootstrap_servers=endpoints.kafka_bootstrap_servers, model=model,
            scaling={"minReplicas": 1, "maxReplicas": args.max_replicas, "lagThreshold": args.lag_threshold,
                     "pollingIntervalSeconds": args.polling_interval_seconds,
                     "scaleDownStabilizationSeconds": args.stabilization_seconds})
        manifest["spec"]["scorer"]["env"] = [
            {"name": "SCORER_PER_RECORD_DELAY_MS", "value": str(args.per_record_delay_ms)}]
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, manifest)
        wait_for(lambda: (apps.read_namespaced_deployment(deployment_name(name), namespace).status.ready_replicas
                          or 0) >= 1, timeout_seconds=240, what="one ready scorer")
        print("pipeline ready; running the step", file=sys.stderr)

        producer = demo.RateProducer(endpoints.kafka_bootstrap_servers, input_topic, seed=int(run_id, 16) % 10**8)
        producer.start()
        group = f"scorefleet.{namespace}.{name}"
        phases = [("before", args.low_rate, args.before_seconds), ("high", args.high_rate, args.high_seconds),
                  ("after", args.low_rate, args.after_seconds)]
        rows: list[Row] = []
        started = time.monotonic()
        boundaries: dict[str, tuple[float, float]] = {}
        phase_start = 0.0
        for phase, rate, seconds in phases:
            producer.rate_per_second = rate
            boundaries[phase] = (phase_start, phase_start + seconds)
            while (now := time.monotonic() - started) < phase_start + seconds:
                deployment = apps.read_namespaced_deployment(deployment_name(name), namespace)
                status = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name).get(
                    "status") or {}
                rows.append(Row(
                    t_seconds=round(now, 2), phase=phase, input_rate_per_second=rate,
                    produced_total=producer.produced,
                    lag_messages=demo.group_lag(admin, group=group, topic=input_topic),
                    replicas=int(deployment.spec.replicas or 0),
                    ready_replicas=int(deployment.status.ready_replicas or 0),
                    desired_replicas=status.get("desiredReplicas"),
                ))
                time.sleep(max(0.0, 1.0 - ((time.monotonic() - started) - now)))  # 1 s sampling cadence
            phase_start += seconds
        producer.rate_per_second = 0

        csv_path, png_path = args.out / "autoscale_step.csv", args.out / "autoscale_step.png"
        with csv_path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(asdict(rows[0])))
            writer.writeheader()
            writer.writerows(asdict(r) for r in rows)
        step_at, step_end = boundaries["high"]
        write_plot(rows, png_path, step_at=step_at, step_end=step_end, lag_threshold=args.lag_threshold)

        changes = [(b.t_seconds, b.replicas) for a, b in itertools.pairwise(rows) if a.replicas != b.replicas]
        events = demo.scale_events(api_client, namespace=namespace, name=name)
        # The shared dev stack may run other operators (a Helm-installed one watches every
        # namespace); if they act on this pipeline too, the figures are not this operator's alone.
        own_scalings = sum(
            1 for line in (args.out / "autoscale_step.operator.log").read_text().splitlines()
            if f"{namespace}/{name} scaled " in line
        )
        settled = step_at + 2 * args.polling_interval_seconds + 60  # past scale-up and pod start
        result = {
            "bench": "autoscale_step",
            "partitions": args.partitions,
            "low_rate_per_second": args.low_rate,
            "high_rate_per_second": args.high_rate,
            "per_record_delay_ms": args.per_record_delay_ms,
            "lag_threshold": args.lag_threshold,
            "polling_interval_seconds": args.polling_interval_seconds,
            "stabilization_seconds": args.stabilization_seconds,
            "seconds_step_to_first_scale_up": next(
                (round(t - step_at, 1) for t, _ in changes if t >= step_at), None),
            "seconds_step_to_peak_ready": next(
                (round(r.t_seconds - step_at, 1) for r in rows
                 if step_at <= r.t_seconds <= step_end and r.ready_replicas == max(
                     x.ready_replicas for x in rows if step_at <= x.t_seconds <= step_end)), None),
            "seconds_step_to_lag_under_target": seconds_to_under_target(
                rows, step_at=step_at, step_end=step_end, lag_threshold=args.lag_threshold,
                hold_seconds=2 * args.polling_interval_seconds),
            "scale_changes": len(changes),
            "scale_changes_during_steady_high": sum(1 for t, _ in changes if settled <= t < step_end),
            "scale_events": len(events),
            "scale_actions_by_this_operator": own_scalings,
            "other_writers_suspected": own_scalings != len(events),
            "peak_replicas": max(r.replicas for r in rows),
            "peak_lag_messages": max(r.lag_messages for r in rows),
            "final_replicas": rows[-1].replicas,
            "csv": str(csv_path),
            "png": str(png_path),
        }
        print(json.dumps(result))
    finally:
        if producer is not None:
            producer.stop()
        operator.send_signal(signal.SIGTERM)
        try:
            operator.wait(timeout=20)
        except subprocess.TimeoutExpired:
            operator.kill()
        core.delete_namespace(namespace)
        for future in admin.delete_topics([input_topic, output_topic, f"{output_topic}.dlq"]).values():
            try:
                future.result(30)
            except Exception as exc:  # cleanup is best effort; say what was left behind
                print(f"could not delete a topic: {exc}", file=sys.stderr)


if __name__ == "__main__":
    main()
