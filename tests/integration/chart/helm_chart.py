"""Helpers of the Helm chart tests: where the chart is, `helm template` output parsing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "charts" / "scorefleet"
KUBE_VERSION = "1.34.0"
RELEASE = "sf"
RELEASE_NAMESPACE = "scorefleet-system"

Manifest = dict[str, Any]
Render = Callable[..., list[Manifest]]


def write_values(values: dict[str, Any], directory: Path) -> Path:
    path = directory / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def one(manifests: list[Manifest], kind: str) -> Manifest:
    found = of_kind(manifests, kind)
    assert len(found) == 1, f"expected one {kind}, got {[m['metadata']['name'] for m in found]}"
    return found[0]
