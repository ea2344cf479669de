"""Pruning and defaulting, the structural-schema algorithms the API server runs before it validates.

Both change the object in place; ``validator.py`` runs them on a private copy, ``crd_checks.py``
on a CRD's own defaults (which must be pruned already and valid).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

from judge0_operator.world.kube.validation.schema_nodes import JSON, META_FIELDS, Schema, child_path


def prune(
    value: JSON, schema: Schema, *, pruned: list[str] | None = None, path: str = "", root: bool = True
) -> None:
    """Drop fields the schema does not specify, in place (not under preserve-unknown-fields).

    The resource's (and embedded resources') ``apiVersion``/``kind``/``metadata`` are kept:
    ObjectMeta is not the CRD schema's business.
    """
    if isinstance(value, dict):
        props: Mapping[str, Schema] = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
        resource_like = root or schema.get("x-kubernetes-embedded-resource") is True
        for key in list(value):
            sub_path = child_path(path, key)
            if resource_like and key in META_FIELDS:
                continue
            if key in props:
                prune(value[key], props[key], pruned=pruned, path=sub_path, root=False)
            elif isinstance(additional, Mapping):
                prune(value[key], additional, pruned=pruned, path=sub_path, root=False)
            elif not (preserve or additional is True):
                del value[key]
                if pruned is not None:
                    pruned.append(sub_path)
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            for i, item in enumerate(value):
                prune(item, items, pruned=pruned, path=f"{path}[{i}]", root=False)


def apply_defaults(value: JSON, schema: Schema, *, root: bool = True) -> None:
    """Apply ``default``s in place, top-down, like the API server.

    A missing field, or a null in a non-nullable field, takes its default; a null in a
    non-nullable field without a default is dropped. Defaults are then themselves defaulted.
    """
    if isinstance(value, dict):
        props: Mapping[str, Schema] = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        for key, prop in props.items():
            if root and key in META_FIELDS:
                continue
            missing = key not in value
            non_nullable_null = not missing and value[key] is None and not prop.get("nullable")
            if "default" in prop and (missing or non_nullable_null):
                value[key] = copy.deepcopy(prop["default"])
            elif non_nullable_null:
                del value[key]
        for key in list(value):
            if root and key in META_FIELDS:
                continue
            sub = props.get(key)
            if sub is None and isinstance(additional, Mapping):
                sub = additional
                if value[key] is None and not sub.get("nullable") and "default" not in sub:
                    del value[key]
                    continue
            if sub is not None:
                apply_defaults(value[key], sub, root=False)
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            for item in value:
                apply_defaults(item, items, root=False)
