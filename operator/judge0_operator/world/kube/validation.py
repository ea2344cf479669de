"""Custom resources checked against a CRD's ``openAPIV3Schema`` the way kube-apiserver checks them.

Shared by the simulated API server (``world/kube/server.py``) and the manifest tests, so it is pure:
no I/O, no aiohttp. Order follows the API server: prune unknown fields, default (nulls of
non-nullable fields are dropped or defaulted), then validate. The standard OpenAPI keywords
are checked by ``jsonschema`` (Draft 4, the dialect of OpenAPI v3.0) on a translation of the
Kubernetes extensions; ``x-kubernetes-validations`` rules run on ``cel-python``. Errors carry
the API server's field paths and texts, so a 422 here reads like one from a real cluster.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import functools
import ipaddress
import json
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import celpy
import jsonschema
from celpy import celtypes

Schema = Mapping[str, Any]
JSON = Any

_META_FIELDS = ("apiVersion", "kind", "metadata")
_JUNCTORS = ("allOf", "anyOf", "oneOf")
_FORBIDDEN_KEYWORDS = (
    "$ref",
    "$schema",
    "definitions",
    "dependencies",
    "additionalItems",
    "patternProperties",
    "id",
)
_INT_OR_STRING_ANY_OF = [{"type": "integer"}, {"type": "string"}]
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_OLD_SELF = re.compile(r"\boldSelf\b")


# --------------------------------------------------------------------------------------------
# Errors, as the API server words them
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------


@dataclass
class ValidationResult:
    """The object as the API server would store it, its errors, and the unknown fields it dropped."""

    object: dict[str, Any]
    errors: list[FieldError] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)


def validate_custom_resource(
    crd: Mapping[str, Any],
    obj: Mapping[str, Any],
    *,
    version: str | None = None,
    old_obj: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], list[FieldError]]:
    """Prune, default and validate ``obj`` against ``crd``; return the new object and its errors.

    ``version`` defaults to the one in ``obj["apiVersion"]`` (else the storage version).
    ``old_obj`` turns on transition rules (CEL rules using ``oldSelf``); they are skipped on create.
    The input is never modified.
    """
    result = validator_for(crd).validate(obj, version=version, old_obj=old_obj)
    return result.object, result.errors


def validator_for(crd: Mapping[str, Any]) -> CustomResourceValidator:
    """A cached validator for this CRD (the cache key is the CRD's spec, so edits are seen)."""
    return _cached_validator(json.dumps(crd.get("spec", {}), sort_keys=True, default=str))


@functools.lru_cache(maxsize=64)
def _cached_validator(spec_json: str) -> CustomResourceValidator:
    return CustomResourceValidator({"spec": json.loads(spec_json)})


class CustomResourceValidator:
    """Per-CRD compiled state: one jsonschema validator per version; CEL programs are cached globally."""

    def __init__(self, crd: Mapping[str, Any]) -> None:
        spec = crd.get("spec", {})
        self.group: str = spec.get("group", "")
        self.kind: str = spec.get("names", {}).get("kind", "")
        self.namespaced: bool = spec.get("scope", "Namespaced") == "Namespaced"
        self.versions: dict[str, Schema | None] = {}
        self.storage_version: str | None = None
        for v in spec.get("versions", []):
            self.versions[v["name"]] = (v.get("schema") or {}).get("openAPIV3Schema")
            if v.get("storage") or self.storage_version is None:
                self.storage_version = v["name"]
        self._json_validators: dict[str, jsonschema.protocols.Validator] = {}

    def schema(self, version: str) -> Schema | None:
        return self.versions.get(version)

    def _resolve_version(self, obj: Mapping[str, Any], version: str | None) -> str | None:
        if version is not None:
            return version
        api_version = obj.get("apiVersion")
        if isinstance(api_version, str) and "/" in api_version:
            group, _, ver = api_version.rpartition("/")
            if group == self.group:
                return ver
        return self.storage_version

    def _json_validator(self, version: str, schema: Schema) -> jsonschema.protocols.Validator:
        cached = self._json_validators.get(version)
        if cached is None:
            cached = jsonschema.Draft4Validator(
                to_json_schema(schema, root=True), format_checker=FORMAT_CHECKER
            )
            self._json_validators[version] = cached
        return cached

    def validate(
        self,
        obj: Mapping[str, Any],
        *,
        version: str | None = None,
        old_obj: Mapping[str, Any] | None = None,
    ) -> ValidationResult:
        new = copy.deepcopy(dict(obj))
        ver = self._resolve_version(new, version)
        if ver not in self.versions:
            supported = [f"{self.group}/{v}" for v in self.versions]
            return ValidationResult(new, [not_supported("apiVersion", new.get("apiVersion"), supported)])
        schema = self.versions[ver]
        errors: list[FieldError] = list(validate_object_meta(new, namespaced=self.namespaced))
        if not schema:
            return ValidationResult(new, errors)
        pruned: list[str] = []
        prune(new, schema, pruned=pruned)
        apply_defaults(new, schema)
        errors.extend(schema_errors(self._json_validator(ver, schema), new))
        errors.extend(list_type_errors(new, schema, ""))
        errors.extend(cel_errors(new, schema, old_obj=old_obj))
        return ValidationResult(new, errors, pruned)


def validate_object_meta(obj: Mapping[str, Any], *, namespaced: bool = True) -> list[FieldError]:
    """The parts of ObjectMeta validation every resource gets: a DNS-1123 subdomain name."""
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping):
        return [required("metadata.name", "name or generateName is required")]
    name = meta.get("name")
    errors: list[FieldError] = []
    if not name and not meta.get("generateName"):
        errors.append(required("metadata.name", "name or generateName is required"))
    elif name and (len(name) > 253 or not _DNS1123_SUBDOMAIN.match(name)):
        errors.append(
            invalid(
                "metadata.name",
                name,
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
                "'-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
                "regex used for validation is "
                "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
            )
        )
    if not namespaced and meta.get("namespace"):
        errors.append(forbidden("metadata.namespace", "not allowed on this type"))
    return errors


# --------------------------------------------------------------------------------------------
# Pruning and defaulting (structural-schema algorithms)
# --------------------------------------------------------------------------------------------


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


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
            sub_path = _child(path, key)
            if resource_like and key in _META_FIELDS:
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
            if root and key in _META_FIELDS:
                continue
            missing = key not in value
            non_nullable_null = not missing and value[key] is None and not prop.get("nullable")
            if "default" in prop and (missing or non_nullable_null):
                value[key] = copy.deepcopy(prop["default"])
            elif non_nullable_null:
                del value[key]
        for key in list(value):
            if root and key in _META_FIELDS:
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


# --------------------------------------------------------------------------------------------
# OpenAPI keywords via jsonschema
# --------------------------------------------------------------------------------------------

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
        elif key in _JUNCTORS:
            out[key] = [to_json_schema(sub) for sub in val]
        else:
            out[key] = val
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt in FORMAT_CHECKER.checkers:
        out["format"] = fmt
    if schema.get("x-kubernetes-int-or-string"):
        out["type"] = ["integer", "string"]
        if out.get("anyOf") == _INT_OR_STRING_ANY_OF:
            del out["anyOf"]  # already said by ``type``; avoids a second error for one mistake
    if schema.get("nullable"):
        if "type" in out:
            types = out["type"] if isinstance(out["type"], list) else [out["type"]]
            out["type"] = [*types, "null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    return out


def _json_type_name(value: JSON) -> str:
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


def openapi_path(parts: Iterable[str | int]) -> str:
    """``deque(['spec', 'subnets', 0])`` → ``spec.subnets[0]`` (kube-openapi's error naming)."""
    out = ""
    for part in parts:
        out = f"{out}[{part}]" if isinstance(part, int) else _child(out, str(part))
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
                yield required(_child(path, name))
    elif kw == "type":
        types = [t for t in (want if isinstance(want, list) else [want]) if t != "null"]
        actual = _json_type_name(inst)
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
                    _child(path, name), inst[name], f"{_child(path, name)} in body is a forbidden property"
                )
    else:
        yield invalid(path, inst, err.message)


# --- formats: the ones kube-openapi checks, implemented small ------------------------------

FORMAT_CHECKER = jsonschema.FormatChecker(formats=())
_DURATION = re.compile(r"^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d|w))+$|^0$")
_MAC = re.compile(r"^([0-9A-Fa-f]{2}[:-]){5}([0-9A-Fa-f]{2})$")
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*$"
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S*$")


def _string_check(name: str) -> Any:
    """Register a string-only format check (non-strings pass: ``type`` reports those)."""

    def decorate(fn: Any) -> Any:
        def check(value: object) -> bool:
            return not isinstance(value, str) or bool(fn(value))

        FORMAT_CHECKER.checks(name)(check)
        return fn

    return decorate


def _parses(fn: Any, value: str) -> bool:
    try:
        fn(value)
    except (ValueError, binascii.Error):
        return False
    return True


@_string_check("date-time")
def _is_datetime(value: str) -> bool:
    return bool(
        re.match(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$", value)
    ) and _parses(lambda v: dt.datetime.fromisoformat(v.replace("z", "Z").replace("Z", "+00:00")), value)


FORMAT_CHECKER.checks("datetime")(FORMAT_CHECKER.checkers["date-time"][0])


@_string_check("date")
def _is_date(value: str) -> bool:
    return bool(re.match(r"^\d{4}-\d{2}-\d{2}$", value)) and _parses(dt.date.fromisoformat, value)


@_string_check("byte")
def _is_base64(value: str) -> bool:
    return _parses(lambda v: base64.b64decode(v, validate=True), value)


@_string_check("uuid")
def _is_uuid(value: str) -> bool:
    return _parses(uuid.UUID, value)


@_string_check("ipv4")
def _is_ipv4(value: str) -> bool:
    return _parses(ipaddress.IPv4Address, value)


@_string_check("ipv6")
def _is_ipv6(value: str) -> bool:
    return _parses(ipaddress.IPv6Address, value)


@_string_check("cidr")
def _is_cidr(value: str) -> bool:
    return "/" in value and _parses(lambda v: ipaddress.ip_network(v, strict=False), value)


@_string_check("duration")
def _is_duration(value: str) -> bool:
    return bool(_DURATION.match(value))


@_string_check("mac")
def _is_mac(value: str) -> bool:
    return bool(_MAC.match(value))


@_string_check("hostname")
def _is_hostname(value: str) -> bool:
    return bool(_HOSTNAME.match(value))


@_string_check("email")
def _is_email(value: str) -> bool:
    return bool(_EMAIL.match(value))


@_string_check("uri")
def _is_uri(value: str) -> bool:
    return bool(_URI.match(value))


# --------------------------------------------------------------------------------------------
# x-kubernetes-list-type: set / map
# --------------------------------------------------------------------------------------------


def list_type_errors(value: JSON, schema: Schema, path: str, *, root: bool = True) -> Iterator[FieldError]:
    """Duplicates in ``set`` lists and duplicate keys in ``map`` lists (``Duplicate value``)."""
    if isinstance(value, dict):
        props: Mapping[str, Schema] = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        for key, item in value.items():
            if root and key in _META_FIELDS:
                continue
            sub = props.get(key) or (additional if isinstance(additional, Mapping) else None)
            if sub is not None:
                yield from list_type_errors(item, sub, _child(path, key), root=False)
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


# --------------------------------------------------------------------------------------------
# CEL: x-kubernetes-validations
# --------------------------------------------------------------------------------------------

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
    actual = _json_type_name(value)
    return actual == want or (want == "number" and actual == "integer")


def _field_path(base: str, field_path: str) -> str:
    """Append a rule's ``fieldPath`` (``.a.b``, ``.a['b']``, ``.list[0]``) to ``base``."""
    out = base
    for match in re.finditer(r"\.([A-Za-z_$][\w$-]*)|\['([^']*)'\]|\[(\d+)\]", field_path):
        name, quoted, index = match.groups()
        out = f"{out}[{index}]" if index is not None else _child(out, name if name is not None else quoted)
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
                _cel_walk(value[key], sub, _child(path, key), old[key] if old_has else None, old_has, errors)
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


# --------------------------------------------------------------------------------------------
# Is the schema structural? Is the CRD acceptable?
# --------------------------------------------------------------------------------------------


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


def _key(path: str, name: str) -> str:
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
                f"{_key(path, 'metadata')}: Forbidden: must not specify anything other than name and "
                "generateName, but metadata is implicitly specified"
            )
        if meta.get("type") not in (None, "object"):
            problems.append(f"{_key(path, 'metadata')}.type: Invalid value: must be object")
    for name, sub in props.items():
        if level == "root" and name == "metadata":
            continue
        _check_node(sub, _key(path, name), "field", problems)
    if isinstance(additional, Mapping):
        _check_node(additional, f"{path}.additionalProperties", "field", problems)
    if isinstance(s.get("items"), Mapping):
        _check_node(s["items"], f"{path}.items", "item", problems)
    _check_junctors(s, path, problems)


def _check_junctors(s: Schema, path: str, problems: list[str]) -> None:
    int_or_string = s.get("x-kubernetes-int-or-string") is True
    specified = set(s.get("properties") or {})
    for kw in _JUNCTORS:
        for i, sub in enumerate(s.get(kw) or []):
            if int_or_string and kw == "anyOf" and s.get("anyOf") == _INT_OR_STRING_ANY_OF:
                continue
            if (
                int_or_string
                and kw == "allOf"
                and i == 0
                and (sub or {}).get("anyOf") == _INT_OR_STRING_ANY_OF
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
    for kw in _JUNCTORS:
        for i, sub in enumerate(v.get(kw) or []):
            _check_nested(sub, f"{path}.{kw}[{i}]", specified, has_items, problems)


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
            yield from _iter_nodes(sub, _key(path, name))
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
