"""The emulated API server's state and semantics, without HTTP: ``KubeStore``.

Assembled from layers, one concern each: ``core.py`` (kinds, reads, commits, watches),
``writes.py`` (create, update, patch) and ``deletes.py`` (deletion); here the store
starts with the built-in namespaces, serves the ``/scale`` subresource and resets hard.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from judge0_operator.world.kube.gc import GarbageCollector
from judge0_operator.world.kube.resources import ResourceType
from judge0_operator.world.kube.store.core import Obj
from judge0_operator.world.kube.store.deletes import StoreDeletes
from judge0_operator.world.kube.store.errors import ApiError, bad_request, conflict, unprocessable
from judge0_operator.world.kube.store.patches import apply_patch
from judge0_operator.world.kube.store.writes import StoreWrites
from judge0_operator.world.kube.validation import field_errors

BUILTIN_NAMESPACES = ("default", "kube-system")


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _get_path(obj: Mapping[str, Any], dotted: str) -> Any:
    node: Any = obj
    for part in dotted.strip(".").split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _set_path(obj: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.strip(".").split(".")
    node = obj
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


class KubeStore(StoreWrites, StoreDeletes):
    """Objects, resource kinds, resourceVersions, watch history and watchers."""

    def __init__(
        self,
        *,
        history_limit: int = 1000,
        strict_namespaces: bool = False,
        clock: Callable[[], str] = utc_now,
    ) -> None:
        super().__init__(history_limit, strict_namespaces, clock)
        self.gc = GarbageCollector(self)  # ownerReference garbage collection (``gc.py``)
        for ns in BUILTIN_NAMESPACES:
            self.create(self._ns_type, None, {"metadata": {"name": ns}})

    # ---------------------------------------------------------------- scale subresource

    def get_scale(self, rt: ResourceType, namespace: str | None, name: str) -> Obj:
        if rt.scale is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        obj = self.get(rt, namespace, name)
        return self._scale_of(rt, obj)

    def _scale_of(self, rt: ResourceType, obj: Obj) -> Obj:
        assert rt.scale is not None
        meta = obj["metadata"]
        status: dict[str, Any] = {"replicas": _get_path(obj, rt.scale.get("statusReplicasPath", "")) or 0}
        if rt.scale.get("labelSelectorPath"):
            selector = _get_path(obj, rt.scale["labelSelectorPath"])
            if selector is not None:
                status["selector"] = selector
        scale_meta = {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        }
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": scale_meta,
            "spec": {"replicas": _get_path(obj, rt.scale["specReplicasPath"]) or 0},
            "status": status,
        }

    def update_scale(
        self, rt: ResourceType, namespace: str | None, name: str, scale: Any, *, dry_run: bool = False
    ) -> Obj:
        """Write ``spec.replicas`` of an autoscaling/v1 Scale into the object's specReplicasPath."""
        old_scale = self.get_scale(rt, namespace, name)
        old = self.get(rt, namespace, name)
        assert rt.scale is not None
        if not isinstance(scale, dict):
            raise bad_request("the body of the request was in an unknown format")
        rv = (scale.get("metadata") or {}).get("resourceVersion")
        if rv and rv != old_scale["metadata"]["resourceVersion"]:
            raise conflict(rt, name)
        replicas = (scale.get("spec") or {}).get("replicas", 0)
        if not isinstance(replicas, int) or isinstance(replicas, bool):
            raise unprocessable(
                rt, name, [field_errors.invalid("spec.replicas", replicas, "must be an integer")]
            )
        if replicas < 0:
            raise unprocessable(
                rt,
                name,
                [field_errors.invalid("spec.replicas", replicas, "must be greater than or equal to 0")],
            )
        new = copy.deepcopy(old)
        _set_path(new, rt.scale["specReplicasPath"], replicas)
        result = self._apply_update(rt, old, new, subresource=None, dry_run=dry_run)
        return self._scale_of(rt, result)

    def patch_scale(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        patch_type: str,
        patch: Any,
        *,
        dry_run: bool = False,
    ) -> Obj:
        current = self.get_scale(rt, namespace, name)
        return self.update_scale(
            rt, namespace, name, apply_patch(patch_type, current, patch), dry_run=dry_run
        )

    # ---------------------------------------------------------------- conveniences

    def reset(self) -> None:
        """Delete every object but CRDs and the built-in namespaces, ignoring finalizers.

        A hard reset between scenarios: watchers see DELETED events and resourceVersions keep
        growing, so a running operator stays consistent.
        """
        ns_key, crd_key = self._ns_type.storage_key, self._crd_type.storage_key
        self.gc.enabled = False  # a hard reset: nothing to collect, everything goes
        self.gc.clear()
        for key in [k for k in self._objects if k not in (ns_key, crd_key)] + [ns_key]:
            rt = self._by_key.get(key)
            if rt is None:
                continue
            for (_, name), obj in list(self._objects[key].items()):
                if key == ns_key and name in BUILTIN_NAMESPACES:
                    continue
                self._commit(rt, "DELETED", copy.deepcopy(obj), None)
        self.gc.enabled = True
        for name in BUILTIN_NAMESPACES:
            if ("", name) not in self._objects[ns_key]:
                self.create(self._ns_type, None, {"metadata": {"name": name}})

    def objects(self, rt: ResourceType) -> Iterable[Obj]:
        return self._objects[rt.storage_key].values()
