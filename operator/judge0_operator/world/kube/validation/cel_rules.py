"""``x-kubernetes-validations``: CEL rules run on ``cel-python`` at the schema node they sit on.

Rules using ``oldSelf`` are transition rules and run only on update; failures are worded as the
API server words them (``message``, ``messageExpression``, ``reason``, ``fieldPath``).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from typing import Any

import celpy
from celpy import celtypes

from judge0_operator.world.kube.validation.field_errors import FieldError, forbidden, go_repr, invalid, required
from judge0_operator.world.kube.validation.schema_nodes import JSON, Schema, child_path, json_type_name

_OLD_SELF = re.compile(r"\boldSelf\b")
_CEL_ENV = celpy.Environment()


@functools.lru_cache(maxsize=2048)
def compile_cel(expression: str) -> Any:
    """Compile once per distinct expression (parsing is the slow part); raises on syntax errors."""
    return _CEL_ENV.program(_CEL_ENV.compile(expression))


def _cel_value(value: JSON) -> Any:
    return celpy.json_to_cel(value)


def _evaluate(expression: str, activation: dict[str, Any]) -> Any:
    result = compile_cel(expression).evaluate(activation)
    if isinstance(result, celpy.CELEvalError):
        raise result
    return result


def _matches_type(value: JSON, schema: Schema) -> bool:
    if schema.get("x-kubernetes-int-or-string"):
        return isinstance(value, int | str) and not isinstance(value, bool)
    want = schema.get("type")
    if not want:
        return True
    actual = json_type_name(value)
    return actual == want or (want == "number" and actual == "integer")


def _field_path(base: str, field_path: str) -> str:
    """Append a rule's ``fieldPath`` (``.a.b``, ``.a['b']``, ``.list[0]``) to ``base``."""
    out = base
    for match in re.finditer(r"\.([A-Za-z_$][\w$-]*)|\['([^']*)'\]|\[(\d+)\]", field_path):
        name, quoted, index = match.groups()
        out = f"{out}[{index}]" if index is not None else child_path(out, name if name is not None else quoted)
    return out


def cel_errors(obj: JSON, schema: Schema, *, old_obj: JSON = None) -> list[FieldError]:
    """Evaluate every ``x-kubernetes-validations`` rule at the schema node it sits on.

    ``self`` is the value at that node; rules using ``oldSelf`` are transition rules and run
    only on update, where an old value exists at the same place (through properties, map
    keys, and ``x-kubernetes-list-type: map`` items matched by their keys).
    """
    errors: list[FieldError] = []
    _cel_walk(obj, schema, "", old_obj, old_obj is not None, errors)
    return errors


def _cel_walk(
    value: JSON, schema: Schema, path: str, old: JSON, has_old: bool, errors: list[FieldError]
) -> None:
    if value is None or not _matches_type(value, schema):
        return  # absent/null values run no rules; type errors are reported by the schema pass
    for rule in schema.get("x-kubernetes-validations") or ():
        error = _run_rule(rule, value, schema, path, old, has_old)
        if error is not None:
            errors.append(error)
    if isinstance(value, dict):
        props: Mapping[str, Schema] = schema.get("properties") or {}
        for key, sub in props.items():
            if key in value:
                old_has = has_old and isinstance(old, Mapping) and key in old
                _cel_walk(value[key], sub, child_path(path, key), old[key] if old_has else None, old_has, errors)
        additional = schema.get("additionalProperties")
        if isinstance(additional, Mapping):
            for key, item in value.items():
                old_has = has_old and isinstance(old, Mapping) and key in old
                _cel_walk(item, additional, f"{path}[{key}]", old[key] if old_has else None, old_has, errors)
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        items: Schema = schema["items"]
        keys = schema.get("x-kubernetes-list-map-keys") or []
        old_by_key: dict[str, Any] = {}
        if has_old and schema.get("x-kubernetes-list-type") == "map" and isinstance(old, list):
            for item in old:
                if isinstance(item, Mapping):
                    old_by_key[json.dumps([item.get(k) for k in keys])] = item
        for i, item in enumerate(value):
            marker = json.dumps([item.get(k) for k in keys]) if isinstance(item, Mapping) else None
            old_item = old_by_key.get(marker) if marker is not None else None
            _cel_walk(item, items, f"{path}[{i}]", old_item, old_item is not None, errors)


def _run_rule(
    rule: Mapping[str, Any], value: JSON, schema: Schema, path: str, old: JSON, has_old: bool
) -> FieldError | None:
    expression = str(rule.get("rule", "")).strip()
    transition = bool(_OLD_SELF.search(expression))
    if transition and not has_old:
        return None
    where = _field_path(path, rule["fieldPath"]) if rule.get("fieldPath") else path
    where = where or "<nil>"
    type_name = schema.get("type") or ""
    try:  # a value CEL cannot hold (an integer beyond int64) is an error on the field, not a crash
        activation: dict[str, Any] = {"self": _cel_value(value)}
        if transition:
            activation["oldSelf"] = _cel_value(old)
        passed = _evaluate(expression, activation)
    except Exception as exc:  # CEL parse/evaluation errors: the API server reports them on the field
        detail = exc.args[0] if exc.args else exc
        return invalid(where, type_name, f"{detail} evaluating rule: {expression}")
    if isinstance(passed, celtypes.BoolType | bool) and bool(passed):
        return None
    message = str(rule.get("message") or "").strip() or f"failed rule: {expression}"
    if rule.get("messageExpression"):
        try:
            produced = _evaluate(str(rule["messageExpression"]), activation)
            if isinstance(produced, str) and produced.strip() and "\n" not in produced:
                message = produced.strip()
        except Exception:  # the API server falls back to ``message`` when the expression fails
            pass
    reason = rule.get("reason") or "FieldValueInvalid"
    if reason == "FieldValueRequired":
        return required(where, message)
    if reason == "FieldValueForbidden":
        return forbidden(where, message)
    if reason == "FieldValueDuplicate":
        return FieldError(where, f"Duplicate value: {go_repr(type_name)}: {message}", reason)
    return invalid(where, type_name, message)
