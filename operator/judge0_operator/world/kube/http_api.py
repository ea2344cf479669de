"""The emulated API server's HTTP handling, as kube-apiserver answers: discovery (``/version``,
``/api``, ``/apis``, ``/openapi/v3``), CRUD on ``/status`` and ``/scale`` too, list (or a Table for
kubectl) and watch streams with bookmarks; every ``ApiError`` becomes its ``Status`` answer.
Semantics are the store's (``store/``); faults wrap the handler (``faults.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import yaml
from aiohttp import web

from judge0_operator.world.kube.openapi import (
    group_version_document,
    group_version_path,
    index_document,
    schema_name,
)
from judge0_operator.world.kube.resources import ResourceType, api_group_document, api_resource_list
from judge0_operator.world.kube.store.core import Obj
from judge0_operator.world.kube.store.errors import ApiError, bad_request
from judge0_operator.world.kube.store.watch import CLOSED
from judge0_operator.world.kube.tables import table, wants_table

if TYPE_CHECKING:
    from judge0_operator.world.kube.faults import KubeChaos
    from judge0_operator.world.kube.store.kube_store import KubeStore

log = logging.getLogger(__name__)

KUBERNETES_VERSION = {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.0+judge0-emulator",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2024-08-13T00:00:00Z",
    "goVersion": "go1.22.5",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def _not_found() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource")


class KubeHttpApi:
    """The emulator's HTTP face: routes, discovery, the verbs on resources, watch streams.

    A base of ``KubeEmulator`` (``server.py``), which sets the attributes declared here.
    """

    store: KubeStore
    chaos: KubeChaos | None
    bookmark_interval: float
    watch_timeout: float

    @staticmethod
    def _out(rt: ResourceType, obj: Obj, *, copy_: bool = False) -> Obj:
        """The object as seen through ``rt``'s version (shallow unless a private copy is asked for)."""
        if copy_:
            obj = json.loads(json.dumps(obj))
        if obj.get("apiVersion") != rt.api_version:
            obj = {**obj, "apiVersion": rt.api_version}
        return obj

    @staticmethod
    def _json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
        return web.Response(
            body=json.dumps(body, separators=(",", ":")).encode(),
            status=status,
            content_type="application/json",
            headers=headers,
        )

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self.chaos is not None:  # faults, limits, crash points, request log (faults.py)
            return await self.chaos.handle(request, self._answer)
        return await self._answer(request)

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._route(request)
        except ApiError as exc:
            return self._json(exc.status(), exc.code)
        except Exception as exc:  # an emulator bug must look like a server error, not a hang
            log.exception("kube emulator: internal error on %s %s", request.method, request.path)
            return self._json(ApiError(500, "InternalError", f"Internal error occurred: {exc}").status(), 500)

    async def _route(self, request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.path.split("/") if p]
        if not parts:
            return self._json(
                {"paths": ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/version"]}
            )
        head = parts[0]
        if head == "version" and len(parts) == 1:
            return self._json(KUBERNETES_VERSION)
        if head in ("healthz", "livez", "readyz"):
            return web.Response(text="ok")
        if head == "api":
            if len(parts) == 1:
                address = f"{request.url.host}:{request.url.port}"
                return self._json(
                    {
                        "kind": "APIVersions",
                        "versions": ["v1"],
                        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
                    }
                )
            if parts[1] != "v1":
                raise _not_found()
            if len(parts) == 2:
                return self._json(api_resource_list("v1", self._types_in("", "v1")))
            return await self._resource(request, "", "v1", parts[2:])
        if head == "apis":
            if len(parts) == 1:
                return self._json(
                    {"kind": "APIGroupList", "apiVersion": "v1", "groups": self._group_documents()}
                )
            group = parts[1]
            if len(parts) == 2:
                for doc in self._group_documents():
                    if doc["name"] == group:
                        return self._json(doc)
                raise _not_found()
            types = self._types_in(group, parts[2])
            if not types:
                raise _not_found()
            if len(parts) == 3:
                return self._json(api_resource_list(f"{group}/{parts[2]}", types))
            return await self._resource(request, group, parts[2], parts[3:])
        if head == "openapi" and len(parts) >= 2 and parts[1] == "v3":
            documents = self._openapi_documents()
            if len(parts) == 2:
                return self._json(index_document(documents))
            document = documents.get("/".join(parts[2:]))
            if document is not None:
                return self._json(document)
        raise _not_found()

    def _openapi_documents(self) -> dict[str, dict[str, Any]]:
        by_group_version: dict[str, list[ResourceType]] = {}
        schemas: dict[str, Any] = {}
        for rt in self.store.types():
            by_group_version.setdefault(group_version_path(rt.group, rt.version), []).append(rt)
            schema = rt.validator.schema(rt.version) if rt.validator is not None else None
            if schema:
                schemas[schema_name(rt)] = schema
        return {path: group_version_document(types, schemas) for path, types in by_group_version.items()}

    def _types_in(self, group: str, version: str) -> list[ResourceType]:
        return [t for t in self.store.types() if t.group == group and t.version == version]

    def _group_documents(self) -> list[dict[str, Any]]:
        versions: dict[str, list[str]] = {}
        for t in self.store.types():
            if t.group:
                versions.setdefault(t.group, []).append(t.version)
        return [api_group_document(group, vs) for group, vs in versions.items()]

    async def _resource(
        self, request: web.Request, group: str, version: str, rest: list[str]
    ) -> web.StreamResponse:
        namespace: str | None = None
        if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in ("status", "finalize"):
            namespace, rest = rest[1], rest[2:]
        if not rest or len(rest) > 3:
            raise _not_found()
        plural = rest[0]
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        rt = self.store.resolve(group, version, plural)
        if (namespace is not None and not rt.namespaced) or (name and rt.namespaced and namespace is None):
            raise _not_found()
        if sub is not None and not (
            (sub == "status" and rt.status) or (sub == "scale" and rt.scale is not None)
        ):
            raise _not_found()
        query = request.query
        dry_run = "All" in query.getall("dryRun", [])
        strict = query.get("fieldValidation") == "Strict"
        method = request.method
        self.store.warnings.clear()

        if name is None:
            if method == "GET":
                if query.get("watch") in ("true", "1"):
                    return await self._watch(request, rt, namespace)
                limit = int(query["limit"]) if query.get("limit", "").isdigit() else None
                result = self.store.list_collection(
                    rt,
                    namespace,
                    label_selector=query.get("labelSelector"),
                    field_selector=query.get("fieldSelector"),
                    limit=limit,
                    continue_token=query.get("continue") or None,
                )
                if wants_table(request.headers.get("Accept", "")):
                    return self._json(table(rt, result["items"], result["metadata"]["resourceVersion"]))
                result["items"] = [self._out(rt, obj) for obj in result["items"]]
                return self._json(result)
            if method == "POST":
                created = self.store.create(
                    rt, namespace, await self._body(request), dry_run=dry_run, strict=strict
                )
                return self._json(self._out(rt, created), 201, self._warning_headers())
            if method == "DELETE":
                deleted = self.store.delete_collection(
                    rt,
                    namespace,
                    label_selector=query.get("labelSelector"),
                    field_selector=query.get("fieldSelector"),
                    dry_run=dry_run,
                    propagation=query.get("propagationPolicy", "Background"),
                )
                if not rt.custom:
                    return self._json(_success_status(rt, None))
                return self._json(
                    {
                        "kind": rt.list_kind,
                        "apiVersion": rt.api_version,
                        "metadata": {"resourceVersion": str(self.store.resource_version)},
                        "items": [self._out(rt, obj) for obj in deleted],
                    }
                )
            raise ApiError(
                405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
            )

        if sub == "scale":
            if method == "GET":
                return self._json(self.store.get_scale(rt, namespace, name))
            if method == "PUT":
                return self._json(
                    self.store.update_scale(rt, namespace, name, await self._body(request), dry_run=dry_run)
                )
            if method == "PATCH":
                return self._json(
                    self.store.patch_scale(
                        rt, namespace, name, request.content_type, await self._body(request), dry_run=dry_run
                    )
                )
            raise ApiError(
                405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
            )

        if method == "GET":
            found = self.store.get(rt, namespace, name)
            if sub is None and wants_table(request.headers.get("Accept", "")):
                return self._json(table(rt, [found], found["metadata"]["resourceVersion"]))
            return self._json(self._out(rt, found))
        if method == "PUT":
            updated = self.store.update(
                rt,
                namespace,
                name,
                await self._body(request),
                subresource=sub,
                dry_run=dry_run,
                strict=strict,
            )
            return self._json(self._out(rt, updated), headers=self._warning_headers())
        if method == "PATCH":
            patched = self.store.patch(
                rt,
                namespace,
                name,
                request.content_type,
                await self._body(request),
                subresource=sub,
                dry_run=dry_run,
                strict=strict,
            )
            return self._json(self._out(rt, patched), headers=self._warning_headers())
        if method == "DELETE" and sub is None:
            raw = await request.read()
            options = json.loads(raw) if raw.strip() else {}
            if not isinstance(options, dict):
                raise bad_request("the body of the request was in an unknown format")
            if "propagationPolicy" in query:
                options.setdefault("propagationPolicy", query["propagationPolicy"])
            obj, removed = self.store.delete(rt, namespace, name, options, dry_run=dry_run)
            if removed and not rt.custom:
                return self._json(_success_status(rt, obj))
            return self._json(self._out(rt, obj))
        raise ApiError(
            405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
        )

    def _warning_headers(self) -> dict[str, str] | None:
        if not self.store.warnings:
            return None
        # one header line, comma-separated warn-values, as RFC 7234 allows
        return {"Warning": ", ".join(f"299 - {json.dumps(w)}" for w in self.store.warnings)}

    @staticmethod
    async def _body(request: web.Request) -> Any:
        raw = await request.read()
        try:
            if "yaml" in request.content_type:
                return yaml.safe_load(raw)
            return json.loads(raw)
        except (ValueError, yaml.YAMLError) as exc:
            raise bad_request(f"the body of the request could not be decoded: {exc}") from exc

    async def _watch(
        self, request: web.Request, rt: ResourceType, namespace: str | None
    ) -> web.StreamResponse:
        query = request.query
        try:
            timeout = float(query.get("timeoutSeconds") or self.watch_timeout)
        except ValueError as exc:
            raise bad_request("invalid timeoutSeconds") from exc
        bookmarks = query.get("allowWatchBookmarks") in ("true", "1")
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        try:
            watcher = self.store.watch(
                rt,
                namespace,
                label_selector=query.get("labelSelector"),
                field_selector=query.get("fieldSelector"),
                resource_version=query.get("resourceVersion"),
                send_initial_events=query.get("sendInitialEvents") == "true",
            )
        except ApiError as exc:
            if exc.code != 410:
                raise
            await response.prepare(request)  # like kube-apiserver: 200, then an ERROR event
            await response.write(_line({"type": "ERROR", "object": exc.status()}))
            await response.write_eof()
            return response

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        with contextlib.suppress(ConnectionError, asyncio.CancelledError, RuntimeError):
            try:
                await response.prepare(request)
                for event_type, obj in watcher.initial:
                    await response.write(_line({"type": event_type, "object": self._out(rt, obj)}))
                watcher.initial = []
                if watcher.initial_end_bookmark:
                    await response.write(self._bookmark(rt, initial_end=True))
                while True:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        if bookmarks:
                            await response.write(self._bookmark(rt))
                        break
                    item = await watcher.next(min(remaining, self.bookmark_interval))
                    if item is None:
                        if bookmarks and loop.time() < deadline:
                            await response.write(self._bookmark(rt))
                        continue
                    if item is CLOSED:
                        break
                    event_type, event_obj = item
                    assert event_obj is not None
                    await response.write(_line({"type": event_type, "object": self._out(rt, event_obj)}))
                await response.write_eof()
            finally:
                self.store.unwatch(watcher)
        return response

    def _bookmark(self, rt: ResourceType, *, initial_end: bool = False) -> bytes:
        meta: dict[str, Any] = {"resourceVersion": str(self.store.resource_version)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return _line(
            {"type": "BOOKMARK", "object": {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta}}
        )


def _line(event: Mapping[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode() + b"\n"


def _success_status(rt: ResourceType, obj: Obj | None) -> dict[str, Any]:
    details: dict[str, Any] = {"group": rt.group, "kind": rt.plural}
    if obj is not None:
        details.update(name=obj["metadata"]["name"], uid=obj["metadata"].get("uid"))
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}
