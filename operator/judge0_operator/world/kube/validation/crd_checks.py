"""Is a CustomResourceDefinition acceptable? What the API server would reject in one, seen without a
cluster: names, the storage version, structural schemas, valid defaults and CEL rules that compile.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

import jsonschema

from judge0_operator.world.kube.validation.cel_rules import compile_cel
from judge0_operator.world.kube.validation.formats import FORMAT_CHECKER
from judge0_operator.world.kube.validation.openapi_keywords import schema_errors, to_json_schema
from judge0_operator.world.kube.validation.pruning_and_defaults import apply_defaults, prune
from judge0_operator.world.kube.validation.schema_nodes import Schema
from judge0_operator.world.kube.validation.structural import check_structural, property_path


def check_crd(crd: Mapping[str, Any]) -> list[str]:
    """Everything the API server would reject in this CRD that we can see without a cluster.

    Names (``metadata.name`` is ``<plural>.<group>``, plural/singular lowercase), exactly one
    storage version, structural schemas, defaults that are valid and already pruned, and CEL
    rules that compile.
    """
    problems: list[str] = []
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group, plural = spec.get("group", ""), names.get("plural", "")
    if crd.get("apiVersion") != "apiextensions.k8s.io/v1" or crd.get("kind") != "CustomResourceDefinition":
        problems.append("apiVersion/kind: must be apiextensions.k8s.io/v1 CustomResourceDefinition")
    if (crd.get("metadata") or {}).get("name") != f"{plural}.{group}":
        problems.append(
            f'metadata.name: Invalid value: must be spec.names.plural+"."+spec.group ({plural}.{group})'
        )
    for key in ("plural", "singular"):
        if names.get(key) and names[key] != names[key].lower():
            problems.append(f"spec.names.{key}: Invalid value: must be lowercase")
    if not names.get("kind"):
        problems.append("spec.names.kind: Required value")
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        problems.append('spec.scope: Unsupported value: supported values: "Cluster", "Namespaced"')
    versions = spec.get("versions") or []
    if sum(1 for v in versions if v.get("storage")) != 1:
        problems.append(
            "spec.versions: Invalid value: must have exactly one version marked as storage version"
        )
    for i, ver in enumerate(versions):
        vpath = f"spec.versions[{i}].schema.openAPIV3Schema"
        schema = (ver.get("schema") or {}).get("openAPIV3Schema")
        if not isinstance(schema, Mapping):
            problems.append(f"{vpath}: Required value: schemas are required")
            continue
        structural = check_structural(schema, path=vpath)
        problems.extend(structural)
        if not structural:
            problems.extend(_check_defaults(schema, vpath))
            problems.extend(_check_rules_compile(schema, vpath))
    return problems


def _iter_nodes(s: Schema, path: str) -> Iterator[tuple[str, Schema]]:
    yield path, s
    for name, sub in (s.get("properties") or {}).items():
        if isinstance(sub, Mapping):
            yield from _iter_nodes(sub, property_path(path, name))
    for kw in ("additionalProperties", "items"):
        if isinstance(s.get(kw), Mapping):
            yield from _iter_nodes(s[kw], f"{path}.{kw}")


def _check_defaults(schema: Schema, path: str) -> list[str]:
    problems = []
    for node_path, node in _iter_nodes(schema, path):
        if "default" not in node:
            continue
        value = copy.deepcopy(node["default"])
        pruned: list[str] = []
        prune(value, node, pruned=pruned, root=False)
        if pruned:
            problems.append(
                f"{node_path}.default: Invalid value: must not have unknown fields: {', '.join(pruned)}"
            )
        apply_defaults(value, node, root=False)
        validator = jsonschema.Draft4Validator(to_json_schema(node), format_checker=FORMAT_CHECKER)
        for err in schema_errors(validator, value):
            problems.append(f"{node_path}.default: {err}")
    return problems


def _check_rules_compile(schema: Schema, path: str) -> list[str]:
    problems = []
    for node_path, node in _iter_nodes(schema, path):
        for i, rule in enumerate(node.get("x-kubernetes-validations") or []):
            for key in ("rule", "messageExpression"):
                expression = rule.get(key)
                if not expression:
                    continue
                try:
                    compile_cel(str(expression).strip())
                except Exception as exc:
                    problems.append(
                        f"{node_path}.x-kubernetes-validations[{i}].{key}: "
                        f"Invalid value: compilation failed: {exc}"
                    )
    return problems
