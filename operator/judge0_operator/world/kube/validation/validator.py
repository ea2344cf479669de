"""Custom resources checked against a CRD's ``openAPIV3Schema`` the way kube-apiserver checks them.

The entry point of this folder, shared by the simulated API server (``world/kube/server.py``) and
the manifest tests, so it is pure: no I/O, no aiohttp. Order follows the API server: prune unknown
fields, default (nulls of non-nullable fields are dropped or defaulted), then validate: the
standard OpenAPI keywords (``openapi_keywords.py``), list types (``list_types.py``) and
``x-kubernetes-validations`` rules (``cel_rules.py``). Errors carry the API server's field paths
and texts (``field_errors.py``), so a 422 here reads like one from a real cluster.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from judge0_operator.world.kube.validation.cel_rules import cel_errors
from judge0_operator.world.kube.validation.field_errors import FieldError, forbidden, invalid, not_supported, required
from judge0_operator.world.kube.validation.formats import FORMAT_CHECKER
from judge0_operator.world.kube.validation.list_types import list_type_errors
from judge0_operator.world.kube.validation.openapi_keywords import schema_errors, to_json_schema
from judge0_operator.world.kube.validation.pruning_and_defaults import apply_defaults, prune
from judge0_operator.world.kube.validation.schema_nodes import Schema

_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


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
