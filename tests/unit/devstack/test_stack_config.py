"""Unit tests of the dev stack's pure parts: generated configs, credentials, build flags."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from scorefleet_devstack import builds, pki, pod_discovery, stack
from scorefleet_devstack.config import StackSettings


@pytest.fixture
def settings(tmp_path: Path) -> StackSettings:
    return StackSettings(state_dir=tmp_path / "state", cache_dir=tmp_path / "cache")


def test_kafka_cluster_ids_never_read_as_an_option() -> None:
    """About one random id in 64 used to start with '-', and kafka-storage format then failed."""
    ids = {stack.kafka_cluster_id() for _ in range(2_000)}
    assert len(ids) == 2_000
    assert all(len(cluster_id) == 22 and not cluster_id.startswith("-") for cluster_id in ids)


def test_kafka_properties_are_single_node_kraft_on_loopback(settings: StackSettings) -> None:
    props = dict(line.split("=", 1) for line in stack._kafka_properties(settings).splitlines() if line)
    assert props["process.roles"] == "broker,controller"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["auto.create.topics.enable"] == "false"


@pytest.mark.parametrize(("scrape_pods", "jobs"), [
    pytest.param(True, ["kafka-lag", "kubernetes-pods"], id="own-cluster-scrapes-pods-from-file"),
    pytest.param(False, ["kafka-lag"], id="reused-cluster-scrapes-only-lag"),
])
def test_prometheus_config_jobs(settings: StackSettings, scrape_pods: bool, jobs: list[str]) -> None:
    config = stack._prometheus_config(settings, stack.endpoints(settings), scrape_pods=scrape_pods)
    assert [job["job_name"] for job in config["scrape_configs"]] == jobs  # type: ignore[attr-defined]


POD: dict[str, Any] = {"metadata": {"name": "scorer-1", "namespace": "fraud",
                    "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9102"},
                    "labels": {"app.kubernetes.io/name": "scorer", "app.kubernetes.io/instance": "p1", "other": "x"}},
       "status": {"phase": "Running", "podIP": "127.0.1.7"}}


def _pod(*, phase: str = "Running", pod_ip: str = "127.0.1.7", **annotations: str) -> dict[str, Any]:
    pod: dict[str, Any] = copy.deepcopy(POD)
    pod["status"] = {"phase": phase, "podIP": pod_ip}
    pod["metadata"]["annotations"].update({f"prometheus.io/{k}": v for k, v in annotations.items()})
    return pod


@pytest.mark.parametrize(("pod", "targets"), [
    pytest.param(POD, ["127.0.1.7:9102"], id="running-annotated"),
    pytest.param(_pod(phase="Pending"), [], id="pending-skipped"),
    pytest.param(_pod(pod_ip=""), [], id="no-ip-skipped"),
    pytest.param(_pod(scrape="false"), [], id="not-annotated"),
    pytest.param(_pod(port="http"), [], id="named-port-skipped"),
])
def test_pod_discovery_targets(pod: dict[str, Any], targets: list[str]) -> None:
    groups = pod_discovery.scrape_targets([pod])
    assert [t for g in groups for t in g["targets"]] == targets


def test_pod_discovery_labels_follow_kubernetes_sd_relabelling() -> None:
    (group,) = pod_discovery.scrape_targets([POD])
    assert group["labels"] == {"namespace": "fraud", "pod": "scorer-1", "app_kubernetes_io_name": "scorer",
                               "app_kubernetes_io_instance": "p1"}


def test_pki_issues_admin_in_system_masters_and_is_idempotent(tmp_path: Path) -> None:
    pki.ensure_pki(tmp_path, apiserver_url="https://127.0.0.1:16443")
    first = (tmp_path / "ca.crt").read_bytes()
    pki.ensure_pki(tmp_path, apiserver_url="https://127.0.0.1:16443")
    assert (tmp_path / "ca.crt").read_bytes() == first
    admin = x509.load_pem_x509_certificate((tmp_path / "admin.crt").read_bytes())
    orgs = [a.value for a in admin.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)]
    assert orgs == ["system:masters"]
    server = x509.load_pem_x509_certificate((tmp_path / "apiserver.crt").read_bytes())
    sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "kubernetes.default.svc" in sans.get_values_for_type(x509.DNSName)
    kubeconfig = yaml.safe_load((tmp_path / "admin.kubeconfig").read_text())
    assert kubeconfig["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:16443"


def test_kubeconfig_needs_a_credential() -> None:
    with pytest.raises(ValueError, match="client certificate and key, or a token"):
        pki.kubeconfig_document(server="https://x", ca_pem=b"")


def test_version_ldflags_set_the_tag() -> None:
    flags = builds._version_ldflags("v1.34.4")
    assert "-X k8s.io/component-base/version.gitVersion=v1.34.4" in flags
    assert "-X k8s.io/component-base/version.gitMinor=34" in flags
