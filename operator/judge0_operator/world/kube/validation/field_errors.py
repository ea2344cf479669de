"""Field errors worded as the API server words them, and the 422 ``Status`` they add up to.

Used by every check that refuses an object: the CRD schema here, and the built-in kinds'
checks in the store (``network.py``, ``gc.py``), so a refusal reads like one from a real cluster.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from judge0_operator.world.kube.validation.schema_nodes import JSON


@dataclass(frozen=True)
class FieldError:
    """One field error, like Kubernetes' ``field.Error``.

    ``path`` is the field (``spec.subnets[0]``); ``message`` is what the API server puts in
    ``details.causes[].message`` (``Invalid value: -1: spec.replicas in body should be ...``);
    ``type`` is the cause reason (``FieldValueInvalid``, ``FieldValueRequired``, ...).
    ``str(error)`` is the full line of the Status message: ``path: message``.
    """

    path: str
    message: str
    type: str = "FieldValueInvalid"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"

    def as_cause(self) -> dict[str, str]:
        """The entry of a Status object's ``details.causes``."""
        return {"reason": self.type, "message": self.message, "field": self.path}


def go_repr(value: JSON) -> str:
    """A value as Go's ``field.Error`` prints it: strings quoted, numbers bare, null as "null"."""
    if value is None:
        return '"null"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def invalid(path: str, value: JSON, detail: str = "") -> FieldError:
    return FieldError(path, f"Invalid value: {go_repr(value)}" + (f": {detail}" if detail else ""))


def required(path: str, detail: str = "") -> FieldError:
    return FieldError(path, "Required value" + (f": {detail}" if detail else ""), "FieldValueRequired")


def forbidden(path: str, detail: str) -> FieldError:
    return FieldError(path, f"Forbidden: {detail}", "FieldValueForbidden")


def not_supported(path: str, value: JSON, supported: Iterable[JSON]) -> FieldError:
    shown = [json.dumps(v if isinstance(v, str) else json.dumps(v)) for v in supported if v is not None]
    return FieldError(
        path,
        f"Unsupported value: {go_repr(value)}: supported values: {', '.join(shown)}",
        "FieldValueNotSupported",
    )


def too_long(path: str, max_length: int) -> FieldError:
    unit = "byte" if max_length == 1 else "bytes"
    return FieldError(path, f"Too long: may not be more than {max_length} {unit}", "FieldValueTooLong")


def too_many(path: str, actual: int, maximum: int) -> FieldError:
    return FieldError(path, f"Too many: {actual}: must have at most {maximum} items", "FieldValueTooMany")


def duplicate(path: str, value: JSON) -> FieldError:
    return FieldError(path, f"Duplicate value: {go_repr(value)}", "FieldValueDuplicate")


def format_status_message(kind: str, name: str, errors: Sequence[FieldError], *, group: str = "") -> str:
    """The 422 Status message: ``Judge0Fleet.judge0.dev "x" is invalid: <errors>``.

    Like the API server's error aggregate, one error is shown bare and several in ``[a, b]``.
    """
    qualified = f"{kind}.{group}" if group else kind
    lines = [str(e) for e in errors]
    body = lines[0] if len(lines) == 1 else "[" + ", ".join(lines) + "]"
    return f'{qualified} "{name}" is invalid: {body}'


def invalid_status(kind: str, name: str, errors: Sequence[FieldError], *, group: str = "") -> dict[str, Any]:
    """The whole ``Status`` object of a 422 ``Invalid`` answer."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": format_status_message(kind, name, errors, group=group),
        "reason": "Invalid",
        "details": {"name": name, "group": group, "kind": kind, "causes": [e.as_cause() for e in errors]},
        "code": 422,
    }
