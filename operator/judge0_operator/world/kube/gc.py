"""Garbage collection by ownerReferences, as kube-controller-manager's garbage collector does it.

Kubernetes deletes a *dependent* once none of its ``metadata.ownerReferences`` names an owner that
still exists (same kind, namespace and name **and uid** — an owner recreated under the same name
is a different owner). The emulator does this in-process, right after the write that makes it
due (the real collector does it moments later, from its informers):

- **Background** (the default ``propagationPolicy``): the owner goes first (once its own
  finalizers are gone); then its dependents are deleted, each in the background too, so whole
  chains go. A dependent that still has another live owner only loses the dangling reference.
- **Foreground**: the owner stays, with ``deletionTimestamp`` and the ``foregroundDeletion``
  finalizer, while its dependents are deleted; it goes once no dependent with
  ``blockOwnerDeletion: true`` is left (a dependent held by its own finalizer holds the owner).
- **Orphan** (or ``orphanDependents: true``): the references to the owner are removed from its
  dependents, which stay; then the owner is deleted. (The real API server shows an ``orphan``
  finalizer on the owner meanwhile; here that step is immediate, so it is never seen.)
- A dependent written with references to owners none of which exists is collected at once.
  References to kinds the server does not serve are assumed alive (the real collector cannot
  resolve them either and leaves the object).

Write-time checks as the API server makes them: each reference needs ``apiVersion``, ``kind``,
``name`` and ``uid``; at most one may be ``controller: true``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from judge0_operator.world.kube.validation import field_errors
from judge0_operator.world.kube.validation.field_errors import FieldError

if TYPE_CHECKING:
    from judge0_operator.world.kube.resources import ResourceType
    from judge0_operator.world.kube.store.core import Obj
    from judge0_operator.world.kube.store.kube_store import KubeStore

FOREGROUND_FINALIZER = "foregroundDeletion"
POLICIES = ("Background", "Foreground", "Orphan")
Key = tuple[tuple[str, str], str, str]  # (storage key, namespace, name)


def owner_references(obj: Mapping[str, Any]) -> list[dict[str, Any]]:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return [r for r in refs if isinstance(r, dict)]


def check_owner_references(obj: Mapping[str, Any]) -> list[FieldError]:
    """The API server's validation of ``metadata.ownerReferences``."""
    refs = (obj.get("metadata") or {}).get("ownerReferences")
    if refs is None:
        return []
    if not isinstance(refs, list):
        return [field_errors.invalid("metadata.ownerReferences", refs, "must be a list")]
    errors = []
    for index, ref in enumerate(refs):
        path = f"metadata.ownerReferences[{index}]"
        if not isinstance(ref, dict):
            errors.append(field_errors.invalid(path, ref, "must be an object"))
            continue
        for key in ("apiVersion", "kind", "name", "uid"):
            if not isinstance(ref.get(key), str) or not ref[key]:
                errors.append(field_errors.invalid(f"{path}.{key}", ref.get(key, ""), f"{key} must not be empty"))
    controllers = [r for r in refs if isinstance(r, dict) and r.get("controller") is True]
    if len(controllers) > 1:
        errors.append(
            field_errors.invalid("metadata.ownerReferences", refs, "Only one reference can have Controller set to true")
        )
    return errors


def propagation_policy(options: Mapping[str, Any] | None) -> str:
    """``DeleteOptions.propagationPolicy`` (or the older ``orphanDependents``); Background by default."""
    options = options or {}
    policy = options.get("propagationPolicy")
    if policy is None:
        return "Orphan" if options.get("orphanDependents") is True else "Background"
    return str(policy)


class GarbageCollector:
    """Owner uid → dependents index, and the collection steps the store calls (see module doc)."""

    def __init__(self, store: KubeStore) -> None:
        self.store = store
        self.enabled = True
        self._dependents: dict[str, set[Key]] = {}

    def clear(self) -> None:
        self._dependents.clear()

    # ---- the index ------------------------------------------------------------------------------
    def committed(self, rt: ResourceType, event_type: str, obj: Obj) -> None:
        """Called by the store after every write: keep the index, collect what became due."""
        meta = obj["metadata"]
        key: Key = (rt.storage_key, meta.get("namespace", ""), meta["name"])
        refs = owner_references(obj)
        if event_type == "DELETED":
            for ref in refs:
                self._dependents.get(str(ref.get("uid")), set()).discard(key)
            if self.enabled:
                self._collect(str(meta.get("uid")))
                self._release_owners(refs, meta.get("namespace", ""))
            return
        for ref in refs:
            self._dependents.setdefault(str(ref.get("uid")), set()).add(key)
        namespace = meta.get("namespace", "")
        if (
            self.enabled
            and refs
            and not meta.get("deletionTimestamp")
            and not any(self._owner_alive(ref, namespace) for ref in refs)
        ):
            self.store._delete_obj(rt, obj)

    def dependents(self, owner_uid: str) -> list[tuple[ResourceType, Obj]]:
        """The objects that name this owner now (stale index entries are skipped)."""
        out = []
        for storage_key, namespace, name in sorted(self._dependents.get(owner_uid, ())):
            rt = self.store._by_key.get(storage_key)
            obj = self.store._objects.get(storage_key, {}).get((namespace, name)) if rt else None
            if (
                rt is not None
                and obj is not None
                and any(str(r.get("uid")) == owner_uid for r in owner_references(obj))
            ):
                out.append((rt, obj))
        return out

    def _owner(self, ref: Mapping[str, Any], namespace: str) -> tuple[ResourceType, Obj] | bool | None:
        """(type, owner) when it exists; None when absent; True when its kind is unknown (assume alive)."""
        try:
            rt = self.store.type_for(str(ref.get("apiVersion", "")), str(ref.get("kind", "")))
        except Exception:
            return True
        obj = self.store._objects[rt.storage_key].get((namespace if rt.namespaced else "", str(ref.get("name"))))
        if obj is None or obj["metadata"].get("uid") != ref.get("uid"):
            return None
        return rt, obj

    def _owner_alive(self, ref: Mapping[str, Any], namespace: str) -> bool:
        return self._owner(ref, namespace) is not None

    # ---- collection -----------------------------------------------------------------------------
    def _collect(self, owner_uid: str) -> None:
        """The owner is gone: delete dependents left without a live owner; unlink the others."""
        for rt, obj in self.dependents(owner_uid):
            namespace = obj["metadata"].get("namespace", "")
            alive = [r for r in owner_references(obj) if self._owner_alive(r, namespace)]
            if alive:
                self._set_references(rt, obj, alive)
            else:
                self.store._delete_obj(rt, obj)
        self._dependents.pop(owner_uid, None)

    def _set_references(self, rt: ResourceType, obj: Obj, refs: list[dict[str, Any]]) -> None:
        current = self.store._objects[rt.storage_key].get(
            (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        )
        if current is None:
            return
        new = copy.deepcopy(current)
        if refs:
            new["metadata"]["ownerReferences"] = refs
        else:
            new["metadata"].pop("ownerReferences", None)
        self.store._commit(rt, "MODIFIED", new, current)

    def orphan(self, owner: Obj) -> None:
        """``Orphan``: remove the references to ``owner`` from its dependents."""
        uid = owner["metadata"].get("uid")
        for rt, obj in self.dependents(str(uid)):
            self._set_references(rt, obj, [r for r in owner_references(obj) if r.get("uid") != uid])
        self._dependents.pop(str(uid), None)

    def foreground(self, rt: ResourceType, owner: Obj) -> tuple[Obj, bool]:
        """``Foreground``: mark the owner, delete its dependents (foreground too), finish if free."""
        dependents = self.dependents(str(owner["metadata"].get("uid")))
        marked = copy.deepcopy(owner)
        meta = marked["metadata"]
        if FOREGROUND_FINALIZER not in (meta.get("finalizers") or []):
            meta["finalizers"] = [*(meta.get("finalizers") or []), FOREGROUND_FINALIZER]
        meta.setdefault("deletionTimestamp", self.store.clock())
        meta.setdefault("deletionGracePeriodSeconds", 0)
        if rt.custom and not owner["metadata"].get("deletionTimestamp"):
            meta["generation"] = owner["metadata"].get("generation", 1) + 1
        marked = self.store._commit(rt, "MODIFIED", marked, owner)
        for dep_rt, dep in dependents:
            self.store._delete_obj(dep_rt, dep, propagation="Foreground")
        return self._finish_foreground(rt, marked)

    def _blocking(self, owner: Obj) -> list[Obj]:
        uid = owner["metadata"].get("uid")
        return [
            obj
            for _, obj in self.dependents(str(uid))
            if any(r.get("uid") == uid and r.get("blockOwnerDeletion") is True for r in owner_references(obj))
        ]

    def _finish_foreground(self, rt: ResourceType, owner: Obj) -> tuple[Obj, bool]:
        current = self.store._objects[rt.storage_key].get(
            (owner["metadata"].get("namespace", ""), owner["metadata"]["name"])
        )
        if current is None:
            return owner, True
        if FOREGROUND_FINALIZER not in (current["metadata"].get("finalizers") or []) or self._blocking(current):
            return current, False
        new = copy.deepcopy(current)
        finalizers = [f for f in new["metadata"].get("finalizers") or [] if f != FOREGROUND_FINALIZER]
        if finalizers:
            new["metadata"]["finalizers"] = finalizers
            return self.store._commit(rt, "MODIFIED", new, current), False
        new["metadata"].pop("finalizers", None)
        return self.store._commit(rt, "DELETED", new, None), True

    def _release_owners(self, refs: Iterable[Mapping[str, Any]], namespace: str) -> None:
        """A dependent went away: an owner waiting in foreground deletion may be free now."""
        for ref in refs:
            found = self._owner(ref, namespace)
            if isinstance(found, tuple) and FOREGROUND_FINALIZER in (found[1]["metadata"].get("finalizers") or []):
                self._finish_foreground(*found)
