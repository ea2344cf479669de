"""Deletion in the emulated API server: preconditions, finalizers, propagation policies.

An object with finalizers (and every Namespace) is only marked (``deletionTimestamp``); a
Namespace being deleted takes its contents with it. Owners' dependents are left to ``gc.py``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from judge0_operator.world.kube.gc import POLICIES, propagation_policy
from judge0_operator.world.kube.resources import ResourceType
from judge0_operator.world.kube.store.core import Obj, StoreCore
from judge0_operator.world.kube.store.errors import ApiError, conflict, status_details


class StoreDeletes(StoreCore):
    """DELETE of one object or a collection (a layer of ``KubeStore``)."""

    def delete(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        dry_run: bool = False,
    ) -> tuple[Obj, bool]:
        """DELETE; returns (object, removed). With finalizers the object stays, marked for deletion."""
        obj = self.get(rt, namespace, name)
        pre = (options or {}).get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != obj["metadata"]["uid"]:
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {rt.qualified_resource} "{name}": '
                f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: "
                f"{obj['metadata']['uid']}",
                status_details(rt, name),
            )
        if pre.get("resourceVersion") and pre["resourceVersion"] != obj["metadata"]["resourceVersion"]:
            raise conflict(rt, name)
        policy = propagation_policy(options)
        if policy not in POLICIES:
            raise ApiError(
                422,
                "Invalid",
                f'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "{policy}": '
                'supported values: "Foreground", "Background", "Orphan"',
            )
        return self._delete_obj(rt, obj, dry_run=dry_run, propagation=policy)

    def _delete_obj(
        self, rt: ResourceType, obj: Obj, *, dry_run: bool = False, propagation: str = "Background"
    ) -> tuple[Obj, bool]:
        current = self._objects[rt.storage_key].get((obj["metadata"].get("namespace", ""), obj["metadata"]["name"]))
        if current is None:  # already gone (collected while a caller held an older copy)
            return obj, True
        obj = current
        meta = obj["metadata"]
        is_namespace = rt.storage_key == self._ns_type.storage_key
        if not dry_run and not is_namespace and self.gc.enabled and not meta.get("deletionTimestamp"):
            if propagation == "Orphan":
                self.gc.orphan(obj)
            elif propagation == "Foreground" and self.gc.dependents(str(meta.get("uid"))):
                return self.gc.foreground(rt, obj)
        if meta.get("finalizers") or is_namespace:
            if meta.get("deletionTimestamp"):
                return obj, False
            new = copy.deepcopy(obj)
            new["metadata"]["deletionTimestamp"] = self.clock()
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            if rt.custom:
                new["metadata"]["generation"] = meta.get("generation", 1) + 1
            if is_namespace:
                new["status"] = {"phase": "Terminating"}
            if dry_run:
                return new, False
            self._commit(rt, "MODIFIED", new, obj)
            if is_namespace:
                self._terminate_namespace(meta["name"])
                return new, False
            return new, False
        final = copy.deepcopy(obj)
        if dry_run:
            return final, True
        return self._commit(rt, "DELETED", final, None), True

    def _terminate_namespace(self, namespace: str) -> None:
        for key, bucket in list(self._objects.items()):
            rt = self._by_key.get(key)
            if rt is None or not rt.namespaced:
                continue
            for (obj_ns, _), obj in list(bucket.items()):
                if obj_ns == namespace:
                    self._delete_obj(rt, obj)
        self._maybe_finish_namespace(namespace)

    def delete_collection(
        self,
        rt: ResourceType,
        namespace: str | None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        dry_run: bool = False,
        propagation: str = "Background",
    ) -> list[Obj]:
        labels, fields = self._predicates(rt, label_selector, field_selector)
        victims = [obj for _, obj in self._matching(rt, namespace, labels, fields)]
        return [self._delete_obj(rt, obj, dry_run=dry_run, propagation=propagation)[0] for obj in victims]
