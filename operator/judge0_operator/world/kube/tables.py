"""``meta.k8s.io/v1`` Table answers, so ``kubectl get`` shows a CRD's ``additionalPrinterColumns``.

kubectl asks for ``Accept: application/json;as=Table;g=meta.k8s.io;v=v1``. Columns come
from the CRD (Name + Age when it declares none); cells are read with a small JSONPath
subset: ``.a.b``, ``['a']``, ``[0]``, ``[*]`` and ``[?(@.type=="Ready")]``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any

from judge0_operator.world.kube.resources import ResourceType

_NAME_COLUMN = {
    "name": "Name",
    "type": "string",
    "format": "name",
    "description": "Name must be unique within a namespace.",
    "priority": 0,
}
_AGE_COLUMN = {
    "name": "Age",
    "type": "date",
    "description": "CreationTimestamp is the server time when this object was created.",
    "priority": 0,
    "jsonPath": ".metadata.creationTimestamp",
}
_TOKEN = re.compile(
    r"""\.(?P<name>[A-Za-z0-9_\-$]+)
      | \[['"](?P<quoted>[^'"]*)['"]\]
      | \[(?P<index>-?\d+)\]
      | \[(?P<star>\*)\]
      | \[\?\(@\.(?P<fkey>[A-Za-z0-9_.\-]+)\s*==\s*['"](?P<fvalue>[^'"]*)['"]\)\]""",
    re.VERBOSE,
)


def wants_table(accept: str) -> bool:
    return "as=Table" in accept and "g=meta.k8s.io" in accept


def jsonpath(obj: Any, path: str) -> list[Any]:
    """All values ``path`` selects in ``obj`` (missing keys select nothing)."""
    nodes = [obj]
    for match in _TOKEN.finditer(path.strip()):
        token = match.groupdict()
        nxt: list[Any] = []
        for node in nodes:
            if token["name"] is not None or token["quoted"] is not None:
                key = token["name"] if token["name"] is not None else token["quoted"]
                if isinstance(node, Mapping) and key in node:
                    nxt.append(node[key])
            elif token["index"] is not None:
                if isinstance(node, list) and -len(node) <= int(token["index"]) < len(node):
                    nxt.append(node[int(token["index"])])
            elif token["star"] is not None:
                nxt.extend(
                    node if isinstance(node, list) else node.values() if isinstance(node, Mapping) else []
                )
            elif isinstance(node, list):
                for item in node:
                    found = jsonpath(item, "." + token["fkey"]) if isinstance(item, Mapping) else []
                    if found and str(found[0]) == token["fvalue"]:
                        nxt.append(item)
        nodes = nxt
    return nodes


def human_duration(seconds: float) -> str:
    """Go's ``duration.HumanDuration``, which kube-apiserver uses for ``date`` columns (``5m``, ``3h12m``)."""
    if seconds < -1:
        return "<invalid>"
    s = max(int(seconds), 0)
    m, h, d = s // 60, s // 3600, s // 86400
    if s < 120:
        return f"{s}s"
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    if h < 192:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    if h < 24 * 365 * 2:
        return f"{d}d"
    if h < 24 * 365 * 8:
        years, days = d // 365, d % 365
        return f"{years}y{days}d" if days else f"{years}y"
    return f"{d // 365}y"


def _age(timestamp: str, now: dt.datetime) -> str:
    try:
        then = dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return timestamp
    return human_duration((now - then).total_seconds())


def _cell(obj: Mapping[str, Any], column: Mapping[str, Any], now: dt.datetime) -> Any:
    values = jsonpath(obj, column.get("jsonPath", ""))
    if not values:
        return None
    value = values[0] if len(values) == 1 else ",".join(str(v) for v in values)
    kind = column.get("type")
    if kind == "date" and isinstance(value, str):
        return _age(value, now)
    if kind == "integer" and isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if kind == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return value
    if kind == "boolean" and isinstance(value, bool):
        return value
    return value if isinstance(value, str) else str(value)


def table(rt: ResourceType, objects: Iterable[Mapping[str, Any]], resource_version: str) -> dict[str, Any]:
    columns = list(rt.printer_columns) or [_AGE_COLUMN]
    definitions = [_NAME_COLUMN] + [
        {k: c[k] for k in ("name", "type", "format", "description", "priority") if k in c} for c in columns
    ]
    for definition in definitions:
        definition.setdefault("format", "")
        definition.setdefault("description", "")
        definition.setdefault("priority", 0)
    rows = []
    now = dt.datetime.now(dt.UTC)
    for obj in objects:
        meta = obj.get("metadata", {})
        rows.append(
            {
                "cells": [meta.get("name")] + [_cell(obj, c, now) for c in columns],
                "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta},
            }
        )
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": definitions,
        "rows": rows,
    }
