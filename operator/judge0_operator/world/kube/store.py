"""The emulated API server's state and semantics, without HTTP.

Objects live in one dict per (group, plural); a global counter plays etcd's revision and
becomes every write's ``metadata.resourceVersion``. Stored objects are never mutated after
they are committed (each write builds a new dict), so watch history can hold references
instead of copies. Memory and per-request cost stay flat: history is a bounded deque and
there is no request log.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import datetime as dt
import json
import random
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonpatch
import jsonpointer

from judge0_operator.world.kube import network
from judge0_operator.world.kube import validation as crd_schema
from judge0_operator.world.kube.gc import POLICIES, GarbageCollector, check_owner_references, propagation_policy
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
from judge0_operator.world.kube.validation import FieldError

Obj = dict[str, Any]
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
_SERVER_METADATA = (
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
)
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # the API server's generateName alphabet
BUILTIN_NAMESPACES = ("default", "kube-system")
MAX_OBJECT_BYTES = 1_572_864  # etcd's default --max-request-bytes (1.5 MiB)


def _check_size(obj: Obj, limit: int) -> None:
    """kube-apiserver passes etcd's refusal of an object this large on as a 500 (kubernetes#112152)."""
    if len(json.dumps(obj, separators=(",", ":"))) > limit:
        raise ApiError(500, "InternalError", "etcdserver: request is too large")


class ApiError(Exception):
    """An error answer; ``status()`` is the ``Status`` object the API server would send."""

    def __init__(
        self, code: int, reason: str, message: str, details: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message
        self.details = dict(details or {})
        self.body: dict[str, Any] | None = None

    def status(self) -> dict[str, Any]:
        if self.body is not None:
            return self.body
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def _details(rt: ResourceType, name: str) -> dict[str, str]:
    return {"name": name, "group": rt.group, "kind": rt.plural}


def not_found(rt: ResourceType, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{rt.qualified_resource} "{name}" not found', _details(rt, name))


def conflict(rt: ResourceType, name: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {rt.qualified_resource} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again",
        _details(rt, name),
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def unprocessable(rt: ResourceType, name: str, errors: list[FieldError]) -> ApiError:
    err = ApiError(422, "Invalid", crd_schema.format_status_message(rt.kind, name, errors, group=rt.group))
    err.body = crd_schema.invalid_status(rt.kind, name, errors, group=rt.group)
    return err


def patch_failed(message: str) -> ApiError:
    """A JSON patch that does not apply (a failed ``test`` op included): 422, as the API server."""
    return ApiError(422, "Invalid", message)


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (``null`` deletes, objects merge, everything else replaces)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


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


@dataclass(slots=True)
class WatchEvent:
    rv: int
    type: str  # ADDED | MODIFIED | DELETED
    key: tuple[str, str]
    obj: Obj
    prev: Obj | None  # the object before a MODIFIED: selectors turn it into ADDED/DELETED as they match


CLOSED = ("CLOSED", None)


@dataclass(eq=False)
class Watcher:
    """One watch stream's filter and pending events (bounded: overflow closes the stream)."""

    key: tuple[str, str]
    namespace: str | None
    labels: Predicate | None
    fields: Predicate | None
    max_pending: int
    initial: list[tuple[str, Obj]] = field(default_factory=list)
    initial_end_bookmark: bool = False
    pending: deque[tuple[str, Obj | None]] = field(default_factory=deque)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False

    def matches(self, obj: Mapping[str, Any]) -> bool:
        if self.namespace is not None and obj["metadata"].get("namespace") != self.namespace:
            return False
        if self.labels is not None and not self.labels(object_labels(obj)):
            return False
        return self.fields is None or self.fields(obj)

    def translate(self, ev: WatchEvent) -> tuple[str, Obj] | None:
        now = self.matches(ev.obj)
        if ev.type != "MODIFIED":
            return (ev.type, ev.obj) if now else None
        before = ev.prev is not None and self.matches(ev.prev)
        if now:
            return ("MODIFIED" if before else "ADDED", ev.obj)
        return ("DELETED", ev.obj) if before else None

    def offer(self, ev: WatchEvent) -> None:
        item = self.translate(ev)
        if item is None or self.closed:
            return
        if len(self.pending) >= self.max_pending:
            self.close()  # a consumer this far behind re-watches from its last resourceVersion
            return
        self.pending.append(item)
        self.wakeup.set()

    def close(self) -> None:
        self.closed = True
        self.pending.clear()
        self.wakeup.set()

    async def next(self, timeout: float) -> tuple[str, Obj | None] | None:
        """The next event, ``CLOSED`` when the stream must end, or None after ``timeout`` idle seconds."""
        while not self.pending:
            if self.closed:
                return CLOSED
            self.wakeup.clear()
            try:
                await asyncio.wait_for(self.wakeup.wait(), timeout)
            except TimeoutError:
                return None
        return self.pending.popleft()


class KubeStore:
    """Objects, resource kinds, resourceVersions, watch history and watchers."""

    def __init__(
        self,
        *,
        history_limit: int = 1000,
        strict_namespaces: bool = False,
        clock: Callable[[], str] = utc_now,
    ) -> None:
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
        self.gc = GarbageCollector(self)  # ownerReference garbage collection (``gc.py``)
        self.warnings: list[
            str
        ] = []  # unknown-field warnings of the latest write (the HTTP layer sends them)
        for rt in BUILTIN_TYPES:
            self._add_type(rt)
        self._ns_type = self.resolve("", "v1", "namespaces")
        self._crd_type = self.resolve("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        for ns in BUILTIN_NAMESPACES:
            self.create(self._ns_type, None, {"metadata": {"name": ns}})

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

    # ---------------------------------------------------------------- writes

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
                _details(rt, name),
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
                rt, name, [crd_schema.required("metadata.name", "name or generateName is required")]
            )
        if (ns, name) in self._objects[rt.storage_key]:
            raise ApiError(
                409, "AlreadyExists", f'{rt.qualified_resource} "{name}" already exists', _details(rt, name)
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
        problems = crd_schema.check_crd(crd)
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
                [crd_schema.invalid("spec.names.plural", key[1], "conflicts with a built-in resource")],
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
                [crd_schema.invalid("metadata.resourceVersion", "0x0", "must be specified for an update")],
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
                        crd_schema.forbidden(
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
                _details(rt, name),
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

    def _maybe_finish_namespace(self, namespace: str) -> None:
        ns_obj = self._objects[self._ns_type.storage_key].get(("", namespace))
        if ns_obj is None or not ns_obj["metadata"].get("deletionTimestamp"):
            return
        for key, bucket in self._objects.items():
            rt = self._by_key.get(key)
            if rt is not None and rt.namespaced and any(k[0] == namespace for k in bucket):
                return
        self._commit(self._ns_type, "DELETED", copy.deepcopy(ns_obj), None)

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
                rt, name, [crd_schema.invalid("spec.replicas", replicas, "must be an integer")]
            )
        if replicas < 0:
            raise unprocessable(
                rt,
                name,
                [crd_schema.invalid("spec.replicas", replicas, "must be greater than or equal to 0")],
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


def apply_patch(patch_type: str, doc: Obj, patch: Any) -> Any:
    """Apply a PATCH body of the given content type to ``doc`` (a private copy)."""
    base = patch_type.split(";")[0].strip()
    if base in (MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH):
        if not isinstance(patch, dict):
            raise bad_request("the patch must be a JSON object")
        return merge_patch(doc, patch)
    if base == JSON_PATCH:
        if not isinstance(patch, list):
            raise bad_request("the JSON patch must be a list of operations")
        try:
            return jsonpatch.apply_patch(doc, patch, in_place=True)
        except jsonpatch.JsonPatchTestFailed as exc:
            raise patch_failed(
                f"the server rejected our request due to an error in our request: {exc}"
            ) from exc
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, KeyError, TypeError) as exc:
            raise patch_failed(
                f"the server rejected our request due to an error in our request: {exc}"
            ) from exc
    raise ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - "
        f"accepted media types include: {JSON_PATCH}, {MERGE_PATCH}, {APPLY_PATCH}, {STRATEGIC_MERGE_PATCH}",
    )


def _spec_part(obj: Mapping[str, Any], has_status: bool) -> dict[str, Any]:
    """What bumps ``generation``: everything outside metadata (and status, if /status exists)."""
    skip = {"metadata", "apiVersion", "kind"} | ({"status"} if has_status else set())
    return {k: v for k, v in obj.items() if k not in skip}


def _without_rv(obj: Mapping[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "resourceVersion"}
    return {**obj, "metadata": meta}
