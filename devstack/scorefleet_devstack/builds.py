"""Fetch or build the stack's real binaries into the version-keyed cache, once per machine.

First step of `devstack up` (and all of `devstack setup`): each `ensure_*` returns the path of a
ready artifact, building it only when `<cache>/<name>-<version>/` lacks it, and prints one
progress line with the elapsed time, because a cold build takes many minutes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .config import REPO_ROOT, StackSettings

GOBUILD_DIR = REPO_ROOT / "devstack" / "gobuild"
KAFKA_POM = REPO_ROOT / "devstack" / "kafka" / "pom.xml"
KUBERNETES_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")


class BuildError(RuntimeError):
    """A build or fetch step failed; the message names the step and ends with its output's tail."""


@dataclass(frozen=True)
class Binaries:
    """Paths of everything the stack runs (absolute)."""

    etcd: Path
    kubernetes_bin: Path
    helm: Path
    kafka_libs: Path
    prometheus: Path

    def kube(self, command: str) -> Path:
        """Path of one of `KUBERNETES_COMMANDS`."""
        return self.kubernetes_bin / command


def _run(step: str, argv: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(argv, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise BuildError(f"{step} failed (exit {result.returncode}): {' '.join(argv)}\n{tail}")


def _step(name: str, ready: Callable[[], bool], build: Callable[[], None], *, say: Callable[[str], None]) -> None:
    started = time.monotonic()
    if ready():
        say(f"  {name}: cached")
        return
    say(f"  {name}: building ...")
    build()
    say(f"  {name}: built in {time.monotonic() - started:.0f} s")


def _version_ldflags(tag: str) -> str:
    """-X flags setting the version reported by `kubectl version` and /version (as hack/lib/version.sh)."""
    major, minor = tag.lstrip("v").split(".")[:2]
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X {pkg}.gitVersion={tag}", f"-X {pkg}.gitMajor={major}", f"-X {pkg}.gitMinor={minor}",
                  f"-X {pkg}.gitTreeState=clean", f"-X {pkg}.buildDate=1970-01-01T00:00:00Z"]
    return " ".join(flags)


def ensure_all(settings: StackSettings, *, say: Callable[[str], None] = print) -> Binaries:
    """Make every binary the stack needs exist in the cache; return their paths.

    Steps: etcd and the Kubernetes commands (`go build` of the wrapper modules in devstack/gobuild),
    helm (`go install`), the Kafka jars (`mvn dependency:copy-dependencies` of devstack/kafka/pom.xml),
    Prometheus (`apt-get install prometheus` when /usr/bin/prometheus is missing).
    Raises BuildError naming the failed step."""
    v = settings.versions
    etcd_dir = settings.build_dir("etcd", v.etcd)
    kube_dir = settings.build_dir("kubernetes", v.kubernetes)
    helm_dir = settings.build_dir("helm", v.helm)
    pom_digest = hashlib.sha256(KAFKA_POM.read_bytes()).hexdigest()[:8]
    kafka_dir = settings.build_dir("kafka", f"{v.kafka}-{pom_digest}")
    binaries = Binaries(etcd=etcd_dir / "bin" / "etcd", kubernetes_bin=kube_dir / "bin",
                        helm=helm_dir / "bin" / "helm", kafka_libs=kafka_dir / "libs",
                        prometheus=Path("/usr/bin/prometheus"))

    def build_etcd() -> None:
        tmp = etcd_dir / "bin.tmp"
        _run("etcd build", ["go", "build", "-trimpath", "-ldflags", "-s -w", "-o", str(tmp / "etcd"), "."],
             cwd=GOBUILD_DIR / "etcd")
        tmp.rename(etcd_dir / "bin")

    def build_kubernetes() -> None:
        tmp = kube_dir / "bin.tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        _run("kubernetes build", ["go", "build", "-trimpath", "-ldflags", _version_ldflags(v.kubernetes),
                                  "-o", str(tmp) + "/", *[f"k8s.io/kubernetes/cmd/{c}" for c in KUBERNETES_COMMANDS]],
             cwd=GOBUILD_DIR / "kubernetes")
        tmp.rename(kube_dir / "bin")

    def build_helm() -> None:
        tmp = helm_dir / "bin.tmp"
        _run("helm build", ["go", "install", "-trimpath", "-ldflags", "-s -w", f"helm.sh/helm/v3/cmd/helm@{v.helm}"],
             env={"GOBIN": str(tmp)})
        tmp.rename(helm_dir / "bin")

    def fetch_kafka() -> None:
        tmp = kafka_dir / "libs.tmp"
        _run("kafka jars", ["mvn", "-q", "-B", "-f", str(KAFKA_POM), "dependency:copy-dependencies",
                            f"-Dkafka.version={v.kafka}", f"-DoutputDirectory={tmp}", "-DincludeScope=runtime"])
        tmp.rename(kafka_dir / "libs")

    def install_prometheus() -> None:
        apt_env = {"DEBIAN_FRONTEND": "noninteractive"}
        try:
            _run("prometheus install", ["apt-get", "install", "-y", "-q", "prometheus"], env=apt_env)
        except BuildError:
            _run("apt-get update", ["apt-get", "update", "-q"], env=apt_env)
            _run("prometheus install", ["apt-get", "install", "-y", "-q", "prometheus"], env=apt_env)

    for d in (etcd_dir, kube_dir, helm_dir, kafka_dir):
        d.mkdir(parents=True, exist_ok=True)
        for tmp in d.glob("*.tmp"):
            shutil.rmtree(tmp)
    say("build: fetching and building the stack's binaries (cached under "
        f"{settings.cache_dir}; a cold build takes about 15-40 minutes on 2 cores)")
    _step(f"etcd {v.etcd}", binaries.etcd.exists, build_etcd, say=say)
    _step(f"kubernetes {v.kubernetes}", lambda: all(binaries.kube(c).exists() for c in KUBERNETES_COMMANDS),
          build_kubernetes, say=say)
    _step(f"helm {v.helm}", binaries.helm.exists, build_helm, say=say)
    _step(f"kafka {v.kafka}", lambda: (binaries.kafka_libs / f"kafka_2.13-{v.kafka}.jar").exists(),
          fetch_kafka, say=say)
    _step("prometheus (Debian)", binaries.prometheus.exists, install_prometheus, say=say)
    return binaries
