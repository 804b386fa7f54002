"""Generate the DetectionPipeline CustomResourceDefinition from the pydantic models.

Layer: build tool over the models (no cluster access). `make crds` runs
``python -m detection_operator.crdgen`` which writes `crds/detectionpipelines.scorefleet.io.yaml`;
``--check`` exits 1 when that file differs from what the models generate (CI drift gate).

Pydantic's JSON schema is turned into a Kubernetes *structural* schema: `$ref`/`$defs` are
inlined, `anyOf [X, null]` becomes `X` + `nullable: true`, `anyOf [integer, string]` becomes
`x-kubernetes-int-or-string`, `title`/`additionalProperties: false` are dropped and `default: null`
is omitted. CEL rules come from the models' `x-kubernetes-validations`.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from detection_operator.api.pipeline import (
    API_VERSION,
    GROUP,
    KIND,
    PLURAL,
    SHORT_NAMES,
    SINGULAR,
    VERSION,
    DetectionPipelineSpec,
    DetectionPipelineStatus,
)
from detection_operator.generated import write_or_check

CRD_NAME = f"{PLURAL}.{GROUP}"
DEFAULT_OUTPUT = Path("crds") / f"{CRD_NAME}.yaml"
#: Longest pipeline name: children are named "<name>-scorer" and must stay DNS-1035 labels (63).
MAX_PIPELINE_NAME_LENGTH = 56

_DROP_KEYS = frozenset({"title", "$defs"})

JsonSchema = dict[str, Any]


class SchemaError(ValueError):
    """The models produced a schema construct that has no structural equivalent."""


def structural_schema(model: type[BaseModel]) -> JsonSchema:
    """Return `model`'s JSON schema as a Kubernetes structural schema (a new dict, no `$ref`).

    Raises SchemaError on constructs Kubernetes cannot express (e.g. a union of two objects).
    """
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs: dict[str, JsonSchema] = raw.get("$defs", {})
    return _convert(raw, defs)


def _resolve(node: JsonSchema, defs: dict[str, JsonSchema]) -> JsonSchema:
    """Inline a `$ref` (and a single-element `allOf`), keeping sibling keys such as description."""
    node = dict(node)
    if "allOf" in node and len(node["allOf"]) == 1:
        node = {**node.pop("allOf")[0], **node}
    if "$ref" in node:
        target = defs[node.pop("$ref").rsplit("/", 1)[-1]]
        # The field's own description/default win over the referenced class docstring.
        node = {**copy.deepcopy(target), **node}
    return node


def _convert(node: JsonSchema, defs: dict[str, JsonSchema]) -> JsonSchema:
    node = _resolve(node, defs)
    if "anyOf" in node:
        options = [_resolve(option, defs) for option in node.pop("anyOf")]
        nullable = any(option.get("type") == "null" for option in options)
        options = [option for option in options if option.get("type") != "null"]
        types = sorted(option.get("type", "") for option in options)
        if len(options) == 1:
            node = {**options[0], **node}
        elif types == ["integer", "string"]:
            # controller-gen's shape for int-or-string: the anyOf stays, string checks are hoisted.
            node["x-kubernetes-int-or-string"] = True
            node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
            for option in options:
                for key in ("pattern", "maxLength"):
                    if key in option:
                        node[key] = option[key]
            return _ordered({k: v for k, v in node.items() if k not in _DROP_KEYS})
        else:
            raise SchemaError(f"union of {types} has no structural schema")
        if nullable:
            node["nullable"] = True
    out: JsonSchema = {}
    for key, value in node.items():
        if key in _DROP_KEYS:
            continue
        if key == "default" and value is None:
            continue
        if key == "additionalProperties":
            if isinstance(value, dict):
                out[key] = _convert(value, defs)
            # `false` is implied: a structural schema prunes/refuses unknown fields itself.
            continue
        if key == "properties":
            out[key] = {name: _convert(child, defs) for name, child in value.items()}
        elif key == "items":
            out[key] = _convert(value, defs)
        else:
            out[key] = copy.deepcopy(value)
    if out.get("type") == "string" and "format" in out and out["format"] not in ("date-time", "byte"):
        del out["format"]
    if out.get("default") == {} and "properties" in out:
        # The apiserver checks a default against the node's CEL rules *before* nested defaults
        # apply, so `{}` would fail "self.minReplicas <= self.maxReplicas": spell the defaults out.
        out["default"] = _nested_defaults(out)
    return _ordered(out)


def _nested_defaults(node: JsonSchema) -> dict[str, Any]:
    properties = node.get("properties", {})
    return {name: copy.deepcopy(child["default"]) for name, child in properties.items() if "default" in child}


_FIRST_KEYS = ("description", "type", "nullable", "default")
_LAST_KEYS = ("required", "properties", "additionalProperties", "items")


def _ordered(node: JsonSchema) -> JsonSchema:
    """Key order for a readable, stable YAML: description/type first, children last."""
    first = [key for key in _FIRST_KEYS if key in node]
    last = [key for key in _LAST_KEYS if key in node]
    middle = sorted(key for key in node if key not in first and key not in last)
    return {key: node[key] for key in (*first, *middle, *last)}


def _root_schema() -> JsonSchema:
    spec = structural_schema(DetectionPipelineSpec)
    status = structural_schema(DetectionPipelineStatus)
    return {
        "type": "object",
        "description": "A DetectionPipeline runs a fleet of scorers that read messages from a Kafka topic, "
        "score them with a model and write the scores to another topic, scaled by consumer lag.",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion of this object: " + API_VERSION + "."},
            "kind": {"type": "string", "description": "Kind of this object: " + KIND + "."},
            # The apiserver refuses anything but `type` here (metadata is implicitly specified).
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status,
        },
        "x-kubernetes-validations": [
            {
                "rule": f"self.metadata.name.size() <= {MAX_PIPELINE_NAME_LENGTH} && "
                "self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",
                "message": f"metadata.name must be a DNS-1035 label of at most {MAX_PIPELINE_NAME_LENGTH} characters "
                "(lowercase letters, digits, '-', starting with a letter)",
            }
        ],
    }


PRINTER_COLUMNS: tuple[dict[str, Any], ...] = (
    {"name": "Model", "type": "string", "jsonPath": ".status.model.version",
     "description": "Model version actually serving."},
    {"name": "Ready", "type": "integer", "jsonPath": ".status.readyReplicas", "description": "Ready scorer pods."},
    {"name": "Desired", "type": "integer", "jsonPath": ".status.desiredReplicas",
     "description": "Replicas the scaling decision asks for."},
    {"name": "Lag", "type": "integer", "jsonPath": ".status.lag.totalMessages",
     "description": "Consumer-group lag in messages."},
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase", "description": "Pipeline phase."},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
)


def crd() -> JsonSchema:
    """Return the DetectionPipeline CustomResourceDefinition (apiextensions.k8s.io/v1) as a dict."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": CRD_NAME,
            "labels": {"app.kubernetes.io/name": "scorefleet", "app.kubernetes.io/part-of": "scorefleet"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": KIND + "List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": list(SHORT_NAMES),
                "categories": ["scorefleet"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [dict(column) for column in PRINTER_COLUMNS],
                    "schema": {"openAPIV3Schema": _root_schema()},
                }
            ],
        },
    }


HEADER = (
    "# GENERATED by `python -m detection_operator.crdgen` from detection_operator/api/*.py.\n"
    "# Do not edit: change the models and regenerate (`make crds`).\n"
)


class _NoAliasDumper(yaml.SafeDumper):
    """Spell every value out: a CRD with YAML anchors is legal but unreadable in review."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render_yaml() -> str:
    """Return the CRD as the exact YAML text stored in `crds/`."""
    return HEADER + yaml.dump(crd(), Dumper=_NoAliasDumper, sort_keys=False, width=100, allow_unicode=True)


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check, compare) the CRD file. Returns the process exit status."""
    parser = argparse.ArgumentParser(prog="python -m detection_operator.crdgen", description=__doc__.split("\n")[0])
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT, help="file to write (default %(default)s)")
    parser.add_argument("--check", action="store_true", help="exit 1 if the file differs from the models")
    parser.add_argument("--stdout", action="store_true", help="print the CRD instead of writing it")
    args = parser.parse_args(argv)
    text = render_yaml()
    if args.stdout:
        sys.stdout.write(text)
        return 0
    return write_or_check(args.output, text, check=args.check, make_target="crds")

if __name__ == "__main__":
    raise SystemExit(main())
