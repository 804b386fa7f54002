"""Shared base for the API models: camelCase wire names, unknown fields refused, CEL rule helper.

Layer: models (bottom). Every spec/status model of the DetectionPipeline derives from `ApiModel`
so the generated CRD schema and the Python validation agree on names and strictness.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

#: Key under which CEL rules are attached to a JSON schema node (as Kubernetes reads them).
CEL_KEY = "x-kubernetes-validations"


def cel_rule(rule: str, *, message: str, field_path: str | None = None) -> dict[str, str]:
    """Return one Kubernetes CEL validation rule as it appears in a CRD schema.

    `rule` is evaluated by the kube-apiserver with `self` bound to the schema node that carries it;
    `message` is shown to the user (it should name the field and the fix); `field_path` (e.g.
    ``".minReplicas"``, relative to that node) makes the apiserver report the error on that field.
    """
    out = {"rule": rule, "message": message}
    if field_path is not None:
        out["fieldPath"] = field_path
    return out


def cel_rules(*rules: dict[str, str]) -> dict[str, Any]:
    """Return a `json_schema_extra` mapping that attaches `rules` to a model's or field's schema."""
    return {CEL_KEY: list(rules)}


class ApiModel(BaseModel):
    """Base of every DetectionPipeline model.

    Fields are snake_case in Python and camelCase on the wire (`min_replicas` <-> `minReplicas`);
    both names are accepted on input. Unknown fields are an error, as with the apiserver's strict
    field validation. Instances are immutable so the pure core cannot mutate its inputs.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="forbid",
        frozen=True,
    )
