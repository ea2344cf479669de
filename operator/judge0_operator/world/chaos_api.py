"""Control-API routes for crash points, the Kubernetes request log and what the API faults did.

POST   /crash            {"point": "RunInstances" | "kube:judge0fleets/status", "nth": n, "pid": p,
                          "signal": "KILL"} → 201 the trigger; 400 when refused (see ``crash.py``)
GET    /crash            → {"armed": […], "fired": […], "counts": {point: n}}
DELETE /crash            → {"disarmed": n}
GET    /instances/gone   → {"instances": [...]} instances EC2 no longer lists (kept for ledgers)
GET    /kube/requests    → {"requests": [{verb, group, resource, subresource, namespace, count, userAgents}]}
POST   /kube/requests/reset
GET    /chaos            → lost answers per action, Kubernetes requests refused per fault, and when
                           each instance hidden by eventual consistency became visible
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from judge0_operator.world.aws.timeline import iso
from judge0_operator.world.faults.errors import FaultError

if TYPE_CHECKING:
    from judge0_operator.world.world import World


def add_routes(app: web.Application, world: World) -> None:
    async def arm(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            raise FaultError("the body must be a JSON object") from None
        if not isinstance(body, dict):
            raise FaultError("the body must be a JSON object")
        unknown = set(body) - {"point", "nth", "pid", "signal"}
        if unknown:
            raise FaultError(f"unknown field(s): {', '.join(sorted(unknown))}")
        trigger = world.crash.arm(
            body.get("point", ""), body.get("nth", 1), body.get("pid", 0), body.get("signal", "KILL")
        )
        return web.json_response(trigger.to_dict(), status=201)

    async def crash_state(request: web.Request) -> web.Response:
        return web.json_response(world.crash.state())

    async def disarm(request: web.Request) -> web.Response:
        return web.json_response({"disarmed": world.crash.disarm()})

    async def gone(request: web.Request) -> web.Response:
        with world.ec2.lock:
            return web.json_response({"instances": list(world.ec2.gone)})

    async def kube_requests(request: web.Request) -> web.Response:
        entries = world.kube_chaos.requests.entries() if world.kube_chaos is not None else []
        return web.json_response({"requests": entries})

    async def reset_kube_requests(request: web.Request) -> web.Response:
        if world.kube_chaos is not None:
            world.kube_chaos.requests.reset()
        return web.json_response({"requests": []})

    async def chaos(request: web.Request) -> web.Response:
        return web.json_response(chaos_state(world))

    app.router.add_post("/crash", arm)
    app.router.add_get("/crash", crash_state)
    app.router.add_delete("/crash", disarm)
    app.router.add_get("/instances/gone", gone)
    app.router.add_get("/kube/requests", kube_requests)
    app.router.add_post("/kube/requests/reset", reset_kube_requests)
    app.router.add_get("/chaos", chaos)


def chaos_state(world: World) -> dict[str, Any]:
    front = world.front
    aws = front.chaos if front is not None else None
    timeline = world.timeline
    visibility: dict[str, Any] = {}
    if aws is not None:
        for instance_id, seen in list(aws.visibility.items()):
            visibility[instance_id] = {
                "visibleAt": iso(timeline.wall(seen.visible_at)),
                "tagsAt": iso(timeline.wall(seen.tags_at)),
            }
    return {
        "lostResponses": dict(aws.lost) if aws is not None else {},
        "kubeRefused": dict(world.kube_chaos.refused) if world.kube_chaos is not None else {},
        "visibility": visibility,
        "crash": world.crash.state(),
    }
