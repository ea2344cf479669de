"""What every walk over a structural schema shares: the aliases, the keywords that name
sub-schemas, and how fields and JSON types are named in the API server's messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Schema = Mapping[str, Any]
JSON = Any

META_FIELDS = ("apiVersion", "kind", "metadata")
JUNCTORS = ("allOf", "anyOf", "oneOf")
INT_OR_STRING_ANY_OF = [{"type": "integer"}, {"type": "string"}]


def child_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def json_type_name(value: JSON) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):  # beyond int64, kube-apiserver's JSON decoding gives a float64
        return "integer" if -(2**63) <= value < 2**63 else "number"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
