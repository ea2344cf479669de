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
   fault decides which calls fail, so a run is repeatable;
4. RunInstances/StartInstances into a zone with ``capacity-error`` (matching type and market) or
   ``zone-outage`` → ``InsufficientInstanceCapacity`` with **HTTP 500, as EC2 sends it**:
   botocore's standard/adaptive modes retry 5xx, so the caller sees the ClientError after its
   configured attempts (never forever);
5. ClientToken idempotency when ``client_tokens`` is on (moto ignores tokens): a repeated
   RunInstances with the same token and parameters answers the first call's response again
   (as recorded then); other parameters → ``IdempotentParameterMismatch``;
6. answers ``DescribeInstanceStatus`` itself (timed states, ``initializing``/``impaired``
   checks, scheduled events, filters, ``MaxResults``/``NextToken``) — ``instances.py``;
7. answers SSM ``SendCommand``/``GetCommandInvocation``/``ListCommandInvocations``/
   ``ListCommands`` itself (targets only the named instances, timed outcomes, fault outcomes,
   the Judge0 restart effect) — ``ssm.py``;
8. records every call that names an instance on that instance (``GET /instances``);
9. ELBv2 (``elasticloadbalancing``): moto's, with target health that follows the node, a
   deregistration delay (``draining``) and ``DescribeTargetHealth`` answered by the world —
   ``elbv2.py``; throttling answers ``Throttling`` (400) there;
10. ``chaos.py``: EC2's eventual consistency (``ec2-eventual-consistency``), answers lost after
    the call was processed (``lost-response``), and crash points (``world/crash.py``).

Inside moto (``instances.Ec2Model.attach``) the instance actions of the world's one backend
object are wrapped: launch/stop/start/reboot/terminate take time, invalid transitions fail with
``IncorrectInstanceState``, and terminated instances disappear after
``terminated_visible_seconds``.

moto keeps its state in process-wide globals, so one process runs one world at a time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from judge0_operator.world.aws import elbv2 as elbv2_world
from judge0_operator.world.aws.chaos import AwsChaos
from judge0_operator.world.aws.instances import Ec2Model
from judge0_operator.world.aws.ssm import OWN_ACTIONS as SSM_OWN_ACTIONS
from judge0_operator.world.aws.ssm import SsmModel
from judge0_operator.world.aws.wire import (
    AwsCall,
    AwsError,
    ec2_response,
    error_code_of,
    error_response,
    parse_call,
    ssm_response,
)
from judge0_operator.world.faults import Fault, FaultRegistry
from judge0_operator.world.serve import serve_on_loopback

log = logging.getLogger(__name__)

MOTO_ENV = {
    "MOTO_ENABLE_AMI_VALIDATION": "true",
    "MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION": "true",
    "MOTO_ENABLE_KEYPAIR_VALIDATION": "true",
}
ACCOUNT_ID = "123456789012"  # moto's default account: what dummy credentials map to
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


class InjectedError(AwsError):
    """An error the world's faults caused (counted in ``GET /calls`` as ``injected_errors``)."""


_MOTO_SETTINGS = ("ENABLE_AMI_VALIDATION", "EC2_ENABLE_INSTANCE_TYPE_VALIDATION", "ENABLE_KEYPAIR_VALIDATION")


class MotoServer:
    """moto's ThreadedMotoServer on 127.0.0.1 with the validations the world relies on (switched
    on while the world runs, and back to what they were when it stops)."""

    def __init__(self) -> None:
        self._server: Any = None
        self._saved: tuple[dict[str, str | None], dict[str, Any]] | None = None
        self.url = ""

    def start(self) -> str:
        from moto import settings
        from moto.server import ThreadedMotoServer

        self._saved = (
            {k: os.environ.get(k) for k in MOTO_ENV},
            {k: getattr(settings, k) for k in _MOTO_SETTINGS},
        )
        os.environ.update(MOTO_ENV)
        for name in _MOTO_SETTINGS:  # read at import: set both, for moto imported earlier
            setattr(settings, name, True)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._saved is not None:
            from moto import settings

            environ, values = self._saved
            for key, value in environ.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            for name, value in values.items():
                setattr(settings, name, value)
            self._saved = None


def ec2_backend(region: str) -> Any:
    """moto's in-process EC2 backend of the world's account and region."""
    from moto.ec2.models import ec2_backends

    return ec2_backends[ACCOUNT_ID][region]


@dataclass(frozen=True)
class Network:
    vpc_id: str
    subnets: dict[str, str]  # zone → subnet id
    security_group_id: str
    image_id: str


def seed_network(client: Any, zones: list[str]) -> Network:
    """A VPC, one /20 subnet per zone (a /24 that runs out answers HTTP 500 in moto), a security
    group for Judge0's port, and the newest x86_64 Ubuntu image in moto's catalogue."""
    vpc_id = client.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    client.create_tags(Resources=[vpc_id], Tags=[{"Key": "Name", "Value": "judge0-world"}])
    subnets = {}
    for index, zone in enumerate(zones):
        subnet = client.create_subnet(
            VpcId=vpc_id, CidrBlock=f"10.20.{index * 16}.0/20", AvailabilityZone=zone
        )
        subnets[zone] = subnet["Subnet"]["SubnetId"]
        client.create_tags(Resources=[subnets[zone]], Tags=[{"Key": "Name", "Value": f"judge0-world-{zone}"}])
    group_id = client.create_security_group(
        GroupName="judge0-world", Description="Judge0 nodes", VpcId=vpc_id
    )["GroupId"]
    client.authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 2358, "ToPort": 2358, "IpRanges": [{"CidrIp": "10.20.0.0/16"}]}
        ],
    )
    images = client.describe_images(
        Filters=[{"Name": "name", "Values": ["*ubuntu*"]}, {"Name": "architecture", "Values": ["x86_64"]}]
    )["Images"]
    if not images:
        raise RuntimeError("moto's image catalogue has no x86_64 Ubuntu image")
    image = max(images, key=lambda i: (i.get("CreationDate", ""), i.get("Name", "")))
    return Network(vpc_id, subnets, group_id, image["ImageId"])


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
        self.region = region
        self.zones = zones
        self.ec2 = ec2
        self.ssm = ssm
        self.faults = faults
        self.client_tokens = client_tokens
        self.elbv2 = elbv2
        self.calls = CallLog()
        self.serial = asyncio.Lock()  # one request at a time inside moto (and world mutations)
        self._tick = tick
        self._seed = seed
        self._rngs: dict[str, random.Random] = {}
        self._tokens: dict[str, tuple[tuple[tuple[str, tuple[str, ...]], ...], int, bytes, str]] = {}
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
        self._tokens.clear()
        self._rngs.clear()
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
        self._inject_api_faults(call)
        if call.service == "ec2":
            if call.action == "RunInstances":
                self._check_capacity_for_launch(call)
                replay = self._replay_client_token(call)
                if replay is not None:
                    return replay
            elif call.action == "StartInstances":
                self._check_capacity_for_start(call)
            elif call.action == "DescribeInstanceStatus":
                return ec2_response(call.action, self.ec2.describe_instance_status(call))
        elif call.service == "ssm" and call.action in SSM_OWN_ACTIONS:
            return ssm_response(self.ssm.handle(call.action, dict(call.payload)))
        elif call.service == elbv2_world.SERVICE and self.elbv2 and call.action in elbv2_world.OWN_ACTIONS:
            return self.elbv2.describe_target_health(call)
        status, headers, payload = await self._forward(request, body)
        if call.service == elbv2_world.SERVICE and self.elbv2 is not None:
            self.elbv2.after_call(call, status)
        if call.service == "ec2" and call.action == "RunInstances" and status == 200:
            self._remember_client_token(call, status, payload, headers.get("Content-Type", "text/xml"))
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

    # ---- injected errors ------------------------------------------------------------------------
    def _rng(self, fault: Fault) -> random.Random:
        rng = self._rngs.get(fault.id)
        if rng is None:
            rng = self._rngs[fault.id] = random.Random(f"{self._seed}/{fault.id}")
        return rng

    def _inject_api_faults(self, call: AwsCall) -> None:
        for fault in self.faults.on_aws():
            if fault.name not in ("throttle", "aws-error"):
                continue  # the API's other faults act on answers (world/aws/chaos.py)
            actions = fault.params.get("actions")
            if actions and call.action not in actions:
                continue
            if self._rng(fault).random() >= float(fault.params["rate"]):
                continue
            if fault.name == "throttle":
                if call.service == "ssm":
                    raise InjectedError("ThrottlingException", "Rate exceeded", 400)
                if call.service == elbv2_world.SERVICE:
                    raise InjectedError("Throttling", "Rate exceeded", 400)
                raise InjectedError("RequestLimitExceeded", "Request limit exceeded.", 503)
            raise InjectedError(
                str(fault.params["code"]), str(fault.params["message"]), int(fault.params["status"])
            )

    def _capacity_fault(self, zone: str, instance_type: str, market: str) -> str | None:
        if self.faults.in_zone(zone, "zone-outage"):
            return "zone-outage"
        for fault in self.faults.in_zone(zone, "capacity-error"):
            types = fault.params.get("instanceTypes")
            wanted = fault.params.get("market", "any")
            if (not types or instance_type in types) and wanted in ("any", market):
                return "capacity-error"
        return None

    def _insufficient(self, instance_type: str, zone: str) -> AwsError:
        others = ", ".join(z for z in self.zones if z != zone)
        hint = f" or choosing {others}" if others else ""
        return InjectedError(
            "InsufficientInstanceCapacity",
            f"We currently do not have sufficient {instance_type} capacity in the Availability Zone you "
            f"requested ({zone}). Our system will be working on provisioning additional capacity. You can "
            f"currently get {instance_type} capacity by not specifying an Availability Zone in your request"
            f"{hint}.",
            500,
        )

    def _check_capacity_for_launch(self, call: AwsCall) -> None:
        zone = self.ec2.launch_zone(call, self.region)
        if zone is None:
            return
        template = self.ec2.launch_template_data(call)
        instance_type = call.first("InstanceType") or template.get("InstanceType") or "m1.small"
        market_type = call.first("InstanceMarketOptions.MarketType") or (
            template.get("InstanceMarketOptions") or {}
        ).get("MarketType")
        market = "spot" if market_type == "spot" else "on-demand"
        if self._capacity_fault(zone, instance_type, market):
            raise self._insufficient(instance_type, zone)

    def _check_capacity_for_start(self, call: AwsCall) -> None:
        with self.ec2.lock:
            records = [self.ec2.records.get(i) for i in call.numbered("InstanceId")]
        for record in records:
            if (
                record is not None
                and record.state == "stopped"
                and self._capacity_fault(record.zone, record.instance_type, record.market)
            ):
                raise self._insufficient(record.instance_type, record.zone)

    # ---- ClientToken idempotency ----------------------------------------------------------------
    @staticmethod
    def _fingerprint(call: AwsCall) -> tuple[tuple[str, tuple[str, ...]], ...]:
        skip = {"ClientToken", "Version"}
        return tuple(sorted((k, tuple(v)) for k, v in call.query.items() if k not in skip))

    def _replay_client_token(self, call: AwsCall) -> web.Response | None:
        token = call.first("ClientToken")
        if not token or not self.client_tokens():
            return None
        seen = self._tokens.get(token)
        if seen is None:
            return None
        fingerprint, status, payload, content_type = seen
        if fingerprint != self._fingerprint(call):
            raise AwsError(
                "IdempotentParameterMismatch",
                "Arguments on this idempotent request are inconsistent with arguments used in "
                "previous request(s).",
            )
        for instance_id in dict.fromkeys(re.findall(rb"<instanceId>(i-[0-9a-f]+)</instanceId>", payload)):
            self.ec2.record_call(instance_id.decode(), "RunInstances", "replayed", clientToken=token)
        return web.Response(status=status, body=payload, headers={"Content-Type": content_type})

    def _remember_client_token(self, call: AwsCall, status: int, payload: bytes, content_type: str) -> None:
        token = call.first("ClientToken")
        if token and self.client_tokens():
            self._tokens[token] = (self._fingerprint(call), status, payload, content_type)
