"""The world's AWS: moto 5.2.5 in server mode behind a small front that adds what moto lacks.

Everything the world adds to moto is listed here (and in docs/simulated-world.md); the code
lives in this module and the modules beside it in ``world/aws/``.

The front (``AwsFront``, aiohttp on 127.0.0.1) is the world's ``aws_endpoint``. Per request it

1. parses service and action (EC2 query ``Action=``; JSON ``X-Amz-Target: AmazonSSM.<Op>``) and
   counts the call (``GET /calls`` on the control API), also per caller: ``by_agent`` keys on the
   last token of the User-Agent (the operator ends it with ``replica/<identity>``);
2. lets one request at a time into moto, after advancing the world's timeline, so every answer
   sees every transition that is due and none half-done;
3. injects ``aws`` faults: ``throttle`` → ``RequestLimitExceeded`` (EC2, HTTP 503) /
   ``ThrottlingException`` (SSM, 400); ``aws-error`` → any code and status. A seeded RNG per
   fault decides which calls fail, so a run is repeatable — ``api_faults.py``;
4. RunInstances/StartInstances into a zone with ``capacity-error`` (matching type and market) or
   ``zone-outage`` → ``InsufficientInstanceCapacity`` with **HTTP 500, as EC2 sends it**:
   botocore's standard/adaptive modes retry 5xx, so the caller sees the ClientError after its
   configured attempts (never forever) — ``api_faults.py``;
5. ClientToken idempotency when ``client_tokens`` is on (moto ignores tokens): a repeated
   RunInstances with the same token and parameters answers the first call's response again
   (as recorded then); other parameters → ``IdempotentParameterMismatch`` — ``client_tokens.py``;
6. answers ``DescribeInstanceStatus`` itself (timed states, ``initializing``/``impaired``
   checks, scheduled events, filters, ``MaxResults``/``NextToken``) — ``ec2/status.py``;
7. answers SSM ``SendCommand``/``GetCommandInvocation``/``ListCommandInvocations``/
   ``ListCommands`` itself (targets only the named instances, timed outcomes, fault outcomes,
   the Judge0 restart effect) — ``ssm/``;
8. records every call that names an instance on that instance (``GET /instances``);
9. ELBv2 (``elasticloadbalancing``): moto's, with target health that follows the node, a
   deregistration delay (``draining``) and ``DescribeTargetHealth`` answered by the world —
   ``elbv2.py``; throttling answers ``Throttling`` (400) there;
10. ``chaos.py``: EC2's eventual consistency (``ec2-eventual-consistency``), answers lost after
    the call was processed (``lost-response``), and crash points (``world/crash.py``).

Inside moto (``instances.Ec2Model.attach``) the instance actions of the world's one backend
object are wrapped: launch/stop/start/reboot/terminate take time, invalid transitions fail with
``IncorrectInstanceState``, and terminated instances disappear after
``terminated_visible_seconds`` (``ec2/lifecycle.py``).

moto itself (its server, backend and the seeded network) is ``moto_server.py``; it keeps its
state in process-wide globals, so one process runs one world at a time.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web

from judge0_operator.world.aws import elbv2 as elbv2_world
from judge0_operator.world.aws.api_faults import ApiFaults, InjectedError
from judge0_operator.world.aws.chaos import AwsChaos
from judge0_operator.world.aws.client_tokens import ClientTokens
from judge0_operator.world.aws.ec2.instances import Ec2Model
from judge0_operator.world.aws.ec2.status import describe_instance_status
from judge0_operator.world.aws.ssm.model import OWN_ACTIONS as SSM_OWN_ACTIONS
from judge0_operator.world.aws.ssm.model import SsmModel
from judge0_operator.world.aws.wire import (
    AwsCall,
    AwsError,
    ec2_response,
    error_code_of,
    error_response,
    parse_call,
    ssm_response,
)
from judge0_operator.world.faults.registry import FaultRegistry
from judge0_operator.world.serve import serve_on_loopback

log = logging.getLogger(__name__)

INSTANCE_ACTIONS = frozenset(
    {
        "StartInstances",
        "StopInstances",
        "RebootInstances",
        "TerminateInstances",
        "ModifyInstanceAttribute",
        "CreateTags",
        "DeleteTags",
        "MonitorInstances",
        "UnmonitorInstances",
    }
)
_HOP_HEADERS = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "content-encoding",
    "host",
    "server",
    "date",
}


class CallLog:
    """Counts calls by action, by caller (the User-Agent's last token) and action, and the errors
    the world injected."""

    def __init__(self) -> None:
        self.by_action: Counter[str] = Counter()
        self.by_agent: dict[str, Counter[str]] = {}
        self.injected: Counter[str] = Counter()

    def count(self, action: str, user_agent: str) -> None:
        self.by_action[action] += 1
        agent = user_agent.split()[-1] if user_agent.strip() else "-"
        self.by_agent.setdefault(agent, Counter())[action] += 1

    def reset(self) -> None:
        self.by_action.clear()
        self.by_agent.clear()
        self.injected.clear()

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": sum(self.by_action.values()),
            "by_action": dict(self.by_action),
            "by_agent": {agent: dict(actions) for agent, actions in self.by_agent.items()},
            "injected_errors": dict(self.injected),
        }


class AwsFront:
    """The aiohttp front on the world's ``aws_endpoint`` (see the module docstring)."""

    def __init__(
        self,
        *,
        moto_url: str,
        region: str,
        zones: list[str],
        ec2: Ec2Model,
        ssm: SsmModel,
        faults: FaultRegistry,
        client_tokens: Callable[[], bool],
        seed: int | None,
        tick: Callable[[], None],
        elbv2: elbv2_world.Elbv2Model | None = None,
    ) -> None:
        self.moto_url = moto_url
        self.ec2 = ec2
        self.ssm = ssm
        self.elbv2 = elbv2
        self.api_faults = ApiFaults(faults=faults, ec2=ec2, region=region, zones=zones, seed=seed)
        self.tokens = ClientTokens(client_tokens, ec2)
        self.calls = CallLog()
        self.serial = asyncio.Lock()  # one request at a time inside moto (and world mutations)
        self._tick = tick
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.chaos: AwsChaos | None = None  # set by the world

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300), auto_decompress=False)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner, self.url = await serve_on_loopback(app, host, port, what="the AWS front")
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def reset(self) -> None:
        self.calls.reset()
        self.tokens.reset()
        self.api_faults.reset()
        if self.chaos is not None:
            self.chaos.reset()

    # ---- the request path -----------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        call = parse_call(request.headers, request.query_string, body)
        if call.action:
            self.calls.count(call.action, request.headers.get("User-Agent", ""))
        async with self.serial:
            self._tick()
            try:
                response = await self._answer(request, call, body)
            except AwsError as err:
                if isinstance(err, InjectedError):
                    self.calls.injected[err.code] += 1
                response = (
                    elbv2_world.elbv2_error(err)
                    if call.service == elbv2_world.SERVICE
                    else error_response(call.service, err)
                )
            if call.service == "ec2" and call.action in INSTANCE_ACTIONS:
                outcome = (
                    error_code_of(response.status, response.body if isinstance(response.body, bytes) else b"")
                    or "ok"
                )
                for instance_id in call.numbered("InstanceId") or call.numbered("ResourceId"):
                    self.ec2.record_call(instance_id, call.action, outcome)
            if self.chaos is not None:
                response = self.chaos.seen(call, response)
        if self.chaos is not None:  # crash points and lost answers (world/aws/chaos.py)
            return await self.chaos.deliver(request, call, response)
        return response

    async def _answer(self, request: web.Request, call: AwsCall, body: bytes) -> web.Response:
        self.api_faults.inject_api_faults(call)
        if call.service == "ec2":
            if call.action == "RunInstances":
                self.api_faults.check_capacity_for_launch(call)
                replay = self.tokens.replay(call)
                if replay is not None:
                    return replay
            elif call.action == "StartInstances":
                self.api_faults.check_capacity_for_start(call)
            elif call.action == "DescribeInstanceStatus":
                return ec2_response(call.action, describe_instance_status(self.ec2, call))
        elif call.service == "ssm" and call.action in SSM_OWN_ACTIONS:
            return ssm_response(self.ssm.handle(call.action, dict(call.payload)))
        elif call.service == elbv2_world.SERVICE and self.elbv2 and call.action in elbv2_world.OWN_ACTIONS:
            return self.elbv2.describe_target_health(call)
        status, headers, payload = await self._forward(request, body)
        if call.service == elbv2_world.SERVICE and self.elbv2 is not None:
            self.elbv2.after_call(call, status)
        if call.service == "ec2" and call.action == "RunInstances" and status == 200:
            self.tokens.remember(call, status, payload, headers.get("Content-Type", "text/xml"))
        return web.Response(status=status, body=payload, headers=headers)

    async def _forward(self, request: web.Request, body: bytes) -> tuple[int, dict[str, str], bytes]:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        async with self._session.request(
            request.method, self.moto_url + request.path_qs, data=body, headers=headers
        ) as upstream:
            payload = await upstream.read()
            out = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_HEADERS}
            return upstream.status, out, payload

