"""Generate the CustomResourceDefinitions from the pydantic models (the single source of truth).

pydantic emits JSON Schema 2020-12; Kubernetes wants a *structural* OpenAPI v3 subset. The
conversion inlines ``$ref``s, unwraps ``Optional`` (``anyOf [X, null]``), drops titles and
``additionalProperties: false``, and gives every all-optional object field ``default: {}`` so the
API server fills nested defaults and ``kubectl get -o yaml`` shows them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from judge0_operator.api.fleet import Judge0FleetSpec
from judge0_operator.api.fleet_status import Judge0FleetStatus
from judge0_operator.api.policy import RecoveryPolicySpec

GROUP = "judge0.dev"
VERSION = "v1alpha1"
CATEGORY = "judge0"


_OPTIONAL = "x-judge0-optional"  # internal marker: the field was Optional (no default object for it)


def _resolve(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_resolve(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = _resolve(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
        extra = {k: _resolve(v, defs) for k, v in node.items() if k != "$ref"}
        return {**target, **extra}
    any_of = node.get("anyOf")
    if isinstance(any_of, list) and {"type": "null"} in any_of:
        rest = [option for option in any_of if option != {"type": "null"}]
        merged = {k: v for k, v in node.items() if k != "anyOf"}
        if merged.get("default", "absent") is None:
            del merged["default"]
        unwrapped = {**rest[0], **merged} if len(rest) == 1 else {**merged, "anyOf": rest}
        return {**_resolve(unwrapped, defs), _OPTIONAL: True}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("title", "$defs"):
            continue
        if key == "additionalProperties" and value is False:
            continue
        if key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            # 2020-12's numeric bound is OpenAPI v3.0's bound plus a boolean flag.
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
        elif key == "properties":
            out[key] = {name: _resolve(prop, defs) for name, prop in value.items()}
        else:
            out[key] = _resolve(value, defs)
    return out


def _default_empty_objects(node: Any) -> None:
    """Give defaulted object fields ``default: {}`` so nested defaults apply; Optional ones stay unset."""
    if not isinstance(node, dict):
        return
    was_optional = node.pop(_OPTIONAL, False)
    props = node.get("properties", {})
    required = set(node.get("required", []))
    was_optional_child = {name: bool(prop.get(_OPTIONAL)) for name, prop in props.items()}
    for name, prop in props.items():
        _default_empty_objects(prop)
        if (
            not was_optional_child.get(name, False)
            and name not in required
            and prop.get("type") == "object"
            and "properties" in prop
            and not prop.get("required")
            and "default" not in prop
            and not prop.get("x-kubernetes-preserve-unknown-fields")
        ):
            prop["default"] = {}
    if isinstance(node.get("items"), dict):
        _default_empty_objects(node["items"])
    del was_optional


def without_defaults(node: Any) -> Any:
    """The schema with no ``default`` anywhere: for the status, which the operator writes whole.
    The API server applies a schema's defaults to every write, the status subresource's too, so
    defaults there would put back every field a compact row leaves out (``api/compact.py``)."""
    if isinstance(node, list):
        return [without_defaults(item) for item in node]
    if not isinstance(node, dict):
        return node
    return {
        k: ({name: without_defaults(prop) for name, prop in v.items()} if k == "properties" else without_defaults(v))
        for k, v in node.items()
        if k != "default"
    }


def openapi_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The structural OpenAPI v3 schema of a model, as the API server wants it."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    schema = _resolve(raw, raw.get("$defs", {}))
    _default_empty_objects(schema)
    return schema


def _crd(
    *,
    kind: str,
    plural: str,
    short_names: list[str],
    spec_model: type[BaseModel],
    status_schema: dict[str, Any],
    description: str,
    printer_columns: list[dict[str, Any]],
    scale: bool,
) -> dict[str, Any]:
    spec_schema = openapi_schema(spec_model)
    subresources: dict[str, Any] = {"status": {}}
    if scale:
        subresources["scale"] = {
            "specReplicasPath": ".spec.replicas",
            "statusReplicasPath": ".status.replicas",
            "labelSelectorPath": ".status.selector",
        }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}", "labels": {"app.kubernetes.io/part-of": "judge0-operator"}},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": short_names,
                "categories": [CATEGORY],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": subresources,
                    "additionalPrinterColumns": printer_columns,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": description,
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string", "description": "judge0.dev/v1alpha1"},
                                "kind": {"type": "string", "description": kind},
                                "metadata": {"type": "object"},
                                "spec": spec_schema,
                                "status": status_schema,
                            },
                        }
                    },
                }
            ],
        },
    }


def _condition_column(name: str, condition: str) -> dict[str, Any]:
    return {
        "name": name,
        "type": "string",
        "jsonPath": f'.status.conditions[?(@.type=="{condition}")].status',
        "description": f"The {condition} condition.",
    }


def fleet_crd() -> dict[str, Any]:
    """The Judge0Fleet CRD."""
    return _crd(
        kind="Judge0Fleet",
        plural="judge0fleets",
        short_names=["j0f"],
        spec_model=Judge0FleetSpec,
        status_schema=without_defaults(openapi_schema(Judge0FleetStatus)),
        description="A fleet of EC2 instances running Judge0, kept healthy and correctly sized by judge0-operator.",
        printer_columns=[
            {
                "name": "Desired",
                "type": "integer",
                "jsonPath": ".status.desiredReplicas",
                "description": "After scaling rules (spec.replicas, schedules, queue).",
            },
            {
                "name": "Ready",
                "type": "integer",
                "jsonPath": ".status.readyReplicas",
                "description": "API answering.",
            },
            {
                "name": "Healthy",
                "type": "integer",
                "jsonPath": ".status.healthyReplicas",
                "description": "All signals.",
            },
            {
                "name": "In rotation",
                "type": "integer",
                "jsonPath": ".status.inRotationReplicas",
                "description": "Registered and ready: what clients reach.",
            },
            {
                "name": "Updated",
                "type": "integer",
                "jsonPath": ".status.updatedReplicas",
                "description": "On the current template.",
            },
            {
                "name": "Outdated",
                "type": "integer",
                "jsonPath": ".status.outdatedReplicas",
                "description": "On an older template, to be rolled.",
            },
            {
                "name": "Replicas",
                "type": "integer",
                "jsonPath": ".spec.replicas",
                "description": "spec.replicas, the base.",
                "priority": 1,
            },
            _condition_column("Remediation", "RemediationAllowed"),
            _condition_column("Ready?", "Ready") | {"priority": 1},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
        scale=True,
    )


def policy_crd() -> dict[str, Any]:
    """The RecoveryPolicy CRD."""
    return _crd(
        kind="RecoveryPolicy",
        plural="recoverypolicies",
        short_names=["j0rp"],
        spec_model=RecoveryPolicySpec,
        status_schema={
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
            "description": "Fleets using this policy.",
        },
        description="How judge0-operator judges a Judge0 node's health and heals it; shared by fleets.",
        printer_columns=[
            {"name": "Mode", "type": "string", "jsonPath": ".spec.mode", "description": "Enforce or DryRun."},
            {
                "name": "MaxUnhealthy",
                "type": "string",
                "jsonPath": ".spec.safety.maxUnhealthy",
                "description": "Remediation stops above this.",
            },
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
        scale=False,
    )


def all_crds() -> dict[str, dict[str, Any]]:
    """File name → CRD, in a stable order."""
    return {f"{GROUP}_judge0fleets.yaml": fleet_crd(), f"{GROUP}_recoverypolicies.yaml": policy_crd()}


def render(crd: dict[str, Any]) -> str:
    """Stable YAML text of a CRD (the bytes checked in under crds/)."""
    header = "# Generated by `judge0-operator crds` from judge0_operator/api — do not edit.\n"
    return header + yaml.safe_dump(crd, sort_keys=False, width=120, allow_unicode=True)


def write_crds(output: str | Path) -> list[Path]:
    """Write every CRD into ``output``; returns the paths written."""
    directory = Path(output)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, crd in all_crds().items():
        path = directory / name
        path.write_text(render(crd), encoding="utf-8")
        written.append(path)
    return written
