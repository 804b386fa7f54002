"""Dev stack settings: versions, loopback ports and paths, parsed once from the environment.

Sits at the bottom of the dev stack: `builds` reads the versions and cache paths, `components`
reads the ports and the state directory, `cli` parses these settings once and passes them down.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]
"""The checkout this package was installed from (editable install): devstack/scorefleet_devstack/.."""


class Versions(BaseSettings):
    """Pinned versions of everything the stack builds or fetches; each keys its cache directory."""

    model_config = SettingsConfigDict(env_prefix="SCOREFLEET_VERSION_")

    kubernetes: str = "v1.34.4"
    """k8s.io/kubernetes tag built into kube-apiserver, -controller-manager, -scheduler and kubectl."""
    etcd: str = "v3.6.16"
    """go.etcd.io/etcd/server/v3 version."""
    kafka: str = "4.1.1"
    """Apache Kafka (org.apache.kafka:kafka_2.13) version, run in KRaft mode."""
    helm: str = "v3.19.0"
    """helm.sh/helm/v3 version."""


class Ports(BaseSettings):
    """Loopback TCP ports of the stack's components; each must be free before `up` starts it."""

    model_config = SettingsConfigDict(env_prefix="SCOREFLEET_PORT_")

    etcd_client: int = 23790
    etcd_peer: int = 23800
    apiserver: int = 16443
    controller_manager: int = 10257
    scheduler: int = 10259
    kafka: int = 19092
    kafka_controller: int = 19093
    lag_exporter: int = 9308
    prometheus: int = 19090
    model_store: int = 18080
    node_agent_healthz: int = 10248


class StackSettings(BaseSettings):
    """Where the stack keeps its builds and its state, and which existing services it reuses.

    Environment: `SCOREFLEET_CACHE_DIR` (default ~/.cache/scorefleet), `SCOREFLEET_STATE_DIR`
    (default <repo>/.devstack). `KUBECONFIG`, `KAFKA_BOOTSTRAP_SERVERS` and `PROMETHEUS_URL`, when
    set and reachable, replace the control plane, Kafka and Prometheus the stack would start.
    """

    model_config = SettingsConfigDict(env_prefix="SCOREFLEET_")

    cache_dir: Path = Field(default_factory=lambda: Path.home() / ".cache" / "scorefleet")
    """Builds keyed by version: <cache_dir>/<name>-<version>/."""
    state_dir: Path = Field(default_factory=lambda: REPO_ROOT / ".devstack")
    """Per-stack state: certificates, kubeconfig, data, logs, pid files, models."""
    ready_timeout_seconds: float = 120.0
    """Deadline for each component to report ready during `up`."""
    versions: Versions = Field(default_factory=Versions)
    ports: Ports = Field(default_factory=Ports)

    @property
    def logs_dir(self) -> Path:
        """Directory of the components' log files (<state>/logs/<component>.log)."""
        return self.state_dir / "logs"

    @property
    def pids_dir(self) -> Path:
        """Directory of the components' pid files (<state>/pids/<component>.pid)."""
        return self.state_dir / "pids"

    @property
    def pki_dir(self) -> Path:
        """Certificates and keys of the control plane."""
        return self.state_dir / "pki"

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig (user in group system:masters)."""
        return self.state_dir / "kubeconfig"

    @property
    def models_dir(self) -> Path:
        """Directory served by the model store."""
        return self.state_dir / "models"

    def build_dir(self, name: str, version: str) -> Path:
        """Cache directory of one build: <cache_dir>/<name>-<version>."""
        return self.cache_dir / f"{name}-{version}"
