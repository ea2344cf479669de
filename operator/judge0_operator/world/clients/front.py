"""What students reach: a load-balancer front per target group and a resolver for a fleet's Service.

One aiohttp listener on 127.0.0.1 (``clients_url`` in the world's info) serves every front:

    <clients_url>/tg/<target-group-name>/…     an ALB forwarding to the group's targets in service
    <clients_url>/svc/<namespace>/<service>/…  a client resolving the Service through its EndpointSlices

*In service* means: for a target group, the targets the world's ELBv2 reports ``healthy`` (or, when
none is, every registered target that is not draining: ALB fails open — ``elbv2.py``); for a
Service, the endpoints of its EndpointSlices (``kubernetes.io/service-name`` label) whose
``conditions.ready`` is true or unset. EndpointSlices and target groups name instances by private
``10.x`` address or instance id; the front maps them to the instance's Judge0 node in the
simulator (``…/<instance-id>`` on loopback) — **nothing ever connects to a 10.x address**, and the
port an endpoint names is not checked.

Routing: ``POST /submissions`` goes round-robin to the targets in service; ``GET
/submissions/<token>`` goes to the node that accepted that token, in service or not (the nodes
are self-contained: each has its own Postgres and Redis, so only that node can answer — a real
deployment needs the same affinity or a shared database); anything else round-robin. The front
answers itself only when it cannot forward: ``503`` with no target in service, ``502`` when the
node drops the connection, each with header ``X-World-Front`` (``no-target`` / ``upstream-failed``).
Every forwarded answer carries ``X-World-Target: <instance-id>``.
"""

from __future__ import annotations

import itertools
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from judge0_operator.world.serve import serve_on_loopback

if TYPE_CHECKING:
    from judge0_operator.world.world import World

log = logging.getLogger(__name__)
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "server", "date"}
_MAX_TOKENS = 100_000


class TargetError(ValueError):
    """A client target that is not ``tg:<arn-or-name>`` or ``svc:<namespace>/<name>``."""


def parse_target(text: str) -> tuple[str, str]:
    """``("tg", arn-or-name)`` or ``("svc", "namespace/name")``."""
    kind, _, value = text.partition(":")
    if kind == "tg" and value:
        return kind, value
    if kind == "svc" and value.count("/") == 1 and all(value.split("/")):
        return kind, value
    raise TargetError(f"target {text!r}: use tg:<target-group arn or name> or svc:<namespace>/<service>")


class Rotation:
    """Which instances a front may send new requests to, read from the world each time."""

    def __init__(self, world: World) -> None:
        self.world = world

    def group_arn(self, name_or_arn: str) -> str | None:
        group = self.world.elbv2.group(name_or_arn)
        return str(group.arn) if group is not None else None

    def in_service(self, kind: str, value: str) -> list[str]:
        if kind == "tg":
            arn = self.group_arn(value)
            return self.world.elbv2.in_service(arn) if arn else []
        return self.service_endpoints(*value.split("/", 1))

    def exists(self, kind: str, value: str) -> bool:
        if kind == "tg":
            return self.group_arn(value) is not None
        namespace, name = value.split("/", 1)
        kube = self.world.kube
        return kube is not None and kube.get_object("", "v1", "services", namespace, name) is not None

    def service_endpoints(self, namespace: str, name: str) -> list[str]:
        """Instance ids behind the Service's ready endpoints (addresses → instances; unknown skipped)."""
        kube = self.world.kube
        if kube is None or kube.get_object("", "v1", "services", namespace, name) is None:
            return []
        slices = kube.list_objects(
            "discovery.k8s.io", "v1", "endpointslices", namespace, label_selector=f"{SERVICE_NAME_LABEL}={name}"
        )
        by_ip = self.addresses()
        found: list[str] = []
        for endpoint_slice in slices:
            for endpoint in endpoint_slice.get("endpoints") or []:
                if (endpoint.get("conditions") or {}).get("ready") is False:
                    continue
                for address in endpoint.get("addresses") or []:
                    instance_id = by_ip.get(address) or (address if address in self.world.ec2.records else None)
                    if instance_id and instance_id not in found:
                        found.append(instance_id)
                        break
        return found

    def addresses(self) -> dict[str, str]:
        """Private address → instance id, for every instance the world holds."""
        with self.world.ec2.lock:
            return {
                str(ip): instance_id
                for instance_id, record in self.world.ec2.records.items()
                if (ip := getattr(record.moto, "private_ip", None))
            }


class ClientFront:
    """The listener behind every front (see the module docstring)."""

    def __init__(self, world: World, node_url: Callable[[str], str]) -> None:
        self.rotation = Rotation(world)
        self._node_url = node_url
        self._counters: dict[str, itertools.count[int]] = {}
        self._tokens: OrderedDict[str, str] = OrderedDict()  # submission token → instance id
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=30), connector=aiohttp.TCPConnector(limit=200)
        )
        app = web.Application()
        app.router.add_route("*", "/tg/{group}/{tail:.*}", self._handle)
        app.router.add_route("*", "/svc/{namespace}/{service}/{tail:.*}", self._handle)
        self._runner, self.url = await serve_on_loopback(app, host, port, what="the client fronts")
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def reset(self) -> None:
        self._tokens.clear()
        self._counters.clear()

    def front_url(self, target: str) -> str:
        kind, value = parse_target(target)
        if kind == "tg":
            group = self.rotation.world.elbv2.group(value)
            return f"{self.url}/tg/{group.name if group is not None else value}"
        return f"{self.url}/svc/{value}"

    def accepted_by(self, token: str) -> str | None:
        return self._tokens.get(token)

    def _pick(self, key: str, candidates: list[str]) -> str:
        counter = self._counters.setdefault(key, itertools.count())
        return candidates[next(counter) % len(candidates)]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        info = request.match_info
        if "group" in info:
            kind, value = "tg", info["group"]
        else:
            kind, value = "svc", f"{info['namespace']}/{info['service']}"
        tail = info.get("tail", "").strip("/")
        instance_id: str | None = None
        head, _, token = tail.partition("/")
        if request.method == "GET" and head == "submissions" and token and "/" not in token:
            instance_id = self._tokens.get(token)
        if instance_id is None:
            candidates = self.rotation.in_service(kind, value)
            if not candidates:
                return _front_error(503, "no-target", "Service Temporarily Unavailable")
            instance_id = self._pick(f"{kind}:{value}", candidates)
        return await self._forward(request, instance_id, tail)

    async def _forward(self, request: web.Request, instance_id: str, tail: str) -> web.StreamResponse:
        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        url = f"{self._node_url(instance_id)}/{tail}"
        try:
            async with self._session.request(
                request.method, url, params=request.query, data=body, headers=headers
            ) as upstream:
                payload = await upstream.read()
                out = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_HEADERS}
                status = upstream.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.debug("front: %s %s → %s failed: %r", request.method, tail, instance_id, exc)
            response = _front_error(502, "upstream-failed", "Bad Gateway")
            response.headers["X-World-Target"] = instance_id
            return response
        if request.method == "POST" and tail == "submissions" and status == 201:
            self._remember(payload, instance_id)
        out["X-World-Target"] = instance_id
        return web.Response(status=status, body=payload, headers=out)

    def _remember(self, payload: bytes, instance_id: str) -> None:
        import json

        try:
            token = json.loads(payload).get("token")
        except (ValueError, AttributeError):
            return
        if isinstance(token, str):
            self._tokens[token] = instance_id
            while len(self._tokens) > _MAX_TOKENS:
                self._tokens.popitem(last=False)


def _front_error(status: int, kind: str, reason: str) -> web.Response:
    return web.Response(
        status=status, text=f"{status} {reason}\n", content_type="text/plain", headers={"X-World-Front": kind}
    )


def describe_fronts(front: ClientFront, world: Any) -> dict[str, Any]:
    """Every front that has something behind it now: target groups and Services with slices."""
    out: dict[str, Any] = {}
    for group in world.elbv2.view():
        out[f"tg:{group['arn']}"] = {"url": f"{front.url}/tg/{group['name']}", "inService": group["inService"]}
    kube = world.kube
    if kube is not None:
        for service in kube.list_objects("", "v1", "services"):
            meta = service["metadata"]
            key = f"{meta['namespace']}/{meta['name']}"
            out[f"svc:{key}"] = {
                "url": f"{front.url}/svc/{key}",
                "inService": front.rotation.service_endpoints(meta["namespace"], meta["name"]),
            }
    return out
