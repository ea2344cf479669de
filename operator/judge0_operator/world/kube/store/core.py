"""The emulated API server's state, without HTTP: the base layer of ``KubeStore``.

Objects live in one dict per (group, plural); a global counter plays etcd's revision and
becomes every write's ``metadata.resourceVersion``. Stored objects are never mutated after
they are committed (each write builds a new dict), so watch history can hold references
instead of copies. Memory and per-request cost stay flat: history is a bounded deque and
there is no request log. This layer holds the kinds, reads, lists, commits (with what a commit
sets off: CRD kinds registered, a drained namespace finished, garbage collection) and watches.
"""

from __future__ import annotations

import base64
import copy
import json
import random
from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from judge0_operator.world.kube.resources import (
    BUILTIN_TYPES,
    ResourceType,
    crd_resource_types,
)
from judge0_operator.world.kube.selectors import (
    Predicate,
    SelectorError,
    field_predicate,
    object_labels,
    parse_field_selector,
    parse_label_selector,
)
from judge0_operator.world.kube.store.errors import ApiError, bad_request, not_found
from judge0_operator.world.kube.store.watch import Watcher, WatchEvent

if TYPE_CHECKING:
    from judge0_operator.world.kube.gc import GarbageCollector

Obj = dict[str, Any]
MAX_OBJECT_BYTES = 1_572_864  # etcd's default --max-request-bytes (1.5 MiB)


def _check_size(obj: Obj, limit: int) -> None:
    """kube-apiserver passes etcd's refusal of an object this large on as a 500 (kubernetes#112152)."""
    if len(json.dumps(obj, separators=(",", ":"))) > limit:
        raise ApiError(500, "InternalError", "etcdserver: request is too large")


class StoreCore:
    """The state every layer of ``KubeStore`` (``store/``) shares, and reading, committing, watching.

    Never used alone: the layers that write (``writes.py``) and delete (``deletes.py``)
    build on it, and ``KubeStore`` sets ``gc``.
    """

    gc: GarbageCollector  # ownerReference garbage collection (``gc.py``), set by KubeStore

    def __init__(self, history_limit: int, strict_namespaces: bool, clock: Callable[[], str]) -> None:
        """The settings are ``KubeStore``'s (its defaults are the public ones)."""
        if history_limit < 1:
            raise ValueError("history_limit must be positive")
        self.history_limit = history_limit
        self.strict_namespaces = strict_namespaces
        self.clock = clock
        self._rv = 0
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        self._by_key: dict[tuple[str, str], ResourceType] = {}
        self._objects: dict[tuple[str, str], dict[tuple[str, str], Obj]] = {}
        self._history: deque[WatchEvent] = deque(maxlen=history_limit)
        self._floor: dict[tuple[str, str], int] = {}  # per kind: newest resourceVersion evicted from history
        self._watchers: dict[tuple[str, str], set[Watcher]] = {}
        self._random = random.Random()
        # etcd's request limit, which every stored object must fit (--max-request-bytes, 1.5 MiB)
        self.max_object_bytes: int | None = MAX_OBJECT_BYTES
        self.watcher_factory: Callable[..., Watcher] = Watcher  # world/kube/faults.py swaps it
        self.warnings: list[
            str
        ] = []  # unknown-field warnings of the latest write (the HTTP layer sends them)
        for rt in BUILTIN_TYPES:
            self._add_type(rt)
        self._ns_type = self.resolve("", "v1", "namespaces")
        self._crd_type = self.resolve("apiextensions.k8s.io", "v1", "customresourcedefinitions")

    # ---------------------------------------------------------------- registry

    def _add_type(self, rt: ResourceType) -> None:
        self._types[(rt.group, rt.version, rt.plural)] = rt
        self._by_key.setdefault(rt.storage_key, rt)
        self._objects.setdefault(rt.storage_key, {})

    def types(self) -> list[ResourceType]:
        return list(self._types.values())

    def resolve(self, group: str, version: str, plural: str) -> ResourceType:
        rt = self._types.get((group, version, plural))
        if rt is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
        return rt

    def type_for(self, api_version: str, kind: str) -> ResourceType:
        group, _, version = api_version.rpartition("/")
        for rt in self._types.values():
            if rt.group == group and rt.version == version and rt.kind == kind:
                return rt
        raise ApiError(404, "NotFound", f'no matches for kind "{kind}" in version "{api_version}"')

    @property
    def resource_version(self) -> int:
        return self._rv

    @property
    def history_length(self) -> int:
        return len(self._history)

    def watcher_count(self) -> int:
        return sum(len(ws) for ws in self._watchers.values())

    def _register_crd_types(self, crd: Obj) -> None:
        self._drop_crd_types(crd["metadata"]["name"])
        for rt in crd_resource_types(crd):
            self._add_type(rt)
            self._by_key[rt.storage_key] = rt

    def _drop_crd_types(self, crd_name: str) -> None:
        for type_key, rt in list(self._types.items()):
            if rt.crd_name == crd_name:
                del self._types[type_key]

    def _unregister_crd(self, crd: Obj) -> None:
        spec = crd["spec"]
        key = (spec["group"], spec["names"]["plural"])
        rt = self._by_key.get(key)
        if rt is not None:
            for obj in list(self._objects[key].values()):
                self._commit(rt, "DELETED", copy.deepcopy(obj), None)
        self._drop_crd_types(crd["metadata"]["name"])
        self._by_key.pop(key, None)
        self._objects.pop(key, None)
        for watcher in self._watchers.pop(key, set()):
            watcher.close()

    # ---------------------------------------------------------------- reads

    def get(self, rt: ResourceType, namespace: str | None, name: str) -> Obj:
        obj = self._objects[rt.storage_key].get((self._ns(rt, namespace), name))
        if obj is None:
            raise not_found(rt, name)
        return obj

    def _ns(self, rt: ResourceType, namespace: str | None) -> str:
        return (namespace or "") if rt.namespaced else ""

    def _predicates(
        self, rt: ResourceType, label_selector: str | None, field_selector: str | None
    ) -> tuple[Predicate | None, Predicate | None]:
        try:
            labels = parse_label_selector(label_selector)
            terms = parse_field_selector(field_selector)
        except SelectorError as exc:
            raise bad_request(str(exc)) from exc
        if rt.custom:
            allowed = {"metadata.name", "metadata.namespace", *rt.selectable_fields}
            for path, _, _ in terms:
                if path not in allowed:
                    raise bad_request(f"field label not supported: {path}")
        return labels, field_predicate(terms)

    def _matching(
        self, rt: ResourceType, namespace: str | None, labels: Predicate | None, fields: Predicate | None
    ) -> Iterator[tuple[tuple[str, str], Obj]]:
        for key, obj in sorted(self._objects[rt.storage_key].items()):
            if namespace and key[0] != namespace:
                continue
            if labels is not None and not labels(object_labels(obj)):
                continue
            if fields is not None and not fields(obj):
                continue
            yield key, obj

    def list_collection(
        self,
        rt: ResourceType,
        namespace: str | None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> dict[str, Any]:
        """A ``<Kind>List``; ``limit`` pages with an opaque ``continue`` token (sorted by namespace/name)."""
        labels, fields = self._predicates(rt, label_selector, field_selector)
        list_rv, after = self._rv, None
        if continue_token:
            try:
                state = json.loads(base64.urlsafe_b64decode(continue_token.encode()))
                list_rv, after = int(state["rv"]), tuple(state["after"])
            except (ValueError, KeyError, TypeError) as exc:
                raise bad_request("invalid continue token") from exc
        items: list[Obj] = []
        remaining = 0
        last: tuple[str, str] = ("", "")
        for key, obj in self._matching(rt, namespace, labels, fields):
            if after is not None and key <= after:
                continue
            if limit and len(items) >= limit:
                remaining += 1
                continue
            items.append(obj)
            last = key
        metadata: dict[str, Any] = {"resourceVersion": str(list_rv)}
        if remaining:
            token = json.dumps({"rv": list_rv, "after": list(last)}).encode()
            metadata["continue"] = base64.urlsafe_b64encode(token).decode()
            metadata["remainingItemCount"] = remaining
        return {"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": metadata, "items": items}

    # ---------------------------------------------------------------- commit

    def _commit(self, rt: ResourceType, event_type: str, obj: Obj, prev: Obj | None) -> Obj:
        if event_type != "DELETED" and self.max_object_bytes:
            _check_size(obj, self.max_object_bytes)
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        key = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        bucket = self._objects[rt.storage_key]
        if event_type == "DELETED":
            bucket.pop(key, None)
        else:
            bucket[key] = obj
        if len(self._history) == self._history.maxlen:
            evicted = self._history[0]
            self._floor[evicted.key] = evicted.rv
        event = WatchEvent(self._rv, event_type, rt.storage_key, obj, prev)
        self._history.append(event)
        for watcher in list(self._watchers.get(rt.storage_key, ())):
            watcher.offer(event)
        self._after_commit(rt, event)
        return obj

    def _after_commit(self, rt: ResourceType, event: WatchEvent) -> None:
        if rt.storage_key == self._crd_type.storage_key:
            if event.type == "DELETED":
                self._unregister_crd(event.obj)
            else:
                self._register_crd_types(event.obj)
        elif event.type == "DELETED" and rt.namespaced:
            self._maybe_finish_namespace(event.obj["metadata"].get("namespace", ""))
        if rt.storage_key != self._ns_type.storage_key:
            self.gc.committed(rt, event.type, event.obj)

    def _maybe_finish_namespace(self, namespace: str) -> None:
        ns_obj = self._objects[self._ns_type.storage_key].get(("", namespace))
        if ns_obj is None or not ns_obj["metadata"].get("deletionTimestamp"):
            return
        for key, bucket in self._objects.items():
            rt = self._by_key.get(key)
            if rt is not None and rt.namespaced and any(k[0] == namespace for k in bucket):
                return
        self._commit(self._ns_type, "DELETED", copy.deepcopy(ns_obj), None)

    # ---------------------------------------------------------------- watch

    def watch(
        self,
        rt: ResourceType,
        namespace: str | None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resource_version: str | None = None,
        send_initial_events: bool = False,
        max_pending: int | None = None,
    ) -> Watcher:
        """Subscribe; the returned watcher's ``initial`` holds what to send before live events.

        No resourceVersion (or "0"): the current objects as ADDED. A resourceVersion: the
        history after it, or 410 Expired if that part of history was already dropped.
        """
        labels, fields = self._predicates(rt, label_selector, field_selector)
        watcher = self.watcher_factory(
            rt.storage_key, namespace or None, labels, fields, max_pending or self.history_limit
        )
        if send_initial_events or resource_version in (None, "", "0"):
            watcher.initial = [("ADDED", obj) for _, obj in self._matching(rt, namespace, labels, fields)]
            watcher.initial_end_bookmark = send_initial_events
        else:
            try:
                since = int(str(resource_version))
            except ValueError as exc:
                raise bad_request(f"invalid resource version: {resource_version}") from exc
            floor = self._floor.get(rt.storage_key, 0)
            if since < floor:
                raise ApiError(410, "Expired", f"too old resource version: {since} ({floor + 1})")
            for ev in self._history:
                if ev.rv > since and ev.key == rt.storage_key:
                    item = watcher.translate(ev)
                    if item is not None:
                        watcher.initial.append(item)
        self._watchers.setdefault(rt.storage_key, set()).add(watcher)
        return watcher

    def unwatch(self, watcher: Watcher) -> None:
        self._watchers.get(watcher.key, set()).discard(watcher)

    def close_watchers(self) -> None:
        for watchers in self._watchers.values():
            for watcher in watchers:
                watcher.close()
        self._watchers.clear()
