"""How a real Kubernetes API misbehaves, switchable per fault (target ``kube``), plus the limits it
always enforces, crash points after writes, and a log of every request (RBAC by traffic).

Faults (``POST /faults {"target": "kube", "fault": …}``; durations are world seconds):

* ``kube-down`` — a control-plane upgrade: every connection is reset, open watch streams are cut;
* ``kube-error`` — a seeded fraction of requests answer ``status`` (500/502/503/504, or 429
  ``TooManyRequests``) with ``Retry-After``; ``methods``/``resources`` narrow it, ``count`` ends it;
* ``kube-status-conflict`` — writes to ``…/status`` answer 409 Conflict;
* ``kube-watch-expired`` — a watch that resumes from a resourceVersion gets 200 and an ERROR
  event with a 410 ``Expired`` Status, as kube-apiserver sends it;
* ``kube-watch-silent`` — the watch streams open when it is injected stop sending anything
  (events and bookmarks) but stay open: only a client-side inactivity timeout notices;
* ``kube-watch-delay`` — every watch event reaches the stream ``delaySeconds`` after its write,
  while reads and write responses are immediate (so a writer's next look can be older than what
  it wrote).

Limits, always: a request body over 3 MiB answers 413 ``RequestEntityTooLarge`` (kube-apiserver's
``MaxRequestBodyBytes``); an object that would be stored larger than 1.5 MiB answers 500
``etcdserver: request is too large`` (etcd's ``--max-request-bytes``; ``store/core.py`` ``MAX_OBJECT_BYTES``).

Crash points: after a successful write (POST, PUT, PATCH, DELETE) the point
``kube:<resource>[/<subresource>]`` is hit (``world/crash.py``) before the answer is written.

The request log keeps (verb, group, resource, subresource, namespace) of every resource request,
with counts and user agents — what an RBAC check of the operator's real traffic needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from judge0_operator.world.aws.timeline import Timeline
from judge0_operator.world.crash import CrashTriggers
from judge0_operator.world.faults.errors import FaultNotFound
from judge0_operator.world.faults.registry import Fault, FaultRegistry
from judge0_operator.world.kube.store.core import Obj
from judge0_operator.world.kube.store.watch import CLOSED, Watcher, WatchEvent

if TYPE_CHECKING:
    from judge0_operator.world.kube.server import KubeEmulator

MAX_REQUEST_BYTES = 3 * 1024 * 1024  # kube-apiserver's MaxRequestBodyBytes
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_REASONS = {
    429: "TooManyRequests",
    500: "InternalError",
    502: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class RequestInfo:
    """What RBAC sees of a request: verb and resource attributes (or a non-resource path)."""

    verb: str
    group: str = ""
    version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""  # set for non-resource requests (/api, /apis, /version, /openapi/…)

    @property
    def is_resource(self) -> bool:
        return bool(self.resource)

    @property
    def qualified(self) -> str:
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource

    def to_dict(self) -> dict[str, str]:
        if not self.is_resource:
            return {"verb": self.verb, "path": self.path}
        return {
            "verb": self.verb,
            "group": self.group,
            "resource": self.resource,
            "subresource": self.subresource,
            "namespace": self.namespace,
        }


def request_info(method: str, path: str, query: dict[str, str] | Any) -> RequestInfo:
    """Kubernetes' RequestInfoResolver, for the paths the emulator serves."""
    parts = [p for p in path.split("/") if p]
    lowered = method.lower()
    if not parts or parts[0] not in ("api", "apis"):
        return RequestInfo(verb=lowered, path=path)
    if parts[0] == "api":
        group, rest = "", parts[1:]
    else:
        group, rest = (parts[1] if len(parts) > 1 else ""), parts[2:]
    version, rest = (rest[0], rest[1:]) if rest else ("", [])
    if not rest:
        return RequestInfo(verb=lowered, path=path)
    namespace = ""
    if len(rest) >= 2 and rest[0] == "namespaces" and (len(rest) == 2 or rest[2] in ("status", "finalize")):
        resource, name, sub = "namespaces", rest[1], (rest[2] if len(rest) > 2 else "")
        namespace = rest[1]
    else:
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        resource = rest[0]
        name = rest[1] if len(rest) > 1 else ""
        sub = rest[2] if len(rest) > 2 else ""
    watching = str(query.get("watch", "")).lower() in ("true", "1")
    verb = {
        "GET": "watch" if watching else ("get" if name else "list"),
        "HEAD": "get" if name else "list",
        "POST": "create",
        "PUT": "update",
        "PATCH": "patch",
        "DELETE": "delete" if name else "deletecollection",
    }.get(method.upper(), lowered)
    return RequestInfo(verb, group, version, resource, sub, namespace, name)


class RequestLog:
    """Every distinct (verb, group, resource, subresource, namespace) seen, with counts and agents."""

    def __init__(self) -> None:
        self._seen: dict[RequestInfo, dict[str, Any]] = {}

    def record(self, info: RequestInfo, user_agent: str) -> None:
        key = RequestInfo(info.verb, info.group, "", info.resource, info.subresource, info.namespace, "", info.path)
        entry = self._seen.setdefault(key, {"count": 0, "agents": set()})
        entry["count"] += 1
        entry["agents"].add(user_agent[:200])

    def entries(self) -> list[dict[str, Any]]:
        out = []
        for info, entry in self._seen.items():
            out.append({**info.to_dict(), "count": entry["count"], "userAgents": sorted(entry["agents"])})
        return sorted(out, key=lambda e: json.dumps(e, sort_keys=True))

    def reset(self) -> None:
        self._seen.clear()


def status_body(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return body


def _json(body: Any, status: int, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def _matches(fault: Fault, info: RequestInfo, method: str) -> bool:
    methods = fault.params.get("methods")
    if methods and method.upper() not in {m.upper() for m in methods}:
        return False
    resources = fault.params.get("resources")
    return not resources or (info.qualified in resources or info.resource in resources)


@dataclass(eq=False)
class ChaosWatcher(Watcher):
    """A watch stream that can be delayed or silenced by the world's faults."""

    chaos: KubeChaos | None = None
    silenced: bool = False
    due: deque[float] = field(default_factory=deque)  # when each pending event may be sent

    @property
    def resource(self) -> str:
        return self.key[1]

    def offer(self, ev: WatchEvent) -> None:
        before = len(self.pending)
        super().offer(ev)
        if len(self.pending) > before:
            delay = self.chaos.watch_delay(self.resource) if self.chaos is not None else 0.0
            self.due.append(time.monotonic() + delay)

    def close(self) -> None:
        super().close()
        self.due.clear()

    async def next(self, timeout: float) -> tuple[str, Obj | None] | None:
        end = time.monotonic() + timeout
        while True:
            if self.silenced:  # no events, no bookmarks, no end: only the client can give up
                while not self.closed:
                    self.wakeup.clear()
                    await self.wakeup.wait()
                return CLOSED
            if self.pending:
                wait = (self.due[0] if self.due else 0.0) - time.monotonic()
                if wait <= 0:
                    if self.due:
                        self.due.popleft()
                    return self.pending.popleft()
            elif self.closed:
                return CLOSED
            else:
                wait = end - time.monotonic()
            remaining = end - time.monotonic()
            if remaining <= 0:
                return None
            self.wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), min(wait, remaining))


class KubeChaos:
    """The Kubernetes API's faults, limits, crash points and request log for one emulator."""

    def __init__(
        self,
        faults: FaultRegistry,
        timeline: Timeline,
        *,
        seed: int | None = None,
        crash: CrashTriggers | None = None,
    ) -> None:
        self.faults = faults
        self.timeline = timeline
        self.crash = crash
        self.requests = RequestLog()
        self._seed = seed
        self._rngs: dict[str, random.Random] = {}
        self._uses: dict[str, int] = {}
        self._watchers: weakref.WeakSet[ChaosWatcher] = weakref.WeakSet()
        self._transports: set[asyncio.Transport] = set()
        self.refused: dict[str, int] = {}  # fault name → requests it answered

    def attach(self, emulator: KubeEmulator) -> None:
        emulator.chaos = self
        emulator.store.watcher_factory = self._watcher

    def _watcher(self, *args: Any) -> ChaosWatcher:
        watcher = ChaosWatcher(*args)
        watcher.chaos = self
        self._watchers.add(watcher)
        return watcher

    def reset(self) -> None:
        self.requests.reset()
        self._rngs.clear()
        self._uses.clear()
        self.refused.clear()

    # ---- faults arriving ------------------------------------------------------------------------
    def fault_added(self, fault: Fault) -> None:
        """One-shot effects at injection: cut every connection, or silence the open streams."""
        if fault.name == "kube-down":
            for transport in list(self._transports):
                transport.abort()
            self._transports.clear()
        elif fault.name == "kube-watch-silent":
            for watcher in list(self._watchers):
                if not watcher.closed and (
                    not fault.params.get("resources") or watcher.resource in fault.params["resources"]
                ):
                    watcher.silenced = True
                    watcher.wakeup.set()

    def watch_delay(self, resource: str) -> float:
        delays = [
            self.timeline.scaled(float(f.params["delaySeconds"]))
            for f in self.faults.on_kube()
            if f.name == "kube-watch-delay" and (not f.params.get("resources") or resource in f.params["resources"])
        ]
        return max(delays, default=0.0)

    def _fires(self, fault: Fault) -> bool:
        """Seeded coin for ``rate``; counts uses against ``count`` and retires a spent fault."""
        rate = float(fault.params.get("rate", 1.0))
        rng = self._rngs.setdefault(fault.id, random.Random(f"{self._seed}/{fault.id}"))
        if rng.random() >= rate:
            return False
        used = self._uses[fault.id] = self._uses.get(fault.id, 0) + 1
        count = fault.params.get("count")
        if count is not None and used >= int(count):
            with contextlib.suppress(FaultNotFound):
                self.faults.remove(fault.id, reason="spent")
        self.refused[fault.name] = self.refused.get(fault.name, 0) + 1
        return True

    # ---- the request path -----------------------------------------------------------------------
    async def handle(self, request: web.Request, inner: Handler) -> web.StreamResponse:
        info = request_info(request.method, request.path, request.query)
        self.requests.record(info, request.headers.get("User-Agent", ""))
        early = self._refuse(request, info)
        if early is not None:
            return early
        transport = request.transport
        if isinstance(transport, asyncio.Transport):
            self._transports.add(transport)
        try:
            response = await inner(request)
        finally:
            if isinstance(transport, asyncio.Transport):
                self._transports.discard(transport)
        if self.crash is not None and info.is_resource and request.method in WRITE_METHODS and response.status < 300:
            self.crash.hit(f"kube:{info.qualified}")
        return response

    def _refuse(self, request: web.Request, info: RequestInfo) -> web.StreamResponse | None:
        faults = self.faults.on_kube()
        if any(f.name == "kube-down" for f in faults):
            self.refused["kube-down"] = self.refused.get("kube-down", 0) + 1
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=204)  # never written: the connection is gone
        length = request.content_length or 0
        if length > MAX_REQUEST_BYTES:
            return _json(
                status_body(413, "RequestEntityTooLarge", f"Request entity too large: limit is {MAX_REQUEST_BYTES}"),
                413,
            )
        if not info.is_resource:
            return None
        for fault in faults:
            if fault.name == "kube-error" and _matches(fault, info, request.method) and self._fires(fault):
                code = int(fault.params["status"])
                retry = int(fault.params.get("retryAfterSeconds", 1))
                message = (
                    "the server has received too many requests and has asked us to try again later"
                    if code == 429
                    else "the server is currently unable to handle the request"
                )
                details = {"retryAfterSeconds": retry} if retry else None
                headers = {"Retry-After": str(retry)} if retry else None
                return _json(status_body(code, _REASONS.get(code, "InternalError"), message, details), code, headers)
            if (
                fault.name == "kube-status-conflict"
                and info.subresource == "status"
                and request.method in ("PUT", "PATCH")
                and _matches(fault, info, request.method)
                and self._fires(fault)
            ):
                return _json(
                    status_body(
                        409,
                        "Conflict",
                        f'Operation cannot be fulfilled on {info.resource} "{info.name}": the object has been '
                        "modified; please apply your changes to the latest version and try again",
                        {"name": info.name, "group": info.group, "kind": info.resource},
                    ),
                    409,
                )
            if (
                fault.name == "kube-watch-expired"
                and info.verb == "watch"
                and request.query.get("resourceVersion", "") not in ("", "0")
                and _matches(fault, info, request.method)
                and self._fires(fault)
            ):
                since = request.query.get("resourceVersion", "")
                event = {
                    "type": "ERROR",
                    "object": status_body(410, "Expired", f"too old resource version: {since}"),
                }
                return web.Response(
                    body=json.dumps(event, separators=(",", ":")).encode() + b"\n",
                    status=200,
                    content_type="application/json",
                )
        return None

    def describe(self) -> dict[str, Any]:
        return {"refused": dict(self.refused)}
