"""Writes to the emulated API server's objects: POST, PUT and PATCH on an object or its ``/status``.

What the API server does on the way in: server-set metadata (uid, generation, generateName),
409 on a stale resourceVersion, no new finalizers while deleting, schema validation of custom
resources (``validation/``), built-in kinds' defaults and checks (``network.py``, ownerReferences,
Secrets, Namespaces, CRDs), and a no-op write that commits nothing.
"""

from __future__ import annotations

import base64
import copy
import json
import uuid
from collections.abc import Mapping
from typing import Any

from judge0_operator.world.kube import network
from judge0_operator.world.kube.gc import check_owner_references
from judge0_operator.world.kube.resources import ResourceType
from judge0_operator.world.kube.store.core import Obj, StoreCore
from judge0_operator.world.kube.store.errors import (
    ApiError,
    bad_request,
    conflict,
    not_found,
    status_details,
    unprocessable,
)
from judge0_operator.world.kube.store.patches import APPLY_PATCH, apply_patch
from judge0_operator.world.kube.validation import field_errors
from judge0_operator.world.kube.validation.crd_checks import check_crd
from judge0_operator.world.kube.validation.field_errors import FieldError

_SERVER_METADATA = (
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
)
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # the API server's generateName alphabet


class StoreWrites(StoreCore):
    """Create, update and patch, as the API server admits them (a layer of ``KubeStore``)."""

    def _check_namespace(self, rt: ResourceType, namespace: str, name: str) -> None:
        ns_obj = self._objects[self._ns_type.storage_key].get(("", namespace))
        if ns_obj is None:
            if self.strict_namespaces:
                raise not_found(self._ns_type, namespace)
            self.create(self._ns_type, None, {"metadata": {"name": namespace}})
        elif ns_obj["metadata"].get("deletionTimestamp"):
            raise ApiError(
                403,
                "Forbidden",
                f'{rt.qualified_resource} "{name}" is forbidden: unable to create new content in namespace '
                f"{namespace} because it is being terminated",
                status_details(rt, name),
            )

    def _generate_name(self, rt: ResourceType, namespace: str, prefix: str) -> str:
        bucket = self._objects[rt.storage_key]
        while True:
            name = prefix + "".join(self._random.choice(_NAME_CHARS) for _ in range(5))
            if (namespace, name) not in bucket:
                return name

    def create(
        self,
        rt: ResourceType,
        namespace: str | None,
        body: Any,
        *,
        dry_run: bool = False,
        strict: bool = False,
    ) -> Obj:
        """POST: 201-worthy new object, or ApiError (409 AlreadyExists, 422 Invalid, ...)."""
        if not isinstance(body, dict):
            raise bad_request("the body of the request was in an unknown format")
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        self._check_kind(rt, obj)
        if meta.get("resourceVersion"):
            raise bad_request("resourceVersion should not be set on objects to be created")
        ns = self._ns(rt, namespace or meta.get("namespace"))
        if rt.namespaced:
            if not ns:
                raise bad_request("the namespace of the object must be given for a namespaced resource")
            if meta.get("namespace") and namespace and meta["namespace"] != namespace:
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = self._generate_name(rt, ns, str(meta["generateName"]))
        name = str(meta.get("name") or "")
        for key in (*_SERVER_METADATA, "managedFields", "selfLink"):
            meta.pop(key, None)
        if rt.custom and rt.status:
            obj.pop("status", None)  # the main resource cannot set status when /status exists
        if rt.custom:
            obj = self._validate(rt, name, obj, None, strict=strict)
            meta = obj["metadata"]
        elif not name:
            raise unprocessable(
                rt, name, [field_errors.required("metadata.name", "name or generateName is required")]
            )
        if (ns, name) in self._objects[rt.storage_key]:
            raise ApiError(
                409, "AlreadyExists", f'{rt.qualified_resource} "{name}" already exists', status_details(rt, name)
            )
        if rt.namespaced:
            self._check_namespace(rt, ns, name)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = self.clock()
        if rt.custom:
            meta["generation"] = 1
        self._prepare_builtin(rt, obj, None)
        if dry_run:
            return obj
        return self._commit(rt, "ADDED", obj, None)

    def _check_kind(self, rt: ResourceType, obj: Obj) -> None:
        kind, api_version = obj.get("kind"), obj.get("apiVersion")
        if kind is not None and kind != rt.kind:
            raise bad_request(
                f"the API version in the data ({api_version}) does not match the expected API version "
                f"({rt.api_version}) or kind {kind!r} does not match {rt.kind!r}"
            )
        if api_version is not None and api_version.rpartition("/")[0] != rt.group:
            raise bad_request(
                f"the API version in the data ({api_version}) does not match the expected API version "
                f"({rt.api_version})"
            )
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind

    def _validate(
        self, rt: ResourceType, name: str, obj: Obj, old: Obj | None, *, strict: bool = False
    ) -> Obj:
        """Schema validation, pruning and defaulting; unknown fields become warnings (or 400 if strict)."""
        assert rt.validator is not None
        result = rt.validator.validate(obj, version=rt.version, old_obj=old)
        if result.pruned and strict:
            raise bad_request(
                "strict decoding error: " + ", ".join(f'unknown field "{p}"' for p in result.pruned)
            )
        self.warnings.extend(f'unknown field "{p}"' for p in result.pruned)
        if result.errors:
            raise unprocessable(rt, name, result.errors)
        return result.object

    def _prepare_builtin(self, rt: ResourceType, obj: Obj, old: Obj | None) -> None:
        """Server-side touches of built-in kinds: Secret ``stringData``, Namespace phase, CRD status,
        Service/EndpointSlice defaults and checks; ownerReferences of every kind."""
        errors = check_owner_references(obj)
        if errors:
            raise unprocessable(rt, obj["metadata"].get("name", ""), errors)
        if network.handles(rt):
            errors = network.prepare(rt, obj, old, self._objects[rt.storage_key].values())
            if errors:
                raise unprocessable(rt, obj["metadata"].get("name", ""), errors)
        if rt.group == "" and rt.plural == "secrets" and isinstance(obj.get("stringData"), dict):
            data = obj.setdefault("data", {})
            for key, value in obj.pop("stringData").items():
                data[key] = base64.b64encode(str(value).encode()).decode()
        elif rt is self._ns_type:
            meta = obj["metadata"]
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
            if old is None:
                obj["status"] = {"phase": "Active"}
        elif rt.storage_key == self._crd_type.storage_key:
            self._prepare_crd(obj, old)

    def _prepare_crd(self, crd: Obj, old: Obj | None) -> None:
        problems = check_crd(crd)
        if problems:
            errors = [FieldError(*p.split(": ", 1)) if ": " in p else FieldError("spec", p) for p in problems]
            raise unprocessable(self._crd_type, crd["metadata"].get("name", ""), errors)
        spec = crd["spec"]
        key = (spec["group"], spec["names"]["plural"])
        owner = self._by_key.get(key)
        if owner is not None and owner.crd_name is None:
            raise unprocessable(
                self._crd_type,
                crd["metadata"]["name"],
                [field_errors.invalid("spec.names.plural", key[1], "conflicts with a built-in resource")],
            )
        now = self.clock()
        conditions = ((old or {}).get("status") or {}).get("conditions") or [
            {"type": t, "status": "True", "reason": r, "message": m, "lastTransitionTime": now}
            for t, r, m in (
                ("NamesAccepted", "NoConflicts", "no conflicts found"),
                ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
            )
        ]
        crd["status"] = {
            "conditions": conditions,
            "acceptedNames": spec["names"],
            "storedVersions": [v["name"] for v in spec["versions"] if v.get("storage")],
        }

    def update(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        body: Any,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        strict: bool = False,
    ) -> Obj:
        """PUT (replace) on the object or its ``/status``; 409 on a stale resourceVersion."""
        old = self.get(rt, namespace, name)
        if not isinstance(body, dict) or not isinstance(body.get("metadata", {}), dict):
            raise bad_request("the body of the request was in an unknown format")
        rv = (body.get("metadata") or {}).get("resourceVersion")
        if not rv and rt.custom:
            raise unprocessable(
                rt,
                name,
                [field_errors.invalid("metadata.resourceVersion", "0x0", "must be specified for an update")],
            )
        return self._apply_update(
            rt, old, copy.deepcopy(body), subresource=subresource, dry_run=dry_run, strict=strict
        )

    def patch(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        patch_type: str,
        patch: Any,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        strict: bool = False,
    ) -> Obj:
        """PATCH: merge patch, JSON patch (``test`` failures → 422), strategic/apply treated as merge."""
        try:
            old = self.get(rt, namespace, name)
        except ApiError:
            if patch_type == APPLY_PATCH and subresource is None:
                body = copy.deepcopy(patch)
                body.setdefault("metadata", {})["name"] = name
                return self.create(rt, namespace, body, dry_run=dry_run, strict=strict)
            raise
        doc = copy.deepcopy(old)
        doc["apiVersion"] = rt.api_version
        candidate = apply_patch(patch_type, doc, patch)
        return self._apply_update(rt, old, candidate, subresource=subresource, dry_run=dry_run, strict=strict)

    def _apply_update(
        self,
        rt: ResourceType,
        old: Obj,
        candidate: Any,
        *,
        subresource: str | None,
        dry_run: bool,
        strict: bool = False,
    ) -> Obj:
        name, ns = old["metadata"]["name"], old["metadata"].get("namespace", "")
        if not isinstance(candidate, dict) or not isinstance(candidate.get("metadata", {}), dict):
            raise bad_request("the object is not a JSON object with an object metadata")
        cmeta = candidate.get("metadata") or {}
        if cmeta.get("name", name) != name:
            raise bad_request(
                f"the name of the object ({cmeta['name']}) does not match the name on the URL ({name})"
            )
        if rt.namespaced and cmeta.get("namespace", ns) != ns:
            raise bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        rv = cmeta.get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise conflict(rt, name)
        if subresource == "status":
            new = copy.deepcopy(old)
            if "status" in candidate:
                new["status"] = candidate["status"]
            else:
                new.pop("status", None)
        else:
            new = candidate
            self._check_kind(rt, new)
            meta = dict(cmeta)
            for key in (*_SERVER_METADATA, "name", "namespace"):
                if key in old["metadata"]:
                    meta[key] = old["metadata"][key]
                else:
                    meta.pop(key, None)
            meta.pop("managedFields", None)
            new["metadata"] = meta
            if rt.status:
                if "status" in old:
                    new["status"] = copy.deepcopy(old["status"])
                else:
                    new.pop("status", None)
        new["apiVersion"], new["kind"] = rt.api_version, rt.kind
        if old["metadata"].get("deletionTimestamp"):
            added = set(new["metadata"].get("finalizers") or []) - set(
                old["metadata"].get("finalizers") or []
            )
            if added:
                raise unprocessable(
                    rt,
                    name,
                    [
                        field_errors.forbidden(
                            "metadata.finalizers",
                            "no new finalizers can be added if the object is being deleted, found "
                            f"new finalizers {json.dumps(sorted(added))}",
                        )
                    ],
                )
        if rt.custom:
            new = self._validate(rt, name, new, old, strict=strict)
            changed = _spec_part(new, rt.status) != _spec_part(old, rt.status)
            new["metadata"]["generation"] = old["metadata"].get("generation", 1) + (1 if changed else 0)
        self._prepare_builtin(rt, new, old)
        if _without_rv(new) == _without_rv({**old, "apiVersion": rt.api_version}):
            return old  # a no-op write: no new resourceVersion, no event
        if dry_run:
            return new
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            return self._commit(rt, "DELETED", new, None)
        return self._commit(rt, "MODIFIED", new, old)


def _spec_part(obj: Mapping[str, Any], has_status: bool) -> dict[str, Any]:
    """What bumps ``generation``: everything outside metadata (and status, if /status exists)."""
    skip = {"metadata", "apiVersion", "kind"} | ({"status"} if has_status else set())
    return {k: v for k, v in obj.items() if k not in skip}


def _without_rv(obj: Mapping[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "resourceVersion"}
    return {**obj, "metadata": meta}
