"""Fixtures for the operator's integration tests: the CRD installed on the real apiserver, the
operator's RBAC from deploy/rbac.yaml bound to a test ServiceAccount (token from the TokenRequest
API), and the operator itself as a real subprocess (`scorefleet-operator`) with that identity.

Waiting is always on a condition with a deadline (`wait_for`), never a bare sleep.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from detection_operator import crdgen
from detection_operator.api.pipeline import GROUP, PLURAL, VERSION
from kubernetes import client as k8s

from tests.waiting import wait_for

REPO = Path(__file__).resolve().parents[3]
RBAC_FILE = REPO / "deploy" / "rbac.yaml"
OPERATOR_BIN = REPO / ".venv" / "bin" / "scorefleet-operator"
SCORER_BIN = REPO / ".venv" / "bin" / "scorefleet-scorer"
APPLY = "application/apply-patch+yaml"
TEST_MANAGER = "scorefleet-tests"
SA_NAMESPACE = "scorefleet-it-operator"
SA_NAME = "scorefleet-operator-it"

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def crd_installed(kube_api: k8s.ApiClient) -> None:
    """The generated DetectionPipeline CRD, applied and Established."""
    ext = k8s.ApiextensionsV1Api(kube_api)
    ext.patch_custom_resource_definition(
        crdgen.CRD_NAME, crdgen.crd(), field_manager=TEST_MANAGER, force=True, _content_type=APPLY
    )

    def established() -> bool:
        crd = ext.read_custom_resource_definition(crdgen.CRD_NAME)
        conditions = (crd.status.conditions if crd.status else None) or []
        return any(c.type == "Established" and c.status == "True" for c in conditions)

    wait_for(established, timeout_seconds=30, what="the CRD to be Established")


@pytest.fixture(scope="session")
def operator_kubeconfig(
    kube_api: k8s.ApiClient, stack: Any, crd_installed: None, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A kubeconfig for a ServiceAccount bound to exactly the ClusterRole in deploy/rbac.yaml."""
    documents = [d for d in yaml.safe_load_all(RBAC_FILE.read_text()) if d]
    (role,) = [d for d in documents if d["kind"] == "ClusterRole"]
    rbac = k8s.RbacAuthorizationV1Api(kube_api)
    core = k8s.CoreV1Api(kube_api)
    rbac.patch_cluster_role(role["metadata"]["name"], role, field_manager=TEST_MANAGER, force=True,
                            _content_type=APPLY)
    core.patch_namespace(SA_NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SA_NAMESPACE}},
                         field_manager=TEST_MANAGER, force=True, _content_type=APPLY)
    core.patch_namespaced_service_account(
        SA_NAME, SA_NAMESPACE,
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": SA_NAME, "namespace": SA_NAMESPACE}},
        field_manager=TEST_MANAGER, force=True, _content_type=APPLY,
    )
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": SA_NAME},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role["metadata"]["name"]},
        "subjects": [{"kind": "ServiceAccount", "name": SA_NAME, "namespace": SA_NAMESPACE}],
    }
    rbac.patch_cluster_role_binding(SA_NAME, binding, field_manager=TEST_MANAGER, force=True, _content_type=APPLY)
    issued = core.create_namespaced_service_account_token(
        SA_NAME, SA_NAMESPACE, k8s.AuthenticationV1TokenRequest(spec=k8s.V1TokenRequestSpec(
            audiences=[], expiration_seconds=4 * 3600))
    )
    assert issued.status is not None
    token = issued.status.token
    admin = yaml.safe_load(Path(stack.kubeconfig).read_text())
    cluster = admin["clusters"][0]["cluster"]
    if "certificate-authority" in cluster:  # a relative CA path is relative to the admin kubeconfig
        ca = Path(stack.kubeconfig).parent / cluster["certificate-authority"]
        cluster = {**cluster, "certificate-authority": str(ca)}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "devstack", "cluster": cluster}],
        "users": [{"name": SA_NAME, "user": {"token": token}}],
        "contexts": [{"name": "operator", "context": {"cluster": "devstack", "user": SA_NAME}}],
        "current-context": "operator",
    }
    path = tmp_path_factory.mktemp("operator") / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


@dataclass
class OperatorProcess:
    """A running `scorefleet-operator` subprocess."""

    process: subprocess.Popen[bytes]
    log_path: Path
    metrics_port: int
    liveness_port: int

    def metrics_text(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as response:
            return str(response.read().decode())

    def metric(self, name: str, labels: str = "") -> float:
        """Value of one sample (`name{labels}`), 0 when absent."""
        wanted = f"{name}{{{labels}}}" if labels else name
        for line in self.metrics_text().splitlines():
            if line.startswith(wanted + " "):
                return float(line.split()[-1])
        return 0.0

    def alive(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.liveness_port}/healthz", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


OperatorFactory = Callable[..., OperatorProcess]


@pytest.fixture
def start_operator(operator_kubeconfig: Path, tmp_path: Path) -> Iterator[OperatorFactory]:
    """`start(namespace, **env) -> OperatorProcess`: the real operator, watching `namespace` only,
    as the RBAC-bound ServiceAccount; returns once its liveness endpoint answers. Stopped after the test."""
    started: list[OperatorProcess] = []

    def start(namespace: str, *, wait_alive: bool = True, **env: str) -> OperatorProcess:
        metrics_port, liveness_port = free_port(), free_port()
        log_path = tmp_path / f"operator-{len(started)}.log"
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("KUBERNETES_", "SCOREFLEET_"))}
        environment.update(
            KUBECONFIG=str(operator_kubeconfig),
            SCOREFLEET_OPERATOR_NAMESPACES=namespace,
            SCOREFLEET_OPERATOR_PEERING__STANDALONE="true",
            SCOREFLEET_OPERATOR_OBSERVABILITY__METRICS_HOST="127.0.0.1",
            SCOREFLEET_OPERATOR_OBSERVABILITY__METRICS_PORT=str(metrics_port),
            SCOREFLEET_OPERATOR_OBSERVABILITY__LIVENESS_HOST="127.0.0.1",
            SCOREFLEET_OPERATOR_OBSERVABILITY__LIVENESS_PORT=str(liveness_port),
            SCOREFLEET_OPERATOR_SCORER__IMAGE="registry.local/scorefleet-scorer:it",
            SCOREFLEET_OPERATOR_WATCH__RESYNC_INTERVAL_SECONDS="60",
        )
        environment.update(env)
        with log_path.open("wb") as log:  # the child keeps its own descriptor
            process = subprocess.Popen([str(OPERATOR_BIN)], env=environment, stdout=log, stderr=subprocess.STDOUT)
        operator = OperatorProcess(process, log_path, metrics_port, liveness_port)
        started.append(operator)
        if wait_alive:
            def alive() -> bool:
                if process.poll() is not None:
                    pytest.fail(f"operator exited with {process.returncode}:\n{operator.log_tail()}")
                return operator.alive()

            wait_for(alive, timeout_seconds=30, what="the operator's liveness endpoint")
        return operator

    yield start
    for operator in started:
        operator.stop()
        if "ERROR" in operator.log_path.read_text(errors="replace"):
            sys.stderr.write(f"--- operator log ({operator.log_path}) ---\n{operator.log_tail(80)}\n")


#: Prefix of this suite's namespaces. An operator installed cluster-wide on the same stack (the
#: Helm chart) should exclude it (SCOREFLEET_OPERATOR_NAMESPACES="!opit-*,!bench-op-*"), or it
#: reconciles these pipelines too and hides what the operator under test does.
NAMESPACE_PREFIX = "opit-"


@pytest.fixture
def namespace(kube_api: k8s.ApiClient) -> Iterator[str]:
    """A fresh namespace named opit-<hex> (overrides the shared fixture's name); deleted afterwards."""
    core = k8s.CoreV1Api(kube_api)
    name = f"{NAMESPACE_PREFIX}{uuid.uuid4().hex[:10]}"
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name, labels={"scorefleet.io/test": "true"})))
    yield name
    core.delete_namespace(name, propagation_policy="Background")


@pytest.fixture
def custom(kube_api: k8s.ApiClient) -> k8s.CustomObjectsApi:
    return k8s.CustomObjectsApi(kube_api)


def pipeline_manifest(name: str, *, input_topic: str = "mail.inbound", output_topic: str = "mail.scores",
                      min_replicas: int = 0, max_replicas: int = 2, model_version: str = "1",
                      model_uri: str = "http://127.0.0.1:18080/none.onnx", sha256: str = "0" * 64,
                      bootstrap_servers: str = "127.0.0.1:19092", scorer: dict[str, Any] | None = None,
                      ) -> dict[str, Any]:
    """A DetectionPipeline manifest (defaults: scaled to zero, so no pods start)."""
    spec: dict[str, Any] = {
        "kafka": {"bootstrapServers": bootstrap_servers, "inputTopic": input_topic, "outputTopic": output_topic},
        "model": {"name": "phishing-linear", "version": model_version, "uri": model_uri, "sha256": sha256},
        "scaling": {"minReplicas": min_replicas, "maxReplicas": max_replicas},
    }
    if scorer:
        spec["scorer"] = scorer
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "DetectionPipeline", "metadata": {"name": name}, "spec": spec}


def create_pipeline(custom: k8s.CustomObjectsApi, namespace: str, manifest: dict[str, Any]) -> dict[str, Any]:
    return cast(dict[str, Any], custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, manifest, field_validation="Strict"
    ))


def get_pipeline(custom: k8s.CustomObjectsApi, namespace: str, name: str) -> dict[str, Any]:
    return cast(dict[str, Any], custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name))


def condition(pipeline: dict[str, Any], type_: str) -> dict[str, Any] | None:
    for c in (pipeline.get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return dict(c)
    return None


def reconciled(pipeline: dict[str, Any]) -> bool:
    status = pipeline.get("status") or {}
    return bool(status.get("observedGeneration") == pipeline["metadata"]["generation"])


def pipeline_events(core: k8s.CoreV1Api, namespace: str, name: str) -> list[k8s.CoreV1Event]:
    events = core.list_namespaced_event(
        namespace, field_selector=f"involvedObject.kind=DetectionPipeline,involvedObject.name={name}"
    ).items
    return list(events)


@pytest.fixture(scope="session")
def model_artifact(stack: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The default model trained once and placed in the model store: {uri, sha256, name, version, path}."""
    out = tmp_path_factory.mktemp("model")
    result = subprocess.run([str(SCORER_BIN), "train", "--out", str(out)], capture_output=True, check=True,
                            timeout=600)
    info = json.loads(result.stdout.decode().strip().splitlines()[-1])
    source = Path(info["path"])
    models_dir = Path(stack.models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    target = models_dir / f"it-{info['sha256'][:12]}{source.suffix}"
    if not target.exists():
        target.write_bytes(source.read_bytes())
    return {**info, "uri": f"{stack.model_store_url.rstrip('/')}/{target.name}", "path": str(target)}
