"""The standard OpenAPI keywords, checked by ``jsonschema`` and worded as kube-openapi words them.

A structural schema is translated to plain Draft-4 JSON Schema (the dialect of OpenAPI v3.0):
``nullable`` and ``x-kubernetes-int-or-string`` become types, the other Kubernetes extensions are
left to ``pruning_and_defaults.py``, ``list_types.py`` and ``cel_rules.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import jsonschema

from judge0_operator.world.kube.validation.field_errors import (
    FieldError,
    go_repr,
    invalid,
    not_supported,
    required,
    too_long,
    too_many,
)
from judge0_operator.world.kube.validation.formats import FORMAT_CHECKER
from judge0_operator.world.kube.validation.schema_nodes import (
    INT_OR_STRING_ANY_OF,
    JSON,
    JUNCTORS,
    Schema,
    child_path,
    json_type_name,
)

_DROPPED_KEYWORDS = {"default", "description", "example", "externalDocs", "title", "nullable", "format"}


def to_json_schema(schema: Schema, *, root: bool = False) -> dict[str, Any]:
    """Translate a structural schema to plain Draft-4 JSON Schema.

    ``nullable`` becomes a ``"null"`` member of ``type`` (and of ``enum``);
    ``x-kubernetes-int-or-string`` becomes ``type: [integer, string]``; other
    ``x-kubernetes-*`` keys are dropped (pruning, list types and CEL are done separately).
    The resource's ``metadata`` is only checked to be an object, as the API server does.
    """
    out: dict[str, Any] = {}
    for key, val in schema.items():
        if key.startswith("x-kubernetes-") or key in _DROPPED_KEYWORDS:
            continue
        if key == "properties":
            out[key] = {
                name: ({"type": "object"} if root and name == "metadata" else to_json_schema(sub))
                for name, sub in val.items()
            }
        elif key in ("additionalProperties", "items", "not"):
            out[key] = to_json_schema(val) if isinstance(val, Mapping) else val
        elif key in JUNCTORS:
            out[key] = [to_json_schema(sub) for sub in val]
        else:
            out[key] = val
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt in FORMAT_CHECKER.checkers:
        out["format"] = fmt
    if schema.get("x-kubernetes-int-or-string"):
        out["type"] = ["integer", "string"]
        if out.get("anyOf") == INT_OR_STRING_ANY_OF:
            del out["anyOf"]  # already said by ``type``; avoids a second error for one mistake
    if schema.get("nullable"):
        if "type" in out:
            types = out["type"] if isinstance(out["type"], list) else [out["type"]]
            out["type"] = [*types, "null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    return out


def openapi_path(parts: Iterable[str | int]) -> str:
    """``deque(['spec', 'subnets', 0])`` → ``spec.subnets[0]`` (kube-openapi's error naming)."""
    out = ""
    for part in parts:
        out = f"{out}[{part}]" if isinstance(part, int) else child_path(out, str(part))
    return out


def schema_errors(validator: jsonschema.protocols.Validator, obj: JSON) -> list[FieldError]:
    """Run the standard keywords and word each failure as the API server does."""
    errors: list[FieldError] = []
    seen: set[tuple[str, str]] = set()
    for err in validator.iter_errors(obj):
        for fe in _translate(err):
            if (fe.path, fe.message) not in seen:
                seen.add((fe.path, fe.message))
                errors.append(fe)
    return sorted(errors, key=lambda e: (e.path, e.message))


def _translate(err: jsonschema.ValidationError) -> Iterator[FieldError]:
    path = openapi_path(err.absolute_path)
    where = f"{path or '.'} in body"
    kw, inst, want = err.validator, err.instance, err.validator_value
    sub = err.schema if isinstance(err.schema, Mapping) else {}
    if kw == "required":
        for name in want:
            if isinstance(inst, Mapping) and name not in inst:
                yield required(child_path(path, name))
    elif kw == "type":
        types = [t for t in (want if isinstance(want, list) else [want]) if t != "null"]
        actual = json_type_name(inst)
        yield FieldError(
            path,
            f'Invalid value: "{actual}": {where} must be of type {",".join(types)}: "{actual}"',
            "FieldValueTypeInvalid",
        )
    elif kw == "enum":
        yield not_supported(path, inst, want)
    elif kw == "minimum":
        rel = "greater than" if sub.get("exclusiveMinimum") else "greater than or equal to"
        yield invalid(path, inst, f"{where} should be {rel} {go_repr(want)}")
    elif kw == "maximum":
        rel = "less than" if sub.get("exclusiveMaximum") else "less than or equal to"
        yield invalid(path, inst, f"{where} should be {rel} {go_repr(want)}")
    elif kw == "multipleOf":
        yield invalid(path, inst, f"{where} should be a multiple of {go_repr(want)}")
    elif kw == "pattern":
        yield invalid(path, inst, f"{where} should match '{want}'")
    elif kw == "minLength":
        yield invalid(path, inst, f"{where} should be at least {want} chars long")
    elif kw == "maxLength":
        yield too_long(path, int(want))
    elif kw == "minItems":
        yield invalid(path, len(inst), f"{where} should have at least {want} items")
    elif kw == "maxItems":
        yield too_many(path, len(inst), int(want))
    elif kw == "minProperties":
        yield invalid(path, len(inst), f"{where} should have at least {want} properties")
    elif kw == "maxProperties":
        yield too_many(path, len(inst), int(want))
    elif kw == "uniqueItems":
        yield invalid(path, inst, f"{where} shouldn't contain duplicates")
    elif kw == "format":
        yield invalid(path, inst, f"{where} must be of type {want}: {go_repr(str(inst))}")
    elif kw == "anyOf":
        yield invalid(path, inst, f"{where} must validate at least one schema (anyOf)")
    elif kw == "oneOf":
        yield invalid(path, inst, f"{where} must validate one and only one schema (oneOf)")
    elif kw == "allOf":
        yield invalid(path, inst, f"{where} must validate all the schemas (allOf)")
    elif kw == "not":
        yield invalid(path, inst, f"{where} must not validate the schema (not)")
    elif kw == "additionalProperties" and isinstance(inst, Mapping):
        allowed = set(sub.get("properties") or {})
        for name in inst:
            if name not in allowed:
                yield invalid(
                    child_path(path, name), inst[name], f"{child_path(path, name)} in body is a forbidden property"
                )
    else:
        yield invalid(path, inst, err.message)
