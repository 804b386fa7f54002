"""The dev stack's components and its lifecycle: `up`, `down`, `status`, `env`.

Top of the dev stack: `cli` calls these; they use `builds` for binaries, `pki` for credentials
and `processes` to run each component on loopback with a log and a pid file under the state dir.
Order of start: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, Kafka, the lag
exporter, Prometheus, the model store, the node agent; `down` stops them in reverse.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import ssl
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from . import builds, pki
from .config import REPO_ROOT, StackSettings
from .node_agent.settings import POD_IP_PREFIX
from .node_agent.sockets import pids_listening_under
from .processes import Component, StackError, Supervisor, port_in_use, terminate

NODE_NAME = "scorefleet-node"
ORDER = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kafka", "lag-exporter",
         "pod-discovery", "prometheus", "model-store", "node-agent")


@dataclass(frozen=True)
class Endpoints:
    """What clients of the stack connect to; printed by `env`."""

    kubeconfig: Path
    kafka_bootstrap_servers: str
    prometheus_url: str
    model_store_url: str
    models_dir: Path


@dataclass(frozen=True)
class Reused:
    """Services already reachable from the environment, which `up` uses instead of starting its own."""

    kubeconfig: Path | None
    kafka_bootstrap_servers: str | None
    prometheus_url: str | None


def _http_ok(url: str, *, context: ssl.SSLContext | None = None, expect: bytes | None = None) -> bool:
    with urllib.request.urlopen(url, timeout=2, context=context) as response:
        body: bytes = response.read()
        return response.status == 200 and (expect is None or expect in body)


def _tls_context(settings: StackSettings, *, client: str | None = "admin", verify: bool = True) -> ssl.SSLContext:
    if verify:
        context = ssl.create_default_context(cafile=str(settings.pki_dir / "ca.crt"))
    else:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if client is not None:
        context.load_cert_chain(str(settings.pki_dir / f"{client}.crt"), str(settings.pki_dir / f"{client}.key"))
    return context


def _kafka_ready(bootstrap_servers: str) -> bool:
    from confluent_kafka.admin import AdminClient

    host, port = bootstrap_servers.split(",")[0].rsplit(":", 1)
    if not port_in_use(int(port), host):
        return False
    metadata = AdminClient({"bootstrap.servers": bootstrap_servers, "log_level": 0}).list_topics(timeout=2)
    return bool(metadata.brokers)


def reused_services(settings: StackSettings) -> Reused:
    """Which of KUBECONFIG, KAFKA_BOOTSTRAP_SERVERS and PROMETHEUS_URL point at reachable services
    other than this stack's own (DESIGN.md: use kind, k3d or a real cluster when given one)."""
    kubeconfig = os.environ.get("KUBECONFIG")
    kube: Path | None = None
    if kubeconfig and Path(kubeconfig).resolve() != settings.kubeconfig.resolve():
        probe = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "get", "--raw", "/readyz"],
                               capture_output=True, timeout=10, check=False) if shutil.which("kubectl") else None
        if probe is not None and probe.returncode == 0:
            kube = Path(kubeconfig)
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    own_kafka = f"127.0.0.1:{settings.ports.kafka}"
    if kafka and kafka != own_kafka:
        try:
            kafka = kafka if _kafka_ready(kafka) else None
        except Exception:
            kafka = None
    else:
        kafka = None
    prometheus = os.environ.get("PROMETHEUS_URL")
    if prometheus and prometheus.rstrip("/") != f"http://127.0.0.1:{settings.ports.prometheus}":
        try:
            prometheus = prometheus if _http_ok(prometheus.rstrip("/") + "/-/ready") else None
        except Exception:
            prometheus = None
    else:
        prometheus = None
    return Reused(kubeconfig=kube, kafka_bootstrap_servers=kafka, prometheus_url=prometheus)


def endpoints(settings: StackSettings, reused: Reused | None = None) -> Endpoints:
    """The endpoints clients use: reused services where given, else this stack's own."""
    reused = reused or Reused(None, None, None)
    return Endpoints(
        kubeconfig=reused.kubeconfig or settings.kubeconfig,
        kafka_bootstrap_servers=reused.kafka_bootstrap_servers or f"127.0.0.1:{settings.ports.kafka}",
        prometheus_url=reused.prometheus_url or f"http://127.0.0.1:{settings.ports.prometheus}",
        model_store_url=f"http://127.0.0.1:{settings.ports.model_store}",
        models_dir=settings.models_dir,
    )


def _kafka_properties(settings: StackSettings) -> str:
    """The broker's server.properties: one KRaft node (broker and controller) on loopback.

    Segments are Kafka's default 1 GiB: a broker fsyncs a segment when it rolls it, and with
    100 MiB segments the benchmark's raw-mail stream (~140 MB/s over six partitions) rolled all
    six every ~3.5 s, a ~600 MB fsync burst that stalled the shared two cores each time.

    A deleted topic's files go after 1 s, not Kafka's default 60 s: tests and benchmarks delete
    their topics when done, and a minute later the broker's unlinking of their gigabytes (page
    cache freed in the kernel, ~1.5 s of a core) landed in the middle of the next measurement.
    """
    p = settings.ports
    data = settings.state_dir / "kafka" / "data"
    return "\n".join([
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.bootstrap.servers=127.0.0.1:{p.kafka_controller}",
        f"listeners=PLAINTEXT://127.0.0.1:{p.kafka},CONTROLLER://127.0.0.1:{p.kafka_controller}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{p.kafka}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        f"log.dirs={data}",
        "num.partitions=1",
        "auto.create.topics.enable=false",
        "offsets.topic.replication.factor=1",
        "offsets.topic.num.partitions=10",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        "log.retention.hours=24",
        "log.segment.bytes=1073741824",
        "file.delete.delay.ms=1000",
        "",
    ])


KAFKA_LOG4J2 = """\
Configuration:
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: kafka.server.KafkaConfig
        level: WARN
      - name: org.apache.kafka.clients
        level: WARN
"""


def _prometheus_config(settings: StackSettings, ends: Endpoints, *, scrape_pods: bool) -> dict[str, object]:
    scrape: list[dict[str, object]] = [
        {"job_name": "kafka-lag", "static_configs": [{"targets": [f"127.0.0.1:{settings.ports.lag_exporter}"]}]},
    ]
    if scrape_pods:
        scrape.append({"job_name": "kubernetes-pods",
                       "file_sd_configs": [{"files": [str(settings.state_dir / "prometheus" / "pods.json")],
                                            "refresh_interval": "5s"}]})
    return {"global": {"scrape_interval": "5s", "evaluation_interval": "5s", "scrape_timeout": "4s"},
            "scrape_configs": scrape}


def components(settings: StackSettings, binaries: builds.Binaries, reused: Reused) -> list[Component]:
    """The stack's components in start order, without those replaced by reused services."""
    p, state, pki_dir = settings.ports, settings.state_dir, settings.pki_dir
    ends = endpoints(settings, reused)
    apiserver_url = f"https://127.0.0.1:{p.apiserver}"
    python = sys.executable
    out: list[Component] = []

    if reused.kubeconfig is None:
        def prepare_pki() -> None:
            pki.ensure_pki(pki_dir, apiserver_url=apiserver_url)
            shutil.copyfile(pki_dir / "admin.kubeconfig", settings.kubeconfig)
            settings.kubeconfig.chmod(0o600)

        out.append(Component(
            name="etcd", ports=(p.etcd_client, p.etcd_peer), prepare=prepare_pki,
            argv=[str(binaries.etcd), "--name", "scorefleet", "--data-dir", str(state / "etcd"),
                  "--listen-client-urls", f"http://127.0.0.1:{p.etcd_client}",
                  "--advertise-client-urls", f"http://127.0.0.1:{p.etcd_client}",
                  "--listen-peer-urls", f"http://127.0.0.1:{p.etcd_peer}",
                  "--initial-advertise-peer-urls", f"http://127.0.0.1:{p.etcd_peer}",
                  "--initial-cluster", f"scorefleet=http://127.0.0.1:{p.etcd_peer}",
                  "--unsafe-no-fsync", "--log-level", "warn"],
            ready=lambda: _http_ok(f"http://127.0.0.1:{p.etcd_client}/health", expect=b'"true"'),
        ))
        out.append(Component(
            name="kube-apiserver", ports=(p.apiserver,),
            argv=[str(binaries.kube("kube-apiserver")),
                  f"--etcd-servers=http://127.0.0.1:{p.etcd_client}", "--bind-address=127.0.0.1",
                  f"--secure-port={p.apiserver}", "--advertise-address=127.0.0.1",
                  "--authorization-mode=RBAC", f"--client-ca-file={pki_dir / 'ca.crt'}",
                  f"--tls-cert-file={pki_dir / 'apiserver.crt'}", f"--tls-private-key-file={pki_dir / 'apiserver.key'}",
                  f"--service-account-key-file={pki_dir / 'sa.pub'}",
                  f"--service-account-signing-key-file={pki_dir / 'sa.key'}",
                  "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                  "--api-audiences=https://kubernetes.default.svc.cluster.local",
                  "--service-cluster-ip-range=10.0.0.0/24", "--allow-privileged=true",
                  "--enable-admission-plugins=NamespaceLifecycle,ServiceAccount,DefaultStorageClass,ResourceQuota,"
                  "LimitRanger,PodSecurity",
                  "--endpoint-reconciler-type=lease", "--profiling=false", "--v=1"],
            ready=lambda: _http_ok(f"{apiserver_url}/readyz", context=_tls_context(settings), expect=b"ok"),
            stop_grace_seconds=10,
        ))
        out.append(Component(
            name="kube-controller-manager", ports=(p.controller_manager,),
            argv=[str(binaries.kube("kube-controller-manager")),
                  f"--kubeconfig={pki_dir / 'controller-manager.kubeconfig'}",
                  f"--authentication-kubeconfig={pki_dir / 'controller-manager.kubeconfig'}",
                  f"--authorization-kubeconfig={pki_dir / 'controller-manager.kubeconfig'}",
                  "--bind-address=127.0.0.1", f"--secure-port={p.controller_manager}",
                  f"--service-account-private-key-file={pki_dir / 'sa.key'}",
                  f"--root-ca-file={pki_dir / 'ca.crt'}",
                  f"--cluster-signing-cert-file={pki_dir / 'ca.crt'}",
                  f"--cluster-signing-key-file={pki_dir / 'ca.key'}",
                  "--use-service-account-credentials=true", "--leader-elect=false",
                  "--controllers=*,-nodeipam,-service-lb-controller,-cloud-node-lifecycle-controller",
                  "--concurrent-deployment-syncs=10", "--concurrent-replicaset-syncs=10", "--v=1"],
            ready=lambda: _http_ok(f"https://127.0.0.1:{p.controller_manager}/healthz",
                                   context=_tls_context(settings, client=None, verify=False), expect=b"ok"),
            stop_grace_seconds=5,
        ))
        out.append(Component(
            name="kube-scheduler", ports=(p.scheduler,),
            argv=[str(binaries.kube("kube-scheduler")), f"--kubeconfig={pki_dir / 'scheduler.kubeconfig'}",
                  f"--authentication-kubeconfig={pki_dir / 'scheduler.kubeconfig'}",
                  f"--authorization-kubeconfig={pki_dir / 'scheduler.kubeconfig'}",
                  "--bind-address=127.0.0.1", f"--secure-port={p.scheduler}", "--leader-elect=false", "--v=1"],
            ready=lambda: _http_ok(f"https://127.0.0.1:{p.scheduler}/healthz",
                                   context=_tls_context(settings, client=None, verify=False), expect=b"ok"),
            stop_grace_seconds=5,
        ))

    if reused.kafka_bootstrap_servers is None:
        kafka_dir = state / "kafka"

        def prepare_kafka() -> None:
            kafka_dir.mkdir(parents=True, exist_ok=True)
            (kafka_dir / "server.properties").write_text(_kafka_properties(settings))
            (kafka_dir / "log4j2.yaml").write_text(KAFKA_LOG4J2)
            if not (kafka_dir / "data" / "meta.properties").exists():
                cluster_id = kafka_cluster_id()
                result = subprocess.run(
                    ["java", "-cp", f"{binaries.kafka_libs}/*",
                     f"-Dlog4j2.configurationFile={kafka_dir / 'log4j2.yaml'}",
                     "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(kafka_dir / "server.properties"),
                     "--standalone"], capture_output=True, text=True, check=False)
                if result.returncode != 0:
                    raise StackError(f"formatting Kafka storage failed:\n{result.stdout}{result.stderr}")

        out.append(Component(
            name="kafka", ports=(p.kafka, p.kafka_controller), prepare=prepare_kafka,
            argv=["java", "-Xms512m", "-Xmx1g", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true",
                  f"-Dlog4j2.configurationFile={kafka_dir / 'log4j2.yaml'}", "-cp", f"{binaries.kafka_libs}/*",
                  "kafka.Kafka", str(kafka_dir / "server.properties")],
            ready=lambda: _kafka_ready(ends.kafka_bootstrap_servers),
            stop_grace_seconds=20,
        ))
    out.append(Component(
        name="lag-exporter", ports=(p.lag_exporter,),
        argv=[python, "-m", "scorefleet_devstack.lag_exporter", "--bootstrap-servers", ends.kafka_bootstrap_servers,
              "--listen", f"127.0.0.1:{p.lag_exporter}"],
        ready=lambda: _http_ok(f"http://127.0.0.1:{p.lag_exporter}/metrics", expect=b"kafka_exporter_scrape_error 0"),
        stop_grace_seconds=5,
    ))
    prom_dir = state / "prometheus"
    if reused.kubeconfig is None and reused.prometheus_url is None:
        out.append(Component(
            name="pod-discovery", prepare=lambda: prom_dir.mkdir(parents=True, exist_ok=True),
            argv=[python, "-m", "scorefleet_devstack.pod_discovery",
                  "--kubeconfig", str(pki_dir / "prometheus.kubeconfig"), "--output", str(prom_dir / "pods.json")],
            ready=lambda: (prom_dir / "pods.json").exists(),
            stop_grace_seconds=3,
        ))
    if reused.prometheus_url is None:

        def prepare_prometheus() -> None:
            prom_dir.mkdir(parents=True, exist_ok=True)
            config = _prometheus_config(settings, ends, scrape_pods=reused.kubeconfig is None)
            (prom_dir / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))

        out.append(Component(
            name="prometheus", ports=(p.prometheus,), prepare=prepare_prometheus,
            argv=[str(binaries.prometheus), f"--config.file={prom_dir / 'prometheus.yml'}",
                  f"--storage.tsdb.path={prom_dir / 'data'}", f"--web.listen-address=127.0.0.1:{p.prometheus}",
                  "--web.enable-lifecycle", "--storage.tsdb.retention.time=1d", "--log.level=warn"],
            ready=lambda: _http_ok(f"http://127.0.0.1:{p.prometheus}/-/ready"),
            stop_grace_seconds=10,
        ))
    out.append(Component(
        name="model-store", ports=(p.model_store,),
        prepare=lambda: settings.models_dir.mkdir(parents=True, exist_ok=True),
        argv=[python, "-m", "http.server", str(p.model_store), "--bind", "127.0.0.1", "--directory",
              str(settings.models_dir)],
        ready=lambda: _http_ok(f"http://127.0.0.1:{p.model_store}/"),
        stop_grace_seconds=3,
    ))
    if reused.kubeconfig is None:
        image_map = state / "image-map.json"

        def prepare_node_agent() -> None:
            venv_bin = Path(sys.executable).parent
            image_map.write_text(json.dumps({
                "scorefleet-scorer": [str(venv_bin / "scorefleet-scorer")],
                "scorefleet-operator": [str(venv_bin / "scorefleet-operator")],
            }, indent=2))

        out.append(Component(
            name="node-agent", ports=(), prepare=prepare_node_agent,
            argv=[python, "-m", "scorefleet_devstack.node_agent",
                  "--kubeconfig", str(pki_dir / "node-agent.kubeconfig"),
                  "--state-dir", str(state / "node-agent"), "--node-name", NODE_NAME, "--image-map", str(image_map),
                  "--apiserver-host", "127.0.0.1", "--apiserver-port", str(p.apiserver)],
            ready=lambda: _node_ready(settings),
            stop_grace_seconds=45,
        ))
    return out


def _node_ready(settings: StackSettings) -> bool:
    url = f"https://127.0.0.1:{settings.ports.apiserver}/api/v1/nodes/{NODE_NAME}"
    with urllib.request.urlopen(url, timeout=2, context=_tls_context(settings)) as response:
        node = json.load(response)
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node.get("status", {}).get("conditions", []))


def up(settings: StackSettings, *, skip: frozenset[str] = frozenset(), say: Callable[[str], None] = print) -> Endpoints:
    """Build what is missing, then start every component not already running and wait for each to
    be ready. Idempotent. On any failure every component is stopped again and StackError raised
    (with the failing component's log tail), so nothing is left half-started. Components named in
    `skip` (see ORDER) are not started."""
    started = time.monotonic()
    binaries = builds.ensure_all(settings, say=say)
    reused = reused_services(settings)
    for what, value in (("cluster", reused.kubeconfig), ("Kafka", reused.kafka_bootstrap_servers),
                        ("Prometheus", reused.prometheus_url)):
        if value is not None:
            say(f"up: using the existing {what} at {value}")
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    supervisor = Supervisor(pids_dir=settings.pids_dir, logs_dir=settings.logs_dir, say=say)
    say(f"up: starting the stack (state in {settings.state_dir})")
    try:
        for component in components(settings, binaries, reused):
            if component.name in skip:
                say(f"  {component.name}: skipped")
                continue
            supervisor.start(component, timeout_seconds=settings.ready_timeout_seconds)
    except BaseException:
        say("up: failed; stopping everything it started")
        stop_all(settings, say=say)
        raise
    say(f"up: ready in {time.monotonic() - started:.1f} s")
    return endpoints(settings, reused)


def kafka_cluster_id() -> str:
    """A random Kafka cluster id: a UUID as 22 characters of URL-safe base64, never starting with
    '-' (a command line would read it as an option), as Kafka's own `Uuid.randomUuid` ensures."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def stop_all(settings: StackSettings, *, say: Callable[[str], None] = print) -> None:
    """Stop every component that has a live pid file, in reverse start order; then, if this stack
    ran a node agent, the pod processes it left behind (`stop_leftover_pods`)."""
    supervisor = Supervisor(pids_dir=settings.pids_dir, logs_dir=settings.logs_dir, say=say)
    for name in reversed(ORDER):
        grace = 45.0 if name == "node-agent" else 20.0
        if supervisor.stop(name, grace_seconds=grace):
            say(f"  {name}: stopped")
        if name == "node-agent" and (settings.state_dir / "node-agent").is_dir():
            stop_leftover_pods(say=say)


def stop_leftover_pods(
    *, prefix: str = POD_IP_PREFIX, grace_seconds: float = 10.0, say: Callable[[str], None] = print
) -> None:
    """Stop processes still listening on a pod IP (under `prefix`) once the node agent is gone: pods
    of an agent that was killed (SIGKILL, a crash) outlive it and would hold their address into the
    next stack. SIGTERM, then SIGKILL after `grace_seconds`."""
    leftovers = pids_listening_under(prefix)
    for pid, addresses in sorted(leftovers.items()):
        say(f"  leftover pod process {pid} on {', '.join(sorted(addresses))}: stopping")
    terminate(list(leftovers), grace_seconds=grace_seconds)


def down(settings: StackSettings, *, keep_state: bool = False, say: Callable[[str], None] = print) -> None:
    """Stop every component this stack started (by pid) and remove the state dir unless `keep_state`."""
    say("down: stopping the stack")
    stop_all(settings, say=say)
    if not keep_state and settings.state_dir.exists():
        shutil.rmtree(settings.state_dir)
        say(f"down: removed {settings.state_dir}")


@dataclass(frozen=True)
class ComponentStatus:
    """One row of `status`: whether the process lives, the port it answers on, its log file."""

    name: str
    pid: int | None
    listening: str
    log: Path


def status(settings: StackSettings) -> list[ComponentStatus]:
    """The state of each component, in start order."""
    supervisor = Supervisor(pids_dir=settings.pids_dir, logs_dir=settings.logs_dir)
    p = settings.ports
    port_of = {"etcd": p.etcd_client, "kube-apiserver": p.apiserver, "kube-controller-manager": p.controller_manager,
               "kube-scheduler": p.scheduler, "kafka": p.kafka, "lag-exporter": p.lag_exporter,
               "prometheus": p.prometheus, "model-store": p.model_store}
    rows = []
    for name in ORDER:
        port = port_of.get(name)
        listening = "-" if port is None else (f"127.0.0.1:{port}" if port_in_use(port) else f"not listening ({port})")
        rows.append(ComponentStatus(name=name, pid=supervisor.running_pid(name), listening=listening,
                                    log=supervisor.log_file(name)))
    return rows


def env_lines(settings: StackSettings) -> list[str]:
    """Shell `export` lines for the stack's endpoints (`eval "$(scorefleet devstack env)"`)."""
    ends = endpoints(settings, reused_services(settings))
    kubectl = settings.build_dir("kubernetes", settings.versions.kubernetes) / "bin"
    helm = settings.build_dir("helm", settings.versions.helm) / "bin"
    return [f"export KUBECONFIG={ends.kubeconfig}",
            f"export KAFKA_BOOTSTRAP_SERVERS={ends.kafka_bootstrap_servers}",
            f"export PROMETHEUS_URL={ends.prometheus_url}",
            f"export MODEL_STORE_URL={ends.model_store_url}",
            f"export PATH={kubectl}:{helm}:{Path(sys.executable).parent}:$PATH"]


__all__ = ["REPO_ROOT", "Endpoints", "StackError", "down", "endpoints", "env_lines", "status", "up"]
