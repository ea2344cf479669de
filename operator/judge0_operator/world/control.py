"""The world's control API (aiohttp on 127.0.0.1): inject and clear faults, look inside, add load.

POST   /faults        {"target": "i-…" | "zone:<zone>" | "aws", "fault": "<name>", "params": {…}}
                      → 201 {"id": …, …}; 400 {"error": …} for anything the world refuses
GET    /faults        → {"faults": [active…], "healed": [recently healed or deleted…]}
GET    /faults/catalog → the fault table (targets, effect, healed by, params)
DELETE /faults/<id>   → 200 the fault; 404 for an unknown id
DELETE /faults        → {"deleted": n}
GET    /instances     → {"instances": [{id, state, zone, …, faults, events, calls, history}]}
GET    /calls         → {"total": n, "by_action": {…}, "by_agent": {<User-Agent's last token>: {…}},
                         "injected_errors": {…}}
POST   /calls/reset   → {"total": 0, …}
POST   /load          {"target": "i-…" | "zone:<zone>", "jobs": n} → {"submitted": {id: n}}
POST   /elbv2/target-groups {"name", …} → 201 the target group (seed helper, ``aws/elbv2.py``)
GET    /elbv2/target-groups → {"targetGroups": [{arn, name, targets: [{id, state, reason}], inService}]}
POST   /clients/load  {"target": "tg:<arn|name>" | "svc:<ns>/<name>", "rate", "pollSeconds",
                       "giveUpSeconds", "maxInFlight"} → 201 the load's summary (``clients/load.py``)
POST   /clients/stop  {"drainSeconds": n} → the summary once stopped
GET    /clients       → {"fronts": {target: {url, inService}}, "load": summary | null}
GET    /clients/records → {"records": [every submission followed, newest last]}
GET    /healthz       → {"ok": true}
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from judge0_operator.world import chaos_api
from judge0_operator.world.clients.front import TargetError, describe_fronts
from judge0_operator.world.clients.load import LoadSettings
from judge0_operator.world.faults.catalogue import fault_table
from judge0_operator.world.faults.errors import FaultError, FaultNotFound
from judge0_operator.world.serve import serve_on_loopback

if TYPE_CHECKING:
    from judge0_operator.world.world import World

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except (FaultError, TargetError) as exc:
        return _error(400, str(exc))
    except FaultNotFound as exc:
        return _error(404, f"no active fault with id {exc.args[0]!r}")


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json(loads=json.loads)
    except ValueError:
        raise FaultError("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise FaultError("the body must be a JSON object")
    return body


class ControlApi:
    """HTTP face of ``World``'s control verbs."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._runner: web.AppRunner | None = None
        self.url = ""

    def app(self) -> web.Application:
        app = web.Application(middlewares=[_errors])
        app.router.add_post("/faults", self.post_fault)
        app.router.add_get("/faults", self.get_faults)
        app.router.add_get("/faults/catalog", self.get_catalog)
        app.router.add_delete("/faults", self.delete_faults)
        app.router.add_delete("/faults/{id}", self.delete_fault)
        app.router.add_get("/instances", self.get_instances)
        app.router.add_get("/calls", self.get_calls)
        app.router.add_post("/calls/reset", self.reset_calls)
        app.router.add_post("/load", self.post_load)
        app.router.add_get("/clock", self.get_clock)
        app.router.add_post("/clock/freeze", self.freeze_clock)
        app.router.add_post("/clock/resume", self.resume_clock)
        app.router.add_post("/clock/advance", self.advance_clock)
        app.router.add_post("/elbv2/target-groups", self.post_target_group)
        app.router.add_get("/elbv2/target-groups", self.get_target_groups)
        app.router.add_post("/clients/load", self.post_client_load)
        app.router.add_post("/clients/stop", self.stop_client_load)
        app.router.add_get("/clients", self.get_clients)
        app.router.add_get("/clients/records", self.get_client_records)
        app.router.add_get("/healthz", self.healthz)
        chaos_api.add_routes(app, self.world)  # /crash, /kube/requests, /instances/gone, /chaos
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner, self.url = await serve_on_loopback(self.app(), host, port, what="the control API")
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def post_fault(self, request: web.Request) -> web.Response:
        body = await _json_object(request)
        unknown = set(body) - {"target", "fault", "params"}
        if unknown:
            raise FaultError(f"unknown field(s): {', '.join(sorted(unknown))}")
        target, name, params = body.get("target"), body.get("fault"), body.get("params")
        if not isinstance(target, str) or not target:
            raise FaultError("'target' is required: an instance id, 'zone:<zone>' or 'aws'")
        if not isinstance(name, str) or not name:
            raise FaultError("'fault' is required: a fault name (GET /faults/catalog lists them)")
        if params is not None and not isinstance(params, dict):
            raise FaultError("'params' must be an object")
        fault = await self.world.add_fault(target, name, params)
        return web.json_response(fault.to_dict(), status=201)

    async def get_faults(self, request: web.Request) -> web.Response:
        await self.world.settle()
        return web.json_response(
            {
                "faults": [f.to_dict() for f in self.world.faults.active()],
                "healed": [f.to_dict() for f in self.world.faults.healed()],
            }
        )

    async def get_catalog(self, request: web.Request) -> web.Response:
        return web.json_response({"faults": fault_table()})

    async def delete_fault(self, request: web.Request) -> web.Response:
        fault = await self.world.remove_fault(request.match_info["id"])
        return web.json_response(fault.to_dict())

    async def delete_faults(self, request: web.Request) -> web.Response:
        return web.json_response({"deleted": len(await self.world.clear_faults())})

    async def get_instances(self, request: web.Request) -> web.Response:
        return web.json_response({"instances": await self.world.instances()})

    async def get_calls(self, request: web.Request) -> web.Response:
        return web.json_response(self.world.calls())

    async def reset_calls(self, request: web.Request) -> web.Response:
        self.world.reset_calls()
        return web.json_response(self.world.calls())

    async def post_load(self, request: web.Request) -> web.Response:
        body = await _json_object(request)
        target, jobs = body.get("target"), body.get("jobs")
        if not isinstance(target, str) or not target:
            raise FaultError("'target' is required: an instance id or 'zone:<zone>'")
        if isinstance(jobs, bool) or not isinstance(jobs, int) or not 1 <= jobs <= 100_000:
            raise FaultError("'jobs' must be an integer from 1 to 100000")
        return web.json_response({"submitted": self.world.submit_load(target, jobs)})

    async def get_clock(self, request: web.Request) -> web.Response:
        return web.json_response(self.world.clock())

    async def freeze_clock(self, request: web.Request) -> web.Response:
        self.world.freeze_clock()
        return web.json_response(self.world.clock())

    async def resume_clock(self, request: web.Request) -> web.Response:
        await self.world.resume_clock()
        return web.json_response(self.world.clock())

    async def advance_clock(self, request: web.Request) -> web.Response:
        body = await _json_object(request)
        seconds = body.get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds <= 1e7:
            raise FaultError("'seconds' must be a number of world seconds from 0 to 10000000")
        await self.world.advance_clock(float(seconds))
        return web.json_response(self.world.clock())

    async def post_target_group(self, request: web.Request) -> web.Response:
        body = await _json_object(request)
        names = {
            "name": "name",
            "port": "port",
            "healthCheckPath": "health_check_path",
            "intervalSeconds": "interval_seconds",
            "timeoutSeconds": "timeout_seconds",
            "healthyThreshold": "healthy_threshold",
            "unhealthyThreshold": "unhealthy_threshold",
            "deregistrationDelaySeconds": "deregistration_delay_seconds",
            "tags": "tags",
        }
        unknown = set(body) - set(names)
        if unknown:
            raise FaultError(f"unknown field(s): {', '.join(sorted(unknown))}")
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise FaultError("'name' is required")
        options = {names[k]: v for k, v in body.items() if k != "name"}
        try:
            group = await self.world.create_target_group(name, **options)
        except Exception as exc:  # moto's ClientError (duplicate name, bad values) or a bad type
            raise FaultError(f"cannot create the target group: {exc}") from None
        return web.json_response(group, status=201)

    async def get_target_groups(self, request: web.Request) -> web.Response:
        await self.world.settle()
        return web.json_response({"targetGroups": self.world.elbv2.view()})

    async def post_client_load(self, request: web.Request) -> web.Response:
        body = await _json_object(request)
        fields = {
            "target": "target",
            "rate": "rate",
            "pollSeconds": "poll_seconds",
            "giveUpSeconds": "give_up_seconds",
            "maxInFlight": "max_in_flight",
        }
        unknown = set(body) - set(fields)
        if unknown:
            raise FaultError(f"unknown field(s): {', '.join(sorted(unknown))}")
        if not isinstance(body.get("target"), str):
            raise FaultError("'target' is required: tg:<target group arn or name> or svc:<namespace>/<name>")
        for key in ("rate", "pollSeconds", "giveUpSeconds", "maxInFlight"):
            if key in body and (isinstance(body[key], bool) or not isinstance(body[key], int | float)):
                raise FaultError(f"'{key}' must be a number")
        settings = LoadSettings(**{fields[k]: v for k, v in body.items()})
        load = await self.world.clients.start_load(settings)
        return web.json_response(load.summary(), status=201)

    async def stop_client_load(self, request: web.Request) -> web.Response:
        body = await _json_object(request) if request.can_read_body else {}
        drain = body.get("drainSeconds", 0)
        if isinstance(drain, bool) or not isinstance(drain, int | float) or not 0 <= drain <= 600:
            raise FaultError("'drainSeconds' must be a number of seconds from 0 to 600")
        load = await self.world.clients.stop_load(float(drain))
        return web.json_response(load.summary() if load is not None else None)

    async def get_clients(self, request: web.Request) -> web.Response:
        clients = self.world.clients
        return web.json_response(
            {
                "fronts": describe_fronts(clients.front, self.world),
                "load": clients.load.summary() if clients.load is not None else None,
            }
        )

    async def get_client_records(self, request: web.Request) -> web.Response:
        load = self.world.clients.load
        return web.json_response({"records": [r.to_dict() for r in load.records] if load is not None else []})

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})
