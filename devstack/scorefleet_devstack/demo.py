"""The end-to-end demo (`make demo`, `scorefleet demo`) and the e2e tests' building blocks.

Drives the whole product on the dev stack as a platform engineer would: installs the Helm chart
(the operator runs as a pod under its own ServiceAccount), creates the topics, trains the default
model into the model store, applies a DetectionPipeline, produces a stream, a burst and raw
RFC 5322 mail, watches the fleet scale and drain, then accounts for every produced message id in
the output or dead-letter topic and reports the scale events. Every step talks to the real
apiserver, Kafka and Prometheus; nothing is simulated.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email import message_from_bytes
from email.policy import compat32
from pathlib import Path
from typing import Any

import yaml
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from scorer.decode import CONTENT_TYPE_HEADER, RFC822_CONTENT_TYPE, TENANT_HEADER
from scorer.loadgen import encode_event

from .config import REPO_ROOT, StackSettings
from .stack import Endpoints

GROUP, VERSION, PLURAL = "scorefleet.io", "v1alpha1", "detectionpipelines"
OPERATOR_NAMESPACE = "scorefleet-system"
CHART_DIR = REPO_ROOT / "charts" / "scorefleet"
EXAMPLE_PIPELINE = REPO_ROOT / "examples" / "pipeline.yaml"
MAIL_DIR = REPO_ROOT / "examples" / "mail"


@dataclass(frozen=True)
class ModelArtifact:
    """A model file in the model store: where scorers fetch it and the digest they verify."""

    name: str
    version: str
    uri: str
    sha256: str


@dataclass
class Sample:
    """One observation of the fleet (seconds since the start of the run; messages; replicas)."""

    t_seconds: float
    produced_total: int
    scored_total: int
    dead_lettered_total: int
    lag_messages: int | None
    replicas: int
    ready_replicas: int
    desired_replicas: int | None


@dataclass
class Accounting:
    """What the output and dead-letter topics hold for a set of produced message ids."""

    produced: int
    scored_ids: set[str] = field(default_factory=set)
    dead_lettered_ids: set[str] = field(default_factory=set)
    verdicts: Counter[str] = field(default_factory=Counter)
    dead_letter_reasons: Counter[str] = field(default_factory=Counter)
    model_versions: Counter[str] = field(default_factory=Counter)
    samples: list[dict[str, Any]] = field(default_factory=list)

    def missing(self, produced_ids: Iterable[str]) -> set[str]:
        """Produced ids with neither a score nor a dead-letter record."""
        return set(produced_ids) - self.scored_ids - self.dead_lettered_ids


def helm_binary(settings: StackSettings) -> Path:
    """Path of the helm the stack built."""
    return settings.build_dir("helm", settings.versions.helm) / "bin" / "helm"


def kubectl_binary(settings: StackSettings) -> Path:
    """Path of the kubectl the stack built."""
    return settings.build_dir("kubernetes", settings.versions.kubernetes) / "bin" / "kubectl"


def install_chart(settings: StackSettings, endpoints: Endpoints, *, namespace: str = OPERATOR_NAMESPACE,
                  release: str = "scorefleet", timeout_seconds: float = 180.0) -> None:
    """`helm upgrade --install` the chart (CRDs, RBAC, operator Deployment) with the stack's
    Prometheus as the lag source, and wait for the operator to be available.
    Raises subprocess.CalledProcessError with helm's output on failure."""
    subprocess.run([str(helm_binary(settings)), "upgrade", "--install", release, str(CHART_DIR),
                    "--namespace", namespace, "--create-namespace", "--kubeconfig", str(endpoints.kubeconfig),
                    "--set", f"autoscale.prometheusUrl={endpoints.prometheus_url}",
                    "--wait", "--timeout", f"{int(timeout_seconds)}s"],
                   check=True, capture_output=True, text=True)


def uninstall_chart(settings: StackSettings, endpoints: Endpoints, *, namespace: str = OPERATOR_NAMESPACE,
                    release: str = "scorefleet") -> None:
    """`helm uninstall --wait` the release (the CRDs stay, as Helm leaves them)."""
    subprocess.run([str(helm_binary(settings)), "uninstall", release, "--namespace", namespace,
                    "--kubeconfig", str(endpoints.kubeconfig), "--wait", "--ignore-not-found"],
                   check=True, capture_output=True, text=True)


def ensure_topics(admin: AdminClient, topics: dict[str, int]) -> None:
    """Create each `{name: partitions}` topic that does not exist yet (replication 1) and wait for
    its partitions to have leaders."""
    existing = admin.list_topics(timeout=10).topics
    new = [NewTopic(name, num_partitions=n, replication_factor=1) for name, n in topics.items() if name not in existing]
    for future in admin.create_topics(new).values() if new else ():
        future.result(30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        metadata = admin.list_topics(timeout=10).topics
        if all(name in metadata and metadata[name].partitions and all(
                p.leader >= 0 for p in metadata[name].partitions.values()) for name in topics):
            return
        time.sleep(0.2)
    raise TimeoutError(f"topics {sorted(topics)} have no leaders after 30 s")


def delete_topics(admin: AdminClient, names: list[str], *, timeout_seconds: float = 60.0) -> None:
    """Delete those of `names` that exist and wait until the broker no longer lists them (their
    consumer groups' committed offsets go with them). Raises TimeoutError past the deadline."""
    existing = [name for name in names if name in admin.list_topics(timeout=10).topics]
    if not existing:
        return
    for future in admin.delete_topics(existing, operation_timeout=30).values():
        future.result(30)
    deadline = time.monotonic() + timeout_seconds
    while any(name in admin.list_topics(timeout=10).topics for name in existing):
        if time.monotonic() > deadline:
            raise TimeoutError(f"topics {existing} still listed {timeout_seconds:.0f} s after deletion")
        time.sleep(0.5)


def delete_pipeline(api: k8s.ApiClient, *, namespace: str, name: str, timeout_seconds: float = 120.0) -> None:
    """Delete a pipeline with foreground propagation and wait until it is gone, so its scorer pods
    have stopped consuming. A pipeline that does not exist is fine."""
    custom = k8s.CustomObjectsApi(api)
    try:
        custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name,
                                               propagation_policy="Foreground")
    except k8s.ApiException as exc:
        if exc.status == 404:
            return
        raise
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        try:
            custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        except k8s.ApiException as exc:
            if exc.status == 404:
                return
            raise
        time.sleep(0.5)
    raise TimeoutError(f"pipeline {namespace}/{name} still exists {timeout_seconds:.0f} s after deletion")


def ensure_model(endpoints: Endpoints, *, name: str = "phishing-linear", version: str = "2026.11.1",
                 say: Callable[[str], None] = print) -> ModelArtifact:
    """Train the default model into the model store on first use (`scorefleet-scorer train`);
    return its URI and sha256. Raises subprocess.CalledProcessError when training fails."""
    endpoints.models_dir.mkdir(parents=True, exist_ok=True)
    record = endpoints.models_dir / f"{name}-{version}.json"
    if not record.exists():
        say(f"model: training {name} {version} (first run only) ...")
        result = subprocess.run([str(Path(sys.executable).parent / "scorefleet-scorer"), "train", "--out",
                                 str(endpoints.models_dir), "--name", name, "--version", version],
                                check=True, capture_output=True, text=True)
        say("model: " + " ".join(line for line in result.stderr.splitlines() if "precision" in line))
        record.write_text(result.stdout.strip().splitlines()[-1])
    trained = json.loads(record.read_text())
    return ModelArtifact(name=name, version=version, sha256=trained["sha256"],
                         uri=f"{endpoints.model_store_url}/{Path(trained['path']).name}")


def pipeline_manifest(*, namespace: str, name: str, input_topic: str, output_topic: str, bootstrap_servers: str,
                      model: ModelArtifact, scaling: dict[str, Any],
                      scorer_env: dict[str, str] | None = None) -> dict[str, Any]:
    """examples/pipeline.yaml with the demo's namespace, topics, model, scaling overrides and extra
    scorer environment applied."""
    manifest: dict[str, Any] = yaml.safe_load(EXAMPLE_PIPELINE.read_text())
    manifest["metadata"] = {"name": name, "namespace": namespace}
    spec = manifest["spec"]
    spec["kafka"].update({"bootstrapServers": bootstrap_servers, "inputTopic": input_topic,
                          "outputTopic": output_topic, "offsetResetPolicy": "earliest"})
    spec["model"] = {"name": model.name, "version": model.version, "uri": model.uri, "sha256": model.sha256}
    spec["scaling"] = {**spec.get("scaling", {}), **scaling}
    if scorer_env:
        spec.setdefault("scorer", {})["env"] = [{"name": k, "value": v} for k, v in scorer_env.items()]
    return manifest


def apply_manifest(settings: StackSettings, endpoints: Endpoints, manifest: dict[str, Any]) -> None:
    """`kubectl apply --server-side` one manifest. Raises CalledProcessError with kubectl's message
    (for a refused pipeline, the apiserver's validation message naming the field)."""
    subprocess.run([str(kubectl_binary(settings)), "--kubeconfig", str(endpoints.kubeconfig), "apply",
                    "--server-side", "--field-manager=scorefleet-demo", "-f", "-"],
                   input=yaml.safe_dump(manifest), check=True, capture_output=True, text=True)


def ensure_namespace(api: k8s.ApiClient, name: str, *, timeout_seconds: float = 120.0) -> None:
    """Make namespace `name` exist and be Active, waiting out a previous run's Terminating one.
    Raises TimeoutError when it is still terminating after `timeout_seconds`."""
    core = k8s.CoreV1Api(api)
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        try:
            namespace = core.read_namespace(name)
        except k8s.ApiException as exc:
            if exc.status != 404:
                raise
            core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))
            return
        if namespace.status is None or namespace.status.phase != "Terminating":
            return
        time.sleep(1)
    raise TimeoutError(f"namespace {name} is still terminating after {timeout_seconds:.0f} s")


def kube_client(endpoints: Endpoints) -> k8s.ApiClient:
    """An official-client ApiClient on the stack's kubeconfig."""
    return k8s_config.new_client_from_config(config_file=str(endpoints.kubeconfig))


def pipeline_status(api: k8s.ApiClient, *, namespace: str, name: str) -> dict[str, Any]:
    """The pipeline's `.status` ({} before the operator first writes it)."""
    obj: dict[str, Any] = k8s.CustomObjectsApi(api).get_namespaced_custom_object(  # type: ignore[assignment]
        GROUP, VERSION, namespace, PLURAL, name)
    return dict(obj.get("status") or {})


def topic_end_offsets(admin: AdminClient, topic: str) -> dict[int, int]:
    """{partition: end offset} of a topic."""
    partitions = admin.list_topics(topic=topic, timeout=10).topics[topic].partitions
    futures = admin.list_offsets({TopicPartition(topic, p): OffsetSpec.latest() for p in partitions},
                                 request_timeout=10)
    return {tp.partition: f.result().offset for tp, f in futures.items()}


def group_lag(admin: AdminClient, *, group: str, topic: str) -> int:
    """Total lag of `group` on `topic`: end - committed per partition; a partition never committed
    counts end - 0 (the demo's pipelines read from `earliest` and the topics start empty)."""
    from confluent_kafka import ConsumerGroupTopicPartitions

    ends = topic_end_offsets(admin, topic)
    request = [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in ends])]
    committed = admin.list_consumer_group_offsets(request)[group].result(10).topic_partitions
    by_partition = {tp.partition: max(tp.offset, 0) for tp in committed}
    return sum(max(end - by_partition.get(p, 0), 0) for p, end in ends.items())


class RateProducer:
    """Produces generated email events (keyed by message id) from a background thread, at a set
    rate in messages per second (0 pauses); also bursts and raw .eml files on request. Every
    produced id is recorded so the run can account for it."""

    def __init__(self, bootstrap_servers: str, topic: str, *, seed: int) -> None:
        from scorer.generator import generate_events

        self.topic = topic
        self.seed = seed
        self.producer = Producer({"bootstrap.servers": bootstrap_servers, "acks": "all", "enable.idempotence": True,
                                  "linger.ms": 10, "compression.type": "lz4"})
        self.events = generate_events(10_000_000, seed=seed)
        self.produced_ids: list[str] = []
        self.rate_per_second = 0.0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="rate-producer", daemon=True)

    def start(self) -> None:
        """Start the background thread."""
        self._thread.start()

    def _produce(self, value: bytes, key: str, headers: list[tuple[str, str | bytes | None]] | None = None) -> None:
        while True:
            try:
                self.producer.produce(self.topic, value, key.encode(), headers=headers)
                break
            except BufferError:
                self.producer.poll(0.05)
        with self._lock:
            self.produced_ids.append(key)

    def _next_event(self) -> tuple[bytes, str]:
        event = next(self.events).event
        value, _ = encode_event(event, raw=False)
        return value, event["message_id"]

    def _run(self) -> None:
        sent_in_window, window_start = 0, time.monotonic()
        while not self._stop.is_set():
            rate = self.rate_per_second
            if rate <= 0:
                time.sleep(0.05)
                continue
            elapsed = time.monotonic() - window_start
            if elapsed >= 1.0:
                sent_in_window, window_start = 0, time.monotonic()
            if sent_in_window < rate * max(elapsed, 0.05):
                value, key = self._next_event()
                self._produce(value, key)
                sent_in_window += 1
                self.producer.poll(0)
            else:
                time.sleep(0.005)

    def burst(self, count: int) -> None:
        """Produce `count` events as fast as the broker takes them (blocks until handed over)."""
        for _ in range(count):
            value, key = self._next_event()
            self._produce(value, key)
        self.producer.flush(60)

    def produce_mail_files(self, paths: Iterable[Path], *, tenant_id: str = "acme") -> list[str]:
        """Produce raw RFC 5322 files (headers `content-type: message/rfc822` and the tenant id),
        keyed by their Message-ID (or the file name when it has none); returns the keys."""
        headers: list[tuple[str, str | bytes | None]] = [(CONTENT_TYPE_HEADER, RFC822_CONTENT_TYPE.encode()),
                                                         (TENANT_HEADER, tenant_id.encode())]
        keys = []
        for path in paths:
            raw = path.read_bytes()
            message_id = message_from_bytes(raw, policy=compat32).get("Message-ID")
            key = str(message_id).strip().strip("<>") if message_id else path.name
            self._produce(raw, key, headers)
            keys.append(key)
        self.producer.flush(30)
        return keys

    def produce_poison(self, count: int) -> list[str]:
        """Produce `count` records that are not valid JSON (keyed `poison-<seed>-<i>`): the scorer
        must send each to the dead-letter topic and go on."""
        keys = [f"poison-{self.seed}-{i}" for i in range(count)]
        for key in keys:
            self._produce(b'{"message_id": "truncated', key)
        self.producer.flush(30)
        return keys

    def stop(self) -> int:
        """Stop the thread and flush; returns the number of records not acknowledged (0 = all)."""
        self._stop.set()
        self._thread.join(timeout=10)
        return int(self.producer.flush(60))

    @property
    def produced(self) -> int:
        """Messages handed to the producer so far."""
        with self._lock:
            return len(self.produced_ids)


def account(bootstrap_servers: str, *, output_topic: str, dead_letter_topic: str, produced_ids: Iterable[str],
            timeout_seconds: float = 60.0, sample_count: int = 3) -> Accounting:
    """Read the output and dead-letter topics from the start to their current ends and collect,
    for the records keyed by one of `produced_ids`, the message ids, verdicts, model versions and
    dead-letter reasons (records of earlier runs are ignored)."""
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    wanted = set(produced_ids)
    result = Accounting(produced=len(wanted))
    for topic in (output_topic, dead_letter_topic):
        ends = topic_end_offsets(admin, topic)
        remaining = {p for p, end in ends.items() if end > 0}
        consumer = Consumer({"bootstrap.servers": bootstrap_servers, "group.id": "scorefleet-demo-accounting",
                             "enable.auto.commit": False, "auto.offset.reset": "earliest"})
        consumer.assign([TopicPartition(topic, p, 0) for p in remaining])
        deadline = time.monotonic() + timeout_seconds
        while remaining and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=1000, timeout=0.5):
                if message.error() is not None:
                    continue
                key = (message.key() or b"").decode(errors="replace")
                partition, offset = message.partition(), message.offset()
                if partition is not None and offset is not None and offset + 1 >= ends[partition]:
                    remaining.discard(partition)
                if key not in wanted:
                    continue
                if topic == output_topic:
                    result.scored_ids.add(key)
                    record = json.loads(message.value() or b"{}")
                    result.verdicts[str(record.get("verdict"))] += 1
                    result.model_versions[str(record.get("model_version"))] += 1
                    if len(result.samples) < sample_count:
                        result.samples.append(record)
                else:
                    result.dead_lettered_ids.add(key)
                    headers = dict(message.headers() or [])
                    reason = headers.get("scorefleet-dlq-reason", b"unknown")
                    result.dead_letter_reasons[reason.decode() if isinstance(reason, bytes) else str(reason)] += 1
        consumer.close()
    return result


def scale_events(api: k8s.ApiClient, *, namespace: str, name: str) -> list[tuple[str, str, str]]:
    """(time, reason, message) of the Events on the pipeline about scaling, oldest first."""
    events = k8s.CoreV1Api(api).list_namespaced_event(
        namespace, field_selector=f"involvedObject.kind=DetectionPipeline,involvedObject.name={name}")
    rows = []
    for event in events.items:
        reason = event.reason or ""
        if "scal" in reason.lower():
            when = event.last_timestamp or event.event_time or event.first_timestamp
            rows.append((when.isoformat() if when else "", reason, event.message or ""))
    return sorted(rows)


def write_plot(samples: list[Sample], path: Path, *, title: str) -> Path:
    """A PNG with replicas (ready/desired), lag and scored rate over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s.t_seconds for s in samples]
    figure, (ax_replicas, ax_lag, ax_rate) = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
    ax_replicas.step(t, [s.ready_replicas for s in samples], where="post", label="ready replicas")
    ax_replicas.step(t, [s.desired_replicas or 0 for s in samples], where="post", label="desired replicas",
                     linestyle="--")
    ax_replicas.set_ylabel("replicas")
    ax_replicas.legend(loc="upper right")
    ax_lag.plot(t, [s.lag_messages or 0 for s in samples], color="tab:red")
    ax_lag.set_ylabel("lag (messages)")
    rates = [0.0] + [max(b.scored_total - a.scored_total, 0) / max(b.t_seconds - a.t_seconds, 1e-6)
                     for a, b in itertools.pairwise(samples)]
    produced_rates = [0.0] + [max(b.produced_total - a.produced_total, 0) / max(b.t_seconds - a.t_seconds, 1e-6)
                              for a, b in itertools.pairwise(samples)]
    ax_rate.plot(t, rates, label="scored / s", color="tab:green")
    ax_rate.plot(t, produced_rates, label="produced / s", color="tab:gray", alpha=0.6)
    ax_rate.set_ylabel("messages / s")
    ax_rate.set_xlabel("seconds since start")
    ax_rate.legend(loc="upper right")
    figure.suptitle(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


@dataclass(frozen=True)
class DemoPlan:
    """The demo's shape: a steady stream, then a burst, then quiet until the fleet is back at min."""

    namespace: str = "scorefleet-demo"
    pipeline: str = "mail-phishing"
    input_topic: str = "mail.inbound"
    output_topic: str = "mail.scores"
    input_partitions: int = 6
    steady_rate_per_second: float = 200.0
    steady_seconds: float = 30.0
    burst_messages: int = 60_000
    drain_timeout_seconds: float = 420.0
    scorer_env: dict[str, str] = field(default_factory=lambda: {"SCORER_PER_RECORD_DELAY_MS": "2"})
    """A per-record cost of 2 ms (at most ~500 messages/s per scorer) stands in for a heavier model:
    one scorer of the light demo model drains a 60,000-message burst in seconds on its own, and two
    cores cannot show more replicas adding CPU, so without it there would be nothing to scale."""
    scaling: dict[str, Any] = field(default_factory=lambda: {
        "minReplicas": 1, "maxReplicas": 6, "lagThreshold": 2000, "pollingIntervalSeconds": 5,
        "scaleDownStabilizationSeconds": 45})
    plot_path: Path = REPO_ROOT / "out" / "demo.png"

    @property
    def dead_letter_topic(self) -> str:
        """The pipeline's default dead-letter topic (<outputTopic>.dlq)."""
        return f"{self.output_topic}.dlq"

    @property
    def consumer_group(self) -> str:
        """The pipeline's default consumer group (scorefleet.<namespace>.<name>)."""
        return f"scorefleet.{self.namespace}.{self.pipeline}"


def _condition(status: dict[str, Any], kind: str) -> str | None:
    for condition in status.get("conditions") or []:
        if condition.get("type") == kind:
            return str(condition.get("status"))
    return None


def observe(api: k8s.ApiClient, admin: AdminClient, plan: DemoPlan, *, started: float,
            producer: RateProducer) -> Sample:
    """One Sample of the fleet: pipeline status (replicas), group lag, output/DLQ totals."""
    status = pipeline_status(api, namespace=plan.namespace, name=plan.pipeline)
    try:
        lag: int | None = group_lag(admin, group=plan.consumer_group, topic=plan.input_topic)
    except Exception:
        lag = None
    return Sample(t_seconds=time.monotonic() - started, produced_total=producer.produced,
                  scored_total=sum(topic_end_offsets(admin, plan.output_topic).values()),
                  dead_lettered_total=sum(topic_end_offsets(admin, plan.dead_letter_topic).values()),
                  lag_messages=lag, replicas=int(status.get("replicas") or 0),
                  ready_replicas=int(status.get("readyReplicas") or 0),
                  desired_replicas=status.get("desiredReplicas"))


def run_demo(settings: StackSettings, endpoints: Endpoints, plan: DemoPlan, *,
             say: Callable[[str], None] = print, live: bool = True) -> int:
    """Run the whole demo on an up stack; return the exit status (0 when every produced message
    has a score or dead-letter record, lag returned to 0 and the fleet scaled up and back down)."""
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table

    console = Console()
    say("demo: installing the Helm chart (operator as a pod on the dev stack)")
    install_chart(settings, endpoints)
    admin = AdminClient({"bootstrap.servers": endpoints.kafka_bootstrap_servers})
    api = kube_client(endpoints)
    say("demo: removing a previous run's pipeline and topics, creating fresh topics")
    delete_pipeline(api, namespace=plan.namespace, name=plan.pipeline)
    topics = {plan.input_topic: plan.input_partitions, plan.output_topic: 3, plan.dead_letter_topic: 1}
    delete_topics(admin, list(topics))
    ensure_topics(admin, topics)
    model = ensure_model(endpoints, say=say)
    ensure_namespace(api, plan.namespace)
    say(f"demo: applying DetectionPipeline {plan.namespace}/{plan.pipeline} (model {model.name} {model.version})")
    apply_manifest(settings, endpoints, pipeline_manifest(
        namespace=plan.namespace, name=plan.pipeline, input_topic=plan.input_topic, output_topic=plan.output_topic,
        bootstrap_servers=endpoints.kafka_bootstrap_servers, model=model, scaling=plan.scaling,
        scorer_env=plan.scorer_env))
    deadline = time.monotonic() + 180
    while _condition(pipeline_status(api, namespace=plan.namespace, name=plan.pipeline), "Ready") != "True":
        if time.monotonic() > deadline:
            say("demo: the pipeline did not become Ready within 180 s; `kubectl describe dp` tells why")
            return 1
        time.sleep(1)
    say("demo: pipeline Ready; producing a steady stream, then a burst, then raw .eml mail")

    producer = RateProducer(endpoints.kafka_bootstrap_servers, plan.input_topic, seed=int(time.time()))
    producer.start()
    samples: list[Sample] = []
    started = time.monotonic()
    phase = "steady"
    burst_thread: threading.Thread | None = None
    min_replicas = int(plan.scaling.get("minReplicas", 1))

    def table(sample: Sample) -> Table:
        rate = 0.0
        if len(samples) > 1:
            a, b = samples[-2], samples[-1]
            rate = (b.scored_total - a.scored_total) / max(b.t_seconds - a.t_seconds, 1e-6)
        view = Table(title=f"DetectionPipeline {plan.namespace}/{plan.pipeline} — {phase}", show_header=True)
        for column in ("t (s)", "replicas ready/desired", "lag", "scored/s", "produced", "scored", "dead-lettered"):
            view.add_column(column, justify="right")
        view.add_row(f"{sample.t_seconds:.0f}", f"{sample.ready_replicas}/{sample.desired_replicas or '-'}",
                     "?" if sample.lag_messages is None else f"{sample.lag_messages:,}", f"{rate:,.0f}",
                     f"{sample.produced_total:,}", f"{sample.scored_total:,}", f"{sample.dead_lettered_total:,}")
        return view

    scaled_up = False
    with Live(console=console, refresh_per_second=2, transient=False) if live else _NoLive() as display:
        while True:
            elapsed = time.monotonic() - started
            if phase == "steady":
                producer.rate_per_second = plan.steady_rate_per_second
                if elapsed >= plan.steady_seconds:
                    phase = "burst"
                    producer.rate_per_second = 0
                    burst_thread = threading.Thread(target=producer.burst, args=(plan.burst_messages,), daemon=True)
                    burst_thread.start()
            elif phase == "burst" and burst_thread is not None and not burst_thread.is_alive():
                producer.produce_mail_files(sorted(MAIL_DIR.glob("*.eml")))
                producer.produce_poison(5)
                phase = "draining"
                drain_started = time.monotonic()
            sample = observe(api, admin, plan, started=started, producer=producer)
            samples.append(sample)
            scaled_up = scaled_up or sample.ready_replicas > min_replicas
            display.update(table(sample))
            if not live and len(samples) % 5 == 1:
                say(f"  {phase:8} replicas {sample.ready_replicas}/{sample.desired_replicas or '-'}  lag "
                    f"{sample.lag_messages}  produced {sample.produced_total:,}  scored {sample.scored_total:,}  "
                    f"dead-lettered {sample.dead_lettered_total:,}")
            if phase == "draining":
                drained = sample.lag_messages == 0 and scaled_up and sample.replicas <= min_replicas
                if drained or time.monotonic() - drain_started > plan.drain_timeout_seconds:
                    break
            time.sleep(1)
    unacknowledged = producer.stop()
    accounting = account(endpoints.kafka_bootstrap_servers, output_topic=plan.output_topic,
                         dead_letter_topic=plan.dead_letter_topic, produced_ids=producer.produced_ids)
    missing = accounting.missing(producer.produced_ids)
    events = scale_events(api, namespace=plan.namespace, name=plan.pipeline)
    plot = write_plot(samples, plan.plot_path, title=f"scorefleet demo: {plan.namespace}/{plan.pipeline}")
    last = samples[-1]
    say("")
    say("summary")
    say(f"  produced         {producer.produced:,} ({unacknowledged} not acknowledged)")
    say(f"  scored           {len(accounting.scored_ids):,}  by verdict {dict(accounting.verdicts)}")
    say(f"  dead-lettered    {len(accounting.dead_lettered_ids):,}  by reason {dict(accounting.dead_letter_reasons)}")
    say(f"  missing          {len(missing):,}")
    say(f"  final lag        {last.lag_messages}, replicas {last.replicas} (min {min_replicas})")
    say(f"  peak replicas    {max(s.ready_replicas for s in samples)}")
    say("  scale events:")
    for when, reason, message in events:
        say(f"    {when}  {reason}: {message}")
    say("  sample score records:")
    for record in accounting.samples:
        say(f"    {json.dumps(record)[:200]}")
    say(f"  plot             {plot}")
    say("")
    say("The stack stays up. Look around:")
    say('  eval "$(.venv/bin/scorefleet devstack env)"')
    say(f"  kubectl get dp -n {plan.namespace}; kubectl describe dp -n {plan.namespace} {plan.pipeline}")
    say(f"  kubectl get pods -A; Prometheus at {endpoints.prometheus_url}")
    say("  make down   # stops everything")
    ok = not missing and unacknowledged == 0 and last.lag_messages == 0 and scaled_up
    return 0 if ok else 1


class _NoLive:
    """Stands in for rich's Live when output is not a terminal (tests): updates are dropped."""

    def __enter__(self) -> _NoLive:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, renderable: object) -> None:
        """Drop the update."""
