"""Fixtures for the Helm chart tests: the stack's helm binary and `render(values)` = `helm template`.

helm is built by `scorefleet devstack setup` into ~/.cache/scorefleet/helm-<version>/ (`make setup`).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from helm_chart import CHART, KUBE_VERSION, RELEASE, RELEASE_NAMESPACE, Manifest, Render, write_values
from scorefleet_devstack.config import StackSettings


@pytest.fixture(scope="session")
def helm() -> Path:
    """The helm binary the dev stack builds."""
    settings = StackSettings()
    path = settings.build_dir("helm", settings.versions.helm) / "bin" / "helm"
    if not path.exists():
        pytest.fail(f"helm is not built at {path}: run `make setup` (scorefleet devstack setup)")
    return path


@pytest.fixture
def render(helm: Path, tmp_path: Path) -> Render:
    """`render(values={}, include_crds=False)` -> the manifests `helm template` produces."""

    def run(values: dict[str, Any] | None = None, *, include_crds: bool = False) -> list[Manifest]:
        argv = [str(helm), "template", RELEASE, str(CHART), "--namespace", RELEASE_NAMESPACE,
                "--kube-version", KUBE_VERSION, "--values", str(write_values(values or {}, tmp_path))]
        if include_crds:
            argv.append("--include-crds")
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stderr
        return [doc for doc in yaml.safe_load_all(result.stdout) if doc]

    return run
