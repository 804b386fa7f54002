"""The generated CRD is structural, documented, and what is committed under crds/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from detection_operator import crdgen

REPO = Path(__file__).resolve().parents[3]
CRD_FILE = REPO / crdgen.DEFAULT_OUTPUT


def walk(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if not isinstance(node, dict):
        return
    yield path, node
    for name, child in (node.get("properties") or {}).items():
        yield from walk(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from walk(node["additionalProperties"], f"{path}{{}}")


def schema() -> dict[str, Any]:
    return crdgen.crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def test_committed_crd_matches_the_models() -> None:
    assert CRD_FILE.read_text() == crdgen.render_yaml(), (
        "crds/ drifted from the models: run `.venv/bin/python -m detection_operator.crdgen`"
    )


def test_check_mode_reports_drift(tmp_path: Path) -> None:
    stale = tmp_path / "crd.yaml"
    stale.write_text("stale")
    assert crdgen.main(["--check", "-o", str(stale)]) == 1
    assert crdgen.main(["-o", str(stale)]) == 0
    assert crdgen.main(["--check", "-o", str(stale)]) == 0


def test_schema_is_structural() -> None:
    for path, node in walk(schema()):
        assert "$ref" not in node and "allOf" not in node, path
        if "anyOf" in node:  # only int-or-string, as Kubernetes allows it
            assert node["x-kubernetes-int-or-string"] is True, path
        assert "type" in node or node.get("x-kubernetes-int-or-string"), f"{path} has no type"
        assert not ("properties" in node and "additionalProperties" in node), path
        assert "title" not in node, path
    assert "$ref" not in yaml.safe_dump(crdgen.crd())


def test_every_field_has_a_description() -> None:
    undocumented = [
        path for path, node in walk(schema())
        if path and path != ".metadata" and not path.endswith(("[]", "{}")) and not node.get("description")
    ]
    assert undocumented == []


def test_descriptions_are_plain_text() -> None:
    """`kubectl explain` prints descriptions verbatim: no reST markup from docstrings."""
    marked_up = [
        path for path, node in walk(schema())
        if any(mark in node.get("description", "") for mark in ("``", ":class:", ":func:", ":meth:"))
    ]
    assert marked_up == []


@pytest.mark.parametrize(
    ("path", "rule_fragment"),
    [
        pytest.param(".spec.scaling", "self.minReplicas <= self.maxReplicas", id="min-le-max"),
        pytest.param(".spec.model.sha256", "[0-9a-f]{64}", id="sha256-64-hex"),
        pytest.param(".spec.kafka.inputTopic", "[a-zA-Z0-9._-]", id="topic-name"),
        pytest.param(".spec.kafka", "self.outputTopic != self.inputTopic", id="output-not-input"),
        pytest.param("", "self.metadata.name", id="name-is-dns-label"),
    ],
)
def test_cel_rules_present(path: str, rule_fragment: str) -> None:
    nodes = dict(walk(schema()))
    rules = [rule["rule"] for rule in nodes[path].get("x-kubernetes-validations", [])]
    assert any(rule_fragment in rule for rule in rules), rules


def test_defaults_nullables_status_and_columns() -> None:
    nodes = dict(walk(schema()))
    assert nodes[".spec.scaling"]["default"]["minReplicas"] == 1
    assert nodes[".spec.scorer"]["default"]["batchMaxMessages"] == 500
    assert nodes[".spec.scaling.minReplicas"]["default"] == 1
    assert nodes[".spec.kafka.offsetResetPolicy"]["default"] == "latest"
    assert nodes[".spec.kafka.deadLetterTopic"]["nullable"] is True
    assert "default" not in nodes[".spec.kafka.deadLetterTopic"]
    assert nodes[".status.conditions"]["x-kubernetes-list-map-keys"] == ["type"]
    version = crdgen.crd()["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert columns == ["Model", "Ready", "Desired", "Lag", "Phase", "Age"]


def test_committed_api_docs_match_the_models() -> None:
    from detection_operator import docgen

    assert (REPO / docgen.DEFAULT_OUTPUT).read_text() == docgen.render_markdown(), (
        "docs/api.md drifted from the models: run `.venv/bin/python -m detection_operator.docgen`"
    )
