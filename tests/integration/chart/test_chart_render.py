"""The Helm chart, rendered with `helm lint` / `helm template` (the stack's helm; no cluster needed).

Checks what a platform engineer relies on: the restricted securityContext, RBAC equal to the
operator's own deploy/rbac.yaml (cluster-wide, or a Role per watched namespace), settings env that
the operator actually reads, endpoints bound to the pod IP, peering when replicas > 1, the CRD
identical to crds/, and alerts that are valid PromQL, fire when they should (promtool) and use
metric names the operator and scorer expose.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from detection_operator.api.pipeline import DetectionPipelineSpec
from detection_operator.metrics import OperatorMetrics
from detection_operator.render import LABEL_PIPELINE, PipelineRef, RenderDefaults
from detection_operator.render import render as render_children
from detection_operator.settings import OperatorSettings
from helm_chart import CHART, KUBE_VERSION, RELEASE_NAMESPACE, REPO, Manifest, Render, of_kind, one, write_values
from prometheus_client import CollectorRegistry
from pydantic import BaseModel
from scorer.metrics import ScorerMetrics

RBAC_FILE = REPO / "deploy" / "rbac.yaml"
CRD_FILE = REPO / "crds" / "detectionpipelines.scorefleet.io.yaml"
ENV_PREFIX = "SCOREFLEET_OPERATOR_"
AUTOSCALE_PREFIX = "SCOREFLEET_OPERATOR_AUTOSCALE__"
#: Resources a namespaced Role cannot grant (cluster-scoped).
CLUSTER_SCOPED = {("kopf.dev", "clusterkopfpeerings"), ("apiextensions.k8s.io", "customresourcedefinitions"),
                  ("", "namespaces")}
NAMESPACED_VALUES = {"watchNamespaces": ["team-a", "team-b"]}
MONITORING_VALUES = {"serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True}}

Triple = tuple[str, str, str]


def rule_triples(rules: list[dict[str, Any]]) -> set[Triple]:
    """RBAC rules as (apiGroup, resource, verb) triples, so equal grants compare equal."""
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule.get("verbs", [])
    }


def operator_rules() -> set[Triple]:
    """The rules of the operator's own ClusterRole (deploy/rbac.yaml, owned by the operator engineer)."""
    (role,) = [d for d in yaml.safe_load_all(RBAC_FILE.read_text()) if d and d["kind"] == "ClusterRole"]
    return rule_triples(role["rules"])


def operator_container(manifests: list[Manifest]) -> dict[str, Any]:
    (container,) = one(manifests, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container["env"]}


# ---- lint -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [
        pytest.param({}, id="defaults"),
        pytest.param(NAMESPACED_VALUES, id="namespaced"),
        pytest.param({"replicaCount": 2}, id="two-replicas-peering"),
        pytest.param(MONITORING_VALUES, id="servicemonitor-prometheusrule"),
    ],
)
def test_helm_lint_is_clean(helm: Path, tmp_path: Path, values: dict[str, Any]) -> None:
    result = subprocess.run(
        [str(helm), "lint", str(CHART), "--strict", "--kube-version", KUBE_VERSION,
         "--values", str(write_values(values, tmp_path))],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[ERROR]" not in result.stdout and "[WARNING]" not in result.stdout, result.stdout


# ---- objects and security -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "kinds"),
    [
        pytest.param({}, {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Service", "Deployment"},
                     id="all-namespaces"),
        pytest.param(NAMESPACED_VALUES, {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
                                         "Service", "Deployment"}, id="namespaced"),
        pytest.param(
            {**NAMESPACED_VALUES, "rbac": {"clusterScanning": False}},
            {"ServiceAccount", "Role", "RoleBinding", "Service", "Deployment"},
            id="namespaced-no-cluster-rbac",
        ),
        pytest.param(MONITORING_VALUES, {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Service", "Deployment",
                                         "ServiceMonitor", "PrometheusRule"}, id="monitoring"),
    ],
)  # fmt: skip
def test_rendered_kinds(render: Render, values: dict[str, Any], kinds: set[str]) -> None:
    assert {m["kind"] for m in render(values)} == kinds


@pytest.mark.parametrize("values", [pytest.param({}, id="defaults"), pytest.param(NAMESPACED_VALUES, id="namespaced")])
def test_operator_pod_is_restricted(render: Render, values: dict[str, Any]) -> None:
    """Pod Security Standard `restricted`: non-root, no privilege escalation, no capabilities,
    RuntimeDefault seccomp; plus a read-only root filesystem and resources."""
    pod = one(render(values), "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC")
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["readOnlyRootFilesystem"] is True
        assert context["runAsNonRoot"] is True
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
        assert "scorefleet-operator" in container["image"]


# ---- RBAC -----------------------------------------------------------------------------------------


def test_cluster_wide_rbac_equals_the_operators_cluster_role(render: Render) -> None:
    manifests = render({})
    role = one(manifests, "ClusterRole")
    assert rule_triples(role["rules"]) == operator_rules()
    binding = one(manifests, "ClusterRoleBinding")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                  "name": role["metadata"]["name"]}
    deployment_sa = one(manifests, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": deployment_sa, "namespace": RELEASE_NAMESPACE}]
    assert one(manifests, "ServiceAccount")["metadata"]["name"] == deployment_sa


def test_namespaced_rbac_is_the_same_rules_in_a_role_per_watched_namespace(render: Render) -> None:
    """Per watched namespace a Role with every namespaced rule; kopf's cluster-scoped discovery reads
    in one small ClusterRole; together exactly the operator's rules (cluster peerings aside)."""
    manifests = render(NAMESPACED_VALUES)
    rules = operator_rules()
    namespaced = {t for t in rules if (t[0], t[1]) not in CLUSTER_SCOPED}
    roles = {r["metadata"]["namespace"]: r for r in of_kind(manifests, "Role")}
    bindings = {b["metadata"]["namespace"]: b for b in of_kind(manifests, "RoleBinding")}
    assert set(roles) == set(bindings) == set(NAMESPACED_VALUES["watchNamespaces"])
    deployment_sa = one(manifests, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"]
    subjects = [{"kind": "ServiceAccount", "name": deployment_sa, "namespace": RELEASE_NAMESPACE}]
    for namespace, role in roles.items():
        assert rule_triples(role["rules"]) == namespaced, namespace
        binding = bindings[namespace]
        assert binding["roleRef"]["kind"] == "Role" and binding["roleRef"]["name"] == role["metadata"]["name"]
        assert binding["subjects"] == subjects
    scanning = one(manifests, "ClusterRole")
    assert all(verb in ("list", "watch") for _, _, verb in rule_triples(scanning["rules"])), "read-only"
    assert rule_triples(scanning["rules"]) | namespaced == {t for t in rules if t[1] != "clusterkopfpeerings"}
    assert one(manifests, "ClusterRoleBinding")["subjects"] == subjects


# ---- settings env ---------------------------------------------------------------------------------


def field_exists(model: type[BaseModel], path: list[str]) -> bool:
    """True when the lower-cased nested field `path` exists in `model` (pydantic-settings env rules)."""
    fields = model.model_fields
    if path[0] not in fields:
        return False
    if len(path) == 1:
        return True
    annotation = fields[path[0]].annotation
    return isinstance(annotation, type) and issubclass(annotation, BaseModel) and field_exists(annotation, path[1:])


def literal_env(container: dict[str, Any], pod_ip: str) -> dict[str, str]:
    """The container's env as the kubelet would set it, with the downward API's pod IP filled in."""
    env: dict[str, str] = {}
    for entry in container["env"]:
        if "value" in entry:
            env[entry["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), entry["value"])
        elif entry.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "status.podIP":
            env[entry["name"]] = pod_ip
        else:
            env[entry["name"]] = "from-downward-api"
    return env


@pytest.mark.parametrize("values", [pytest.param({}, id="defaults"), pytest.param(NAMESPACED_VALUES, id="namespaced")])
def test_every_setting_env_var_is_read_by_the_operator(
    render: Render, values: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    container = operator_container(render(values))
    env = literal_env(container, pod_ip="127.0.1.7")
    for name in env:
        if name.startswith(AUTOSCALE_PREFIX):
            autoscale = pytest.importorskip("detection_operator.handlers.autoscale")
            field = name.removeprefix(AUTOSCALE_PREFIX).lower()
            assert field in autoscale.AutoscaleSettings.model_fields, f"{name}: no such autoscale setting"
        elif name.startswith(ENV_PREFIX):
            path = name.removeprefix(ENV_PREFIX).lower().split("__")
            assert field_exists(OperatorSettings, path), f"{name}: no such operator setting"
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = OperatorSettings()  # raises on a value the operator cannot parse
    chart_values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert settings.namespaces == values.get("watchNamespaces", [])
    assert settings.observability.metrics_host == settings.observability.liveness_host == "127.0.1.7"
    assert settings.observability.metrics_port == chart_values["metrics"]["port"]
    assert settings.observability.liveness_port == chart_values["liveness"]["port"]
    assert settings.watch.resync_interval_seconds == chart_values["watch"]["resyncIntervalSeconds"]
    assert settings.reconcile.workers == chart_values["reconcile"]["workers"]
    assert "scorefleet-scorer" in settings.scorer.image
    assert settings.peering.standalone is True and settings.peering.mandatory is False


def test_endpoints_bind_the_pod_ip_and_probes_use_kopfs_liveness_endpoint(render: Render) -> None:
    container = operator_container(render({}))
    names = [e["name"] for e in container["env"]]
    env = env_of(container)
    assert env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    for name in ("SCOREFLEET_OPERATOR_OBSERVABILITY__METRICS_HOST", "SCOREFLEET_OPERATOR_OBSERVABILITY__LIVENESS_HOST"):
        assert env[name]["value"] == "$(POD_IP)"
        assert names.index("POD_IP") < names.index(name), "a $(VAR) reference must come after VAR"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["healthz"] == int(env["SCOREFLEET_OPERATOR_OBSERVABILITY__LIVENESS_PORT"]["value"])
    assert ports["http-metrics"] == int(env["SCOREFLEET_OPERATOR_OBSERVABILITY__METRICS_PORT"]["value"])
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "healthz"}


# ---- peering --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "peering", "strategy", "peering_objects"),
    [
        pytest.param({}, False, "Recreate", set(), id="one-replica-standalone"),
        pytest.param({"replicaCount": 2}, True, "RollingUpdate", {("ClusterKopfPeering", None)},
                     id="two-replicas-cluster-peering"),
        pytest.param({"replicaCount": 3, **NAMESPACED_VALUES}, True, "RollingUpdate",
                     {("KopfPeering", "team-a"), ("KopfPeering", "team-b")}, id="three-replicas-namespaced-peering"),
        pytest.param({"peering": {"enabled": True}}, True, "RollingUpdate", {("ClusterKopfPeering", None)},
                     id="peering-forced-on"),
    ],
)  # fmt: skip
def test_peering_when_more_than_one_replica(
    render: Render, values: dict[str, Any], peering: bool, strategy: str, peering_objects: set[tuple[str, str | None]]
) -> None:
    manifests = render(values)
    deployment = one(manifests, "Deployment")
    env = env_of(operator_container(manifests))
    assert env["SCOREFLEET_OPERATOR_PEERING__MANDATORY"]["value"] == str(peering).lower()
    assert env["SCOREFLEET_OPERATOR_PEERING__STANDALONE"]["value"] == str(not peering).lower()
    assert deployment["spec"]["strategy"]["type"] == strategy
    found = {(m["kind"], m["metadata"].get("namespace")) for m in manifests if m["kind"].endswith("KopfPeering")}
    assert found == peering_objects
    assert all(m["metadata"]["name"] == env["SCOREFLEET_OPERATOR_PEERING__NAME"]["value"]
               for m in manifests if m["kind"].endswith("KopfPeering"))  # fmt: skip
    assert env["POD_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"  # kopf's peer identity


# ---- CRDs -----------------------------------------------------------------------------------------


def test_chart_installs_the_generated_crd(render: Render) -> None:
    crds = {m["metadata"]["name"]: m for m in of_kind(render({}, include_crds=True), "CustomResourceDefinition")}
    assert crds["detectionpipelines.scorefleet.io"] == yaml.safe_load(CRD_FILE.read_text())
    assert {"clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev"} <= set(crds)


# ---- monitoring -----------------------------------------------------------------------------------


def exposed_names(registry: CollectorRegistry) -> set[str]:
    """Sample names a registry exposes (counters with _total, histograms with _bucket/_sum/_count)."""
    names: set[str] = set()
    for family in registry.collect():
        if family.type == "counter":
            names.add(family.name + "_total")
        elif family.type == "histogram":
            names.update(family.name + suffix for suffix in ("_bucket", "_sum", "_count"))
        else:
            names.add(family.name)
    return names


def known_metric_names() -> set[str]:
    registry = CollectorRegistry()
    ScorerMetrics(registry)
    names = exposed_names(OperatorMetrics().registry) | exposed_names(registry)
    try:
        from detection_operator.handlers.autoscale import AutoscaleMetrics
    except ImportError:  # the autoscaler not there yet: its metric names are unknown
        return names
    autoscale_registry = CollectorRegistry()
    AutoscaleMetrics(autoscale_registry)
    return names | exposed_names(autoscale_registry)


def alert_rules(render: Render, values: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    rule = one(render({**MONITORING_VALUES, **(values or {})}), "PrometheusRule")
    return {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}


def metric_names_in(expr: str) -> set[str]:
    return set(re.findall(r"\b(scorefleet_[a-z_]+|kafka_[a-z_]+)\b", expr))


@pytest.mark.parametrize(
    "alert",
    [
        pytest.param("ScorefleetPipelineDegraded", id="pipeline-degraded"),
        pytest.param("ScorefleetLagAboveTarget", id="lag-above-target"),
        pytest.param("ScorefleetDeadLetterRateHigh", id="dead-letter-rate"),
        pytest.param("ScorefleetReconcileErrors", id="reconcile-errors"),
    ],
)
def test_alerts_use_metrics_the_components_expose(render: Render, alert: str) -> None:
    used = metric_names_in(alert_rules(render)[alert]["expr"])
    assert used, alert
    assert used <= known_metric_names(), f"{alert} uses unknown metrics {used - known_metric_names()}"


@pytest.fixture(scope="session")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool not found (Debian package prometheus; `make setup` installs it)")
    return path


def write_rules(render: Render, directory: Path) -> Path:
    """The PrometheusRule's groups as a Prometheus rule file (annotations dropped: promtool would
    compare their rendered text; the tests below are about when alerts fire and their labels)."""
    rules = alert_rules(render)
    for rule in rules.values():
        rule.pop("annotations", None)
    path = directory / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "scorefleet", "rules": list(rules.values())}]}))
    return path


def test_scorer_service_monitor_selects_the_services_the_operator_renders(render: Render) -> None:
    """The scorers' ServiceMonitor matches the labels and port of the Service `render.py` gives every
    pipeline, and turns its `scorefleet.io/pipeline` label into the `pipeline` label alerts use."""
    monitors = {m["metadata"]["name"]: m for m in of_kind(render(MONITORING_VALUES), "ServiceMonitor")}
    spec = monitors["sf-scorefleet-scorers"]["spec"]
    service = render_children(
        PipelineRef(name="p", namespace="n", uid="u"),
        DetectionPipelineSpec.model_validate(yaml.safe_load((REPO / "examples" / "pipeline.yaml").read_text())["spec"]),
        defaults=RenderDefaults(scorer_image="x/scorefleet-scorer:1"),
    ).service
    labels = service["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    (endpoint,) = spec["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    (relabel,) = endpoint["relabelings"]
    label = "__meta_kubernetes_service_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", LABEL_PIPELINE)
    assert relabel == {"sourceLabels": [label], "targetLabel": "pipeline"} and labels[LABEL_PIPELINE] == "p"
    assert spec["namespaceSelector"] == {"any": True}


def test_promtool_accepts_the_rules(render: Render, promtool: str, tmp_path: Path) -> None:
    result = subprocess.run([promtool, "check", "rules", str(write_rules(render, tmp_path))],
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


ALERT_TESTS: dict[str, Any] = {
    "evaluation_interval": "1m",
    "tests": [
        {   # lag above 10000 for 10 minutes fires, below it or for a shorter time does not
            "interval": "1m",
            "input_series": [
                {"series": 'scorefleet_operator_observed_lag_messages{namespace="n",pipeline="behind"}',
                 "values": "25000x30"},
                {"series": 'scorefleet_operator_observed_lag_messages{namespace="n",pipeline="fine"}',
                 "values": "900x30"},
            ],
            "alert_rule_test": [
                {"eval_time": "9m", "alertname": "ScorefleetLagAboveTarget", "exp_alerts": []},
                {"eval_time": "11m", "alertname": "ScorefleetLagAboveTarget",
                 "exp_alerts": [{"exp_labels": {"namespace": "n", "pipeline": "behind", "severity": "warning"}}]},
            ],
        },
        {   # 5% of input dead-lettered fires, 0.5% does not
            "interval": "1m",
            "input_series": [
                {"series": 'scorefleet_scorer_records_consumed_total{namespace="n",pipeline="bad",pod="a"}',
                 "values": "0+1000x30"},
                {"series": 'scorefleet_scorer_records_dead_lettered_total{namespace="n",pipeline="bad",pod="a",'
                           'reason="undecodable"}', "values": "0+50x30"},
                {"series": 'scorefleet_scorer_records_consumed_total{namespace="n",pipeline="ok",pod="b"}',
                 "values": "0+1000x30"},
                {"series": 'scorefleet_scorer_records_dead_lettered_total{namespace="n",pipeline="ok",pod="b",'
                           'reason="undecodable"}', "values": "0+5x30"},
            ],
            "alert_rule_test": [
                {"eval_time": "20m", "alertname": "ScorefleetDeadLetterRateHigh",
                 "exp_alerts": [{"exp_labels": {"namespace": "n", "pipeline": "bad", "severity": "warning"}}]},
            ],
        },
        {   # Degraded for 5 minutes fires; a pipeline that recovered does not
            "interval": "1m",
            "input_series": [
                {"series": 'scorefleet_operator_pipeline_condition{namespace="n",pipeline="broken",type="Degraded"}',
                 "values": "1x20"},
                {"series": 'scorefleet_operator_pipeline_condition{namespace="n",pipeline="healthy",type="Degraded"}',
                 "values": "0x20"},
            ],
            "alert_rule_test": [
                {"eval_time": "4m", "alertname": "ScorefleetPipelineDegraded", "exp_alerts": []},
                {"eval_time": "7m", "alertname": "ScorefleetPipelineDegraded",
                 "exp_alerts": [{"exp_labels": {"namespace": "n", "pipeline": "broken", "severity": "critical"}}]},
            ],
        },
    ],
}


def test_alerts_fire_when_they_should(render: Render, promtool: str, tmp_path: Path) -> None:
    rules = write_rules(render, tmp_path)
    tests = tmp_path / "tests.yaml"
    tests.write_text(yaml.safe_dump({"rule_files": [rules.name], **ALERT_TESTS}))
    result = subprocess.run([promtool, "test", "rules", str(tests)], capture_output=True, text=True, timeout=60,
                            check=False, cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


# ---- values schema --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "field"),
    [
        pytest.param({"replicaCount": 0}, "/replicaCount", id="zero-replicas"),
        pytest.param({"watchNamespaces": ["Team_A"]}, "/watchNamespaces/0", id="invalid-namespace-name"),
        pytest.param({"watchNamespaces": "team-a"}, "/watchNamespaces", id="namespaces-not-a-list"),
        pytest.param({"logging": {"format": "xml"}}, "/logging/format", id="unknown-log-format"),
        pytest.param({"image": {"digest": "latest"}}, "/image/digest", id="digest-not-sha256"),
        pytest.param({"reconcile": {"workers": 0}}, "/reconcile/workers", id="no-workers"),
    ],
)
def test_values_schema_refuses_mistakes_naming_the_field(
    helm: Path, tmp_path: Path, values: dict[str, Any], field: str
) -> None:
    result = subprocess.run(
        [str(helm), "template", "sf", str(CHART), "--kube-version", KUBE_VERSION,
         "--values", str(write_values(values, tmp_path))],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert f"at '{field}'" in result.stderr, result.stderr
