"""Is a schema structural? The API server accepts no CRD whose schema is not (see ``check_structural``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from judge0_operator.world.kube.validation.schema_nodes import INT_OR_STRING_ANY_OF, JUNCTORS, Schema

_FORBIDDEN_KEYWORDS = (
    "$ref",
    "$schema",
    "definitions",
    "dependencies",
    "additionalItems",
    "patternProperties",
    "id",
)


def check_structural(schema: Schema, *, path: str = "openAPIV3Schema") -> list[str]:
    """Report what keeps ``schema`` from being a structural schema (empty list: structural).

    Mirrors the API server's rules: every specified node has a ``type`` unless it is
    int-or-string or preserves unknown fields; arrays have ``items``; no ``properties``
    together with ``additionalProperties``; no ``type``/``default``/``description``/
    ``nullable``/``additionalProperties``/extensions inside ``allOf``/``anyOf``/``oneOf``/``not``
    (bar the two int-or-string patterns); fields used inside junctors are also specified
    outside; root ``metadata`` restricts only ``name`` and ``generateName``; no ``$ref``,
    ``uniqueItems: true`` and other keywords CRDs reject.
    """
    problems: list[str] = []
    _check_node(schema, path, "root", problems)
    return sorted(problems)


def property_path(path: str, name: str) -> str:
    return f"{path}.properties[{name}]"


def _check_node(s: Any, path: str, level: str, problems: list[str]) -> None:
    if not isinstance(s, Mapping):
        problems.append(f"{path}: Invalid value: must be a schema object")
        return
    for kw in _FORBIDDEN_KEYWORDS:
        if kw in s:
            problems.append(f"{path}.{kw}: Forbidden: {kw} is not supported")
    if s.get("uniqueItems") is True:
        problems.append(
            f"{path}.uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime complexity "
            "becomes quadratic"
        )
    if s.get("x-kubernetes-preserve-unknown-fields") is False:
        problems.append(
            f"{path}.x-kubernetes-preserve-unknown-fields: Invalid value: false: must be true or undefined"
        )
    int_or_string = s.get("x-kubernetes-int-or-string") is True
    preserve = s.get("x-kubernetes-preserve-unknown-fields") is True
    embedded = s.get("x-kubernetes-embedded-resource") is True
    typ = s.get("type")
    if int_or_string and preserve:
        problems.append(
            f"{path}.x-kubernetes-preserve-unknown-fields: Invalid value: true: must be false if "
            "x-kubernetes-int-or-string is true"
        )
    if embedded and typ != "object":
        problems.append(
            f"{path}.type: Required value: must be object if x-kubernetes-embedded-resource is true"
        )
    elif not typ and not int_or_string and not preserve:
        detail = {
            "root": "must not be empty at the root",
            "item": "must not be empty for specified array items",
            "field": "must not be empty for specified object fields",
        }[level]
        problems.append(f"{path}.type: Required value: {detail}")
    if typ and int_or_string:
        problems.append(f"{path}.type: Forbidden: must be empty if x-kubernetes-int-or-string is true")
    if level == "root" and typ and typ != "object":
        problems.append(f'{path}.type: Invalid value: "{typ}": must be object at the root')
    if level == "root" and s.get("nullable"):
        problems.append(f"{path}.nullable: Forbidden: must be false at the root")
    if typ == "array" and "items" not in s:
        problems.append(f"{path}.items: Required value: must be specified")
    if isinstance(s.get("items"), list):
        problems.append(f"{path}.items: Forbidden: items must be a schema object and not an array")
    props = s.get("properties") or {}
    additional = s.get("additionalProperties")
    if additional is not None and props and (additional is False or isinstance(additional, Mapping)):
        problems.append(
            f"{path}.additionalProperties: Forbidden: "
            "additionalProperties and properties are mutual exclusive"
        )
    if additional is not None and level == "root":
        problems.append(f"{path}.additionalProperties: Forbidden: must not be used at the root")
    if embedded and additional is not None:
        problems.append(
            f"{path}.additionalProperties: Forbidden: "
            "must not be used if x-kubernetes-embedded-resource is set"
        )
    list_type = s.get("x-kubernetes-list-type")
    if list_type is not None and list_type not in ("atomic", "set", "map"):
        problems.append(f'{path}.x-kubernetes-list-type: Unsupported value: "{list_type}"')
    if list_type is not None and typ != "array":
        problems.append(f"{path}.type: Invalid value: must be array if x-kubernetes-list-type is specified")
    if list_type == "map":
        keys = s.get("x-kubernetes-list-map-keys") or []
        items: Mapping[str, Any] = s["items"] if isinstance(s.get("items"), Mapping) else {}
        if not keys:
            problems.append(
                f"{path}.x-kubernetes-list-map-keys: Required value: "
                "must not be empty if x-kubernetes-list-type is map"
            )
        if items.get("type") != "object":
            problems.append(
                f"{path}.items.type: Invalid value: "
                "must be object if parent array's x-kubernetes-list-type is map"
            )
        item_props = items.get("properties") or {}
        for k in keys:
            if k not in item_props:
                problems.append(
                    f"{path}.x-kubernetes-list-map-keys: Invalid value: "
                    "entries must all be names of item properties"
                )
            elif k not in (items.get("required") or []) and "default" not in item_props[k]:
                problems.append(
                    f"{path}.items.properties[{k}]: Required value: "
                    "map keys must be required or have a default"
                )
    for i, rule in enumerate(s.get("x-kubernetes-validations") or []):
        rule_path = f"{path}.x-kubernetes-validations[{i}]"
        if not isinstance(rule, Mapping) or not str(rule.get("rule", "")).strip():
            problems.append(f"{rule_path}.rule: Required value: rule is not specified")
    if level == "root" and isinstance(props.get("metadata"), Mapping):
        meta = props["metadata"]
        extra = set(meta) - {"type", "properties", "description"}
        if extra or set(meta.get("properties") or {}) - {"name", "generateName"}:
            problems.append(
                f"{property_path(path, 'metadata')}: Forbidden: must not specify anything other than name and "
                "generateName, but metadata is implicitly specified"
            )
        if meta.get("type") not in (None, "object"):
            problems.append(f"{property_path(path, 'metadata')}.type: Invalid value: must be object")
    for name, sub in props.items():
        if level == "root" and name == "metadata":
            continue
        _check_node(sub, property_path(path, name), "field", problems)
    if isinstance(additional, Mapping):
        _check_node(additional, f"{path}.additionalProperties", "field", problems)
    if isinstance(s.get("items"), Mapping):
        _check_node(s["items"], f"{path}.items", "item", problems)
    _check_junctors(s, path, problems)


def _check_junctors(s: Schema, path: str, problems: list[str]) -> None:
    int_or_string = s.get("x-kubernetes-int-or-string") is True
    specified = set(s.get("properties") or {})
    for kw in JUNCTORS:
        for i, sub in enumerate(s.get(kw) or []):
            if int_or_string and kw == "anyOf" and s.get("anyOf") == INT_OR_STRING_ANY_OF:
                continue
            if (
                int_or_string
                and kw == "allOf"
                and i == 0
                and (sub or {}).get("anyOf") == INT_OR_STRING_ANY_OF
            ):
                continue
            _check_nested(sub, f"{path}.{kw}[{i}]", specified, "items" in s, problems)
    if "not" in s:
        _check_nested(s["not"], f"{path}.not", specified, "items" in s, problems)


def _check_nested(v: Any, path: str, specified: set[str], has_items: bool, problems: list[str]) -> None:
    if not isinstance(v, Mapping):
        problems.append(f"{path}: Invalid value: must be a schema object")
        return
    for kw, verb in (
        ("type", "be empty"),
        ("additionalProperties", "be undefined"),
        ("default", "be undefined"),
        ("title", "be empty"),
        ("description", "be empty"),
        ("nullable", "be false"),
    ):
        if kw in v and v[kw] not in (None, False, ""):
            problems.append(f"{path}.{kw}: Forbidden: must {verb} to be structural")
    for kw in v:
        if isinstance(kw, str) and kw.startswith("x-kubernetes-"):
            problems.append(f"{path}.{kw}: Forbidden: must be undefined to be structural")
    for name in v.get("properties") or {}:
        if name == "metadata":
            problems.append(
                f"{path}.properties[metadata]: Forbidden: must not be specified in a nested context"
            )
        elif name not in specified:
            problems.append(
                f"{path}.properties[{name}]: Required value: must also be specified outside of the junctor"
            )
    if "items" in v and not has_items:
        problems.append(f"{path}.items: Required value: must also be specified outside of the junctor")
    for kw in JUNCTORS:
        for i, sub in enumerate(v.get(kw) or []):
            _check_nested(sub, f"{path}.{kw}[{i}]", specified, has_items, problems)
