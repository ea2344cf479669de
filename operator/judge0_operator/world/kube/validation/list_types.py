"""``x-kubernetes-list-type``: ``set`` lists may not repeat an item, ``map`` lists may not repeat a key."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping

from judge0_operator.world.kube.validation.field_errors import FieldError, duplicate
from judge0_operator.world.kube.validation.schema_nodes import JSON, META_FIELDS, Schema, child_path


def list_type_errors(value: JSON, schema: Schema, path: str, *, root: bool = True) -> Iterator[FieldError]:
    """Duplicates in ``set`` lists and duplicate keys in ``map`` lists (``Duplicate value``)."""
    if isinstance(value, dict):
        props: Mapping[str, Schema] = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        for key, item in value.items():
            if root and key in META_FIELDS:
                continue
            sub = props.get(key) or (additional if isinstance(additional, Mapping) else None)
            if sub is not None:
                yield from list_type_errors(item, sub, child_path(path, key), root=False)
    elif isinstance(value, list):
        list_type = schema.get("x-kubernetes-list-type")
        keys = schema.get("x-kubernetes-list-map-keys") or []
        seen: set[str] = set()
        for i, item in enumerate(value):
            if list_type == "set":
                marker = json.dumps(item, sort_keys=True)
                if marker in seen:
                    yield duplicate(f"{path}[{i}]", item)
                seen.add(marker)
            elif list_type == "map" and isinstance(item, Mapping):
                key_value = {k: item.get(k) for k in keys}
                marker = json.dumps(key_value, sort_keys=True)
                if marker in seen:
                    yield duplicate(f"{path}[{i}]", key_value)
                seen.add(marker)
        items = schema.get("items")
        if isinstance(items, Mapping):
            for i, item in enumerate(value):
                yield from list_type_errors(item, items, f"{path}[{i}]", root=False)
